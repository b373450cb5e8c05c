//! The seed's `UiPlugin` example, `DummyMobileUiPlugin`, as a Plinth plugin:
//! phones and tablets asking for `/` get a small placeholder page instead of
//! the default interface; every other browser still gets the default page.
//!
//! It shows:
//! - [`UiPlugin::will_handle_ui`]: true when the request's `User-Agent` names
//!   the platform `android`, `ipad` or `iphone`, decided as Flask's
//!   `request.user_agent.platform` decides it (see [`platform`]);
//! - [`UiPlugin::on_ui_render`]: renders `templates/dummy_mobile_ui_index.jinja2`
//!   with minijinja (HTML autoescaping on) and the `render_kwargs` the host
//!   would render its own page with, as the seed's
//!   `render_template("dummy_mobile_ui_index.jinja2", **render_kwargs)`. The
//!   template reads `display_version`, `debug`, `templates` (counted) and
//!   `pluginNames` (joined). A rendering error is returned as an error, so the
//!   host moves on to the next UiPlugin or its default page;
//! - [`TemplatePlugin`]: implemented, as the seed recommends for a UiPlugin
//!   with templates of its own, so that the template is one of the plugin's
//!   tracked template files. Its name matches no template type, so nothing is
//!   injected into the default page.
//!
//! The template is compiled into the library; a copy at
//! `<base folder>/templates/dummy_mobile_ui_index.jinja2` (a folder plugin)
//! takes precedence, as in the host's own template lookup.

use plinth_sdk::prelude::*;

/// The template's name, in the template folder and among the embedded files.
pub const INDEX_TEMPLATE: &str = "dummy_mobile_ui_index.jinja2";

/// The template compiled into the library.
const INDEX_SOURCE: &str = include_str!("../templates/dummy_mobile_ui_index.jinja2");

/// The platforms whose requests this plugin serves (the seed's tuple).
pub const MOBILE_PLATFORMS: [&str; 3] = ["android", "ipad", "iphone"];

/// The plugin object.
pub struct DummyMobileUi {
    host: Host,
}

impl DummyMobileUi {
    /// The template's source: the template folder's copy if there is one,
    /// else the compiled-in one.
    fn index_source(&self) -> String {
        let on_disk = self
            .host
            .base_folder()
            .join("templates")
            .join(INDEX_TEMPLATE);
        std::fs::read_to_string(on_disk).unwrap_or_else(|_| INDEX_SOURCE.to_owned())
    }
}

