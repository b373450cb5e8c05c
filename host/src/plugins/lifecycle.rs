//! The lifecycle's decisions, as pure functions: from what is known of a
//! plugin and what is asked, to a plan. The plugin manager carries plans out
//! (loading, calling the plugin, saving, firing events); nothing here does.
//!
//! | asked | host not started | restart-needing, host running | otherwise, host running |
//! |---|---|---|---|
//! | enable | mark enabled | pending enable (cancels a pending disable) | enable now, unless running |
//! | disable | mark disabled | pending disable (cancels a pending enable) | disable now, if running |
//! | uninstall | remove now | remove at the next start, if its object exists | remove now |
//!
//! Enabling is refused for a plugin that is failed, incompatible,
//! blocklisted, shadowed or a safe-mode victim, and for one another plugin's
//! settings overlay disables; a bundled plugin cannot be uninstalled.
//!
//! At start-up, before any plugin code runs, a plugin is listed as the first
//! of these that holds ([`listed`]): failed or incompatible (its metadata
//! cannot be read or does not fit this host), blocklisted, a safe-mode victim
//! (safe mode, not bundled), disabled (in `plugins._disabled`), else enabled.
//! An enabled plugin another plugin's settings overlay disables is disabled
//! ([`overlaid`]).

use crate::plugins::discover::Source;
use crate::plugins::metadata::Refusal;
use crate::plugins::state::{refusal_state, Pending, State};

/// What decides how a plugin is listed at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<'a> {
    /// Its metadata was read and fits this host, or why not.
    pub metadata: Result<(), &'a Refusal>,
    /// A `plugins._blocklist` entry matches it: `Some(None)` for every
    /// version, `Some(Some(range))` for the versions in `range`.
    pub blocked: Option<Option<String>>,
    /// The host runs in safe mode.
    pub safe_mode: bool,
    /// It is bundled with the host.
    pub bundled: bool,
    /// It is in `plugins._disabled`.
    pub disabled: bool,
    /// It is quarantined after repeated crashes (`isolation.quarantined`), with why.
    pub quarantined: Option<String>,
}

/// The state a plugin is listed in at start-up, and why when it cannot run.
pub fn listed(listing: &Listing) -> (State, Option<String>) {
    if let Err(refusal) = listing.metadata {
        let (state, why) = refusal_state(refusal.clone());
        return (state, Some(why));
    }
    if let Some(range) = &listing.blocked {
        let range = range
            .as_ref()
            .map(|r| format!(" (versions {r})"))
            .unwrap_or_default();
        return (
            State::Blocklisted,
            Some(format!("blocklisted in plugins._blocklist{range}")),
        );
    }
    if listing.safe_mode && !listing.bundled {
        return (
            State::SafeModeVictim,
            Some("safe mode: only bundled plugins load".into()),
        );
    }
    if let (false, Some(why)) = (listing.disabled, &listing.quarantined) {
        return (State::Quarantined, Some(why.clone()));
    }
    let state = if listing.disabled {
        State::Disabled
    } else {
        State::Enabled
    };
    (state, None)
}

/// The state of a plugin listed as `state` once the settings overlays are in
/// place, `disabled` saying whether the overlaid `plugins._disabled` names it.
pub fn overlaid(state: State, disabled: bool) -> State {
    match state {
        State::Enabled if disabled => State::Disabled,
        other => other,
    }
}

/// What a decision about one plugin depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Its state as listed.
    pub state: State,
    /// Why it is in that state (failed, incompatible, …).
    pub why: Option<String>,
    /// A toggle takes effect at the next start only.
    pub restart_needing: bool,
    /// A toggle needs the web page to be reloaded.
    pub reload_needing: bool,
    /// Its object runs.
    pub running: bool,
    /// The host has started (the server runs).
    pub started: bool,
    /// The plugin whose settings overlay disables it, if one does.
    pub disabled_by_overlay: Option<String>,
}

/// What a toggle does, besides saving the disabled list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Before start-up: the plugin is listed as this (a state other than
    /// enabled or disabled stays).
    Mark(State),
    /// A restart-needing plugin: this is what waits for the next start
    /// (`None` cancels what waited).
    Pend(Option<Pending>),
    /// Load it if needed, enable and start it now, announce it.
    EnableNow,
    /// Disable it now, announce it.
    DisableNow,
    /// It already is as asked.
    Nothing,
}

/// The plan of a toggle: the step, and what the caller is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// What to do.
    pub step: Step,
    /// The toggle waits for the next start.
    pub needs_restart: bool,
    /// The web page must be reloaded.
    pub needs_refresh: bool,
}

