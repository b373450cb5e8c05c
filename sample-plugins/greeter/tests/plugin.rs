//! The greeter alone in a real host (plinth-testkit): without `wordsmith`
//! its helper call fails and it says so, and its own hook still answers.

use plinth_testkit::{json, TestHost};

#[test]
fn without_wordsmith_it_warns_instead_of_greeting() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let warned = host
        .logs()
        .into_iter()
        .find(|l| l.level == "warn")
        .expect("a warning");
    assert!(
        warned
            .message
            .contains("cannot call the helper shout of wordsmith"),
        "{warned:?}"
    );
    assert!(!host
        .logs()
        .iter()
        .any(|l| l.message.starts_with("greeting:")));
    let replies = host.manager().call_hook("sample.greeting", &json!(null));
    assert!(
        replies
            .iter()
            .any(|r| r.plugin == "greeter" && r.result == Ok(json!("greeter says hello"))),
        "{replies:?}"
    );
}
