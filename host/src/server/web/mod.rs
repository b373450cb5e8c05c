//! The web interface: the page at `/` (the default page or a UiPlugin's),
//! built from the TemplatePlugins' components and the AssetPlugins' assets,
//! with the wizards of WizardPlugins, cached server side.
//!
//! The parts, in the order a request goes through them: [`index`] decides who
//! answers; [`sources`] gathers the plugins' templates and assets;
//! [`injection`] applies the TemplatePlugin rules; [`wizards`] picks the
//! wizards to show; [`page`] lays out and renders the components with
//! [`render`]; [`cache`] keeps what was rendered; [`statics`] holds the
//! host's own script, styles and client library.

pub mod cache;
pub mod index;
pub mod injection;
pub mod page;
pub mod render;
pub mod sources;
pub mod statics;
pub mod wizards;

/// The web interface's state in a running server.
pub struct Web {
    pub cache: cache::PageCache,
    pub records: cache::RecordedRequests,
    /// The last survey of what the plugins inject, with what it was taken under.
    pub surveys: std::sync::Mutex<Option<(index::SurveyKey, std::sync::Arc<index::Surveyed>)>>,
}

impl Web {
    pub fn new(basedir: &std::path::Path) -> Self {
        Self {
            cache: Default::default(),
            records: cache::RecordedRequests::new(basedir),
            surveys: Default::default(),
        }
    }
}

/// Whether this is the first run: no user exists and the first-run wizard
/// has not created one before (`server.firstRun: false` in the config once it
/// has; removing every user later does not open the wizard to anyone again).
pub fn first_run(manager: &crate::PluginManager, users: &crate::users::Users) -> bool {
    let done = !crate::config::host_settings::FIRST_RUN.get(manager.config());
    !done && users.is_empty().unwrap_or(false)
}

/// Records that the first-run wizard created the administrator.
pub fn end_first_run(manager: &crate::PluginManager) -> Result<(), crate::config::ConfigError> {
    let config = manager.config();
    config
        .set(
            crate::config::key_path(crate::config::host_settings::FIRST_RUN.0.path),
            plinth_abi::Value::Bool(false),
        )
        .and_then(|()| config.save())
}
