//! The systemd units, checked with systemd's own tools (no systemd needs
//! to run): `systemd-analyze verify` accepts them, `systemd-analyze
//! security` rates the sandbox, and the instance for an interface named
//! with a dash names its device escaped and its interface as it is.

mod units;

use std::{path::PathBuf, process::Command};

use units::*;

/// Highest exposure score `systemd-analyze security` may give the service
/// (0: fully sandboxed, 10: not at all, below 2: "OK"). It is 1.5: what
/// is left is what the job needs (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON,
/// their system calls, netlink, the host's network namespace).
const EXPOSURE_AT_MOST: f64 = 1.5;

/// The interface the tests instantiate the units for.
const INTERFACE: &str = "br-lan";

/// A directory holding both units for `INTERFACE`, the service running the
/// binary just built (verify checks that it is executable); removed on drop.
struct Installed {
    directory: PathBuf,
    service: Instance,
    socket: Instance,
}

impl Installed {
    fn new(test: &str) -> Self {
        let directory =
            std::env::temp_dir().join(format!("reverse-tr-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("a temporary directory");
        let service = Instance::new(SERVICE, INTERFACE);
        let socket = Instance::new(SOCKET, INTERFACE);
        // Instance files: what systemd loads for the instance of a template.
        for (template_name, instance) in [(SERVICE, &service), (SOCKET, &socket)] {
            let text = with_built_binary(&template(template_name));
            std::fs::write(directory.join(&instance.name), text).expect("the unit copy");
        }
        Self {
            directory,
            service,
            socket,
        }
    }

    fn path(&self, instance: &Instance) -> PathBuf {
        self.directory.join(&instance.name)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

#[test]
fn systemd_analyze_verifies_both_units() {
    let installed = Installed::new("verify");
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(installed.path(&installed.service))
        .arg(installed.path(&installed.socket))
        .output()
        .expect("systemd-analyze runs (scripts/setup installs systemd)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze complains: {stderr}"
    );
}

#[test]
fn the_sandbox_keeps_the_exposure_score_low() {
    let installed = Installed::new("security");
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(format!("--threshold={}", (EXPOSURE_AT_MOST * 10.0) as u32))
        .arg(installed.path(&installed.service))
        .output()
        .expect("systemd-analyze runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let overall = stdout
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall score in:\n{stdout}"));
    // "→ Overall exposure level for reverse-tr-server@….service: 1.6 OK 🙂"
    let score: f64 = overall
        .rsplit(": ")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no score in {overall:?}"));
    println!("systemd-analyze security: exposure {score} (at most {EXPOSURE_AT_MOST})");
    assert!(score <= EXPOSURE_AT_MOST, "{overall}\n{stdout}");
    assert!(output.status.success(), "{stdout}");
}

#[test]
fn an_interface_with_a_dash_names_its_device_escaped_and_itself_as_is() {
    let service = Instance::new(SERVICE, INTERFACE);
    assert_eq!(service.name, r"reverse-tr-server@br\x2dlan.service");
    assert_eq!(service.unescaped, INTERFACE);
    let unit = service.expand(&template(SERVICE));
    let device = systemd_escape(&[
        "--path",
        "--suffix=device",
        &format!("/sys/subsystem/net/devices/{INTERFACE}"),
    ]);
    assert_eq!(device, r"sys-subsystem-net-devices-br\x2dlan.device");
    assert_eq!(value(&unit, "BindsTo"), device);
    assert!(
        value(&unit, "After")
            .split_whitespace()
            .any(|unit| unit == device)
    );
    assert_eq!(value(&unit, "WantedBy"), device, "started when it appears");
    let exec = value(&unit, "ExecStart");
    assert_eq!(exec.split_whitespace().next(), Some(INSTALLED));
    assert_eq!(exec.split_whitespace().last(), Some(INTERFACE), "{exec}");
    assert!(
        values(&unit, "EnvironmentFile").contains(&"-/etc/reverse-tr/server-br-lan.conf"),
        "the instance's own options"
    );
    let socket = Instance::new(SOCKET, INTERFACE);
    assert_eq!(value(&unit, "Sockets"), socket.name);
    let socket_unit = socket.expand(&template(SOCKET));
    assert_eq!(value(&socket_unit, "Service"), service.name);
}

#[test]
fn the_daemon_tells_systemd_it_is_ready_and_alive() {
    let unit = template(SERVICE);
    assert_eq!(value(&unit, "Type"), "notify");
    assert!(!value(&unit, "WatchdogSec").is_empty());
    let families = value(&unit, "RestrictAddressFamilies");
    assert!(
        !families.contains("AF_INET"),
        "metrics come through the socket unit: {families}"
    );
}
