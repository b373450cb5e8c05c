//! What the test kit says when it cannot run a plugin.

use plinth_testkit::{State, TestHost, TestKitError};

#[test]
fn a_missing_library_says_where_it_was_looked_for() {
    let err = TestHost::start("/no/such/libplugin.so").err().unwrap();
    assert!(matches!(err, TestKitError::NoLibrary(_)), "{err}");
    assert!(err.to_string().contains("/no/such/libplugin.so"), "{err}");
}

#[test]
fn a_library_that_is_no_plugin_is_not_enabled_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir
        .path()
        .join(format!("{}fake.{}", plinth::LIB_PREFIX, plinth::LIB_EXT));
    std::fs::write(&fake, b"not a library").unwrap();
    match TestHost::start(&fake).err().unwrap() {
        TestKitError::NotEnabled { id, state, error } => {
            assert_eq!((id.as_str(), state), ("fake", State::Incompatible));
            assert!(error.unwrap().contains("not a shared library"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn the_library_of_a_crate_is_looked_for_beside_the_tests() {
    let path = plinth_testkit::library_of("my-plugin");
    let name = path.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        name,
        format!("{}my_plugin.{}", plinth::LIB_PREFIX, plinth::LIB_EXT)
    );
    assert!(
        !path.parent().unwrap().ends_with("deps"),
        "{}",
        path.display()
    );
}
