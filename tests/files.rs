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
    let (_, original) = send(
        &server,
        "GET",
        "/api/files/local/my_parts/cube.gcode",
        &key,
        None,
    );
    assert_eq!(
        copied["hash"], original["hash"],
        "the same content, the same hash"
    );
    assert!(original["hash"].as_str().is_some_and(|h| h.len() == 64));
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

    // Analysed again on request; only G-code.
    let again = json!({"command": "analyse"});
    let (status, _) = send(
        &server,
        "POST",
        "/api/files/local/my_parts/renamed.gcode",
        &key,
        Some(again.clone()),
    );
    assert_eq!(status, 204);
    push.wait_for("the second analysis", |m| {
        m["event"]["type"] == "MetadataAnalysisFinished"
            && m["event"]["payload"]["path"] == "my_parts/renamed.gcode"
    });

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
            .any(|m| m["event"]["type"] == "MetadataAnalysisFinished"
                && m["event"]["payload"]["path"] == "later.gcode"),
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
        m["event"]["type"] == "MetadataAnalysisFinished"
            && m["event"]["payload"]["path"] == "later.gcode"
    });

    // Select only: selected, not printed.
    let (status, body) = upload_form(
        &server,
        &key,
        &[("select", "1")],
        Some(("third.gcode", SQUARE)),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (&body["effectiveSelect"], &body["effectivePrint"]),
        (&json!(true), &json!(false))
    );
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(job["job"]["file"]["name"], "third.gcode", "{job}");
    assert_eq!(job["state"], "Operational", "{job}");
}

/// What a user may do with files follows their permissions, as OctoPrint's:
/// replacing a file needs `files_delete` (and `noOverwrite` refuses it),
/// moving needs it too, and an upload selects and prints only for callers
/// who may.
#[test]
fn replacing_moving_selecting_and_printing_need_their_permissions() {
    let sb = Sandbox::new();
    sb.write_config("serial:\n  autoconnect: true\n");
    let admin_key = admin(&sb);
    let permissions = ["--permissions", "status,files_list,files_upload"];
    common::add_user_with(&sb, "carl", &permissions);
    let carl = api_key(&sb, "carl");
    let server = Server::start(&sb);
    common::wait_printer(&server, &admin_key, "Operational");

    let (status, body) = upload_form(
        &server,
        &carl,
        &[("select", "true"), ("print", "true")],
        Some(("part.gcode", SQUARE)),
    );
    assert_eq!(status, 201, "uploading is allowed: {body}");
    assert_eq!(
        (&body["effectiveSelect"], &body["effectivePrint"]),
        (&json!(false), &json!(false)),
        "neither selected nor printed without files_select and print"
    );
    let (_, job) = send(&server, "GET", "/api/job", &admin_key, None);
    assert_eq!(job["job"]["file"]["name"], Value::Null, "{job}");

    let replaced = upload_form(&server, &carl, &[], Some(("part.gcode", b"G28\n")));
    assert_eq!(replaced.0, 403, "{}", replaced.1);
    assert!(replaced.1["error"]
        .as_str()
        .unwrap()
        .contains("files_delete"));
    let refused = upload_form(
        &server,
        &admin_key,
        &[("noOverwrite", "true")],
        Some(("part.gcode", b"G28\n")),
    );
    assert_eq!(refused.0, 409, "{}", refused.1);
    let content = std::fs::read(sb.basedir.join("uploads/part.gcode")).unwrap();
    assert_eq!(content, SQUARE, "nothing was replaced");

    let copy = json!({"command": "copy", "destination": "copy.gcode"});
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/files/local/part.gcode",
            &carl,
            Some(copy)
        )
        .0,
        201
    );
    let moved = json!({"command": "move", "destination": "moved.gcode"});
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/files/local/part.gcode",
            &carl,
            Some(moved.clone())
        )
        .0,
        403
    );
    assert_eq!(
        send(
            &server,
            "DELETE",
            "/api/files/local/copy.gcode",
            &carl,
            None
        )
        .0,
        403
    );
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/files/local/part.gcode",
            &admin_key,
            Some(moved)
        )
        .0,
        201
    );

    // A folder removed with the selected file in it leaves nothing selected.
    upload_form(&server, &admin_key, &[("foldername", "box")], None);
    upload_form(
        &server,
        &admin_key,
        &[("path", "box"), ("select", "true")],
        Some(("in.gcode", SQUARE)),
    );
    let (_, job) = send(&server, "GET", "/api/job", &admin_key, None);
    assert_eq!(job["job"]["file"]["path"], "box/in.gcode", "{job}");
    assert_eq!(
        send(&server, "DELETE", "/api/files/local/box", &admin_key, None).0,
        204
    );
    let (_, job) = send(&server, "GET", "/api/job", &admin_key, None);
    assert_eq!(job["job"]["file"]["name"], Value::Null, "{job}");
}

