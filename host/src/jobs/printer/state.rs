//! The printer's states, as OctoPrint names them, and the flags derived from them.

use plinth_abi::{json, Value};

/// The state of the printer's connection and job (OctoPrint's comm states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterState {
    /// Never connected (`OFFLINE`).
    Offline,
    /// The port is being opened (`OPEN_SERIAL`).
    OpeningSerial,
    /// Waiting for the firmware's first answer (`CONNECTING`).
    Connecting,
    /// Connected and idle (`OPERATIONAL`).
    Operational,
    /// A print is about to start (`STARTING`).
    Starting,
    /// A print runs (`PRINTING`).
    Printing,
    /// A print stops sending, to be paused (`PAUSING`).
    Pausing,
    /// A print is paused (`PAUSED`).
    Paused,
    /// A paused print goes on (`RESUMING`).
    Resuming,
    /// A print is being cancelled (`CANCELLING`).
    Cancelling,
    /// A print's last lines are being acknowledged (`FINISHING`).
    Finishing,
    /// Disconnected (`CLOSED`).
    Closed,
    /// The connection failed and is still open (`ERROR`).
    Error,
    /// The connection was closed after an error (`CLOSED_WITH_ERROR`).
    ClosedWithError,
}

impl PrinterState {
    /// OctoPrint's state identifier (`get_state_id()`), e.g. `OPERATIONAL`.
    pub fn id(self) -> &'static str {
        match self {
            PrinterState::Offline => "OFFLINE",
            PrinterState::OpeningSerial => "OPEN_SERIAL",
            PrinterState::Connecting => "CONNECTING",
            PrinterState::Operational => "OPERATIONAL",
            PrinterState::Starting => "STARTING",
            PrinterState::Printing => "PRINTING",
            PrinterState::Pausing => "PAUSING",
            PrinterState::Paused => "PAUSED",
            PrinterState::Resuming => "RESUMING",
            PrinterState::Cancelling => "CANCELLING",
            PrinterState::Finishing => "FINISHING",
            PrinterState::Closed => "CLOSED",
            PrinterState::Error => "ERROR",
            PrinterState::ClosedWithError => "CLOSED_WITH_ERROR",
        }
    }

    /// OctoPrint's state string (`get_state_string()`), e.g. `Operational`.
    pub fn text(self) -> &'static str {
        match self {
            PrinterState::Offline | PrinterState::Closed => "Offline",
            PrinterState::OpeningSerial => "Opening serial connection",
            PrinterState::Connecting => "Connecting",
            PrinterState::Operational => "Operational",
            PrinterState::Starting => "Starting",
            PrinterState::Printing => "Printing",
            PrinterState::Pausing => "Pausing",
            PrinterState::Paused => "Paused",
            PrinterState::Resuming => "Resuming",
            PrinterState::Cancelling => "Cancelling",
            PrinterState::Finishing => "Finishing",
            PrinterState::Error => "Error",
            PrinterState::ClosedWithError => "Offline after error",
        }
    }

    /// Connected: commands can be sent (OctoPrint's `is_operational`).
    pub fn is_operational(self) -> bool {
        !matches!(
            self,
            PrinterState::Offline
                | PrinterState::OpeningSerial
                | PrinterState::Connecting
                | PrinterState::Closed
                | PrinterState::Error
                | PrinterState::ClosedWithError
        )
    }

    /// A job is being sent (OctoPrint's `is_printing`: starting, printing,
    /// pausing, resuming, cancelling and finishing count).
    pub fn is_printing(self) -> bool {
        matches!(
            self,
            PrinterState::Starting
                | PrinterState::Printing
                | PrinterState::Pausing
                | PrinterState::Resuming
                | PrinterState::Cancelling
                | PrinterState::Finishing
        )
    }

    /// A job exists: printing or paused (OctoPrint's `isBusy`).
    pub fn is_busy(self) -> bool {
        self.is_printing() || self == PrinterState::Paused
    }

    /// Operational with no job: a print can start (OctoPrint's `is_ready`).
    pub fn is_ready(self) -> bool {
        self == PrinterState::Operational
    }

    /// Not connected, or failed (OctoPrint's `is_closed_or_error`).
    pub fn is_closed_or_error(self) -> bool {
        matches!(
            self,
            PrinterState::Offline
                | PrinterState::Closed
                | PrinterState::Error
                | PrinterState::ClosedWithError
        )
    }

    /// Failed (OctoPrint's `is_error`).
    pub fn is_error(self) -> bool {
        matches!(self, PrinterState::Error | PrinterState::ClosedWithError)
    }

    /// The flags of `/api/printer`'s and the push channel's `state`.
    pub fn flags(self) -> Value {
        json!({
            "operational": self.is_operational(),
            "printing": self.is_printing(),
            "cancelling": self == PrinterState::Cancelling,
            "pausing": self == PrinterState::Pausing,
            "resuming": self == PrinterState::Resuming,
            "finishing": self == PrinterState::Finishing,
            "closedOrError": self.is_closed_or_error(),
            "error": self.is_error(),
            "paused": self == PrinterState::Paused,
            "ready": self.is_ready(),
            "sdReady": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PrinterState::*;

    #[test]
    fn flags_follow_octoprints_state_sets() {
        for s in [Starting, Printing, Pausing, Resuming, Cancelling, Finishing] {
            assert!(
                s.is_printing() && s.is_operational() && s.is_busy(),
                "{s:?}"
            );
        }
        assert!(Paused.is_busy() && !Paused.is_printing() && Paused.is_operational());
        assert!(Operational.is_ready() && !Operational.is_busy());
        for s in [Offline, Closed, Error, ClosedWithError] {
            assert!(s.is_closed_or_error() && !s.is_operational(), "{s:?}");
        }
        for s in [OpeningSerial, Connecting] {
            assert!(!s.is_closed_or_error() && !s.is_operational(), "{s:?}");
        }
        assert_eq!(ClosedWithError.text(), "Offline after error");
        assert_eq!(Closed.text(), "Offline");
        assert_eq!(Closed.id(), "CLOSED");
        assert_eq!(Paused.flags()["paused"], true);
        assert_eq!(Error.flags()["closedOrError"], true);
    }
}
