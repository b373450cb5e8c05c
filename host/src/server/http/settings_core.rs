//! The core sections of OctoPrint's `/api/settings` where Plinth has the
//! feature, read from Plinth's own settings: what clients (slicers, apps,
//! Home Assistant) look for there. Keys follow OctoPrint's; a section
//! Plinth has no feature for is left out rather than faked.

use plinth_abi::{json, Value};
use serde_json::Map;

use super::App;
use crate::config::host_settings as keys;

/// `api`, `appearance`, `feature`, `folder`, `serial`, `server`,
/// `temperature` and (for callers with `webcam`, as OctoPrint) `webcam`,
/// as OctoPrint names them.
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
        "webcam": {
            "webcamEnabled": !webcams.is_empty(),
            "timelapseEnabled": false,
            "defaultWebcam": webcams.first().map(|(_, cam)| cam.name.clone()),
            "snapshotWebcam": webcams.first().map(|(_, cam)| cam.name.clone()),
            "webcams": webcams
                .iter()
                .map(|(provider, cam)| {
                    let mut v = serde_json::to_value(cam).expect("encodes");
                    v["provider"] = json!(provider);
                    v
                })
                .collect::<Vec<_>>(),
        },
    });
    match sections {
        Value::Object(mut map) => {
            if !webcam {
                map.remove("webcam");
            }
            map
        }
        _ => unreachable!("a JSON object literal"),
    }
}