impl Plugin for DummyMobileUi {
    fn new(host: Host) -> Self {
        DummyMobileUi { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl UiPlugin for DummyMobileUi {
    fn will_handle_ui(&self, request: &Request) -> bool {
        is_mobile(request.header("user-agent"))
    }

    fn on_ui_render(
        &self,
        _now: &str,
        _request: &Request,
        render_kwargs: &Value,
    ) -> PluginResult<Option<Response>> {
        let html = render_index(&self.index_source(), render_kwargs)
            .map_err(|e| PluginError::new(format!("cannot render {INDEX_TEMPLATE}: {e}")))?;
        Ok(Some(Response::html(html)))
    }
}

impl TemplatePlugin for DummyMobileUi {}

/// Whether a request with this `User-Agent` header gets the mobile page: the
/// seed's `request.user_agent and request.user_agent.platform in ("android",
/// "ipad", "iphone")`. A missing or empty header is not mobile.
pub fn is_mobile(user_agent: Option<&str>) -> bool {
    user_agent
        .filter(|ua| !ua.is_empty())
        .and_then(platform)
        .is_some_and(|p| MOBILE_PLATFORMS.contains(&p))
}

/// The platform a `User-Agent` names, as Werkzeug's user agent parser (behind
/// Flask's `request.user_agent.platform`) finds it: its patterns are tried in
/// order, case-insensitively, and the first one found anywhere in the string
/// wins. Order matters: iPhone and iPad agents also say "like Mac OS X", and
/// Android ones say "Linux".
///
/// Only the patterns up to `android` are checked, since later ones can never
/// make the answer one of [`MOBILE_PLATFORMS`]; any other agent is `None`.
/// Like Werkzeug, an agent containing "ios" anywhere (Chrome on an iPad says
/// "CriOS") is `iphone`.
pub fn platform(user_agent: &str) -> Option<&'static str> {
    let ua = user_agent.to_lowercase();
    let ua = ua.as_str();
    if ua.contains(" cros ") {
        Some("chromeos")
    } else if ua.contains("iphone") || ua.contains("ios") {
        Some("iphone")
    } else if ua.contains("ipad") {
        Some("ipad")
    } else if ends_word(ua, "darwin") || ends_word(ua, "mac") || os_x(ua) {
        Some("macos")
    } else if ua.contains("win") {
        Some("windows")
    } else if ua.contains("android") {
        Some("android")
    } else {
        None
    }
}

/// Whether `needle` occurs in `hay` followed by a word boundary (regex `needle\b`).
fn ends_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(at, _)| {
        hay[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// Whether `hay` contains `os`, optional white space, `x` (regex `os\s*x`).
fn os_x(hay: &str) -> bool {
    hay.match_indices("os")
        .any(|(at, _)| hay[at + 2..].trim_start().starts_with('x'))
}

/// Renders the page template with `render_kwargs` as its context, escaping
/// for HTML.
pub fn render_index(source: &str, render_kwargs: &Value) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template(INDEX_TEMPLATE, source)?;
    env.get_template(INDEX_TEMPLATE)?.render(render_kwargs)
}

export_plugin! {
    plugin: DummyMobileUi,
    name: "Dummy Mobile UI",
    description: "The UiPlugin example: a placeholder page served at / to Android, iPad and iPhone browsers.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Ui, Template],
    files: {
        "templates/dummy_mobile_ui_index.jinja2" => INDEX_SOURCE.as_bytes(),
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36";
    const ANDROID_FIREFOX: &str =
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1";
    const IPAD_SAFARI: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
    const IPAD_CHROME: &str = "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1";
    const DESKTOP_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const DESKTOP_FIREFOX: &str =
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const DESKTOP_FIREFOX_WINDOWS: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";
    /// iPadOS asks for the desktop page by default: it says it is a Mac.
    const IPAD_DESKTOP_MODE: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";
    const CHROMEBOOK: &str = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const HEADLESS_CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36";
    const CURL: &str = "curl/8.5.0";

    #[test]
    fn phones_and_tablets_get_the_mobile_page() {
        for (ua, want) in [
            (ANDROID_CHROME, "android"),
            (ANDROID_FIREFOX, "android"),
            (ANDROID_TABLET, "android"),
            (IPHONE_SAFARI, "iphone"),
            (IPAD_SAFARI, "ipad"),
        ] {
            assert_eq!(platform(ua), Some(want), "{ua}");
            assert!(is_mobile(Some(ua)), "{ua}");
        }
        // Werkzeug's "ios" pattern comes first and matches "CriOS": still mobile.
        assert!(is_mobile(Some(IPAD_CHROME)));
    }

    #[test]
    fn desktops_and_other_clients_do_not() {
        for (ua, want) in [
            (DESKTOP_CHROME, Some("windows")),
            (DESKTOP_FIREFOX, None),
            (DESKTOP_FIREFOX_WINDOWS, Some("windows")),
            (MAC_SAFARI, Some("macos")),
            (IPAD_DESKTOP_MODE, Some("macos")),
            (CHROMEBOOK, Some("chromeos")),
            (HEADLESS_CHROME, None),
            (CURL, None),
        ] {
            assert_eq!(platform(ua), want, "{ua}");
            assert!(!is_mobile(Some(ua)), "{ua}");
        }
        assert!(!is_mobile(None));
        assert!(!is_mobile(Some("")));
    }

    #[test]
    fn the_platform_is_matched_case_insensitively_and_in_werkzeugs_order() {
        assert_eq!(platform("IPAD"), Some("ipad"));
        assert_eq!(platform("some ANDROID thing"), Some("android"));
        // "Mac OS X" in an iPhone or iPad agent does not make it a Mac.
        assert_eq!(platform("iPad; like Mac OS X"), Some("ipad"));
        // The regexes' word boundary and optional white space.
        assert_eq!(platform("Darwin/23.0"), Some("macos"));
        assert_eq!(platform("Macaroni"), None);
        assert_eq!(platform("MacBook"), None);
        assert_eq!(platform("OSX"), Some("macos"));
        // Windows comes before Android: a Windows phone is not Android.
        assert_eq!(
            platform("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Lumia 950)"),
            Some("windows")
        );
    }

    fn sample_kwargs() -> Value {
        json!({
            "debug": false,
            "firstRun": false,
            "version": {"number": "0.1.0", "branch": null, "display": "0.1.0"},
            "display_version": "0.1.0",
            "templates": {
                "navbar": {"order": [], "entries": {}},
                "sidebar": {"order": [], "entries": {}},
                "tab": {"order": [], "entries": {}},
                "settings": {"order": [], "entries": {}},
                "usersettings": {"order": [], "entries": {}},
                "wizard": {"order": [], "entries": {}},
                "about": {"order": [], "entries": {}},
                "generic": {"order": [], "entries": {}},
                "webcam": {"order": [], "entries": {}}
            },
            "pluginNames": ["Hello World", "Dummy Mobile UI", "<b>x</b>"],
            "locales": [],
            "supportedExtensions": ["gcode", "gco", "g", "stl"],
            "plugin_helloworld_greeting": "Hello World!"
        })
    }

    #[test]
    fn the_page_lists_data_from_the_render_kwargs_escaped() {
        let html = render_index(INDEX_SOURCE, &sample_kwargs()).unwrap();
        assert!(
            html.contains("<h1>Dummy Mobile OctoPrint UI</h1>"),
            "{html}"
        );
        for item in [
            r#"<li id="dummy_version">Version: 0.1.0</li>"#,
            r#"<li id="dummy_debug">Debug: False</li>"#,
            r#"<li id="dummy_template_count">Template Count: 9</li>"#,
            r#"<li id="dummy_plugins">Installed Plugins: Hello World, Dummy Mobile UI, &lt;b&gt;x&lt;&#x2f;b&gt;</li>"#,
        ] {
            assert!(html.contains(item), "{item} not in {html}");
        }
        assert!(!html.contains("<b>x</b>"), "{html}");
    }

    #[test]
    fn missing_values_render_empty_but_uncountable_templates_are_an_error() {
        let mut kwargs = sample_kwargs();
        let map = kwargs.as_object_mut().unwrap();
        map.remove("display_version");
        map.remove("pluginNames");
        let html = render_index(INDEX_SOURCE, &kwargs).unwrap();
        assert!(
            html.contains(r#"<li id="dummy_version">Version: </li>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<li id="dummy_plugins">Installed Plugins: </li>"#),
            "{html}"
        );
        // minijinja, unlike Jinja2, cannot count an undefined value: the host
        // then moves on to the next UiPlugin or its default page.
        assert!(render_index(INDEX_SOURCE, &json!({})).is_err());
    }

    #[test]
    fn a_broken_template_is_an_error() {
        assert!(render_index("{{ debug ", &sample_kwargs()).is_err());
        assert!(render_index("{{ debug|no_such_filter }}", &sample_kwargs()).is_err());
    }
}
