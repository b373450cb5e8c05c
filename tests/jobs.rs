//! Slicing, printing, webcams and the environment, through the real binary:
//! uploads, the slicing and job APIs, the push channel and ProgressPlugins.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{add_user, api_key, box_stl, http, send, upload, Push, Sandbox, Server};
use plinth_abi::{json, Value};

fn uploads(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sb.basedir.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".metadata.json")
        .collect();
    names.sort();
    names
}

/// The lines `progress_logger` wrote so far.
fn progress_lines(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.basedir.join("data/progress_logger/progress.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn number(word: &str, line: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(word))
        .and_then(|v| v.parse().ok())
}

/// Checks the G-code: layer count, closed perimeters, increasing E, placement.
fn check_gcode(gcode: &str, layers: usize, centre: (f64, f64), size: f64) {
    assert!(gcode.contains(&format!(";LAYER_COUNT:{layers}")), "{gcode}");
    assert_eq!(
        gcode.lines().filter(|l| l.starts_with(";LAYER:")).count(),
        layers
    );
    let (mut last_e, mut extrusions) = (0.0, 0);
    let mut start: Option<(f64, f64)> = None;
    let mut at: Option<(f64, f64)> = None;
    let mut perimeters = 0;
    let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3;
    let mut check_closed = |start: Option<(f64, f64)>, at: Option<(f64, f64)>| {
        if let (Some(s), Some(a)) = (start, at) {
            assert!(close(s, a), "a perimeter from {s:?} ends at {a:?}");
            perimeters += 1;
        }
    };
    for line in gcode.lines() {
        let code = line.split(';').next().unwrap().trim();
        let (x, y) = (number("X", code), number("Y", code));
        if let (true, Some(x)) = (code.starts_with("G0 "), x) {
            check_closed(start, at);
            start = Some((x, y.expect("a travel move with X has Y")));
            at = None;
        } else if code.starts_with("G1 ") {
            if let Some(e) = number("E", code) {
                assert!(e > last_e, "E goes from {last_e} to {e}: {line}");
                last_e = e;
                extrusions += 1;
                let p = (x.unwrap(), y.unwrap());
                assert!(
                    (p.0 - centre.0).abs() <= size / 2.0 + 1e-3
                        && (p.1 - centre.1).abs() <= size / 2.0 + 1e-3,
                    "{p:?} is off the model"
                );
                at = Some(p);
            }
        }
    }
    check_closed(start, at);
    assert!(
        perimeters >= layers,
        "{perimeters} perimeters for {layers} layers"
    );
    assert!(extrusions >= 4 * layers);
}

fn an_stl_is_sliced_while_a_client_watches_then_printed_with_every_percent_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("planar_slicer")
        .bundle_sample("progress_logger");
    sb.write_config("printer:\n  lines_per_second: 5000\nserial:\n  autoconnect: true\n");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let push = Push::connect(&server, &key);

    let (status, body) = upload(
        &server,
        &key,
        "cube.stl",
        box_stl(10.0, 10.0, 10.0).as_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    let (status, profile) = send(
        &server,
        "PUT",
        "/api/slicing/planar/profiles/coarse",
        &key,
        Some(
            json!({"displayName": "Coarse", "data": {"layer_height": 0.5, "first_layer_height": 0.5}}),
        ),
    );
    assert_eq!(status, 201, "{profile}");
    assert_eq!(profile["data"]["layer_height"], 0.5);
    let (status, slicers) = send(&server, "GET", "/api/slicing", &key, None);
    assert_eq!(status, 200);
    assert_eq!(slicers["planar"]["sameDevice"], true);
    assert_eq!(
        slicers["planar"]["profiles"]["coarse"]["displayName"],
        "Coarse"
    );

    let (status, job) = send(
        &server,
        "POST",
        "/api/files/local/cube.stl",
        &key,
        Some(
            json!({"command": "slice", "slicer": "planar", "profile": "coarse",
                    "gcode": "cube.gcode", "position": {"x": 60, "y": 70}}),
        ),
    );
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["name"], "cube.gcode");
    let done = push.wait_event("SlicingDone");
    assert_eq!(done["gcode"], "cube.gcode");

    // Progress reached the client in whole, increasing percents up to 100.
    let percents: Vec<u64> = push
        .all()
        .iter()
        .filter_map(|m| m["slicingProgress"]["progress"].as_u64())
        .collect();
    assert!(
        percents.windows(2).all(|w| w[1] == w[0] + 1),
        "{percents:?}"
    );
    assert_eq!(percents.last(), Some(&100));
    let events = push.events();
    let started = events.iter().position(|e| e == "SlicingStarted").unwrap();
    let finished = events.iter().position(|e| e == "SlicingDone").unwrap();
    assert!(started < finished);
    assert!(events.contains(&"FileAdded".to_owned()));

    let mut download = http()
        .get(&server.url("/downloads/files/local/cube.gcode"))
        .header("X-Api-Key", &key)
        .call()
        .unwrap();
    let gcode = download.body_mut().read_to_string().unwrap();
    check_gcode(&gcode, 20, (60.0, 70.0), 10.0);
    let (_, info) = send(&server, "GET", "/api/files/local/cube.gcode", &key, None);
    let analysis = &info["gcodeAnalysis"];
    assert_eq!(analysis["layerCount"], 20, "{info}");
    assert!((analysis["dimensions"]["height"].as_f64().unwrap() - 10.0).abs() < 0.6);
    assert!(analysis["filament"]["tool0"]["length"].as_f64().unwrap() > 0.0);
    assert_eq!(uploads(&sb), ["cube.gcode", "cube.stl"]);

    // Print it.
    let (status, body) = send(
        &server,
        "POST",
        "/api/files/local/cube.gcode",
        &key,
        Some(json!({"command": "select", "print": true})),
    );
    assert_eq!(status, 204, "{body}");
    let done = push.wait_event("PrintDone");
    assert_eq!(done["name"], "cube.gcode");
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(job["state"], "Operational");
    assert_eq!(job["job"]["file"]["name"], "cube.gcode");
    assert_eq!(job["progress"]["completion"], 100.0);
    assert!(job["job"]["estimatedPrintTime"].as_f64().unwrap() > 0.0);
    let events = push.events();
    let started = events.iter().position(|e| e == "PrintStarted").unwrap();
    assert!(started < events.iter().position(|e| e == "PrintDone").unwrap());
    let current: Vec<f64> = push
        .all()
        .iter()
        .filter_map(|m| m["current"]["progress"]["completion"].as_f64())
        .collect();
    assert_eq!(current.last(), Some(&100.0));

    // The sample ProgressPlugin saw every percent from 0 to 100, in order.
    let expected: Vec<String> = (0..=100)
        .map(|p| format!("print local cube.gcode {p}"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let printed = loop {
        let printed: Vec<String> = progress_lines(&sb)
            .into_iter()
            .filter(|l| l.starts_with("print "))
            .collect();
        if printed.len() >= expected.len() || Instant::now() > deadline {
            break printed;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(printed, expected);
    let sliced: Vec<u64> = progress_lines(&sb)
        .iter()
        .filter(|l| l.starts_with("slicing planar local cube.stl local cube.gcode "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sliced, percents);
}

fn print_jobs_pause_resume_and_cancel_and_refuse_what_does_not_fit_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("progress_logger")
        .bundle_sample("planar_slicer");
    sb.write_config("printer:\n  lines_per_second: 200\n");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let push = Push::connect(&server, &key);
    let job = |command: &str| {
        send(
            &server,
            "POST",
            "/api/job",
            &key,
            Some(json!({ "command": command })),
        )
    };

    // Offline until connected, as OctoPrint: nothing starts.
    let (status, offline) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!((status, offline["state"].clone()), (200, json!("Offline")));
    let (status, body) = job("start");
    assert_eq!(status, 409);
    assert!(
        body["error"].as_str().unwrap().contains("connect"),
        "{body}"
    );
    common::connect_printer(&server, &key);

    // Nothing selected, nothing running.
    assert_eq!(job("cancel").0, 409);
    assert_eq!(job("pause").0, 409);
    assert_eq!(job("resume").0, 409);
    let (status, body) = job("start");
    assert_eq!(status, 409);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no file is selected"));
    assert_eq!(job("explode").0, 400);
    let (status, idle) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!((status, idle["state"].clone()), (200, json!("Operational")));

    let gcode: String = (0..4000)
        .map(|i| format!("G1 X{} Y1 E{}\n", i % 100, i))
        .collect();
    assert_eq!(upload(&server, &key, "long.gcode", gcode.as_bytes()).0, 201);
    assert_eq!(
        upload(&server, &key, "part.stl", box_stl(1.0, 1.0, 1.0).as_bytes()).0,
        201
    );
    let select = |name: &str, print: bool| {
        send(
            &server,
            "POST",
            &format!("/api/files/local/{name}"),
            &key,
            Some(json!({"command": "select", "print": print})),
        )
    };
    assert_eq!(select("part.stl", false).0, 415);
    assert_eq!(select("missing.gcode", false).0, 404);
    assert_eq!(select("long.gcode", true).0, 204);
    push.wait_event("PrintStarted");
    assert_eq!(job("start").0, 409);
    assert_eq!(select("long.gcode", false).0, 409);
    let (status, body) = send(&server, "DELETE", "/api/files/local/long.gcode", &key, None);
    assert_eq!(status, 409, "{body}");

    assert_eq!(job("pause").0, 204);
    let paused = push.wait_event("PrintPaused");
    assert_eq!(paused["name"], "long.gcode");
    let (_, state) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(state["state"], "Paused");
    // Paused means paused: the position stays put.
    let position = state["progress"]["filepos"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (_, later) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(later["progress"]["filepos"].as_u64().unwrap(), position);
    assert_eq!(job("resume").0, 204);
    push.wait_event("PrintResumed");
    assert_eq!(job("cancel").0, 204);
    let cancelled = push.wait_event("PrintCancelled");
    assert_eq!(cancelled["name"], "long.gcode");
    let (_, state) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(state["state"], "Operational");
    // OctoPrint resets a cancelled job's progress.
    assert_eq!(state["progress"]["completion"], Value::Null, "{state}");
    assert_eq!(job("cancel").0, 409);
    assert!(!push.events().contains(&"PrintDone".to_owned()));
    // The ProgressPlugin got whole percents from 0, in order, and never 100.
    let deadline = Instant::now() + Duration::from_secs(10);
    while progress_lines(&sb).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let seen: Vec<u64> = progress_lines(&sb)
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seen.first(), Some(&0));
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    assert!(!seen.contains(&100));
    // Once it stopped, the file can go.
    assert_eq!(
        send(&server, "DELETE", "/api/files/local/long.gcode", &key, None).0,
        204
    );
    assert_eq!(job("start").0, 409);
}

fn bad_slicing_requests_are_clear_errors_and_leave_nothing_half_written_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("planar_slicer");
    sb.bundle_as(&common::built().fixture("job_probe"), "job_probe");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let push = Push::connect(&server, &key);

    // A malformed STL is refused at the door; nothing is stored.
    let (status, body) = upload(
        &server,
        &key,
        "broken.stl",
        b"solid x\n facet normal 0 0 1\n outer loop\n vertex 0 0 zero\n",
    );
    assert_eq!(status, 400, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("broken.stl is not a valid STL file"),
        "{message}"
    );
    let mut binary = vec![0u8; 80];
    binary.extend(5u32.to_le_bytes());
    binary.extend(vec![0u8; 50 * 3]);
    assert_eq!(upload(&server, &key, "short.stl", &binary).0, 400);
    // A name that tries to leave the folder stays inside it.
    let (status, body) = upload(
        &server,
        &key,
        "../../escape.stl",
        box_stl(4.0, 4.0, 2.0).as_bytes(),
    );
    assert_eq!(
        (status, body["files"]["local"]["name"].clone()),
        (201, json!("escape.stl"))
    );
    assert!(!sb.basedir.join("escape.stl").exists());
    assert_eq!(uploads(&sb), ["escape.stl"]);

    let slice = |file: &str, body: Value| {
        let mut request = json!({"command": "slice"});
        for (k, v) in body.as_object().unwrap() {
            request[k] = v.clone();
        }
        send(
            &server,
            "POST",
            &format!("/api/files/local/{file}"),
            &key,
            Some(request),
        )
    };
    let (status, body) = slice(
        "escape.stl",
        json!({"slicer": "planar", "printerProfile": "no_such_printer"}),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no printer profile \"no_such_printer\""));
    let (status, body) = slice("escape.stl", json!({"slicer": "cura"}));
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no slicer `cura` (known: planar, probe)"),
        "{body}"
    );
    let (status, body) = slice("escape.stl", json!({"slicer": "planar", "profile": "nope"}));
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no profile `nope`"),
        "{body}"
    );
    assert_eq!(slice("escape.stl", json!({})).0, 400);
    assert_eq!(slice("missing.stl", json!({"slicer": "planar"})).0, 404);
    let (status, body) = slice(
        "escape.stl",
        json!({"slicer": "planar", "gcode": "out.exe"}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        slice(
            "escape.stl",
            json!({"slicer": "planar", "position": {"x": "left"}})
        )
        .0,
        400
    );
    assert_eq!(
        slice("escape.stl", json!({"slicer": "planar", "print": "yes"})).0,
        400
    );
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/files/local/escape.stl",
            &key,
            Some(json!({"command": "melt"}))
        )
        .0,
        400
    );
    assert_eq!(
        send(&server, "GET", "/api/slicing/cura/profiles", &key, None).0,
        404
    );
    assert_eq!(
        send(
            &server,
            "GET",
            "/api/slicing/planar/profiles/nope",
            &key,
            None
        )
        .0,
        404
    );
    assert_eq!(
        send(
            &server,
            "DELETE",
            "/api/slicing/planar/profiles/nope",
            &key,
            None
        )
        .0,
        404
    );
    assert_eq!(
        send(
            &server,
            "PUT",
            "/api/slicing/planar/profiles/..bad",
            &key,
            Some(json!({}))
        )
        .0,
        400
    );
    assert_eq!(
        send(
            &server,
            "PUT",
            "/api/slicing/planar/profiles/x",
            &key,
            Some(json!({"data": [1]}))
        )
        .0,
        400
    );
    assert_eq!(
        send(&server, "DELETE", "/api/slicing/jobs/77", &key, None).0,
        404
    );

    // A profile the plugin fails to save leaves no file behind.
    let (status, body) = send(
        &server,
        "PUT",
        "/api/slicing/probe/profiles/bad",
        &key,
        Some(json!({"data": {"refuse": true}})),
    );
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("this profile is refused"),
        "{body}"
    );
    let probe_profiles = sb.basedir.join("slicingProfiles/probe");
    assert_eq!(std::fs::read_dir(&probe_profiles).unwrap().count(), 0);
    let (status, _) = send(
        &server,
        "PUT",
        "/api/slicing/probe/profiles/good",
        &key,
        Some(json!({"data": {"speed": 9}})),
    );
    assert_eq!(status, 201);
    let (_, good) = send(
        &server,
        "GET",
        "/api/slicing/probe/profiles/good",
        &key,
        None,
    );
    assert_eq!(good["data"]["speed"], 9);

    // Slicing that fails ends in SlicingFailed with the reason and leaves nothing.
    assert_eq!(
        upload(&server, &key, "fail.stl", box_stl(1.0, 1.0, 1.0).as_bytes()).0,
        201
    );
    assert_eq!(slice("fail.stl", json!({"slicer": "probe"})).0, 202);
    let failed = push.wait_event("SlicingFailed");
    assert_eq!(failed["reason"], "the probe fails on purpose");
    // A slicer that claims success without output fails too.
    assert_eq!(
        upload(&server, &key, "liar.stl", box_stl(1.0, 1.0, 1.0).as_bytes()).0,
        201
    );
    assert_eq!(slice("liar.stl", json!({"slicer": "probe"})).0, 202);
    push.wait_for("the liar's failure", |m| {
        m["event"]["type"] == "SlicingFailed" && m["event"]["payload"]["stl"] == "liar.stl"
    });

    // A running job can be cancelled; it ends in SlicingCancelled and leaves nothing.
    assert_eq!(
        upload(&server, &key, "hang.stl", box_stl(1.0, 1.0, 1.0).as_bytes()).0,
        201
    );
    let (status, job) = slice(
        "hang.stl",
        json!({"slicer": "probe", "gcode": "hang.gcode"}),
    );
    assert_eq!(status, 202);
    push.wait_for("50 %", |m| m["slicingProgress"]["progress"] == 50);
    let (_, jobs) = send(&server, "GET", "/api/slicing/jobs", &key, None);
    assert_eq!(jobs["jobs"][0]["progress"], 50);
    assert_eq!(
        slice(
            "hang.stl",
            json!({"slicer": "probe", "gcode": "hang.gcode"})
        )
        .0,
        409
    );
    assert_eq!(
        send(&server, "DELETE", "/api/files/local/hang.gcode", &key, None).0,
        404
    );
    let id = job["job"]["id"].as_u64().unwrap();
    assert_eq!(
        send(
            &server,
            "DELETE",
            &format!("/api/slicing/jobs/{id}"),
            &key,
            None
        )
        .0,
        204
    );
    let cancelled = push.wait_event("SlicingCancelled");
    assert_eq!(cancelled["gcode"], "hang.gcode");
    assert_eq!(
        send(
            &server,
            "DELETE",
            &format!("/api/slicing/jobs/{id}"),
            &key,
            None
        )
        .0,
        404
    );

    // A good job with a stored profile and a position.
    assert_eq!(
        upload(&server, &key, "fine.stl", box_stl(1.0, 1.0, 1.0).as_bytes()).0,
        201
    );
    assert_eq!(
        slice(
            "fine.stl",
            json!({"slicer": "probe", "profile": "good", "position": {"x": 5, "y": 6}})
        )
        .0,
        202
    );
    push.wait_for("fine's end", |m| {
        m["event"]["type"] == "SlicingDone" && m["event"]["payload"]["stl"] == "fine.stl"
    });
    let (_, info) = send(&server, "GET", "/api/files/local/fine.gcode", &key, None);
    assert_eq!(info["gcodeAnalysis"]["position"], json!([5.0, 6.0]));
    assert!(info["gcodeAnalysis"]["profile"]
        .as_str()
        .unwrap()
        .ends_with("good.profile"));
    assert_eq!(
        uploads(&sb),
        [
            "escape.stl",
            "fail.stl",
            "fine.gcode",
            "fine.stl",
            "hang.stl",
            "liar.stl"
        ]
    );
}