/// Why a request is refused; the message names the plugin and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Enabling a plugin whose state does not let it run.
    #[error("cannot enable `{id}`: it is {} ({})", .state.as_str(), .why.as_deref().unwrap_or_default())]
    CannotRun {
        id: String,
        state: State,
        why: Option<String>,
    },
    /// Enabling a plugin another plugin's settings overlay disables.
    #[error("cannot enable `{id}`: the settings overlay of `{owner}` disables it; disable `{owner}` first")]
    DisabledByOverlay { id: String, owner: String },
    /// Uninstalling a bundled plugin.
    #[error("`{id}` is a bundled plugin and cannot be uninstalled")]
    Bundled { id: String },
}

/// Decides enabling (`enable`) or disabling plugin `id`.
pub fn toggle(id: &str, facts: &Facts, enable: bool) -> Result<Plan, Refused> {
    // A quarantined plugin is enabled by a person: that lifts the quarantine.
    if enable
        && !matches!(
            facts.state,
            State::Enabled | State::Disabled | State::Quarantined
        )
    {
        return Err(Refused::CannotRun {
            id: id.to_owned(),
            state: facts.state,
            why: facts.why.clone(),
        });
    }
    if let (true, Some(owner)) = (enable, &facts.disabled_by_overlay) {
        return Err(Refused::DisabledByOverlay {
            id: id.to_owned(),
            owner: owner.clone(),
        });
    }
    let step = if !facts.started {
        Step::Mark(match facts.state {
            State::Enabled | State::Disabled | State::Quarantined if enable => State::Enabled,
            State::Enabled | State::Disabled => State::Disabled,
            other => other,
        })
    } else if facts.restart_needing {
        Step::Pend(match (enable, facts.running) {
            (true, false) => Some(Pending::Enable),
            (false, true) => Some(Pending::Disable),
            _ => None,
        })
    } else if enable && !facts.running {
        Step::EnableNow
    } else if !enable && facts.running {
        Step::DisableNow
    } else {
        Step::Nothing
    };
    let needs_restart = matches!(step, Step::Pend(Some(_)));
    Ok(Plan {
        step,
        needs_restart,
        needs_refresh: facts.reload_needing && !needs_restart,
    })
}

/// When an uninstalled plugin goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its files are removed and it is unloaded at once.
    Now,
    /// Its files are removed; it stays loaded until the next start.
    AtRestart,
}

/// Whether plugin `id` from `source` may be uninstalled (bundled ones may not).
pub fn uninstallable(id: &str, source: Source) -> Result<(), Refused> {
    if source == Source::Bundled {
        return Err(Refused::Bundled { id: id.to_owned() });
    }
    Ok(())
}

