//! What the host runs on, detected once at start-up: operating system,
//! architecture, CPU count, memory, Plinth's version and whether it runs in a
//! container. EnvironmentDetection plugins receive it; admins read it at
//! `GET /api/system/environment`.

use std::path::Path;

use plinth_abi::{json, Value};
use sysinfo::{MemoryRefreshKind, RefreshKind, System};

/// Detects the environment (OctoPrint's `environment` structure, with
/// `plinth` where OctoPrint has `octoprint` and `python`).
pub fn detect() -> Value {
    let system = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let cores = std::thread::available_parallelism().map(|n| n.get()).ok();
    json!({
        "os": {
            "id": std::env::consts::OS,
            "family": std::env::consts::FAMILY,
            "name": System::name(),
            "version": System::os_version(),
            "long_version": System::long_os_version(),
            "kernel": System::kernel_version(),
            "platform": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            "bits": usize::BITS,
        },
        "hardware": {
            "arch": System::cpu_arch(),
            "cores": cores,
            "physical_cores": System::physical_core_count(),
            "ram": system.total_memory(),
        },
        "plinth": {
            "version": env!("CARGO_PKG_VERSION"),
            "abi": format!("{}.{}", plinth_abi::ABI_MAJOR, plinth_abi::ABI_MINOR),
        },
        "container": in_container(Path::new("/")),
    })
}

/// Whether the process runs in a container: the marker files Docker and
/// Podman leave, a `container` variable (systemd-nspawn, LXC), or a
/// container's control group (Docker, Kubernetes, LXC).
pub fn in_container(root: &Path) -> bool {
    if root.join(".dockerenv").exists() || root.join("run/.containerenv").exists() {
        return true;
    }
    if std::env::var_os("container").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    std::fs::read_to_string(root.join("proc/1/cgroup")).is_ok_and(|groups| {
        ["docker", "kubepods", "lxc", "containerd", "libpod"]
            .iter()
            .any(|marker| groups.contains(marker))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_names_this_machine() {
        let env = detect();
        assert_eq!(env["os"]["id"], std::env::consts::OS);
        assert!(env["hardware"]["cores"].as_u64().unwrap() >= 1);
        assert!(env["hardware"]["ram"].as_u64().unwrap() > 0, "{env}");
        assert_eq!(env["plinth"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(env["container"].is_boolean());
    }

    #[test]
    fn container_markers_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/1")).unwrap();
        std::fs::write(root.join("proc/1/cgroup"), "0::/init.scope\n").unwrap();
        // The variable belongs to the test machine; only check files when it is unset.
        if std::env::var_os("container").is_none() {
            assert!(!in_container(root));
        }
        std::fs::write(root.join("proc/1/cgroup"), "0::/kubepods/besteffort/pod1\n").unwrap();
        assert!(in_container(root));
        std::fs::write(root.join("proc/1/cgroup"), "").unwrap();
        std::fs::write(root.join(".dockerenv"), "").unwrap();
        assert!(in_container(root));
    }
}
