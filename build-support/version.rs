//! The version both binaries print: the package version and, when built
//! from a git checkout, the commit (`0.1.0 (d7bfdc0)`). A build from a
//! source tarball has no git and prints the version alone. Shared by the
//! build scripts of the client and the server through `#[path]`.

use std::process::Command;

/// Sets `REVERSE_TR_VERSION` for the crate being built, and asks cargo to
/// rerun the script when HEAD moves (a commit, a checkout).
pub fn emit() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=REVERSE_TR_VERSION={full}");
    // The reflog of HEAD changes with every commit and checkout, in a
    // worktree too; without git there is nothing to watch.
    if let Some(log) = git(&[
        "rev-parse",
        "--path-format=absolute",
        "--git-path",
        "logs/HEAD",
    ]) {
        println!("cargo:rerun-if-changed={log}");
    }
}

/// The trimmed stdout of a successful `git` command run in the crate.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR")?)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
