//! The systemd unit: systemd accepts it, and the daemon serves with the
//! capabilities it grants and nothing else, as an unprivileged user.
#![cfg(feature = "root-tests")]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const UNIT: &str = "reverse-tr-server@.service";

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../systemd")
        .join(UNIT)
}

fn unit() -> String {
    std::fs::read_to_string(unit_path()).expect("the unit file")
}

/// The values of `key=` in the unit, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    // The unit names the installed binary; point it at the one just built.
    let text = unit().replace(
        "/usr/local/bin/reverse-tr-server",
        env!("CARGO_BIN_EXE_reverse-tr-server"),
    );
    let directory = std::env::temp_dir().join(format!("reverse-tr-unit-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let instance = directory.join("reverse-tr-server@lo.service");
    std::fs::write(&instance, text).expect("the unit copy");
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&instance)
        .output()
        .expect("systemd-analyze runs (scripts/setup installs systemd)");
    std::fs::remove_dir_all(&directory).expect("the temporary directory is removed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze complains: {stderr}"
    );
}

#[test]
fn the_units_capabilities_suffice_for_an_unprivileged_user() {
    let unit = unit();
    let ambient = values(&unit, "AmbientCapabilities");
    assert_eq!(
        ambient,
        values(&unit, "CapabilityBoundingSet"),
        "the unit grants what it bounds"
    );
    let capabilities: Vec<String> = ambient
        .iter()
        .flat_map(|line| line.split_whitespace())
        .map(|name| {
            let name = name
                .strip_prefix("CAP_")
                .expect("capability names start with CAP_");
            format!("+{}", name.to_lowercase())
        })
        .collect();
    assert!(!capabilities.is_empty());
    let set = format!("-all,{}", capabilities.join(","));
    // A fresh network namespace: nothing outside it is touched.
    let mut daemon = Command::new("unshare")
        .args(["--net", "setpriv", "--reuid=65534", "--regid=65534"])
        .args(["--clear-groups", "--no-new-privs"])
        .arg(format!("--inh-caps={set}"))
        .arg(format!("--ambient-caps={set}"))
        .arg(format!("--bounding-set={set}"))
        .arg(env!("CARGO_BIN_EXE_reverse-tr-server"))
        .arg("lo")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare runs");
    let stderr = daemon.stderr.take().expect("stderr");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = log.recv_timeout(Duration::from_secs(20)) {
        let serving = line.contains("serving on lo");
        seen.push(line);
        if serving {
            break;
        }
    }
    let pid = i32::try_from(daemon.id()).expect("a pid");
    // SAFETY: signals our own child, which has not been waited for; unshare
    // execs setpriv, which execs the daemon, so the pid is the daemon's.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = daemon.wait().expect("the daemon exits");
    seen.extend(log.iter());
    let log = seen.join("\n");
    assert!(log.contains("serving on lo"), "{log}");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("counters"), "{log}");
}
