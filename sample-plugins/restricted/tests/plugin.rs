//! The seed's restricted paths in a real host (plinth-testkit): what the
//! host's filter leaves to each kind of caller.

use plinth_testkit::{json, TestHost, Value};

#[test]
fn each_caller_sees_only_what_it_may() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let pm = host.manager();
    let data = pm
        .call::<plinth_testkit::methods::OnSettingsLoad>(host.id(), &())
        .unwrap();
    let restricted = pm
        .call::<plinth_testkit::methods::GetSettingsRestrictedPaths>(host.id(), &())
        .unwrap();
    let seen = |viewer: plinth_testkit::restrict::Viewer| {
        plinth_testkit::restrict::filter(&data, &restricted, &viewer)
    };
    let anonymous = seen(plinth_testkit::restrict::Viewer::anonymous());
    assert_eq!(anonymous["some"]["admin_only"]["path"], Value::Null);
    assert_eq!(anonymous["some"]["user_only"]["path"], Value::Null);
    assert_eq!(anonymous["some"]["admin_only"]["foo"], json!("foo"));
    let admin = seen(plinth_testkit::restrict::Viewer {
        logged_in: true,
        permissions: ["settings".to_owned(), "webcam".to_owned()].into(),
        admin: true,
    });
    assert_eq!(admin["some"]["admin_only"]["path"], json!("path"));
    assert_eq!(admin["path"]["to"]["never"]["return"], Value::Null);
}
