//! A ProgressPlugin: every progress step of print and slicing jobs is logged
//! and appended to `progress.log` in the plugin's data folder, one line each:
//!
//! ```text
//! print local cube.gcode 42
//! slicing planar local cube.stl local cube.gcode 17
//! ```

use std::io::Write;
use std::sync::Mutex;

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct ProgressLogger {
    host: Host,
    /// Serialises appends (the host calls from one thread; this keeps it safe anyway).
    file: Mutex<()>,
}

impl ProgressLogger {
    fn record(&self, line: String) {
        self.host.logger().info(format_args!("{line}"));
        let _guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let appended = self
            .host
            .data_folder()
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("progress.log"))
                    .and_then(|mut f| writeln!(f, "{line}"))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = appended {
            self.host
                .logger()
                .error(format_args!("cannot append to progress.log: {e}"));
        }
    }
}

impl Plugin for ProgressLogger {
    fn new(host: Host) -> Self {
        ProgressLogger {
            host,
            file: Mutex::new(()),
        }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl ProgressPlugin for ProgressLogger {
    fn on_print_progress(&self, storage: &str, path: &str, progress: u8) {
        self.record(format!("print {storage} {path} {progress}"));
    }

    fn on_slicing_progress(&self, p: &SlicingProgress) {
        self.record(format!(
            "slicing {} {} {} {} {} {}",
            p.slicer,
            p.source_location,
            p.source_path,
            p.destination_location,
            p.destination_path,
            p.progress
        ));
    }
}

export_plugin! {
    plugin: ProgressLogger,
    name: "Progress Logger",
    description: "Logs the progress of print and slicing jobs and keeps it in progress.log in its data folder.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Progress],
}
