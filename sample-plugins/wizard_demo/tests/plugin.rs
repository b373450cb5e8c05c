//! The seed's wizard in a real host (plinth-testkit).

use plinth_testkit::{json, methods, TestHost};

#[test]
fn the_wizard_is_required_until_some_key_is_set() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let required = || {
        host.manager()
            .call::<methods::IsWizardRequired>(host.id(), &())
            .unwrap()
    };
    assert!(required());
    assert_eq!(
        host.manager()
            .call::<methods::GetWizardVersion>(host.id(), &())
            .unwrap(),
        Some(1)
    );
    host.set_setting(&["some_key"], json!("filled in")).unwrap();
    assert!(!required());
}
