//! The packaged systemd units as systemd would instantiate them: the
//! instance name escaped by `systemd-escape`, `%i`/`%I` expanded, the
//! installed binary's path swapped for the one just built.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::{path::Path, process::Command};

/// The daemon's unit (a template: one instance per interface).
pub const SERVICE: &str = "reverse-tr-server@.service";
/// The metrics socket's unit, also per interface.
pub const SOCKET: &str = "reverse-tr-server-metrics@.socket";
/// Where the package installs the daemon.
pub const INSTALLED: &str = "/usr/bin/reverse-tr-server";

/// The text of a unit file of the repository.
pub fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Runs `systemd-escape` with `args`; its one line of output.
pub fn systemd_escape(args: &[&str]) -> String {
    let output = Command::new("systemd-escape")
        .args(args)
        .output()
        .expect("systemd-escape runs (scripts/setup installs systemd)");
    assert!(output.status.success(), "systemd-escape {args:?}");
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// A template unit instantiated for an interface.
pub struct Instance {
    /// The unit's name, e.g. `reverse-tr-server@br\x2dlan.service`.
    pub name: String,
    /// `%i`: the escaped instance name, `br\x2dlan`.
    pub escaped: String,
    /// `%I`: the instance name unescaped, `br-lan`.
    pub unescaped: String,
}

impl Instance {
    /// The instance of `template` for `interface`, named as the README
    /// says (`systemd-escape --template`).
    pub fn new(template: &str, interface: &str) -> Self {
        let name = systemd_escape(&[&format!("--template={template}"), interface]);
        let (prefix, suffix) = template.split_once("@").expect("a template name");
        let escaped = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('@'))
            .and_then(|rest| rest.strip_suffix(suffix))
            .expect("an instance of the template")
            .to_owned();
        let unescaped = systemd_escape(&["--unescape", &escaped]);
        Self {
            name,
            escaped,
            unescaped,
        }
    }

    /// `text` with `%i` and `%I` expanded, as systemd loads the instance.
    pub fn expand(&self, text: &str) -> String {
        text.replace("%i", &self.escaped)
            .replace("%I", &self.unescaped)
    }
}

/// The values of `key=` in a unit, in order.
pub fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The one value of `key=` in a unit.
pub fn value<'a>(unit: &'a str, key: &str) -> &'a str {
    match values(unit, key)[..] {
        [value] => value,
        ref other => panic!("{key}= is set {} times", other.len()),
    }
}

/// `text` running the daemon just built instead of the installed one.
pub fn with_built_binary(text: &str) -> String {
    text.replace(INSTALLED, env!("CARGO_BIN_EXE_reverse-tr-server"))
}
