//! The metadata a plugin library carries, readable without running its code.

use serde::{Deserialize, Serialize};

/// What `export_plugin!` writes into the library's metadata section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    /// Format marker; always 1.
    pub plinth_plugin: u32,
    /// `[major, minor]` of the Plinth ABI the plugin was built against.
    pub abi: (u32, u32),
    /// Version of `plinth-sdk` the plugin was built with.
    pub sdk: String,
    /// Human-readable name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Author.
    #[serde(default)]
    pub author: Option<String>,
    /// Home page.
    #[serde(default)]
    pub url: Option<String>,
    /// License.
    #[serde(default)]
    pub license: Option<String>,
    /// Names of the mixins it implements.
    pub mixins: Vec<String>,
    /// Whether it declared itself restart-needing.
    #[serde(default)]
    pub restart_needing: bool,
    /// Its panic strategy: `unwind` or `abort`.
    pub panic: String,
    /// Defaults it ships for other parts of the host's config (a mapping), if any.
    /// A plugin with an overlay is restart-needing.
    #[serde(default)]
    pub overlay: Option<serde_json::Value>,
}

impl Metadata {
    /// Parses metadata bytes, naming the problem when they are not valid.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let meta: Self =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid plugin metadata: {e}"))?;
        if meta.overlay.as_ref().is_some_and(|o| !o.is_object()) {
            return Err("invalid plugin metadata: `overlay` must be a mapping".into());
        }
        Ok(meta)
    }
}
