//! Namespace names: `rtr-<label>-<host>`. The label is either a user's name
//! (`lab`, starting with a letter; kept until `down`) or `<pid>x<serial>` for
//! a lab owned by a running process, which becomes stale, and is reaped by
//! the next `up`, once that process is gone (killed tests included).

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use super::topology::Host;
use crate::{Error, Result};

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Start of every namespace name of ours.
const TAG: &str = "rtr-";

/// Longest user-chosen label: namespace names stay short and readable.
const MAX_NAME_LEN: usize = 12;

/// What tells one lab's namespaces from another's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Label {
    /// Chosen by a user; lives until removed.
    Named(String),
    /// Owned by the process `pid`; `serial` tells its labs apart.
    Owned { pid: u32, serial: u32 },
}

impl Label {
    /// A fresh label owned by this process.
    pub fn owned() -> Self {
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        Label::Owned {
            pid: std::process::id(),
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A label chosen by a user.
    pub fn named(name: &str) -> Result<Self> {
        let valid = name.len() <= MAX_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if valid {
            Ok(Label::Named(name.to_owned()))
        } else {
            Err(Error::InvalidName(name.to_owned()))
        }
    }

    /// Parses a label as it appears in a namespace name (either kind).
    pub fn parse(label: &str) -> Result<Self> {
        let number = |s: &str| {
            // `u32::from_str` would also take "+1", which `Display` never writes.
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        if let Some((pid, serial)) = label.split_once('x')
            && let (Some(pid), Some(serial)) = (number(pid), number(serial))
        {
            return Ok(Label::Owned { pid, serial });
        }
        Label::named(label)
    }

    /// The namespace of `host` in the lab with this label.
    pub fn netns(&self, host: Host) -> String {
        format!("{TAG}{self}-{}", host.name())
    }

    /// Whether the process owning the lab is gone.
    pub fn is_stale(&self) -> bool {
        match self {
            Label::Named(_) => false,
            Label::Owned { pid, .. } => !Path::new(&format!("/proc/{pid}")).exists(),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Named(name) => f.write_str(name),
            Label::Owned { pid, serial } => write!(f, "{pid}x{serial}"),
        }
    }
}

/// Splits one of our namespace names into its lab's label and its host.
pub(crate) fn parse_netns(name: &str) -> Option<(Label, Host)> {
    let (label, host) = name.strip_prefix(TAG)?.split_once('-')?;
    let host = Host::ALL.into_iter().find(|h| h.name() == host)?;
    Some((Label::parse(label).ok()?, host))
}

/// Every namespace of ours that exists now, with its label.
pub(crate) fn our_namespaces() -> Result<Vec<(String, Label)>> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        // No namespace was ever named on this machine.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::ListNamespaces {
                path: NETNS_DIR,
                source,
            });
        }
    };
    let mut ours = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::ListNamespaces {
            path: NETNS_DIR,
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((label, _)) = parse_netns(&name) {
            ours.push((name, label));
        }
    }
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_round_trip() {
        let cases = [
            (Label::Named("lab".into()), Host::Client, "rtr-lab-client"),
            (Label::Named("t2".into()), Host::R2a, "rtr-t2-r2a"),
            (
                Label::Owned {
                    pid: 4242,
                    serial: 7,
                },
                Host::Server,
                "rtr-4242x7-server",
            ),
        ];
        for (label, host, name) in cases {
            assert_eq!(label.netns(host), name);
            assert_eq!(parse_netns(name), Some((label, host)));
        }
    }

    #[test]
    fn foreign_namespaces_are_not_ours() {
        for name in [
            "client",
            "rtr-lab-router9",
            "rtr-Lab-r1",
            "rtrlab-r1",
            "rtr--r1",
            "rtr-1x-r1",
        ] {
            assert_eq!(parse_netns(name), None, "{name}");
        }
    }

    #[test]
    fn user_names_are_validated() {
        for (name, valid) in [
            ("lab", true),
            ("demo2", true),
            ("abcdefghijkl", true),
            ("abcdefghijklm", false),
            ("", false),
            ("2lab", false),
            ("my-lab", false),
            ("Lab", false),
        ] {
            assert_eq!(Label::named(name).is_ok(), valid, "{name}");
        }
    }

    #[test]
    fn a_lab_is_stale_once_its_owner_is_gone() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait for true");
        assert!(Label::Owned { pid, serial: 0 }.is_stale());
        assert!(!Label::owned().is_stale(), "this process is alive");
        assert!(!Label::Named("lab".into()).is_stale());
    }
}
