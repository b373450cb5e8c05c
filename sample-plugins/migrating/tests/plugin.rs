//! Settings migration in a real host (plinth-testkit).

use plinth_testkit::{json, TestHost};

#[test]
fn version_1_settings_are_migrated_to_version_2_at_start_up() {
    let host = TestHost::start_with_config(
        plinth_testkit::plugin_library!(),
        "plugins:\n  migrating:\n    _config_version: 1\n    url: https://printer.local:8443/api\n    timeout: 10\n",
    )
    .unwrap();
    assert_eq!(
        host.stored_settings(),
        json!({
            "_config_version": 2,
            "server": {"host": "printer.local", "port": 8443, "tls": true},
            "timeout": 10
        })
    );
}

#[test]
fn a_url_that_does_not_parse_is_kept_and_logged() {
    let host = TestHost::start_with_config(
        plinth_testkit::plugin_library!(),
        "plugins:\n  migrating:\n    url: not a url\n",
    )
    .unwrap();
    assert_eq!(host.stored_settings()["url"], json!("not a url"));
    assert!(host
        .logs()
        .iter()
        .any(|l| l.level == "warn" && l.message.contains("not a url")));
}
