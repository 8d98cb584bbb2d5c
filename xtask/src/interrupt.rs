//! Waiting for Ctrl-C (SIGINT) or SIGTERM, so that a long-running task can
//! tear its lab down instead of dying with it.

use std::sync::mpsc::{Receiver, sync_channel};

use crate::Result;

/// An installed SIGINT/SIGTERM handler. Install it before building anything
/// that must be torn down: a signal that arrives meanwhile is kept and ends
/// the next [`Interrupt::wait`] at once. One per process.
pub struct Interrupt {
    signals: Receiver<()>,
}

impl Interrupt {
    /// Installs the handler; the default action (dying) no longer applies.
    pub fn install() -> Result<Self> {
        let (sender, signals) = sync_channel(1);
        ctrlc::set_handler(move || {
            // A full channel already holds a pending signal: nothing to add.
            let _ = sender.try_send(());
        })?;
        Ok(Self { signals })
    }

    /// Blocks until a signal has arrived.
    pub fn wait(&self) {
        // The handler keeps the sender forever, so this returns only on a signal.
        let _ = self.signals.recv();
    }
}
