//! The seed's settings preprocessors in a real host (plinth-testkit).

use plinth_testkit::{json, TestHost};

#[test]
fn the_getter_upper_cases_and_the_setter_lower_cases() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let get = |key: &str| host.call_helper("get", json!([key])).unwrap();
    assert_eq!(get("some_key"), json!("SOME_VALUE"));
    assert_eq!(get("some_other_key"), json!("Some_Value"));
    host.call_helper(
        "set",
        json!({"path": ["some_other_key"], "value": "SOME_OTHER_VALUE"}),
    )
    .unwrap();
    assert_eq!(get("some_other_key"), json!("some_other_value"));
    // What the host stores is what the setter made of it.
    assert_eq!(
        host.stored_settings(),
        json!({"some_other_key": "some_other_value"})
    );
}
