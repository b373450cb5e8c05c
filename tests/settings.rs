//! SettingsPlugin: the documented defaults of every method, and the settings
//! samples (`helloworld`, `preprocessors`, `migrating`, `restricted`) behaving
//! as the seed's examples they follow.

mod common;

use common::Sandbox;
use plinth::restrict::{filter, Viewer};
use plinth::{PluginManager, State};
use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value};

/// A sandbox with one bundled sample and, when given, a config file.
fn sandbox(sample: &str, config: Option<&str>) -> Sandbox {
    let sb = Sandbox::new();
    sb.bundle_sample(sample);
    if let Some(yaml) = config {
        sb.write_config(yaml);
    }
    sb
}

/// Starts a manager and checks that `id` is enabled.
fn started(sb: &Sandbox, id: &str) -> PluginManager {
    let pm = sb.manager();
    pm.start("127.0.0.1", 5000);
    let info = pm.plugin(id).unwrap();
    assert_eq!(info.state, State::Enabled, "{id}: {:?}", info.error);
    pm
}

/// The whole `config.yaml` on disk, parsed (`{}` when there is no file).
fn on_disk(sb: &Sandbox) -> Value {
    let text = sb.config();
    if text.trim().is_empty() {
        return json!({});
    }
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("config.yaml: {e}\n{text}"))
}

/// `plugins.<id>` of `config.yaml` on disk; null when absent.
fn plugin_on_disk(sb: &Sandbox, id: &str) -> Value {
    on_disk(sb)
        .get("plugins")
        .and_then(|p| p.get(id))
        .cloned()
        .unwrap_or(Value::Null)
}

fn helper(pm: &PluginManager, id: &str, name: &str, args: Value) -> Value {
    pm.call_helper(id, name, &args)
        .unwrap_or_else(|e| panic!("{id}.{name}({args}): {e}"))
}

// ---------------------------------------------------------------------------
// helloworld: the seed's SettingsPlugin example
// ---------------------------------------------------------------------------

#[test]
fn helloworld_has_the_seeds_defaults_and_stores_nothing_at_start() {
    let sb = sandbox("helloworld", None);
    let pm = started(&sb, "helloworld");
    let defaults = json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": true}});
    assert_eq!(
        pm.call::<m::GetSettingsDefaults>("helloworld", &())
            .unwrap(),
        defaults
    );
    assert_eq!(
        pm.call::<m::GetSettingsVersion>("helloworld", &()).unwrap(),
        None
    );
    assert_eq!(
        pm.call::<m::OnSettingsLoad>("helloworld", &()).unwrap(),
        defaults
    );
    assert_eq!(plugin_on_disk(&sb, "helloworld"), Value::Null);
    pm.shutdown();
}

#[test]
fn helloworld_save_returns_and_writes_only_the_difference_to_the_defaults() {
    let sb = sandbox("helloworld", None);
    let pm = started(&sb, "helloworld");

    // Everything sent, two values changed: only those two are saved.
    let saved = pm
        .call::<m::OnSettingsSave>(
            "helloworld",
            &json!({"some_setting": "foo", "some_value": 42, "sub": {"some_flag": false}}),
        )
        .unwrap();
    assert_eq!(
        saved,
        json!({"some_value": 42, "sub": {"some_flag": false}})
    );
    assert_eq!(
        plugin_on_disk(&sb, "helloworld"),
        json!({"some_value": 42, "sub": {"some_flag": false}})
    );
    let settings = pm.plugin_settings("helloworld").unwrap();
    let flag = ["sub".to_owned(), "some_flag".to_owned()];
    assert_eq!(settings.get(&flag), Some(json!(false)));
    assert_eq!(
        pm.call::<m::OnSettingsLoad>("helloworld", &()).unwrap(),
        json!({"some_setting": "foo", "some_value": 42, "sub": {"some_flag": false}})
    );

    // A partial save merges into what is stored and returns the whole difference.
    let saved = pm
        .call::<m::OnSettingsSave>("helloworld", &json!({"some_setting": "bar"}))
        .unwrap();
    assert_eq!(
        saved,
        json!({"some_setting": "bar", "some_value": 42, "sub": {"some_flag": false}})
    );
    assert_eq!(plugin_on_disk(&sb, "helloworld"), saved);

    // Saving the defaults back removes the plugin's entry from the file.
    let saved = pm
        .call::<m::OnSettingsSave>(
            "helloworld",
            &json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": true}}),
        )
        .unwrap();
    assert_eq!(saved, json!({}));
    assert_eq!(plugin_on_disk(&sb, "helloworld"), Value::Null);
    assert_eq!(settings.get(&flag), Some(json!(true)));
    pm.shutdown();
}

