//! Reading a library's metadata, and the scan cache that spares an
//! unchanged library being read and checked again at the next start: a
//! changed file is always read anew, a damaged or foreign cache is ignored,
//! a library for another machine is refused with both machines named.

#[macro_use]
mod common;

use std::fs;
use std::path::PathBuf;

use common::{add_user, api_key, built, get, lib_file, send, Sandbox, Server};
use plinth::State;

/// `name`'s library copied (not linked) into `<basedir>/plugins` as `id`.
fn copy_in(sb: &Sandbox, name: &str, id: &str) -> PathBuf {
    let to = sb.basedir.join("plugins").join(lib_file(id));
    fs::copy(built().sample(name), &to).unwrap();
    to
}

fn cache_file(sb: &Sandbox) -> PathBuf {
    sb.basedir.join("scan_cache.json")
}

fn cache(sb: &Sandbox) -> serde_json::Value {
    serde_json::from_slice(&fs::read(cache_file(sb)).unwrap()).unwrap()
}

/// The plugin's name, state and error as a fresh manager (a new start)
/// lists it from its metadata, without loading it: a library this process
/// mapped must not be written over (its code would change under it).
fn listed(sb: &Sandbox, id: &str) -> (String, State, Option<String>) {
    let info = sb.manager().plugin(id).unwrap();
    (info.name, info.state, info.error)
}

#[test]
fn a_start_remembers_each_library_and_the_next_start_uses_what_it_remembered() {
    let sb = Sandbox::in_mode("in_process");
    let lib = copy_in(&sb, "helloworld", "hello");
    let m = sb.manager();
    m.load_all();
    assert_eq!(m.plugin("hello").unwrap().state, State::Enabled);
    let stored = cache(&sb);
    let entries = stored["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{stored:#}");
    assert_eq!(entries[0]["library"], lib.to_str().unwrap());
    assert_eq!(entries[0]["layout_checked"], true, "{stored:#}");

    // The next start takes the metadata from the cache: an entry changed in
    // the cache shows, while the file stays as it was.
    let mut forged = stored.clone();
    forged["entries"][0]["metadata"]["name"] = "Remembered".into();
    fs::write(cache_file(&sb), serde_json::to_vec(&forged).unwrap()).unwrap();
    assert_eq!(listed(&sb, "hello").0, "Remembered");
}

#[test]
fn a_library_replaced_at_the_same_path_is_read_anew() {
    let sb = Sandbox::in_mode("in_process");
    let lib = copy_in(&sb, "helloworld", "plugin");
    let (first, state, _) = listed(&sb, "plugin");
    assert_eq!(state, State::Enabled);
    // Another plugin's library written over the same file (same inode).
    fs::write(&lib, fs::read(built().sample("greeter")).unwrap()).unwrap();
    let (second, state, error) = listed(&sb, "plugin");
    assert_eq!(state, State::Enabled, "{error:?}");
    assert_ne!(first, second, "the replaced library was not read again");
    // And garbage written over it is refused, not served from the cache.
    fs::write(&lib, b"not a library at all").unwrap();
    let (_, state, error) = listed(&sb, "plugin");
    assert_eq!(state, State::Incompatible);
    assert!(error.unwrap().contains("not a shared library"));
}

/// A swapped-in library with Plinth's metadata and a root module of the
/// right name but another layout (fixture `bad_layout`), renamed over the
/// plugin's file.
fn swap_in_bad_layout(lib: &std::path::Path) {
    let swap = lib.with_extension("swap");
    fs::copy(built().fixture("bad_layout"), &swap).unwrap();
    fs::rename(&swap, lib).unwrap();
}

/// The server's entry for plugin `plugin` in `GET /api/plugins`.
fn entry(server: &Server, key: &str) -> serde_json::Value {
    let (status, list) = get(server, "/api/plugins", key);
    assert_eq!(status, 200, "{list}");
    list["plugins"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["id"] == "plugin").cloned())
        .unwrap_or_else(|| panic!("no plugin in {list:#}"))
}

/// The plugin was refused by the layout check.
fn assert_refused_by_the_layout_check(info: &serde_json::Value) {
    assert_eq!(info["state"], "incompatible", "{info:#}");
    let error = info["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("its binary interface does not match this host's"),
        "{info:#}"
    );
}

