//! Each file's print history, as OctoPrint keeps it in the metadata:
//! `history` (every print: `timestamp`, `success`, `printerProfile`,
//! `printTime`), `prints` (`success` and `failure` counts, and the `last`
//! print's `date`, `printTime` and `success`) and `statistics`
//! (`averagePrintTime` and `lastPrintTime` of successful prints, per
//! printer profile). `MetadataStatisticsUpdated` follows each print.

use std::time::{SystemTime, UNIX_EPOCH};

use plinth_abi::{events, json, Value};

use super::FileManager;

/// The name of the event fired when a file's statistics change.
const STATISTICS_UPDATED: &str = events::METADATA_STATISTICS_UPDATED;

impl FileManager {
    /// Records a print of file `path` (OctoPrint's `log_print`): how long
    /// it took, whether it succeeded, on which printer profile.
    pub fn log_print(&self, path: &str, print_time: f64, success: bool, profile: &str) {
        if self.existing_file(path).is_err() {
            return;
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let updated = self.folder().update_metadata(path, |entry| {
            let history = entry.entry("history").or_insert_with(|| json!([]));
            if !history.is_array() {
                *history = json!([]);
            }
            let history = history.as_array_mut().expect("made an array above");
            history.push(json!({
                "timestamp": timestamp,
                "success": success,
                "printerProfile": profile,
                "printTime": print_time,
            }));
            let (prints, statistics) = summarise(history);
            entry.insert("prints".into(), prints);
            entry.insert("statistics".into(), statistics);
        });
        match updated {
            Ok(()) => self.manager.fire_event(
                STATISTICS_UPDATED,
                &json!({"storage": "local", "path": path}),
            ),
            Err(e) => tracing::warn!("cannot record the print of {path}: {e}"),
        }
    }
}

/// `prints` and `statistics` from a history, as OctoPrint computes them.
fn summarise(history: &[Value]) -> (Value, Value) {
    let success = |h: &&Value| h["success"].as_bool() == Some(true);
    let last = history.last();
    let prints = json!({
        "success": history.iter().filter(success).count(),
        "failure": history.iter().filter(|h| !success(h)).count(),
        "last": last.map(|l| json!({
            "date": l["timestamp"],
            "printTime": l["printTime"],
            "success": l["success"],
        })),
    });
    let mut average = serde_json::Map::new();
    let mut latest = serde_json::Map::new();
    let mut profiles: Vec<&str> = history
        .iter()
        .filter(success)
        .filter_map(|h| h["printerProfile"].as_str())
        .collect();
    profiles.sort_unstable();
    profiles.dedup();
    for profile in profiles {
        let times: Vec<f64> = history
            .iter()
            .filter(success)
            .filter(|h| h["printerProfile"] == profile)
            .filter_map(|h| h["printTime"].as_f64())
            .collect();
        if let Some(last) = times.last() {
            average.insert(
                profile.into(),
                json!(times.iter().sum::<f64>() / times.len() as f64),
            );
            latest.insert(profile.into(), json!(last));
        }
    }
    let statistics = json!({"averagePrintTime": average, "lastPrintTime": latest});
    (prints, statistics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_statistics_count_and_average_the_successes() {
        let history = [
            json!({"timestamp": 1.0, "success": true, "printerProfile": "_default", "printTime": 100.0}),
            json!({"timestamp": 2.0, "success": false, "printerProfile": "_default", "printTime": 5.0}),
            json!({"timestamp": 3.0, "success": true, "printerProfile": "_default", "printTime": 200.0}),
            json!({"timestamp": 4.0, "success": true, "printerProfile": "big", "printTime": 50.0}),
        ];
        let (prints, statistics) = summarise(&history);
        assert_eq!(
            prints,
            json!({"success": 3, "failure": 1, "last": {"date": 4.0, "printTime": 50.0, "success": true}})
        );
        assert_eq!(
            statistics,
            json!({
                "averagePrintTime": {"_default": 150.0, "big": 50.0},
                "lastPrintTime": {"_default": 200.0, "big": 50.0},
            })
        );
        let (none, empty) = summarise(&[]);
        assert_eq!(none["last"], Value::Null);
        assert_eq!(empty, json!({"averagePrintTime": {}, "lastPrintTime": {}}));
    }
}
