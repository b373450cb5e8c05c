//! `export_plugin!`'s `mixins:` list cannot silently disagree with the
//! traits the plugin implements: a trait implemented but not listed, a
//! mixin listed but not implemented, and a name that is no mixin are
//! compile errors that say what to do. Each case is a small plugin crate
//! built with cargo (offline, against the fixtures' lock and target).

mod common;

use std::process::Command;

use common::built;

/// Builds a plugin crate whose `lib.rs` is `source`; cargo's error output.
fn build_error(name: &str, source: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sdk = built().root.join("plugin-sdk");
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\
             [dependencies]\nplinth-sdk = {{ path = {:?} }}\n[workspace]\n",
            sdk.to_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), source).unwrap();
    std::fs::copy(
        built().root.join("tests/fixtures/Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| built().root.join("target"))
        .join("fixtures");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--message-format", "short"])
        .arg("--manifest-path")
        .arg(dir.path().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{name} must not compile");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const PLUGIN: &str = "use plinth_sdk::prelude::*;\n\
    pub struct P { host: Host }\n\
    impl Plugin for P {\n\
        fn new(host: Host) -> Self { P { host } }\n\
        fn host(&self) -> &Host { &self.host }\n\
    }\n";

#[test]
fn a_mixin_trait_implemented_but_not_listed_does_not_compile() {
    let err = build_error(
        "cf_unlisted",
        &format!(
            "{PLUGIN}impl StartupPlugin for P {{ fn on_after_startup(&self) {{}} }}\n\
             impl SettingsPlugin for P {{}}\n\
             export_plugin! {{ plugin: P, name: \"P\", mixins: [Settings] }}\n"
        ),
    );
    assert!(
        err.contains(
            "the plugin implements `StartupPlugin`, but `Startup` is not in export_plugin!'s `mixins:` list, so the host would never call it: add `Startup` to `mixins: [...]`"
        ),
        "{err}"
    );
    assert!(!err.contains("SettingsPlugin`, but"), "{err}");
}

#[test]
fn a_mixin_listed_but_not_implemented_names_the_trait_to_implement() {
    let err = build_error(
        "cf_unimplemented",
        &format!("{PLUGIN}export_plugin! {{ plugin: P, name: \"P\", mixins: [Wizard] }}\n"),
    );
    assert!(
        err.contains(
            "`P` does not implement `WizardPlugin`, but `Wizard` is in its export_plugin! `mixins:` list"
        ),
        "{err}"
    );
}

#[test]
fn a_name_that_is_no_mixin_is_named_with_the_mixins_there_are() {
    let err = build_error(
        "cf_unknown",
        &format!("{PLUGIN}export_plugin! {{ plugin: P, name: \"P\", mixins: [Startpu] }}\n"),
    );
    assert!(
        err.contains("`Startpu` in export_plugin!'s `mixins:` is not a mixin; the mixins are Startup, Shutdown"),
        "{err}"
    );
}
