//! The HTTP server, through a real binary on a free loopback port.

mod common;

use common::{http, Sandbox, Server};
use plinth_sdk::{json, Value};

fn get_json(server: &Server, path: &str) -> (u16, Value) {
    let mut response = http().get(&server.url(path)).call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[test]
fn the_server_answers_its_api_and_errors_under_api_are_json() {
    let sb = Sandbox::new();
    sb.recorder("a");
    let server = Server::start(&sb);
    let (status, body) = get_json(&server, "/api/server");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"version": env!("CARGO_PKG_VERSION"), "safemode": null, "restart_pending": false})
    );
    let (status, body) = get_json(&server, "/api/nothing/here");
    assert_eq!(
        (status, body),
        (404, json!({"error": "no such resource: /api/nothing/here"}))
    );
    let response = http().get(&server.url("/nothing")).call().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    // on_startup ran before the server accepted; on_after_startup once it did.
    let calls = sb.lifecycle_calls();
    assert_eq!(
        calls
            .iter()
            .filter(|l| l.starts_with("a on_startup 127.0.0.1 "))
            .count(),
        1,
        "{calls:?}"
    );
    assert!(calls.contains(&"a on_after_startup".to_owned()));
    assert_eq!(server.stop(), Some(0));
    let calls = sb.lifecycle_calls();
    assert_eq!(
        calls[calls.len() - 2..],
        ["a on_shutdown", "a drop"].map(String::from)
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = sb.plinth(&["serve", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}
