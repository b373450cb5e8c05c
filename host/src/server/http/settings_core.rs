//! The core sections of OctoPrint's `/api/settings` where Plinth has the
//! feature, read from Plinth's own settings: what clients (slicers, apps,
//! Home Assistant) look for there. Keys follow OctoPrint's; a section
//! Plinth has no feature for is left out rather than faked.

use plinth_abi::{json, Value};
use serde_json::Map;

use super::App;
use crate::config::host_settings as keys;

/// `api`, `appearance`, `feature`, `folder`, `serial`, `server`,
/// `temperature` and `webcam` (empty for callers without the `webcam`
/// permission, as OctoPrint's), as OctoPrint names them.
pub fn sections(app: &App, webcam: bool) -> Map<String, Value> {
    let config = app.manager.config();
    let paths = app.manager.paths();
    let webcams = super::webcams::webcams(&app.manager);
    let port = keys::PORT.get(config);
    let sections = json!({
        "api": {"allowCrossOrigin": false},
        "appearance": {
            "name": "",
            "color": "default",
            "colorTransparent": false,
            "colorIcon": true,
            "defaultLanguage": "_default",
            "showFahrenheitAlso": false,
            "fuzzyTimes": true,
            "closeModalsWithClick": true,
            "showInternalFilename": true,
        },
        "feature": {
            "temperatureGraph": true,
            "sdSupport": false,
            "keyboardControl": true,
            "pollWatched": false,
            "modelSizeDetection": true,
            "rememberFileFolder": false,
            "printStartConfirmation": false,
            "printCancelConfirmation": true,
            "uploadOverwriteConfirmation": true,
            "g90InfluencesExtruder": false,
            "autoUppercaseBlacklist": ["M117", "M118"],
        },
        "folder": {
            "uploads": paths.basedir.join("uploads"),
            "data": paths.basedir.join("data"),
            "scripts": paths.basedir.join("scripts"),
            "printerProfiles": paths.basedir.join("printerProfiles"),
            "slicingProfiles": paths.basedir.join("slicingProfiles"),
            "timelapse": null,
            "watched": null,
        },
        "serial": {
            "port": port,
            "baudrate": keys::BAUDRATE.get(config),
            "autoconnect": keys::AUTOCONNECT.get(config),
            "portOptions": ["VIRTUAL"],
            "baudrateOptions": [9600, 19200, 38400, 57600, 115200, 230400, 250000],
            "abortHeatupOnCancel": keys::ABORT_HEATUP_ON_CANCEL.get(config),
        },
        "server": {
            "onlineCheck": {
                "enabled": keys::ONLINE_CHECK.get(config),
                "interval": keys::ONLINE_CHECK_INTERVAL.get(config),
                "host": keys::ONLINE_CHECK_HOST.get(config),
                "port": keys::ONLINE_CHECK_PORT.get(config),
                "name": keys::ONLINE_CHECK_NAME.get(config),
            },
            "allowFraming": false,
        },
        "temperature": {
            // Stored presets, else OctoPrint's defaults.
            "profiles": config
                .effective(&["temperature".to_owned(), "profiles".to_owned()])
                .filter(Value::is_array)
                .unwrap_or_else(|| json!([
                    {"name": "ABS", "extruder": 210, "bed": 100, "chamber": null},
                    {"name": "PLA", "extruder": 180, "bed": 60, "chamber": null},
                ])),
            "cutoff": 30,
            "sendAutomatically": false,
            "sendAutomaticallyAfter": 1,
        },
        "webcam": webcam_section(&webcams),
    });
    match sections {
        Value::Object(mut map) => {
            if !webcam {
                map.insert("webcam".into(), json!({}));
            }
            map
        }
        _ => unreachable!("a JSON object literal"),
    }
}

/// OctoPrint's `webcam` section: the webcams the plugins provide, the
/// default one (the first) and the snapshot one (the first that takes
/// snapshots), and the keys of OctoPrint before 1.9 that clients such as
/// Home Assistant still read (`streamUrl`, `snapshotUrl`, `flipH`, …), from
/// the default webcam and its `compat` block, null when it has none.
/// Plinth makes no timelapses: their keys are null.
fn webcam_section(webcams: &[(String, plinth_abi::Webcam)]) -> Value {
    let default = webcams.first().map(|(_, cam)| cam);
    let snapshot = webcams
        .iter()
        .map(|(_, cam)| cam)
        .find(|cam| cam.can_snapshot);
    let compat = |key: &str| {
        default
            .and_then(|cam| cam.compat.as_ref())
            .and_then(|c| c.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "webcamEnabled": default.is_some(),
        "timelapseEnabled": false,
        "ffmpegPath": null,
        "ffmpegCommandline": null,
        "bitrate": null,
        "ffmpegThreads": null,
        "ffmpegVideoCodec": null,
        "watermark": false,
        "renderAfterPrintDelay": 0,
        "defaultWebcam": default.map(|cam| cam.name.clone()),
        "snapshotWebcam": snapshot.map(|cam| cam.name.clone()),
        "webcams": webcams
            .iter()
            .map(|(provider, cam)| {
                let mut v = serde_json::to_value(cam).expect("encodes");
                v["provider"] = json!(provider);
                v
            })
            .collect::<Vec<_>>(),
        "flipH": default.map(|cam| cam.flip_h),
        "flipV": default.map(|cam| cam.flip_v),
        "rotate90": default.map(|cam| cam.rotate_90),
        "streamUrl": compat("stream"),
        "streamRatio": compat("streamRatio"),
        "streamTimeout": compat("streamTimeout"),
        "streamWebrtcIceServers": compat("streamWebrtcIceServers"),
        "snapshotUrl": compat("snapshot"),
        "snapshotTimeout": compat("snapshotTimeout"),
        "snapshotSslValidation": compat("snapshotSslValidation"),
        "cacheBuster": compat("cacheBuster"),
    })
}