/// Plugin `service_probe`'s answer to Simple API command `command`.
fn probe(server: &Server, key: &str, command: &str, data: Value) -> Value {
    let mut body = data;
    body["command"] = json!(command);
    let (status, answer) = send(server, "POST", "/api/plugin/service_probe", key, Some(body));
    assert_eq!(status, 200, "{command}: {answer}");
    answer
}

fn ok(answer: Value) -> Value {
    assert!(answer.get("ok").is_some(), "refused: {answer}");
    answer["ok"].clone()
}

fn refused(answer: Value) -> String {
    answer["refused"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("not refused: {answer}"))
        .to_owned()
}

fn plugins_reach_the_file_and_slicing_managers_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&common::built().fixture("service_probe"), "service_probe");
    sb.bundle_sample("planar_slicer");
    let key = admin(&sb);
    let server = Server::start(&sb);
    let push = Push::connect(&server, &key);
    let call = |command: &str, data: Value| probe(&server, &key, command, data);

    // Folders and files, as a plugin makes them.
    assert_eq!(
        ok(call("add_folder", json!({"path": "from plugin"}))),
        "from_plugin"
    );
    assert_eq!(
        refused(call("add_folder", json!({"path": "from_plugin"}))),
        "conflict"
    );
    assert_eq!(
        ok(call(
            "add_folder",
            json!({"path": "from_plugin", "ignore_existing": true})
        )),
        "from_plugin"
    );
    let square = String::from_utf8(SQUARE.to_vec()).unwrap();
    let added = ok(call(
        "add_file",
        json!({"path": "from_plugin/part.gcode", "content": square}),
    ));
    assert_eq!(added, "from_plugin/part.gcode");
    assert_eq!(
        push.wait_event("FileAdded")["path"],
        "from_plugin/part.gcode"
    );
    assert_eq!(
        ok(call("exists", json!({"path": "from_plugin/part.gcode"}))),
        json!({"file": true, "folder": false})
    );
    assert_eq!(
        refused(call(
            "add_file",
            json!({"path": "from_plugin/part.gcode", "content": "G28\n"})
        )),
        "conflict",
        "no overwrite unless allowed"
    );
    assert_eq!(
        refused(call("add_file", json!({"path": "x.exe", "content": "MZ"}))),
        "unsupported"
    );
    assert_eq!(
        refused(call(
            "add_file",
            json!({"path": "nowhere/x.gcode", "content": "G28\n"})
        )),
        "not_found"
    );

    // The analysis reaches the metadata; the plugin's own metadata sits beside it.
    push.wait_for("the plugin's file analysed", |m| {
        m["event"]["type"] == "MetadataAnalysisFinished"
            && m["event"]["payload"]["path"] == "from_plugin/part.gcode"
    });
    let set = |data: Value| call("set_metadata", data);
    let target = |extra: Value| {
        let mut v = json!({"path": "from_plugin/part.gcode", "key": "probe"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(ok(set(target(json!({"data": {"a": 1}})))), true);
    assert_eq!(
        ok(set(target(json!({"data": {"b": 2}})))),
        false,
        "an existing key is left alone without overwrite or merge, as OctoPrint"
    );
    assert_eq!(
        ok(set(target(json!({"data": {"b": 2}, "merge": true})))),
        true
    );
    assert_eq!(
        refused(set(
            json!({"path": "from_plugin/part.gcode", "key": "analysis", "data": 1})
        )),
        "invalid"
    );
    let metadata = ok(call("metadata", json!({"path": "from_plugin/part.gcode"})));
    assert_eq!(metadata["probe"], json!({"a": 1, "b": 2}));
    assert!(
        close(&metadata["analysis"]["filament"]["tool0"]["length"], 4.0),
        "{metadata}"
    );

    // Copy and move carry it; sizes, dates and paths on disk.
    assert_eq!(
        ok(call(
            "copy",
            json!({"path": "from_plugin/part.gcode", "destination": "copy.gcode"})
        )),
        "copy.gcode"
    );
    assert_eq!(
        ok(call("metadata", json!({"path": "copy.gcode"})))["probe"]["b"],
        2
    );
    assert_eq!(
        ok(call(
            "move",
            json!({"path": "copy.gcode", "destination": "from_plugin"})
        )),
        "from_plugin/copy.gcode"
    );
    let stat = ok(call("stat", json!({"path": "from_plugin/copy.gcode"})));
    assert_eq!(stat["size"], SQUARE.len());
    assert!(stat["date"].as_u64().unwrap() > 1_700_000_000);
    let on_disk = ok(call(
        "path_on_disk",
        json!({"path": "from_plugin/copy.gcode"}),
    ));
    assert_eq!(
        std::fs::read(on_disk.as_str().unwrap()).unwrap(),
        SQUARE,
        "the path on disk is the file"
    );
    ok(call(
        "remove_metadata",
        json!({"path": "from_plugin/copy.gcode", "key": "probe"}),
    ));
    assert!(
        ok(call("metadata", json!({"path": "from_plugin/copy.gcode"})))
            .get("probe")
            .is_none()
    );
    let listed = ok(call("list", json!({"path": "", "recursive": true})));
    assert_eq!(
        listed[0]["children"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    assert_eq!(
        refused(call("analyse", json!({"path": "nothing.gcode"}))),
        "not_found"
    );

    // The preprocessor hook sees every new file; the extension tree hook adds a type.
    ok(call(
        "add_file",
        json!({"path": "pre.gcode", "content": "G28\n"}),
    ));
    let (status, _) = upload_form(&server, &key, &[], Some(("uploaded_pre.gcode", b"G28\n")));
    assert_eq!(status, 201);
    for (path, file) in [
        ("pre.gcode", "pre.gcode"),
        ("uploaded_pre.gcode", "uploaded_pre.gcode"),
    ] {
        let content = std::fs::read_to_string(sb.basedir.join("uploads").join(file)).unwrap();
        assert_eq!(
            content,
            format!("G28\n; preprocessed by service_probe for {path}\n")
        );
    }
    let (status, body) = upload_form(&server, &key, &[], Some(("model.amf", b"<amf/>")));
    assert_eq!(status, 201, "a type a hook added is accepted: {body}");
    assert_eq!(body["files"]["local"]["typePath"], json!(["model", "amf"]));

    // The slicing manager: slicers, a slice with its events.
    let slicers = ok(call("slicers", json!({})));
    assert!(slicers.get("planar").is_some(), "{slicers}");
    let (status, _) = upload_form(
        &server,
        &key,
        &[],
        Some(("box.stl", common::box_stl(5.0, 5.0, 2.0).as_bytes())),
    );
    assert_eq!(status, 201);
    let job = ok(call(
        "slice",
        json!({"path": "box.stl", "slicer": "planar", "destination": "from_plugin/box.gcode"}),
    ));
    assert_eq!(job["destination"]["path"], "from_plugin/box.gcode", "{job}");
    let done = push.wait_event("SlicingDone");
    assert_eq!(done["gcode"], "from_plugin/box.gcode");
    assert!(ok(call("exists", json!({"path": "from_plugin/box.gcode"})))["file"] == true);
    assert_eq!(
        refused(call("slice", json!({"path": "box.stl", "slicer": "nope"}))),
        "not_found"
    );

    // The printer profile manager: all, one, the current one.
    let profiles = ok(call("profiles", json!({"path": "_default"})));
    assert_eq!(profiles["one"]["id"], "_default", "{profiles}");
    assert_eq!(profiles["current"]["id"], "_default");
    assert!(profiles["all"]["_default"].is_object());
    assert_eq!(
        ok(call("profiles", json!({"path": "nope"})))["one"],
        Value::Null
    );

    // Removing: a folder with what it holds, once.
    assert_eq!(
        refused(call("remove_folder", json!({"path": "from_plugin"}))),
        "conflict"
    );
    let kept = ok(call("metadata", json!({"path": "from_plugin/part.gcode"})));
    assert!(
        kept["analysis"].is_object(),
        "a refused removal keeps the metadata: {kept}"
    );
    ok(call(
        "remove_folder",
        json!({"path": "from_plugin", "recursive": true}),
    ));
    assert_eq!(
        refused(call(
            "remove_file",
            json!({"path": "from_plugin/part.gcode"})
        )),
        "not_found"
    );
    assert_eq!(push.wait_event("FolderRemoved")["path"], "from_plugin");
}

in_both_modes! {
    plugins_reach_the_file_and_slicing_managers => plugins_reach_the_file_and_slicing_managers_in,
}

/// The connectivity checker, kept on loopback: online while a listener
/// answers, offline once it is gone, with `ConnectivityChanged`.
#[test]
fn plugins_ask_the_connectivity_checker() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("service_probe"), "service_probe");
    let key = admin(&sb);
    // Off by default: online, and nothing is checked.
    let server = Server::start(&sb);
    let status = ok(probe(&server, &key, "online", json!({})));
    assert_eq!(
        (&status["online"], &status["dict"]["enabled"]),
        (&json!(true), &json!(false))
    );
    drop(server);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    sb.write_config(&format!(
        "server:\n  onlineCheck:\n    enabled: true\n    interval: 3600\n    host: 127.0.0.1\n    port: {port}\n    name: localhost\n"
    ));
    let server = Server::start(&sb);
    let push = Push::connect(&server, &key);
    let status = ok(probe(&server, &key, "online", json!({})));
    assert_eq!(status["online"], true, "{status}");
    assert_eq!(
        status["dict"]["connection_check"],
        format!("127.0.0.1:{port}")
    );
    assert_eq!(status["dict"]["resolution_check"], "localhost");
    drop(listener);
    assert_eq!(ok(probe(&server, &key, "check_online", json!({}))), false);
    let changed = push.wait_event("ConnectivityChanged");
    assert_eq!(
        changed,
        json!({"old": true, "new": false, "connection": false, "resolution": false})
    );
    assert_eq!(
        ok(probe(&server, &key, "online", json!({})))["online"],
        false
    );
}