#[test]
fn helloworld_saved_settings_are_read_back_at_the_next_start() {
    let sb = sandbox("helloworld", None);
    let pm = started(&sb, "helloworld");
    pm.call::<m::OnSettingsSave>("helloworld", &json!({"sub": {"some_flag": "no"}}))
        .unwrap();
    pm.shutdown();
    drop(pm);

    let pm = started(&sb, "helloworld");
    assert_eq!(
        plugin_on_disk(&sb, "helloworld"),
        json!({"sub": {"some_flag": "no"}})
    );
    assert_eq!(
        pm.call::<m::OnSettingsLoad>("helloworld", &()).unwrap(),
        json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": "no"}})
    );
    pm.shutdown();
}

// ---------------------------------------------------------------------------
// preprocessors: the seed's get_settings_preprocessors example
// ---------------------------------------------------------------------------

#[test]
fn preprocessors_getter_upper_cases_some_key_and_setter_lower_cases_some_other_key() {
    let sb = sandbox("preprocessors", None);
    let pm = started(&sb, "preprocessors");
    let id = "preprocessors";
    let path = |p: &str| vec![p.to_owned()];

    assert_eq!(
        pm.call::<m::GetSettingsPreprocessorPaths>(id, &()).unwrap(),
        (vec![path("some_key")], vec![path("some_other_key")])
    );
    let get = |p: &str, v: Value| {
        pm.call::<m::ApplyGetterPreprocessor>(id, &(path(p), v))
            .unwrap()
    };
    let set = |p: &str, v: Value| {
        pm.call::<m::ApplySetterPreprocessor>(id, &(path(p), v))
            .unwrap()
    };
    assert_eq!(get("some_key", json!("Some_Value")), json!("SOME_VALUE"));
    assert_eq!(
        get("some_other_key", json!("Some_Value")),
        json!("Some_Value")
    );
    assert_eq!(
        set("some_other_key", json!("SOME_OTHER_VALUE")),
        json!("some_other_value")
    );
    assert_eq!(
        set("some_key", json!("SOME_OTHER_VALUE")),
        json!("SOME_OTHER_VALUE")
    );
    // Values that are not strings pass unchanged.
    assert_eq!(get("some_key", json!(7)), json!(7));

    // The seed's `some_method`, through the plugin's own settings handle.
    assert_eq!(
        helper(&pm, id, "get", json!(["some_key"])),
        json!("SOME_VALUE")
    );
    assert_eq!(
        helper(&pm, id, "get", json!(["some_other_key"])),
        json!("Some_Value")
    );
    helper(
        &pm,
        id,
        "set",
        json!({"path": ["some_other_key"], "value": "SOME_OTHER_VALUE"}),
    );
    assert_eq!(
        helper(&pm, id, "get", json!(["some_other_key"])),
        json!("some_other_value")
    );
    let settings = pm.plugin_settings(id).unwrap();
    assert_eq!(
        settings.stored(),
        json!({"some_other_key": "some_other_value"})
    );
    pm.shutdown();
}

