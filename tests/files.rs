//! The file manager through the real binary: folders, uploads into them,
//! the G-code analysis queue, copy and move with their metadata and events,
//! uploads that select and print (the slicer flow), and the refusals.

#[macro_use]
mod common;

use std::time::Duration;

use common::{add_user, api_key, send, upload_form, Push, Sandbox, Server};
use plinth_abi::{json, Value};

/// A 10 mm square at Z 0.2 with 4 mm of filament: OctoPrint's analysis
/// gives it width and depth 10, tool0 length 4.
const SQUARE: &[u8] = b"G21\nG90\nM82\nG92 E0\nG1 Z0.2 F600\nG1 X10 Y0 E1 F1200\nG1 X10 Y10 E2\nG1 X0 Y10 E3\nG1 X0 Y0 E4\n";

fn admin(sb: &Sandbox) -> String {
    add_user(sb, "bob", true);
    api_key(sb, "bob")
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-6)
}

#[test]
fn folders_uploads_analysis_copy_move_and_delete_as_octoprint() {
    let sb = Sandbox::new();
    let key = admin(&sb);
    let server = Server::start(&sb);
    let push = Push::connect(&server, &key);

    let (status, body) = upload_form(&server, &key, &[("foldername", "my parts")], None);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["folder"]["path"], "my_parts");
    assert_eq!(push.wait_event("FolderAdded")["path"], "my_parts");
    let (status, body) = upload_form(&server, &key, &[("foldername", "my_parts")], None);
    assert_eq!(status, 409, "an existing folder: {body}");

    let (status, body) = upload_form(
        &server,
        &key,
        &[("path", "my_parts")],
        Some(("cube.gcode", SQUARE)),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["files"]["local"]["path"], "my_parts/cube.gcode");
    let added = push.wait_event("FileAdded");
    assert_eq!(
        (&added["path"], &added["name"], &added["operation"]),
        (
            &json!("my_parts/cube.gcode"),
            &json!("cube.gcode"),
            &json!("add")
        )
    );
    assert_eq!(added["type"], json!(["machinecode", "gcode"]));

    // The analysis queue analyses it and keeps the result in its metadata.
    let finished = push.wait_event("MetadataAnalysisFinished");
    assert_eq!(finished["path"], "my_parts/cube.gcode");
    let result = &finished["result"];
    assert!(
        close(&result["filament"]["tool0"]["length"], 4.0),
        "{result}"
    );
    assert!(close(&result["dimensions"]["width"], 10.0), "{result}");
    assert!(close(&result["dimensions"]["depth"], 10.0), "{result}");
    assert!(result["estimatedPrintTime"].as_f64().unwrap() > 0.0);
    assert!(push
        .events()
        .contains(&"MetadataAnalysisStarted".to_string()));
    let (_, info) = send(
        &server,
        "GET",
        "/api/files/local/my_parts/cube.gcode",
        &key,
        None,
    );
    assert_eq!(&info["gcodeAnalysis"], result, "{info}");

    // Listings: the folder with its children when recursive.
    let (_, listing) = send(&server, "GET", "/api/files?recursive=true", &key, None);
    let folder = &listing["files"][0];
    assert_eq!(
        (&folder["type"], &folder["path"]),
        (&json!("folder"), &json!("my_parts"))
    );
    assert_eq!(folder["children"][0]["path"], "my_parts/cube.gcode");
    assert_eq!(folder["size"], SQUARE.len());
    let (_, flat) = send(&server, "GET", "/api/files/local", &key, None);
    assert!(flat["files"][0].get("children").is_none(), "{flat}");

    // A copy to the top folder keeps the analysis.
    let copy = json!({"command": "copy", "destination": "/"});
    let (status, copied) = send(
        &server,
        "POST",
        "/api/files/local/my_parts/cube.gcode",
        &key,
        Some(copy.clone()),
    );
    assert_eq!(status, 201, "{copied}");
    assert_eq!(copied["path"], "cube.gcode");
    assert_eq!(&copied["gcodeAnalysis"], result);
    let (status, again) = send(
        &server,
        "POST",
        "/api/files/local/my_parts/cube.gcode",
        &key,
        Some(copy),
    );
    assert_eq!(status, 409, "a copy never replaces a file: {again}");

    // A move renames it into the folder, with its metadata and OctoPrint's events.
    let (status, moved) = send(
        &server,
        "POST",
        "/api/files/local/cube.gcode",
        &key,
        Some(json!({"command": "move", "destination": "my_parts/renamed.gcode"})),
    );
    assert_eq!(status, 201, "{moved}");
    assert_eq!(moved["path"], "my_parts/renamed.gcode");
    assert_eq!(&moved["gcodeAnalysis"], result);
    let event = push.wait_event("FileMoved");
    assert_eq!(
        (
            &event["source_path"],
            &event["destination_path"],
            &event["destination_name"]
        ),
        (
            &json!("cube.gcode"),
            &json!("my_parts/renamed.gcode"),
            &json!("renamed.gcode")
        )
    );
    assert_eq!(
        send(&server, "GET", "/api/files/local/cube.gcode", &key, None).0,
        404
    );

    // Refusals name what is wrong and change nothing.
    for (path, body, status) in [
        (
            "my_parts/renamed.gcode",
            json!({"command": "move", "destination": "nowhere/x.gcode"}),
            404,
        ),
        ("my_parts/renamed.gcode", json!({"command": "copy"}), 400),
        (
            "my_parts",
            json!({"command": "move", "destination": "my_parts"}),
            400,
        ),
        (
            "nothing.gcode",
            json!({"command": "copy", "destination": "/"}),
            404,
        ),
        (
            "my_parts/.hidden.gcode",
            json!({"command": "copy", "destination": "/"}),
            404,
        ),
    ] {
        let (got, answer) = send(
            &server,
            "POST",
            &format!("/api/files/local/{path}"),
            &key,
            Some(body.clone()),
        );
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let (status, body) = upload_form(
        &server,
        &key,
        &[("path", "missing")],
        Some(("x.gcode", b"G28\n")),
    );
    assert_eq!(
        status, 404,
        "an upload into a folder that does not exist: {body}"
    );

    // A folder goes with what it holds.
    let (status, _) = send(&server, "DELETE", "/api/files/local/my_parts", &key, None);
    assert_eq!(status, 204);
    assert_eq!(push.wait_event("FolderRemoved")["path"], "my_parts");
    let (_, listing) = send(&server, "GET", "/api/files?recursive=true", &key, None);
    assert_eq!(listing["files"], json!([]));
    assert!(push.events().contains(&"UpdatedFiles".to_string()));
}

