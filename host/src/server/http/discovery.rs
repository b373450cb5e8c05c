//! What OctoPrint's bundled discovery plugin gives clients, which Home
//! Assistant needs to add a printer: `plugins.discovery` in
//! `/api/settings` with the instance's `upnpUuid` (Home Assistant's unique
//! id for it), and the UPnP device description at
//! `/plugin/discovery/discovery.xml`. The identifier is made once, when the
//! server first starts, and kept where OctoPrint keeps it, `plugins.discovery.upnpUuid` in config.yaml,
//! so a migrated OctoPrint configuration keeps its identity.
//!
//! The description names "The OctoPrint Project" as the manufacturer, as
//! OctoPrint's does by default: clients (Home Assistant's SSDP matcher)
//! recognise an OctoPrint-compatible server by it. Plinth sends no
//! announcements (SSDP, zeroconf) of its own.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use plinth_abi::{json, Value};

use super::App;

const UUID_PATH: [&str; 3] = ["plugins", "discovery", "upnpUuid"];

/// The instance's UPnP identifier: the one in the config, else a random
/// UUID, saved there (read once, when the server starts).
pub fn upnp_uuid(manager: &crate::PluginManager) -> String {
    let config = manager.config();
    let path: Vec<String> = UUID_PATH.iter().map(|s| (*s).to_owned()).collect();
    if let Some(Value::String(uuid)) = config.effective(&path) {
        if !uuid.is_empty() {
            return uuid;
        }
    }
    let uuid = random_uuid();
    let saved = config
        .set(path, Value::String(uuid.clone()))
        .map_err(|e| e.to_string())
        .and_then(|()| config.save().map_err(|e| e.to_string()));
    if let Err(e) = saved {
        tracing::warn!("cannot keep the discovery identifier in the config: {e}");
    }
    uuid
}

/// A version 4 UUID from the operating system's random source.
fn random_uuid() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `plugins.discovery` of `/api/settings`: OctoPrint's keys, what is
/// stored over their defaults, and the identifier.
pub fn settings(app: &App) -> Value {
    let defaults = json!({
        "publicHost": null,
        "publicPort": null,
        "pathPrefix": null,
        "zeroConf": [],
        "model": {"name": null, "description": null, "number": null, "url": null,
                  "serial": null, "vendor": null, "vendorUrl": null},
        "addresses": null,
        "ignoredAddresses": null,
        "interfaces": null,
        "ignoredInterfaces": null,
    });
    let stored = app
        .manager
        .config()
        .effective(&["plugins".to_owned(), "discovery".to_owned()])
        .filter(Value::is_object)
        .unwrap_or(Value::Null);
    let mut out = crate::config::values::merge(&defaults, &stored);
    out["upnpUuid"] = Value::String(app.upnp_uuid.clone());
    out
}

/// Stores what a client posted as `plugins.discovery` (OctoPrint's page
/// posts the settings it read back), except the identifier, which stays.
pub fn save(app: &App, part: &Value) -> Result<(), String> {
    let Value::Object(part) = part else {
        return Err("`plugins.discovery` must be a mapping".into());
    };
    let config = app.manager.config();
    for (key, value) in part.iter().filter(|(k, _)| *k != "upnpUuid") {
        let path = vec!["plugins".to_owned(), "discovery".to_owned(), key.clone()];
        config.set(path, value.clone()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The instance's name: `appearance.name`, else the machine's.
fn instance_name(app: &App) -> String {
    let config = app.manager.config();
    match config.effective(&["appearance".to_owned(), "name".to_owned()]) {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            format!("Plinth instance \"{}\"", name.trim())
        }
        _ => format!(
            "Plinth instance on {}",
            sysinfo::System::host_name().unwrap_or_else(|| "this machine".into())
        ),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /plugin/discovery/discovery.xml`: the UPnP device description,
/// open to anyone (as OctoPrint's).
pub async fn description(State(app): State<Arc<App>>, headers: HeaderMap) -> impl IntoResponse {
    let base = super::files::base_url(&headers);
    let uuid = app.upnp_uuid.clone();
    let app2 = app.clone();
    let name = super::blocking(move || instance_name(&app2))
        .await
        .unwrap_or_default();
    let xml = format!(
        r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
    <specVersion>
        <major>1</major>
        <minor>0</minor>
    </specVersion>
    <device>
        <deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
        <friendlyName>{name}</friendlyName>
        <manufacturer>The OctoPrint Project</manufacturer>
        <manufacturerURL>https://octoprint.org/</manufacturerURL>
        <modelName>Plinth</modelName>
        <modelNumber>{version}</modelNumber>
        <UDN>uuid:{uuid}</UDN>
        <serviceList>
        </serviceList>
        <presentationURL>{base}/</presentationURL>
    </device>
</root>
"#,
        name = escape(&name),
        version = escape(env!("CARGO_PKG_VERSION")),
        uuid = escape(&uuid),
        base = escape(&base),
    );
    ([(header::CONTENT_TYPE, "application/xml")], xml)
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_version_4() {
        let a = super::random_uuid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert_ne!(a, super::random_uuid());
    }
}