#[test]
fn preprocessors_end_to_end_apply_to_single_values_and_to_whole_trees() {
    let sb = sandbox(
        "preprocessors",
        Some("plugins:\n  preprocessors:\n    some_key: mixed_Case\n"),
    );
    let pm = started(&sb, "preprocessors");
    let id = "preprocessors";

    // The store holds the value as written.
    let settings = pm.plugin_settings(id).unwrap();
    assert_eq!(
        settings.get(&["some_key".to_owned()]),
        Some(json!("mixed_Case"))
    );
    assert_eq!(plugin_on_disk(&sb, id), json!({"some_key": "mixed_Case"}));
    // As in OctoPrint, the default `on_settings_load` applies the getters to
    // the whole tree it returns...
    assert_eq!(
        pm.call::<m::OnSettingsLoad>(id, &()).unwrap(),
        json!({"some_key": "MIXED_CASE", "some_other_key": "Some_Value"})
    );
    // ...and the default `on_settings_save` applies the setters to what it stores.
    let saved = pm
        .call::<m::OnSettingsSave>(id, &json!({"some_other_key": "LOUD"}))
        .unwrap();
    // It returns the difference as received and stores it through the setter.
    assert_eq!(
        saved,
        json!({"some_key": "mixed_Case", "some_other_key": "LOUD"})
    );
    assert_eq!(
        plugin_on_disk(&sb, id),
        json!({"some_key": "mixed_Case", "some_other_key": "loud"})
    );
    // The plugin's own handle applies the getter.
    assert_eq!(
        helper(&pm, id, "get", json!(["some_key"])),
        json!("MIXED_CASE")
    );
    pm.shutdown();
}

// ---------------------------------------------------------------------------
// migrating: settings version 2, migrating version 1 and unversioned data
// ---------------------------------------------------------------------------

#[test]
fn migrating_turns_version_1_settings_into_version_2() {
    let sb = sandbox(
        "migrating",
        Some(concat!(
            "plugins:\n",
            "  migrating:\n",
            "    _config_version: 1\n",
            "    url: https://printer.local:8443/api\n",
            "    timeout: 10\n",
        )),
    );
    let pm = started(&sb, "migrating");
    let v2 = json!({
        "_config_version": 2,
        "server": {"host": "printer.local", "port": 8443, "tls": true},
        "timeout": 10
    });
    assert_eq!(plugin_on_disk(&sb, "migrating"), v2);
    assert_eq!(
        pm.call::<m::OnSettingsLoad>("migrating", &()).unwrap(),
        json!({"server": {"host": "printer.local", "port": 8443, "tls": true}, "timeout": 10})
    );
    pm.shutdown();
    drop(pm);

    // The next start finds version 2 and leaves the data as it is.
    let pm = started(&sb, "migrating");
    assert_eq!(plugin_on_disk(&sb, "migrating"), v2);
    pm.shutdown();
}

#[test]
fn migrating_treats_settings_without_a_version_as_version_1() {
    let sb = sandbox(
        "migrating",
        Some("plugins:\n  migrating:\n    url: http://octopi.local:5000\n"),
    );
    let pm = started(&sb, "migrating");
    // `tls: false` is the default, so it is not stored.
    assert_eq!(
        plugin_on_disk(&sb, "migrating"),
        json!({"_config_version": 2, "server": {"host": "octopi.local", "port": 5000}})
    );
    pm.shutdown();
}

#[test]
fn migrating_with_nothing_stored_writes_only_the_version() {
    let sb = sandbox("migrating", None);
    let pm = started(&sb, "migrating");
    assert_eq!(
        plugin_on_disk(&sb, "migrating"),
        json!({"_config_version": 2})
    );
    assert_eq!(
        pm.call::<m::OnSettingsLoad>("migrating", &()).unwrap(),
        json!({"server": {"host": "localhost", "port": 80, "tls": false}, "timeout": 30})
    );
    pm.shutdown();
}

#[test]
fn migrating_does_not_migrate_settings_already_at_version_2() {
    // A left-over `url` would be turned into `server` (and removed) by a
    // migration: it stays, so `on_settings_migrate` was not called.
    let sb = sandbox(
        "migrating",
        Some(concat!(
            "plugins:\n",
            "  migrating:\n",
            "    _config_version: 2\n",
            "    server: {host: kept.local}\n",
            "    url: http://leftover.local:1\n",
        )),
    );
    let pm = started(&sb, "migrating");
    assert_eq!(
        plugin_on_disk(&sb, "migrating"),
        json!({
            "_config_version": 2,
            "server": {"host": "kept.local"},
            "url": "http://leftover.local:1"
        })
    );
    pm.shutdown();
}

#[test]
fn migrating_keeps_a_url_it_cannot_parse() {
    let sb = sandbox(
        "migrating",
        Some("plugins:\n  migrating:\n    url: printer.local\n"),
    );
    let pm = started(&sb, "migrating");
    assert_eq!(
        plugin_on_disk(&sb, "migrating"),
        json!({"_config_version": 2, "url": "printer.local"})
    );
    pm.shutdown();
}

