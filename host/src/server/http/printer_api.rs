//! OctoPrint's printer REST API: `/api/connection` (state, options,
//! connect, disconnect, fake_ack) and `/api/printer` (state and
//! temperatures with history; `tool`, `bed`, `chamber`, `printhead`,
//! `command` and `sd`). Every command answers 204 once it is queued; a
//! request that does not fit the printer's state is 409, a malformed one
//! 400, and nothing is sent for either.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{perm, JsonBody, Permitted};
use super::{optional_flag, optional_text, ApiError, App};
use crate::config::host_settings;
use crate::jobs::printer::Printer;
use crate::jobs::JobError;

/// Tags of the commands the REST API sends.
const API_TAGS: &[&str] = &["source:api", "api:printer.command"];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn command_of(body: &Value) -> Result<String, ApiError> {
    optional_text(body, "command")?.ok_or_else(|| bad("the body needs a `command`"))
}

/// A number field (`null` counts as absent); 400 for another type.
fn number(body: &Value, key: &str) -> Result<Option<f64>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(bad(format!("`{key}` must be a number, not {other}"))),
    }
}

fn required_number(body: &Value, key: &str) -> Result<f64, ApiError> {
    number(body, key)?.ok_or_else(|| bad(format!("the body needs `{key}`, a number")))
}

/// A mapping of heater names to numbers.
fn numbers_by_name(body: &Value, key: &str) -> Result<BTreeMap<String, f64>, ApiError> {
    let Some(Value::Object(map)) = body.get(key) else {
        return Err(bad(format!(
            "the body needs `{key}`, a mapping of heaters to numbers"
        )));
    };
    map.iter()
        .map(|(name, v)| {
            v.as_f64()
                .map(|n| (name.clone(), n))
                .ok_or_else(|| bad(format!("`{key}.{name}` must be a number, not {v}")))
        })
        .collect()
}

fn unknown(command: &str, known: &str) -> ApiError {
    bad(format!("unknown command {command:?} ({known})"))
}

// ~~ /api/connection

/// `GET /api/connection`.
pub async fn connection(State(app): State<Arc<App>>, _: Permitted<perm::Status>) -> Json<Value> {
    Json(app.jobs.printer.connection())
}

/// `POST /api/connection`: `connect` (with `port`, `baudrate`,
/// `printerProfile`, `save`, `autoconnect`), `disconnect`, `fake_ack`
/// (also as `repair`).
pub async fn connection_command(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Connection>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let printer = &app.jobs.printer;
    match command_of(&body)?.as_str() {
        "connect" => {
            let port = optional_text(&body, "port")?;
            let baudrate = match number(&body, "baudrate")? {
                None => None,
                Some(b) if b.fract() == 0.0 && b > 0.0 && b <= f64::from(u32::MAX) => {
                    Some(b as u32)
                }
                Some(b) => return Err(bad(format!("`baudrate` must be a whole number, not {b}"))),
            };
            let profile = optional_text(&body, "printerProfile")?;
            let save = optional_flag(&body, "save")?;
            let autoconnect = match body.get("autoconnect") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(bad("`autoconnect` must be true or false")),
            };
            printer.connect(port.as_deref(), baudrate, profile.as_deref())?;
            let mut changes = Vec::new();
            if save {
                if let Some(port) = &port {
                    changes.push((&host_settings::PORT.0, json!(port)));
                }
                if let Some(baudrate) = baudrate {
                    changes.push((&host_settings::BAUDRATE.0, json!(baudrate)));
                }
            }
            if let Some(autoconnect) = autoconnect {
                changes.push((&host_settings::AUTOCONNECT.0, json!(autoconnect)));
            }
            save_preferences(&app, &changes)?;
        }
        "disconnect" => printer.disconnect(),
        "fake_ack" | "repair" => printer.fake_ack()?,
        other => return Err(unknown(other, "connect, disconnect or fake_ack")),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the connection preferences a connect request asked to save.
fn save_preferences(app: &App, changes: &[(&host_settings::Key, Value)]) -> Result<(), ApiError> {
    if changes.is_empty() {
        return Ok(());
    }
    let config = app.manager.config();
    let failed = |e: crate::config::ConfigError| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot save the connection preferences: {e}"),
        )
    };
    for (key, value) in changes {
        let path = key.path.iter().map(|p| (*p).to_owned()).collect();
        config.set(path, value.clone()).map_err(failed)?;
    }
    config.save().map_err(failed)
}

// ~~ /api/printer

/// What `GET /api/printer` and its parts take: `history`, `limit`, `exclude`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StateQuery {
    history: Option<String>,
    limit: Option<String>,
    exclude: Option<String>,
}

