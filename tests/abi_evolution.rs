//! ABI evolution both ways: a plugin built against an older SDK loads in this
//! host; one built against a newer SDK loads when it needs nothing this host
//! lacks and is refused, naming what is missing, when it does; libraries of
//! another ABI major or no Plinth plugin at all are refused; the host carries on.
//! Each case runs twice: with the plugin in process and isolated.

#[macro_use]
mod common;

use common::{built, Sandbox};
use plinth::State;
use plinth_abi::json;

fn plugin_built_against_sdk_1_0_loads_and_runs_in_this_newer_host_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&built().fixture("legacy_abi"), "legacy_abi");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("legacy_abi").unwrap();
    assert_eq!(info.state, State::Enabled, "{:?}", info.error);
    assert_eq!(info.mode.as_str(), mode);
    assert_eq!(info.sdk.as_deref(), Some("1.0.0"));
    assert_eq!(
        m.call_helper("legacy_abi", "version", &json!(null))
            .unwrap(),
        json!("plinth-sdk 1.0.0")
    );
    // It uses host services as that SDK encoded them.
    let identity = m
        .call_helper("legacy_abi", "identity", &json!(null))
        .unwrap();
    assert_eq!(
        (identity["id"].as_str(), identity["version"].as_str()),
        (Some("legacy_abi"), Some("1.0.0"))
    );
    // It knew no batches of events: it gets each one through OnEvent, in order.
    for n in 0..3 {
        m.fire_event("Tick", &json!({ "n": n }));
    }
    assert!(m.flush_events());
    let got = m.call_helper("legacy_abi", "events", &json!(null)).unwrap();
    let ticks: Vec<_> = got
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[0] == "Tick")
        .collect();
    assert_eq!(
        ticks,
        [
            &json!(["Tick", {"n": 0}]),
            &json!(["Tick", {"n": 1}]),
            &json!(["Tick", {"n": 2}])
        ],
        "{got}"
    );
    // ABI 1.0 had no embedded files: the missing root-module field reads as absent.
    assert_eq!(
        m.embedded_file("legacy_abi", "templates/snapshot.jinja2"),
        None
    );
    m.shutdown();
}

fn plugin_built_against_a_newer_sdk_loads_when_it_needs_nothing_new_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&built().fixture("future_abi"), "future_abi");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("future_abi").unwrap();
    assert_eq!(info.state, State::Enabled, "{:?}", info.error);
    assert_eq!(info.mode.as_str(), mode);
    assert_eq!(
        m.call_helper("future_abi", "version", &json!(null))
            .unwrap(),
        json!("plinth-sdk 1.3.0")
    );
    assert_eq!(
        m.embedded_file("future_abi", "templates/snapshot.jinja2")
            .as_deref(),
        Some(&b"embedded"[..])
    );
    // A service this host does not know is answered Unsupported; nothing breaks.
    assert_eq!(
        m.call_helper("future_abi", "unknown_service", &json!(null))
            .unwrap(),
        json!("unsupported")
    );
    m.shutdown();
}

fn plugin_needing_a_mixin_this_host_lacks_is_refused_with_the_missing_part_named_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&built().fixture("future_mixin"), "future_mixin")
        .recorder("good");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("future_mixin").unwrap();
    assert_eq!(info.state, State::Incompatible);
    let error = info.error.unwrap();
    assert!(
        error.contains("`Telemetry`") && error.contains("ABI 1.3") && error.contains("ABI 1.2"),
        "{error}"
    );
    assert_eq!(m.plugin("good").unwrap().state, State::Enabled);
    // Its code never ran: nothing of it is registered.
    assert!(m
        .call_helper("future_mixin", "version", &json!(null))
        .is_err());
    m.shutdown();
}

fn other_abi_major_and_foreign_libraries_are_incompatible_and_the_host_carries_on_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&built().fixture("abi_two"), "abi_two")
        .recorder("good");
    let system_lib = [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/libz.so.1",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists());
    if let Some(lib) = &system_lib {
        sb.user_as(lib, "zlib");
    }
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let two = m.plugin("abi_two").unwrap();
    assert_eq!(two.state, State::Incompatible);
    assert!(
        two.error.as_deref().unwrap().contains("ABI 2.0"),
        "{:?}",
        two.error
    );
    if system_lib.is_some() {
        let z = m.plugin("zlib").unwrap();
        assert_eq!(z.state, State::Incompatible);
        assert!(
            z.error.as_deref().unwrap().contains("not a Plinth plugin"),
            "{:?}",
            z.error
        );
    }
    assert_eq!(m.plugin("good").unwrap().state, State::Enabled);
    assert_eq!(
        m.call_helper("good", "echo", &json!(1)).unwrap()["from"],
        "good"
    );
    m.shutdown();
}

fn a_library_built_with_another_abi_stable_is_incompatible_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&built().fixture("other_abi_stable"), "other_abi_stable")
        .recorder("good");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("other_abi_stable").unwrap();
    assert_eq!(info.state, State::Incompatible);
    let error = info.error.unwrap();
    assert_eq!(
        error,
        "incompatible library: built with abi_stable ABI 0.10, this host uses 0.11"
    );
    assert_eq!(m.plugin("good").unwrap().state, State::Enabled);
    m.shutdown();
}

in_both_modes! {
    plugin_built_against_sdk_1_0_loads_and_runs_in_this_newer_host => plugin_built_against_sdk_1_0_loads_and_runs_in_this_newer_host_in,
    plugin_built_against_a_newer_sdk_loads_when_it_needs_nothing_new => plugin_built_against_a_newer_sdk_loads_when_it_needs_nothing_new_in,
    plugin_needing_a_mixin_this_host_lacks_is_refused_with_the_missing_part_named => plugin_needing_a_mixin_this_host_lacks_is_refused_with_the_missing_part_named_in,
    other_abi_major_and_foreign_libraries_are_incompatible_and_the_host_carries_on => other_abi_major_and_foreign_libraries_are_incompatible_and_the_host_carries_on_in,
    a_library_built_with_another_abi_stable_is_incompatible => a_library_built_with_another_abi_stable_is_incompatible_in,
}