// ---------------------------------------------------------------------------
// restricted: the seed's get_settings_restricted_paths example
// ---------------------------------------------------------------------------

/// What a caller gets of the restricted sample's settings, by which of the
/// restricted values it may see (the seed's defaults; `the.webcam.data` is
/// `"webcam"` there).
fn restricted_view(admin: bool, user: bool, webcam: bool) -> Value {
    let show = |yes: bool, value: &str| if yes { json!(value) } else { Value::Null };
    json!({
        "some": {
            "admin_only": {"path": show(admin, "path"), "foo": "foo"},
            "user_only": {"path": show(user, "path"), "bar": "bar"}
        },
        "another": {
            "admin_only": {"path": show(admin, "path")},
            "field": "field"
        },
        "path": {"to": {"never": {"return": null}}},
        "the": {"webcam": {"data": show(webcam, "webcam")}}
    })
}

#[test]
fn restricted_paths_give_the_seeds_four_callers_exactly_what_octoprint_documents() {
    let sb = sandbox("restricted", None);
    let pm = started(&sb, "restricted");
    let data = pm.call::<m::OnSettingsLoad>("restricted", &()).unwrap();
    let restricted = pm
        .call::<m::GetSettingsRestrictedPaths>("restricted", &())
        .unwrap();
    assert_eq!(
        restricted,
        json!({
            "admin": [["some", "admin_only", "path"], ["another", "admin_only", "path"]],
            "user": [["some", "user_only", "path"]],
            "never": [["path", "to", "never", "return"]],
            "webcam": [["the", "webcam", "data"]]
        })
    );
    // Nothing is stored: the data are the defaults.
    assert_eq!(
        data,
        pm.call::<m::GetSettingsDefaults>("restricted", &())
            .unwrap()
    );

    let cases = [
        (
            "anonymous",
            Viewer::anonymous(),
            restricted_view(false, false, false),
        ),
        (
            "user without webcam",
            Viewer::user(&[]),
            restricted_view(false, true, false),
        ),
        (
            "user with webcam",
            Viewer::user(&["webcam"]),
            restricted_view(false, true, true),
        ),
        ("admin", Viewer::admin(), restricted_view(true, true, true)),
        // `admin` means the `settings` permission, whoever has it.
        (
            "user with settings",
            Viewer::user(&["settings"]),
            restricted_view(true, true, false),
        ),
    ];
    for (who, caller, expected) in cases {
        assert_eq!(filter(&data, &restricted, &caller), expected, "{who}");
    }
    pm.shutdown();
}

// ---------------------------------------------------------------------------
// Documented defaults of each SettingsPlugin method, on a plugin that
// overrides only get_settings_defaults and get_settings_preprocessors
// ---------------------------------------------------------------------------

#[test]
fn default_version_is_none_and_no_version_is_written() {
    let sb = sandbox(
        "preprocessors",
        Some("plugins:\n  preprocessors:\n    some_other_key: changed\n"),
    );
    let pm = started(&sb, "preprocessors");
    assert_eq!(
        pm.call::<m::GetSettingsVersion>("preprocessors", &())
            .unwrap(),
        None
    );
    assert_eq!(
        plugin_on_disk(&sb, "preprocessors"),
        json!({"some_other_key": "changed"})
    );
    let saved = pm
        .call::<m::OnSettingsSave>("preprocessors", &json!({"extra": 1}))
        .unwrap();
    assert_eq!(saved, json!({"some_other_key": "changed", "extra": 1}));
    assert_eq!(plugin_on_disk(&sb, "preprocessors"), saved);
    pm.shutdown();
}

#[test]
fn default_restricted_paths_are_empty_and_restrict_nothing() {
    let sb = sandbox("preprocessors", None);
    let pm = started(&sb, "preprocessors");
    let restricted = pm
        .call::<m::GetSettingsRestrictedPaths>("preprocessors", &())
        .unwrap();
    assert_eq!(restricted, json!({}));
    let data = pm.call::<m::OnSettingsLoad>("preprocessors", &()).unwrap();
    assert_eq!(filter(&data, &restricted, &Viewer::anonymous()), data);
    pm.shutdown();
}