fn webcams_list_their_providers_and_snapshots_are_jpegs_of_the_declared_size_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("testpicture");
    sb.bundle_as(&common::built().fixture("job_probe"), "job_probe");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let mut child = std::process::Command::new(common::built().plinth())
        .arg("--basedir")
        .arg(&sb.basedir)
        .args(["user", "add", "blind", "--permissions", "status"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let blind = api_key(&sb, "blind");
    let server = Server::start(&sb);

    let (status, list) = send(&server, "GET", "/api/webcams", &key, None);
    assert_eq!(status, 200);
    let names: Vec<&str> = list["webcams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["good", "broken", "notjpeg", "testpicture"]);
    let test = &list["webcams"][3];
    assert_eq!(test["provider"], "testpicture");
    assert_eq!(test["displayName"], "Test picture");
    assert_eq!(test["canSnapshot"], true);
    for field in [
        "flipH",
        "flipV",
        "rotate90",
        "snapshotDisplay",
        "extras",
        "compat",
    ] {
        assert!(test.get(field).is_some(), "{field} missing: {test}");
    }
    assert_eq!(list["webcams"][0]["flipH"], true);

    let snapshot = |name: &str, key: &str| {
        let mut response = http()
            .get(&server.url(&format!("/api/webcams/{name}/snapshot")))
            .header("X-Api-Key", key)
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, kind, response.body_mut().read_to_vec().unwrap())
    };
    let (status, kind, bytes) = snapshot("testpicture", &key);
    assert_eq!((status, kind.as_deref()), (200, Some("image/jpeg")));
    let mut decoder = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes));
    let pixels = decoder.decode().expect("a JPEG");
    let (width, height) = decoder.dimensions().unwrap();
    assert_eq!((width, height), (640, 480));
    assert_eq!(pixels.len(), 640 * 480 * 3);

    // The declared size follows the plugin's settings.
    let (status, _) = send(
        &server,
        "POST",
        "/api/settings",
        &key,
        Some(json!({"plugins": {"testpicture": {"width": 320, "height": 200}}})),
    );
    assert_eq!(status, 200);
    let (_, _, bytes) = snapshot("testpicture", &key);
    let mut decoder = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes));
    decoder.decode_headers().unwrap();
    assert_eq!(decoder.dimensions().unwrap(), (320, 200));

    assert_eq!(snapshot("good", &key).0, 200);
    assert_eq!(snapshot("nope", &key).0, 404);
    assert_eq!(snapshot("testpicture", &blind).0, 403);
    assert_eq!(send(&server, "GET", "/api/webcams", &blind, None).0, 403);
    let (status, _, body) = snapshot("broken", &key);
    assert_eq!(status, 502);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("the probe camera is unplugged"),
        "{error}"
    );
    let (status, _, body) = snapshot("notjpeg", &key);
    assert_eq!(status, 502);
    assert!(String::from_utf8_lossy(&body).contains("not a JPEG"));
}