impl StateQuery {
    fn history(&self) -> Result<Option<Option<usize>>, ApiError> {
        let wanted = self
            .history
            .as_deref()
            .is_some_and(|h| matches!(h, "true" | "1" | "yes"));
        if !wanted {
            return Ok(None);
        }
        match self.limit.as_deref() {
            None => Ok(Some(None)),
            Some(l) => l
                .parse()
                .map(|n| Some(Some(n)))
                .map_err(|_| bad(format!("`limit` must be a whole number, not {l:?}"))),
        }
    }

    fn excludes(&self, part: &str) -> bool {
        self.exclude
            .as_deref()
            .is_some_and(|e| e.split(',').any(|p| p.trim() == part))
    }
}

/// 409 while a print runs: `what` is for an idle or paused printer.
fn not_printing(printer: &Printer, what: &str) -> Result<(), ApiError> {
    if printer.state().is_printing() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the printer is printing: {what} only when idle or paused"),
        ));
    }
    Ok(())
}

fn operational(printer: &Printer) -> Result<(), ApiError> {
    let state = printer.state();
    if state.is_operational() {
        Ok(())
    } else {
        Err(
            ApiError::new(StatusCode::CONFLICT, "Printer is not operational")
                .with("state", json!(state.text())),
        )
    }
}

/// The temperatures of the heaters `keep` selects, with the history if asked.
fn temperatures(
    printer: &Printer,
    query: &StateQuery,
    keep: impl Fn(&str) -> bool,
) -> Result<Value, ApiError> {
    let mut out = json!({});
    if let Value::Object(current) = printer.current_temperatures() {
        for (name, reading) in current {
            if keep(&name) {
                out[name] = reading;
            }
        }
    }
    if let Some(limit) = query.history()? {
        let history: Vec<Value> = printer
            .temperature_history(limit)
            .into_iter()
            .map(|mut sample| {
                if let Value::Object(fields) = &mut sample {
                    fields.retain(|k, _| k == "time" || keep(k));
                }
                sample
            })
            .collect();
        out["history"] = json!(history);
    }
    Ok(out)
}

/// `GET /api/printer`: 409 unless operational.
pub async fn state(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Status>,
    Query(query): Query<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    let printer = &app.jobs.printer;
    operational(printer)?;
    let mut out = json!({});
    if !query.excludes("temperature") {
        out["temperature"] = temperatures(printer, &query, |_| true)?;
    }
    if !query.excludes("sd") {
        out["sd"] = json!({"ready": false});
    }
    if !query.excludes("state") {
        let data = printer.current_data();
        out["state"] = data["state"].clone();
    }
    Ok(Json(out))
}

/// `GET /api/printer/tool`.
pub async fn tool_state(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Status>,
    Query(query): Query<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    operational(&app.jobs.printer)?;
    temperatures(&app.jobs.printer, &query, |k| k.starts_with("tool")).map(Json)
}

/// `POST /api/printer/tool`: `target` (`targets`), `offset` (`offsets`),
/// `select` (`tool`), `extrude` (`amount`, `speed`), `flowrate` (`factor`).
pub async fn tool_command(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Control>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let printer = &app.jobs.printer;
    operational(printer)?;
    match command_of(&body)?.as_str() {
        "target" => {
            let targets = numbers_by_name(&body, "targets")?;
            for name in targets.keys() {
                if !name.starts_with("tool") {
                    return Err(bad(format!("{name:?} is not a tool: use tool0, tool1, …")));
                }
            }
            set_targets(printer, &targets)?;
        }
        "offset" => printer.set_temperature_offsets(&numbers_by_name(&body, "offsets")?)?,
        "select" => {
            let tool = optional_text(&body, "tool")?
                .ok_or_else(|| bad("the body needs `tool`, e.g. tool1"))?;
            printer.change_tool(&tool)?;
        }
        "extrude" => {
            not_printing(printer, "extrude")?;
            printer.extrude(required_number(&body, "amount")?, number(&body, "speed")?)?;
        }
        "flowrate" => printer.flow_rate(required_number(&body, "factor")?)?,
        other => {
            return Err(unknown(
                other,
                "target, offset, select, extrude or flowrate",
            ))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Checks every target before any is sent: all or nothing.
fn set_targets(printer: &Printer, targets: &BTreeMap<String, f64>) -> Result<(), JobError> {
    let profile = printer.profile();
    for (name, value) in targets {
        printer.check_target(&profile, name, *value)?;
    }
    for (name, value) in targets {
        printer.set_temperature(name, *value)?;
    }
    Ok(())
}

/// `bed` or `chamber` from the path (404 for anything else).
fn heater_of(name: &str) -> Result<&'static str, ApiError> {
    match name {
        "bed" => Ok("bed"),
        "chamber" => Ok("chamber"),
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such resource: /api/printer/{other}"),
        )),
    }
}

/// 409 when the printer profile has no such heater.
fn heater_present(printer: &Printer, heater: &str) -> Result<(), ApiError> {
    let profile = printer.profile();
    let present = match heater {
        "bed" => profile.heated_bed(),
        _ => profile.heated_chamber(),
    };
    if present {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the printer profile has no heated {heater}"),
        ))
    }
}