#[test]
fn default_cleanup_at_start_up_removes_hand_written_copies_of_the_defaults() {
    let sb = sandbox(
        "preprocessors",
        Some(concat!(
            "server:\n",
            "  port: 5000\n",
            "plugins:\n",
            "  preprocessors:\n",
            "    some_key: Some_Value\n",
            "    some_other_key: changed\n",
            "    extra: {a: 1}\n",
        )),
    );
    let pm = started(&sb, "preprocessors");
    assert_eq!(
        plugin_on_disk(&sb, "preprocessors"),
        json!({"some_other_key": "changed", "extra": {"a": 1}})
    );
    // The host's own keys are left alone.
    assert_eq!(on_disk(&sb)["server"], json!({"port": 5000}));

    // Called again later, it reduces whatever was added meanwhile.
    let settings = pm.plugin_settings("preprocessors").unwrap();
    settings
        .store()
        .set(
            vec!["plugins".into(), "preprocessors".into(), "some_key".into()],
            json!("Some_Value"),
        )
        .expect("a valid value");
    assert_eq!(
        settings.stored(),
        json!({"some_other_key": "changed", "extra": {"a": 1}, "some_key": "Some_Value"})
    );
    pm.call::<m::OnSettingsCleanup>("preprocessors", &())
        .unwrap();
    assert_eq!(
        settings.stored(),
        json!({"some_other_key": "changed", "extra": {"a": 1}})
    );
    pm.shutdown();
}

#[test]
fn default_load_returns_the_defaults_merged_with_the_stored_values() {
    let sb = sandbox(
        "preprocessors",
        Some("plugins:\n  preprocessors:\n    some_other_key: changed\n    extra: [1, 2]\n"),
    );
    let pm = started(&sb, "preprocessors");
    assert_eq!(
        pm.call::<m::OnSettingsLoad>("preprocessors", &()).unwrap(),
        // The getter of `some_key` runs on the whole tree, as in OctoPrint.
        json!({"some_key": "SOME_VALUE", "some_other_key": "changed", "extra": [1, 2]})
    );
    pm.shutdown();
}

#[test]
fn default_save_merges_stores_the_minimal_difference_and_returns_it() {
    let sb = sandbox(
        "preprocessors",
        Some(concat!(
            "plugins:\n",
            "  preprocessors:\n",
            "    some_other_key: changed\n",
            "    extra: {a: 1, l: [1, 2]}\n",
        )),
    );
    let pm = started(&sb, "preprocessors");
    // Objects merge key by key, lists are replaced whole, defaults are not stored.
    let saved = pm
        .call::<m::OnSettingsSave>(
            "preprocessors",
            &json!({"some_key": "Some_Value", "extra": {"b": 2, "l": [3]}}),
        )
        .unwrap();
    assert_eq!(
        saved,
        json!({"some_other_key": "changed", "extra": {"a": 1, "l": [3], "b": 2}})
    );
    assert_eq!(plugin_on_disk(&sb, "preprocessors"), saved);
    // Sending the default value of a stored key removes it.
    let saved = pm
        .call::<m::OnSettingsSave>("preprocessors", &json!({"some_other_key": "Some_Value"}))
        .unwrap();
    assert_eq!(saved, json!({"extra": {"a": 1, "l": [3], "b": 2}}));
    assert_eq!(plugin_on_disk(&sb, "preprocessors"), saved);
    pm.shutdown();
}

#[test]
fn default_migrate_and_initialized_change_nothing() {
    let sb = sandbox(
        "preprocessors",
        Some("plugins:\n  preprocessors:\n    some_other_key: changed\n"),
    );
    let pm = started(&sb, "preprocessors");
    let settings = pm.plugin_settings("preprocessors").unwrap();
    let before = settings.stored();
    pm.call::<m::OnSettingsMigrate>("preprocessors", &(Some(2), None))
        .unwrap();
    pm.call::<m::OnSettingsInitialized>("preprocessors", &())
        .unwrap();
    assert_eq!(settings.stored(), before);
    assert_eq!(before, json!({"some_other_key": "changed"}));
    pm.shutdown();
}