fn the_environment_is_detected_once_passed_to_plugins_and_shown_to_admins_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_as(&common::built().fixture("job_probe"), "job_probe");
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (admin, user) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);
    let (status, environment) = send(&server, "GET", "/api/system/environment", &admin, None);
    assert_eq!(status, 200);
    assert_eq!(environment["os"]["id"], std::env::consts::OS);
    assert!(environment["hardware"]["cores"].as_u64().unwrap() >= 1);
    assert!(environment["hardware"]["ram"].as_u64().unwrap() > 0);
    assert_eq!(environment["plinth"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(environment["container"].is_boolean());
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.basedir.join("data/job_probe/environment.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(seen, environment);
    assert_eq!(
        send(&server, "GET", "/api/system/environment", &user, None).0,
        403
    );
    assert_eq!(
        send(&server, "GET", "/api/system/environment", "", None).0,
        403
    );
}

fn slicing_running_at_shutdown_is_cancelled_and_leftovers_go_at_the_next_start_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_as(&common::built().fixture("job_probe"), "job_probe");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    // What a crash left behind: a job's hidden output and a profile being saved.
    let uploads_dir = sb.basedir.join("uploads");
    std::fs::create_dir_all(&uploads_dir).unwrap();
    std::fs::write(uploads_dir.join(".slicing-7-old.gcode"), "G1\n").unwrap();
    std::fs::write(uploads_dir.join("kept.gcode"), "G1\n").unwrap();
    let profiles = sb.basedir.join("slicingProfiles/probe");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join(".fast.profile.3.tmp"), "{").unwrap();
    let server = Server::start(&sb);
    assert_eq!(uploads(&sb), ["kept.gcode"]);
    assert_eq!(std::fs::read_dir(&profiles).unwrap().count(), 0);

    let push = Push::connect(&server, &key);
    assert_eq!(
        upload(&server, &key, "hang.stl", box_stl(1.0, 1.0, 1.0).as_bytes()).0,
        201
    );
    let (status, _) = send(
        &server,
        "POST",
        "/api/files/local/hang.stl",
        &key,
        Some(json!({"command": "slice", "slicer": "probe"})),
    );
    assert_eq!(status, 202);
    push.wait_for("50 %", |m| m["slicingProgress"]["progress"] == 50);
    assert!(std::fs::read_dir(&uploads_dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".slicing-")));
    assert_eq!(server.stop(), Some(0));
    // The job was cancelled before the plugins stopped: nothing half-written stays.
    assert_eq!(uploads(&sb), ["hang.stl", "kept.gcode"]);
}

in_both_modes! {
    an_stl_is_sliced_while_a_client_watches_then_printed_with_every_percent => an_stl_is_sliced_while_a_client_watches_then_printed_with_every_percent_in,
    print_jobs_pause_resume_and_cancel_and_refuse_what_does_not_fit => print_jobs_pause_resume_and_cancel_and_refuse_what_does_not_fit_in,
    bad_slicing_requests_are_clear_errors_and_leave_nothing_half_written => bad_slicing_requests_are_clear_errors_and_leave_nothing_half_written_in,
    webcams_list_their_providers_and_snapshots_are_jpegs_of_the_declared_size => webcams_list_their_providers_and_snapshots_are_jpegs_of_the_declared_size_in,
    the_environment_is_detected_once_passed_to_plugins_and_shown_to_admins => the_environment_is_detected_once_passed_to_plugins_and_shown_to_admins_in,
    slicing_running_at_shutdown_is_cancelled_and_leftovers_go_at_the_next_start => slicing_running_at_shutdown_is_cancelled_and_leftovers_go_at_the_next_start_in,
}