/// `GET /api/printer/bed` and `/chamber`.
pub async fn heater_state(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Status>,
    Path(heater): Path<String>,
    Query(query): Query<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    let heater = heater_of(&heater)?;
    let printer = &app.jobs.printer;
    operational(printer)?;
    heater_present(printer, heater)?;
    temperatures(printer, &query, |k| k == heater).map(Json)
}

/// `POST /api/printer/bed` and `/chamber`: `target` (`target`), `offset` (`offset`).
pub async fn heater_command(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Control>,
    Path(heater): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let heater = heater_of(&heater)?;
    let printer = &app.jobs.printer;
    operational(printer)?;
    match command_of(&body)?.as_str() {
        "target" => printer.set_temperature(heater, required_number(&body, "target")?)?,
        "offset" => {
            heater_present(printer, heater)?;
            let offset = required_number(&body, "offset")?;
            printer.set_temperature_offsets(&BTreeMap::from([(heater.to_owned(), offset)]))?;
        }
        other => return Err(unknown(other, "target or offset")),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/printer/printhead`: `jog` (`x`, `y`, `z`, `absolute`,
/// `speed`), `home` (`axes`), `feedrate` (`factor`).
pub async fn printhead_command(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Control>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let printer = &app.jobs.printer;
    operational(printer)?;
    match command_of(&body)?.as_str() {
        "jog" => {
            not_printing(printer, "jog")?;
            let mut axes = BTreeMap::new();
            for axis in ['x', 'y', 'z'] {
                if let Some(amount) = number(&body, &axis.to_string())? {
                    axes.insert(axis, amount);
                }
            }
            let absolute = optional_flag(&body, "absolute")?;
            let speed = match body.get("speed") {
                Some(Value::Bool(false)) => None,
                _ => number(&body, "speed")?,
            };
            printer.jog(&axes, absolute, speed)?;
        }
        "home" => {
            not_printing(printer, "home")?;
            let Some(Value::Array(list)) = body.get("axes") else {
                return Err(bad("the body needs `axes`, a list from x, y and z"));
            };
            let axes = list
                .iter()
                .map(|a| match a.as_str() {
                    Some(a @ ("x" | "y" | "z")) => Ok(a.chars().next().unwrap_or('x')),
                    _ => Err(bad(format!("cannot home {a}: the axes are x, y and z"))),
                })
                .collect::<Result<Vec<char>, ApiError>>()?;
            printer.home(&axes)?;
        }
        "feedrate" => printer.feed_rate(required_number(&body, "factor")?)?,
        other => return Err(unknown(other, "jog, home or feedrate")),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/printer/command`: `command`, `commands` (a list), or
/// `script` with an optional `context`.
pub async fn command(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Control>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let printer = &app.jobs.printer;
    operational(printer)?;
    if body.get("script").is_some()
        && (body.get("command").is_some() || body.get("commands").is_some())
    {
        return Err(bad("send `script` or `command`/`commands`, not both"));
    }
    if let Some(script) = optional_text(&body, "script")? {
        let context = match body.get("context") {
            None | Some(Value::Null) => json!({}),
            Some(c @ Value::Object(_)) => c.clone(),
            Some(_) => return Err(bad("`context` must be a mapping")),
        };
        printer.script(&script, &context, API_TAGS)?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let commands: Vec<String> = match (body.get("command"), body.get("commands")) {
        (Some(Value::String(c)), None) => vec![c.clone()],
        (None, Some(Value::Array(list))) => list
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("`commands` holds {c}, not text")))
            })
            .collect::<Result<_, _>>()?,
        (Some(_), Some(_)) => return Err(bad("send `command` or `commands`, not both")),
        _ => {
            return Err(bad(
                "the body needs `command` (text), `commands` (a list) or `script`",
            ))
        }
    };
    if commands.is_empty() {
        return Err(bad("`commands` is empty"));
    }
    // OctoPrint's `parameters`: `%(name)s` in the commands is replaced by the value.
    let commands = match body.get("parameters") {
        None | Some(Value::Null) => commands,
        Some(Value::Object(parameters)) => commands
            .iter()
            .map(|c| {
                parameters.iter().fold(c.clone(), |c, (k, v)| {
                    let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    c.replace(&format!("%({k})s"), &value)
                })
            })
            .collect(),
        Some(_) => return Err(bad("`parameters` must be a mapping")),
    };
    printer.commands(&commands, API_TAGS)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/printer/sd`: 404, as OctoPrint answers with SD support off
/// (the virtual printer has no SD card).
pub async fn sd_state(_: Permitted<perm::Status>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "SD support is disabled: the virtual printer has no SD card",
    )
}

/// `POST /api/printer/sd`: 404, as OctoPrint answers with SD support off.
pub async fn sd_command(_: Permitted<perm::Control>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "SD support is disabled: the virtual printer has no SD card",
    )
}
