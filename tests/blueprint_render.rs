//! A blueprint's `get_blueprint_kwargs` and templates, as OctoPrint gives a
//! blueprint its `static_folder` and `template_folder` (issue 17,
//! divergence 5): a route answering `Response::template` is rendered by the
//! host from the blueprint's template folder (or the templates compiled
//! in), autoescaped; a missing template is a 500 naming it; static files
//! come from the blueprint's static folder. Without `get_blueprint_kwargs`,
//! as OctoPrint's default, a blueprint that is also a TemplatePlugin renders
//! from its `get_template_folder` and one that is an AssetPlugin serves its
//! `get_asset_folder`. In process and isolated.

#[macro_use]
mod common;

use common::{built, lib_file, Sandbox, Server};

fn get(server: &Server, path: &str) -> (u16, String) {
    let mut response = common::http().get(&server.url(path)).call().unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap(),
    )
}

fn templates_and_static_files_of_the_blueprint_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    let folder = sb.basedir.join("plugins").join("bp_render");
    std::fs::create_dir_all(folder.join("bp_templates")).unwrap();
    std::fs::create_dir_all(folder.join("bp_static")).unwrap();
    std::fs::copy(
        built().fixture("bp_render"),
        folder.join(lib_file("bp_render")),
    )
    .unwrap();
    std::fs::write(
        folder.join("bp_templates/hello.jinja2"),
        "<p>{{ _('Hello') }}, {{ name }}!</p>",
    )
    .unwrap();
    std::fs::write(folder.join("bp_static/note.txt"), "from bp_static").unwrap();
    let server = Server::start(&sb);

    let (status, body) = get(&server, "/plugin/bp_render/hello?name=%3Cb%3EAda%3C%2Fb%3E");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "<p>Hello, &lt;b&gt;Ada&lt;&#x2f;b&gt;!</p>");
    assert_eq!(
        get(&server, "/plugin/bp_render/compiled"),
        (200, "012".to_owned())
    );
    let (status, body) = get(&server, "/plugin/bp_render/missing");
    assert_eq!(status, 500);
    assert!(
        body.contains("template nowhere.jinja2 of plugin bp_render did not render"),
        "{body}"
    );
    // An error handler may answer with a template too (Flask's usual 404 page).
    assert_eq!(
        get(&server, "/plugin/bp_render/nope"),
        (404, "<h1>No &#x2f;nope here</h1>".to_owned())
    );
    assert_eq!(
        get(&server, "/plugin/bp_render/static/note.txt"),
        (200, "from bp_static".to_owned())
    );
    assert_eq!(
        get(
            &server,
            "/plugin/bp_render/static/../bp_templates/hello.jinja2"
        )
        .0,
        404
    );
    // A changed template shows at once.
    std::fs::write(folder.join("bp_templates/hello.jinja2"), "Hi {{ name }}").unwrap();
    assert_eq!(
        get(&server, "/plugin/bp_render/hello?name=Bo"),
        (200, "Hi Bo".to_owned())
    );
}

fn folders_of_a_template_and_asset_plugin_by_default_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    let folder = sb.basedir.join("plugins").join("bp_template");
    for sub in ["tpl", "templates", "assets", "static"] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
    }
    std::fs::copy(
        built().fixture("bp_template"),
        folder.join(lib_file("bp_template")),
    )
    .unwrap();
    std::fs::write(folder.join("tpl/hi.jinja2"), "tpl says hi to {{ who }}").unwrap();
    std::fs::write(
        folder.join("templates/hi.jinja2"),
        "templates/ is not asked",
    )
    .unwrap();
    std::fs::write(folder.join("assets/a.txt"), "from assets").unwrap();
    std::fs::write(folder.join("static/a.txt"), "static/ is not asked").unwrap();
    let server = Server::start(&sb);

    assert_eq!(
        get(&server, "/plugin/bp_template/hi?who=Ada"),
        (200, "tpl says hi to Ada".to_owned())
    );
    assert_eq!(
        get(&server, "/plugin/bp_template/static/a.txt"),
        (200, "from assets".to_owned())
    );
}

/// OctoPrint's `test_get_blueprint_kwargs`: a plain Blueprint plugin's
/// default folders are its own `templates/` and `static/`.
fn folders_of_a_plain_blueprint_by_default_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    let folder = sb.basedir.join("plugins").join("bp_plain");
    for sub in ["templates", "static"] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
    }
    std::fs::copy(
        built().fixture("bp_plain"),
        folder.join(lib_file("bp_plain")),
    )
    .unwrap();
    std::fs::write(
        folder.join("templates/hi.jinja2"),
        "hi {{ who }} from templates/",
    )
    .unwrap();
    std::fs::write(folder.join("static/a.txt"), "from static").unwrap();
    let server = Server::start(&sb);
    assert_eq!(
        get(&server, "/plugin/bp_plain/hi?who=Ada"),
        (200, "hi Ada from templates/".to_owned())
    );
    assert_eq!(
        get(&server, "/plugin/bp_plain/static/a.txt"),
        (200, "from static".to_owned())
    );
}

in_both_modes! {
    folders_of_a_plain_blueprint_by_default => folders_of_a_plain_blueprint_by_default_in,
    templates_and_static_files_of_the_blueprint => templates_and_static_files_of_the_blueprint_in,
    folders_of_a_template_and_asset_plugin_by_default => folders_of_a_template_and_asset_plugin_by_default_in,
}
