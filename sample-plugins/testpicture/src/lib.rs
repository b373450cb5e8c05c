//! OctoPrint's "testpicture" plugin as a Plinth plugin: a webcam whose
//! snapshots are a test pattern with the current time on it.
//!
//! - [`WebcamProviderPlugin`]: one webcam, `testpicture`, that can take
//!   snapshots but has no stream. A snapshot is a JPEG of colour bars, a grey
//!   ramp, a frame and a white box with "Plinth test picture" and the current
//!   UTC time (`YYYY-MM-DD HH:MM:SS UTC`); see [`render`].
//! - [`SettingsPlugin`]: the picture's `width` (default 640), `height` (480)
//!   and JPEG `quality` (85), read at every snapshot; see [`config`].
//!
//! The modules do one job each: [`clock`] turns the system time into a UTC
//! date and time, [`canvas`] draws rectangles and bitmap text, [`render`]
//! lays out and draws the pattern and encodes it, [`config`] checks the
//! settings. Only this file talks to the host.
#![deny(unsafe_code)]

use std::sync::Mutex;
use std::time::SystemTime;

use plinth_sdk::prelude::*;
use plinth_sdk::Webcam;

pub mod canvas;
pub mod clock;
pub mod config;
pub mod render;

use config::PictureSettings;

/// The name of the one webcam this plugin provides.
pub const WEBCAM_NAME: &str = "testpicture";

/// Where the host serves the webcam's snapshots.
pub const SNAPSHOT_URL: &str = "/api/webcams/testpicture/snapshot";

/// The plugin object.
pub struct TestPicture {
    host: Host,
    /// The settings warnings logged last, so that a bad setting is reported
    /// once rather than at every request.
    last_warnings: Mutex<Vec<String>>,
}

impl Plugin for TestPicture {
    fn new(host: Host) -> Self {
        TestPicture {
            host,
            last_warnings: Mutex::new(Vec::new()),
        }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl TestPicture {
    /// The current settings, each checked and bounded. Problems are logged as
    /// warnings when they differ from the last ones logged.
    fn picture_settings(&self) -> PictureSettings {
        let settings = self.host.settings();
        let mut warnings = Vec::new();
        let picture = PictureSettings::read(|key| settings.get(&[key]), |w| warnings.push(w));
        let mut last = self
            .last_warnings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *last != warnings {
            let logger = self.host.logger();
            for warning in &warnings {
                logger.warn(warning);
            }
            *last = warnings;
        }
        picture
    }
}

impl SettingsPlugin for TestPicture {
    fn get_settings_defaults(&self) -> Value {
        config::defaults()
    }
}

impl WebcamProviderPlugin for TestPicture {
    fn get_webcam_configurations(&self) -> Vec<Webcam> {
        vec![webcam(&self.picture_settings())]
    }

    fn take_webcam_snapshot(&self, webcam: &str) -> PluginResult<Vec<u8>> {
        if webcam != WEBCAM_NAME {
            return Err(PluginError::new(format!(
                "unknown webcam {webcam:?}: this plugin only provides {WEBCAM_NAME:?}"
            )));
        }
        let PictureSettings {
            width,
            height,
            quality,
        } = self.picture_settings();
        render::snapshot(width, height, quality, SystemTime::now()).map_err(|e| {
            PluginError::new(format!(
                "could not encode the {width}×{height} test picture: {e}"
            ))
        })
    }
}

/// The configuration of the `testpicture` webcam for `settings`: snapshots
/// only (no stream), with OctoPrint's compatibility fields for older clients.
pub fn webcam(settings: &PictureSettings) -> Webcam {
    Webcam {
        name: WEBCAM_NAME.to_owned(),
        display_name: "Test picture".to_owned(),
        can_snapshot: true,
        flip_h: false,
        flip_v: false,
        rotate_90: false,
        snapshot_display: Some(SNAPSHOT_URL.to_owned()),
        extras: json!({
            "width": settings.width,
            "height": settings.height,
        }),
        compat: Some(json!({
            "stream": "",
            "snapshot": SNAPSHOT_URL,
            "streamRatio": "4:3",
            "streamTimeout": 5,
            "streamWebrtcIceServers": [],
            "snapshotTimeout": 5,
            "snapshotSslValidation": true,
            "cacheBuster": true,
        })),
    }
}

export_plugin! {
    plugin: TestPicture,
    name: "Test Picture",
    description: "A webcam whose snapshots are a JPEG test pattern showing the current time.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [WebcamProvider, Settings],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webcam_takes_snapshots_and_has_no_stream() {
        let cam = webcam(&PictureSettings {
            width: 800,
            height: 600,
            quality: 90,
        });
        assert_eq!(cam.name, "testpicture");
        assert_eq!(cam.display_name, "Test picture");
        assert!(cam.can_snapshot);
        assert!(!cam.flip_h && !cam.flip_v && !cam.rotate_90);
        assert_eq!(
            cam.snapshot_display.as_deref(),
            Some("/api/webcams/testpicture/snapshot")
        );
        assert_eq!(cam.extras, json!({"width": 800, "height": 600}));
        assert_eq!(
            cam.compat,
            Some(json!({
                "stream": "",
                "snapshot": "/api/webcams/testpicture/snapshot",
                "streamRatio": "4:3",
                "streamTimeout": 5,
                "streamWebrtcIceServers": [],
                "snapshotTimeout": 5,
                "snapshotSslValidation": true,
                "cacheBuster": true,
            }))
        );
    }

    #[test]
    fn the_webcam_serializes_with_octoprints_field_names() {
        let value = json!(webcam(&PictureSettings::default()));
        assert_eq!(value["displayName"], "Test picture");
        assert_eq!(value["canSnapshot"], true);
        assert_eq!(value["snapshotDisplay"], SNAPSHOT_URL);
        assert_eq!(value["compat"]["snapshot"], SNAPSHOT_URL);
    }
}
