#![cfg(feature = "root-tests")]
//! Privileges are dropped once the raw sockets are open: run as root by
//! sudo (`SUDO_UID`/`SUDO_GID`), the files the client writes belong to the
//! invoking user; run with only CAP_NET_RAW, the capability is cleared.
//! Forward traces of loopback only.

use std::{
    os::unix::fs::MetadataExt, os::unix::fs::PermissionsExt, path::PathBuf, process::Command,
};

/// `nobody`: a user that exists on every Debian system.
const NOBODY: u32 = 65534;

/// A directory anyone may write to, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("reverse-tr-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The owner of the statistics file of a trace run with `sudo` set to the
/// `SUDO_UID`/`SUDO_GID` given (`None`: not through sudo).
fn owner_of_written_file(sudo: Option<u32>) -> u32 {
    let scratch = Scratch::new(&format!("owner-{}", sudo.is_some()));
    let base = scratch.0.join("trace");
    let mut command = Command::new(env!("CARGO_BIN_EXE_reverse-tr"));
    command
        .args(["-n", "-s", "-o", base.to_str().expect("utf-8 path")])
        .args(["forward", "icmp", "singlepath", "--flow", "1", "127.0.0.1"])
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID");
    if let Some(id) = sudo {
        command
            .env("SUDO_UID", id.to_string())
            .env("SUDO_GID", id.to_string());
    }
    let output = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    std::fs::metadata(base.with_extension("json"))
        .expect("trace.json written")
        .uid()
}

#[test]
fn run_by_sudo_the_files_belong_to_the_invoking_user() {
    assert_eq!(owner_of_written_file(Some(NOBODY)), NOBODY);
    // Root logged in as root stays root.
    assert_eq!(owner_of_written_file(None), 0);
}

#[test]
fn with_only_cap_net_raw_the_capability_is_cleared_after_opening() {
    let output = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--inh-caps=+net_raw",
            "--ambient-caps=+net_raw",
            "--",
            env!("CARGO_BIN_EXE_reverse-tr"),
        ])
        .args(["-n", "-l", "debug", "forward", "icmp", "singlepath"])
        .args(["--flow", "1", "127.0.0.1"])
        .env_remove("SUDO_UID")
        .output()
        .expect("setpriv (util-linux) runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("privileges dropped (ClearCapabilities)"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("127.0.0.1"));
}
