//! What the firmware reports: temperatures (`M105`, auto-reports),
//! the position (`M114`) and its information and capabilities (`M115`).

use std::time::Duration;

use super::heater::Heater;
use super::Firmware;

impl Firmware {
    /// The temperatures as `M105` and auto-reports give them:
    /// `T:21.30 /0.00 B:21.30 /0.00`; with several extruders `T:` is the
    /// active one, followed by `T0:`, `T1:`, …
    pub(super) fn temperature_report(&self, now: Duration) -> String {
        let s = &self.settings;
        let show =
            |name: &str, h: &Heater| format!("{name}:{:.2} /{:.2}", h.actual(now, s), h.target);
        let mut parts = vec![show("T", &self.tools[self.tool])];
        if self.tools.len() > 1 {
            parts.extend(
                self.tools
                    .iter()
                    .enumerate()
                    .map(|(i, h)| show(&format!("T{i}"), h)),
            );
        }
        parts.extend(self.bed.iter().map(|h| show("B", h)));
        parts.extend(self.chamber.iter().map(|h| show("C", h)));
        parts.join(" ")
    }

    /// `M114`'s answer: `X:10.00 Y:0.00 Z:0.00 E:0.00 Count X:1000 Y:0 Z:0`
    /// (counts at 100 steps per mm, as OctoPrint's virtual printer reports them).
    pub(super) fn position_report(&self) -> String {
        let steps = |mm: f64| (mm * 100.0).round() as i64;
        format!(
            "X:{:.2} Y:{:.2} Z:{:.2} E:{:.2} Count X:{} Y:{} Z:{}",
            self.x,
            self.y,
            self.z,
            self.e[self.tool],
            steps(self.x),
            steps(self.y),
            steps(self.z)
        )
    }

    /// `M115`'s answer: the firmware line, then one `Cap:` line per
    /// capability OctoPrint's virtual printer reports, set to what this
    /// firmware does.
    pub(super) fn firmware_report(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "FIRMWARE_NAME:{} PROTOCOL_VERSION:1.0 MACHINE_TYPE:Virtual EXTRUDER_COUNT:{}",
            self.settings.firmware_name,
            self.tools.len()
        )];
        let capabilities = [
            ("AUTOREPORT_TEMP", true),
            ("AUTOREPORT_SD_STATUS", false),
            ("AUTOREPORT_POS", false),
            ("BUSY_PROTOCOL", false),
            ("CHAMBER_TEMPERATURE", self.chamber.is_some()),
            ("EMERGENCY_PARSER", true),
            ("EXTENDED_M20", false),
            ("LFN_WRITE", false),
        ];
        lines.extend(
            capabilities
                .iter()
                .map(|(name, on)| format!("Cap:{name}:{}", u8::from(*on))),
        );
        lines
    }
}
