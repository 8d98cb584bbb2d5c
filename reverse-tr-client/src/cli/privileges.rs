//! Dropping privileges once the raw sockets are open: an open raw socket
//! keeps working, and everything after it — name look-ups, output files,
//! Graphviz — then runs as the user who started the client, not as root.
//!
//! - run by `sudo` (real and effective user root, `SUDO_UID` set): become
//!   `SUDO_UID`/`SUDO_GID` with that user's supplementary groups;
//! - a setuid-root binary (real user not root): become the real user;
//! - file capabilities (`setcap cap_net_raw+ep`): clear every capability;
//! - root without `sudo`: stay root, there is no one else to be.

use caps::CapSet;
use log::debug;
use nix::unistd::{
    Gid, Uid, User, getresgid, getresuid, initgroups, setgroups, setresgid, setresuid,
};

use crate::{cli::Error, cli::Result};

/// Who to be once the sockets are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Switch to this user and group, leaving root.
    Become { uid: u32, gid: u32 },
    /// Keep the user; clear the capabilities that opened the sockets.
    ClearCapabilities,
    /// Root, not started through sudo: nothing to drop to.
    StayRoot,
}

/// The plan for a process of real user `real_uid` (group `real_gid`) and
/// effective user `effective_uid`, started with `SUDO_UID`/`SUDO_GID`
/// (`sudo`) as given.
pub(crate) fn plan(
    (real_uid, real_gid, effective_uid): (u32, u32, u32),
    sudo_uid: Option<&str>,
    sudo_gid: Option<&str>,
) -> Plan {
    if real_uid != effective_uid {
        return Plan::Become {
            uid: real_uid,
            gid: real_gid,
        };
    }
    if real_uid != 0 {
        return Plan::ClearCapabilities;
    }
    let number = |text: Option<&str>| text.and_then(|text| text.parse::<u32>().ok());
    match number(sudo_uid) {
        Some(uid) if uid != 0 => Plan::Become {
            uid,
            gid: number(sudo_gid).unwrap_or(uid),
        },
        _ => Plan::StayRoot,
    }
}

/// Drops the privileges of this process as [`plan`] says for it and its
/// environment. Called once, after the last raw socket is open.
pub(crate) fn drop_privileges() -> Result<()> {
    let failed = |what: &str, error: nix::Error| Error::Privileges(format!("{what}: {error}"));
    let uids = getresuid().map_err(|e| failed("reading the user IDs", e))?;
    let gids = getresgid().map_err(|e| failed("reading the group IDs", e))?;
    let sudo = |name: &str| std::env::var(name).ok();
    let plan = plan(
        (
            uids.real.as_raw(),
            gids.real.as_raw(),
            uids.effective.as_raw(),
        ),
        sudo("SUDO_UID").as_deref(),
        sudo("SUDO_GID").as_deref(),
    );
    match plan {
        Plan::StayRoot => return Ok(()),
        Plan::ClearCapabilities => {}
        Plan::Become { uid, gid } => {
            let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
            // The user's supplementary groups if the user database knows it.
            match User::from_uid(uid).ok().flatten() {
                Some(user) => {
                    let name = std::ffi::CString::new(user.name)
                        .map_err(|_| Error::Privileges("user name with a NUL".to_owned()))?;
                    initgroups(&name, gid)
                }
                None => setgroups(&[gid]),
            }
            .map_err(|e| failed("setting the groups", e))?;
            setresgid(gid, gid, gid).map_err(|e| failed(&format!("becoming group {gid}"), e))?;
            setresuid(uid, uid, uid).map_err(|e| failed(&format!("becoming user {uid}"), e))?;
        }
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set)
            .map_err(|error| Error::Privileges(format!("clearing capabilities: {error}")))?;
    }
    debug!("privileges dropped ({plan:?}): no capabilities left");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_setuid_capabilities_and_plain_root() {
        let cases = [
            // sudo: root, with the invoking user in the environment.
            (
                (0, 0, 0),
                Some("1000"),
                Some("100"),
                Plan::Become {
                    uid: 1000,
                    gid: 100,
                },
            ),
            (
                (0, 0, 0),
                Some("1000"),
                None,
                Plan::Become {
                    uid: 1000,
                    gid: 1000,
                },
            ),
            // sudo from root, or a SUDO_UID that is no number: stay root.
            ((0, 0, 0), Some("0"), Some("0"), Plan::StayRoot),
            ((0, 0, 0), Some("me"), None, Plan::StayRoot),
            ((0, 0, 0), None, None, Plan::StayRoot),
            // setuid root: back to the real user, whatever the environment says.
            (
                (1000, 100, 0),
                Some("0"),
                None,
                Plan::Become {
                    uid: 1000,
                    gid: 100,
                },
            ),
            // An ordinary user with file capabilities.
            ((1000, 100, 1000), Some("5"), None, Plan::ClearCapabilities),
        ];
        for (ids, sudo_uid, sudo_gid, expected) in cases {
            assert_eq!(
                plan(ids, sudo_uid, sudo_gid),
                expected,
                "{ids:?} {sudo_uid:?}"
            );
        }
    }
}