#[test]
fn an_upload_with_print_starts_it_and_nothing_is_analysed_while_printing() {
    let sb = Sandbox::new();
    sb.write_config("printer:\n  lines_per_second: 50\nserial:\n  autoconnect: true\n");
    let key = admin(&sb);
    let server = Server::start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let push = Push::connect(&server, &key);
    let long: Vec<u8> = SQUARE.repeat(200);
    let (status, body) = upload_form(
        &server,
        &key,
        &[("select", "true"), ("print", "true")],
        Some(("job.gcode", &long)),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (&body["effectiveSelect"], &body["effectivePrint"]),
        (&json!(true), &json!(true))
    );
    push.wait_event("PrintStarted");

    // The printing file is neither removed nor moved.
    let (status, answer) = send(&server, "DELETE", "/api/files/local/job.gcode", &key, None);
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = send(
        &server,
        "POST",
        "/api/files/local/job.gcode",
        &key,
        Some(json!({"command": "move", "destination": "other.gcode"})),
    );
    assert_eq!(status, 409, "{answer}");

    // Uploaded while printing: analysed only once the print is over (runAt idle).
    let (status, _) = upload_form(&server, &key, &[], Some(("later.gcode", SQUARE)));
    assert_eq!(status, 201);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !push
            .all()
            .iter()
            .any(|m| m["event"][0] == "MetadataAnalysisFinished"
                && m["event"][1]["path"] == "later.gcode"),
        "analysed during the print"
    );
    let (status, _) = send(
        &server,
        "POST",
        "/api/job",
        &key,
        Some(json!({"command": "cancel"})),
    );
    assert_eq!(status, 204);
    push.wait_for("the analysis after the print", |m| {
        m["event"][0] == "MetadataAnalysisFinished" && m["event"][1]["path"] == "later.gcode"
    });

    // Select without the print permission's flag: selected, not printed.
    let (status, body) = upload_form(
        &server,
        &key,
        &[("select", "1")],
        Some(("third.gcode", SQUARE)),
    );
    assert_eq!(status, 201, "{body}");
    common::wait_printer(&server, &key, "Operational");
    assert_eq!(body["effectivePrint"], false);
}