/// The layout check a cache entry spares is never spared another file: a
/// library that passed, then renamed over by one with Plinth's metadata and
/// a root module of the right name but another layout, is checked and
/// refused at the next start. Each start is a `plinth serve` of its own (a
/// process that mapped a path gets the same mapping back from `dlopen`).
#[test]
fn a_library_swapped_after_its_layout_passed_is_checked_again() {
    let sb = Sandbox::in_mode("in_process");
    let lib = copy_in(&sb, "greeter", "plugin");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    assert_eq!(entry(&server, &key)["state"], "enabled");
    drop(server);
    assert_eq!(cache(&sb)["entries"][0]["layout_checked"], true);
    swap_in_bad_layout(&lib);
    let info = entry(&Server::start(&sb), &key);
    assert_eq!(info["name"], "Bad layout", "its metadata was read anew");
    assert_refused_by_the_layout_check(&info);
}

/// The same, when the file is swapped after this start found it unchanged
/// (the cache's entry still says it passed) and before it is mapped: the
/// loader compares the identity of the file it mapped, checks it, and the
/// plugin enabled now is refused.
#[test]
fn a_library_swapped_between_discovery_and_loading_is_checked() {
    let sb = Sandbox::in_mode("in_process");
    let lib = copy_in(&sb, "greeter", "plugin");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    drop(Server::start(&sb));
    assert_eq!(cache(&sb)["entries"][0]["layout_checked"], true);
    // Found unchanged at the next start, but disabled: not mapped yet.
    sb.write_config("plugins:\n  _disabled: [plugin]\n");
    let server = Server::start(&sb);
    swap_in_bad_layout(&lib);
    let body = serde_json::json!({"command": "enable"});
    let (status, answer) = send(&server, "POST", "/api/plugins/plugin", &key, Some(body));
    assert_ne!(status, 200, "{answer}");
    assert_refused_by_the_layout_check(&entry(&server, &key));
}

#[test]
fn a_damaged_or_foreign_cache_is_ignored_and_written_anew() {
    let sb = Sandbox::in_mode("in_process");
    copy_in(&sb, "helloworld", "hello");
    let (name, _, _) = listed(&sb, "hello");
    let good = cache(&sb);

    fs::write(cache_file(&sb), b"{\"host\": \"plinth\", \"entr").unwrap();
    assert_eq!(listed(&sb, "hello"), (name.clone(), State::Enabled, None));
    assert_eq!(cache(&sb)["entries"], good["entries"]);

    // Entries another host build wrote are not trusted.
    let mut foreign = good.clone();
    foreign["host"] = "plinth 0.0.1 abi 1.0 elsewhere".into();
    foreign["entries"][0]["metadata"]["name"] = "Foreign".into();
    fs::write(cache_file(&sb), serde_json::to_vec(&foreign).unwrap()).unwrap();
    assert_eq!(listed(&sb, "hello").0, name);
}

#[cfg(target_os = "linux")]
#[test]
fn a_library_for_another_machine_is_refused_with_both_machines_named() {
    let sb = Sandbox::in_mode("in_process");
    let lib = copy_in(&sb, "helloworld", "foreign");
    sb.recorder("good");
    let mut bytes = fs::read(&lib).unwrap();
    // e_machine, at offset 18 of an ELF header: 183 is AArch64, 62 x86-64.
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    bytes[18..20].copy_from_slice(&other.to_le_bytes());
    fs::write(&lib, bytes).unwrap();
    let m = sb.manager();
    m.load_all();
    let info = m.plugin("foreign").unwrap();
    assert_eq!(info.state, State::Incompatible);
    let error = info.error.unwrap();
    let (theirs, ours) = if cfg!(target_arch = "aarch64") {
        ("X86_64", "Aarch64")
    } else {
        ("Aarch64", "X86_64")
    };
    assert_eq!(
        error,
        format!("built for {theirs}, but this host runs on {ours}")
    );
    assert_eq!(m.plugin("good").unwrap().state, State::Enabled);
}

#[test]
fn section_headers_outside_the_file_are_refused_not_trusted() {
    let sb = Sandbox::in_mode("in_process");
    let lib = copy_in(&sb, "helloworld", "cut");
    let bytes = fs::read(&lib).unwrap();
    // The section headers sit at the end of the file: cut them off.
    fs::write(&lib, &bytes[..bytes.len() - 512]).unwrap();
    let m = sb.manager();
    let info = m.plugin("cut").unwrap();
    assert_eq!(info.state, State::Incompatible, "{info:?}");
    assert!(
        info.error
            .as_deref()
            .unwrap()
            .contains("not a shared library"),
        "{info:?}"
    );
}
