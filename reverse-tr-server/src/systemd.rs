//! What the daemon tells systemd and takes from it (sd-notify): readiness
//! and the watchdog ping (`Type=notify`, `WatchdogSec=`), and the metrics
//! socket passed by a socket unit (`LISTEN_FDS`), so the daemon itself
//! never opens an Internet socket and its sandbox can forbid them. Outside
//! systemd every call here does nothing.

use std::{
    net::TcpListener,
    os::fd::{FromRawFd as _, RawFd},
};

use crate::{Error, error::Result};

/// The listening socket systemd passed (`LISTEN_FDS=1` for this process),
/// if any. Call first thing in `main`, before any thread exists: it unsets
/// the variables so that no child inherits them.
pub fn metrics_socket() -> Result<Option<TcpListener>> {
    let passed =
        |error: std::io::Error| Error::Config(format!("the socket systemd passed: {error}"));
    let fds: Vec<RawFd> = sd_notify::listen_fds().map_err(passed)?.collect();
    let fd = match fds[..] {
        [] => return Ok(None),
        [fd] => fd,
        _ => {
            return Err(Error::Config(format!(
                "systemd passed {} sockets; the metrics need one",
                fds.len()
            )));
        }
    };
    // SAFETY: LISTEN_PID named this process, so fds 3.. are ours, passed
    // open by systemd, and nothing else in the process owns them.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    // A Unix or datagram socket has no IP address to accept from.
    listener.local_addr().map_err(|error| {
        Error::Config(format!(
            "the socket systemd passed is not a TCP listening socket ({error}): use ListenStream=ADDRESS:PORT"
        ))
    })?;
    Ok(Some(listener))
}

/// Readiness and watchdog pings to systemd's notify socket.
#[derive(Debug, Clone, Copy)]
pub struct Notifier {
    /// `WatchdogSec=` is set for this process.
    watchdog: bool,
}

impl Notifier {
    /// Reads the watchdog settings (leaves them for [`Notifier::ping`]).
    pub fn new() -> Self {
        let mut usec = 0;
        Self {
            watchdog: sd_notify::watchdog_enabled(false, &mut usec),
        }
    }

    /// The program is attached everywhere: `READY=1`.
    pub fn ready(self, status: &str) {
        self.send(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(status),
        ]);
    }

    /// The watchdog loop is alive: `WATCHDOG=1` when systemd asked for it.
    pub fn ping(self) {
        if self.watchdog {
            self.send(&[sd_notify::NotifyState::Watchdog]);
        }
    }

    /// Detaching: `STOPPING=1`.
    pub fn stopping(self) {
        self.send(&[sd_notify::NotifyState::Stopping]);
    }

    fn send(self, states: &[sd_notify::NotifyState]) {
        // Without NOTIFY_SOCKET this sends nothing and succeeds.
        if let Err(error) = sd_notify::notify(false, states) {
            log::warn!("cannot notify systemd: {error}");
        }
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new()
    }
}
