//! The seed's blueprint examples in a real host (plinth-testkit).

use plinth_testkit::TestHost;

#[test]
fn the_routes_answer_as_the_seed_says() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let echo = host.blueprint("GET", "/echo?text=hi", b"").unwrap();
    assert_eq!((echo.status, echo.body_text()), (200, "hi".to_owned()));
    let missing = host.blueprint("GET", "/echo", b"").unwrap();
    assert_eq!(
        (missing.status, missing.body_text()),
        (400, "Expected a text to echo back.".to_owned())
    );
    assert_eq!(
        host.blueprint("GET", "/hello_world", b"")
            .unwrap()
            .body_text(),
        "Hello world!"
    );
    assert_eq!(
        host.blueprint("POST", "/hello_you", b"")
            .unwrap()
            .body_text(),
        "Hello you!"
    );
    assert!(
        host.blueprint("GET", "/hello_you", b"").is_err(),
        "POST only"
    );
}
