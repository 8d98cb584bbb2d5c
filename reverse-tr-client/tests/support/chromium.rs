//! Headless Chromium, for the tests that open a page (the HTML view, the
//! live view's screenshot): included by the integration tests' support
//! and, by path, by the unit tests of `src/output/html.rs`.

use std::{path::Path, process::Command};

/// Runs Debian's headless Chromium (scripts/setup installs it) on `url`
/// with `arguments` before it (`--dump-dom`, `--screenshot=FILE`, …), its
/// profile in `profile`; returns what it printed.
pub fn chromium(profile: &Path, url: &str, arguments: &[&str]) -> String {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(arguments)
        .arg(url)
        .output()
        .expect("chromium runs (scripts/setup installs it)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
