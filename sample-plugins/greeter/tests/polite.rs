//! The greeter built with its cargo feature `polite`, in a real host
//! (plinth-testkit): `plugin_library!(features = …)` builds that variant
//! into a target folder of its own. A test file of its own, as a test
//! process loads one build of a library.

use plinth_testkit::{json, TestHost};

#[test]
fn built_polite_it_says_good_day() {
    let library = plinth_testkit::plugin_library!(features = ["polite"]);
    assert!(
        library
            .components()
            .any(|c| c.as_os_str() == "testkit-features"),
        "{}",
        library.display()
    );
    let host = TestHost::start(&library).unwrap();
    let replies = host.manager().call_hook("sample.greeting", &json!(null));
    assert!(
        replies
            .iter()
            .any(|r| r.plugin == "greeter" && r.result == Ok(json!("greeter says good day"))),
        "{replies:?}"
    );
}