/// When an uninstalled plugin goes; `created` says whether its object exists
/// (it heard `on_plugin_pending_uninstall` then).
pub fn removal(facts: &Facts, created: bool) -> Removal {
    if facts.started && facts.restart_needing && created {
        Removal::AtRestart
    } else {
        Removal::Now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: State, restart: bool, running: bool, started: bool) -> Facts {
        Facts {
            state,
            why: Some("why".into()),
            restart_needing: restart,
            reload_needing: false,
            running,
            started,
            disabled_by_overlay: None,
        }
    }

    #[test]
    fn the_toggle_table_cell_by_cell() {
        use Step::*;
        let (on, off) = (State::Enabled, State::Disabled);
        // (state, restart-needing, running, started, enable) → step
        let table = [
            // Before start-up: only the listing changes.
            (on, false, false, false, true, Mark(on)),
            (on, false, false, false, false, Mark(off)),
            (off, true, false, false, true, Mark(on)),
            (
                State::Failed,
                false,
                false,
                false,
                false,
                Mark(State::Failed),
            ),
            // Restart-needing, host running: pending, or cancelled.
            (on, true, true, true, false, Pend(Some(Pending::Disable))),
            (off, true, false, true, true, Pend(Some(Pending::Enable))),
            (on, true, true, true, true, Pend(None)),
            (off, true, false, true, false, Pend(None)),
            // Otherwise, at once.
            (off, false, false, true, true, EnableNow),
            (on, false, true, true, false, DisableNow),
            (on, false, true, true, true, Nothing),
            (off, false, false, true, false, Nothing),
        ];
        for (state, restart, running, started, enable, step) in table {
            let plan = toggle("p", &facts(state, restart, running, started), enable).unwrap();
            assert_eq!(
                plan.step, step,
                "{state:?} restart {restart} running {running} started {started} enable {enable}"
            );
            assert_eq!(plan.needs_restart, matches!(step, Pend(Some(_))));
        }
    }

    #[test]
    fn enabling_what_cannot_run_is_refused_with_the_reason() {
        for state in [
            State::Failed,
            State::Incompatible,
            State::Blocklisted,
            State::SafeModeVictim,
            State::Shadowed,
        ] {
            let err = toggle("p", &facts(state, false, false, true), true).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("cannot enable `p`: it is {} (why)", state.as_str())
            );
            // Disabling it is fine (the disabled list is saved).
            assert!(toggle("p", &facts(state, false, false, true), false).is_ok());
        }
        let mut overlaid = facts(State::Disabled, false, false, true);
        overlaid.disabled_by_overlay = Some("other".into());
        let err = toggle("p", &overlaid, true).unwrap_err();
        assert!(err
            .to_string()
            .contains("the settings overlay of `other` disables it"));
    }

    #[test]
    fn a_reload_needing_plugin_asks_for_a_reload_unless_it_waits_for_a_restart() {
        let mut f = facts(State::Disabled, false, false, true);
        f.reload_needing = true;
        assert!(toggle("p", &f, true).unwrap().needs_refresh);
        f.restart_needing = true;
        let plan = toggle("p", &f, true).unwrap();
        assert!(plan.needs_restart && !plan.needs_refresh);
    }

    #[test]
    fn the_start_up_listing_table_cell_by_cell() {
        use State::*;
        let failed = Refusal::Failed("damaged".into());
        let incompatible = Refusal::Incompatible("ABI 9.0".into());
        let all = Some(None);
        let some = Some(Some("<2".to_owned()));
        // (metadata, blocked, safe mode, bundled, disabled) → state, why
        let table = [
            (Ok(()), None, false, false, false, Enabled, None),
            (Ok(()), None, false, false, true, Disabled, None),
            (Ok(()), None, false, true, true, Disabled, None),
            (Ok(()), None, true, true, false, Enabled, None),
            (Ok(()), None, true, true, true, Disabled, None),
            (
                Ok(()),
                None,
                true,
                false,
                false,
                SafeModeVictim,
                Some("safe mode: only bundled plugins load"),
            ),
            (
                Ok(()),
                None,
                true,
                false,
                true,
                SafeModeVictim,
                Some("safe mode: only bundled plugins load"),
            ),
            (
                Ok(()),
                all.clone(),
                false,
                false,
                false,
                Blocklisted,
                Some("blocklisted in plugins._blocklist"),
            ),
            (
                Ok(()),
                some.clone(),
                true,
                false,
                true,
                Blocklisted,
                Some("blocklisted in plugins._blocklist (versions <2)"),
            ),
            (
                Ok(()),
                all.clone(),
                true,
                true,
                false,
                Blocklisted,
                Some("blocklisted in plugins._blocklist"),
            ),
            (
                Err(&failed),
                all.clone(),
                true,
                false,
                true,
                Failed,
                Some("damaged"),
            ),
            (
                Err(&incompatible),
                None,
                false,
                true,
                false,
                Incompatible,
                Some("ABI 9.0"),
            ),
            (
                Err(&incompatible),
                some.clone(),
                true,
                false,
                true,
                Incompatible,
                Some("ABI 9.0"),
            ),
        ];
        for (metadata, blocked, safe_mode, bundled, disabled, state, why) in table {
            let listing = Listing {
                metadata,
                blocked,
                safe_mode,
                bundled,
                disabled,
                quarantined: None,
            };
            assert_eq!(
                listed(&listing),
                (state, why.map(str::to_owned)),
                "{listing:?}"
            );
        }
    }

    #[test]
    fn an_overlay_disables_only_an_enabled_plugin() {
        for state in [
            State::Enabled,
            State::Disabled,
            State::Failed,
            State::Blocklisted,
        ] {
            assert_eq!(overlaid(state, false), state);
        }
        assert_eq!(overlaid(State::Enabled, true), State::Disabled);
        for state in [
            State::Disabled,
            State::Failed,
            State::SafeModeVictim,
            State::Incompatible,
        ] {
            assert_eq!(overlaid(state, true), state);
        }
    }

    #[test]
    fn the_uninstall_table() {
        assert_eq!(
            uninstallable("p", Source::Bundled).unwrap_err().to_string(),
            "`p` is a bundled plugin and cannot be uninstalled"
        );
        assert!(
            uninstallable("p", Source::User).is_ok()
                && uninstallable("p", Source::Manifest).is_ok()
        );
        // (restart-needing, started, created) → removal
        let table = [
            (true, true, true, Removal::AtRestart),
            (true, true, false, Removal::Now),
            (true, false, true, Removal::Now),
            (false, true, true, Removal::Now),
        ];
        for (restart, started, created, expected) in table {
            let f = facts(State::Enabled, restart, true, started);
            assert_eq!(
                removal(&f, created),
                expected,
                "{restart} {started} {created}"
            );
        }
    }
}
