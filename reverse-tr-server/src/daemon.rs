//! The daemon's run loop: print session events, keep the sweeper alive,
//! stop on SIGINT/SIGTERM.

use std::time::Duration;

use reverse_tr_common::counter::Counter;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    error::Result,
    event::{self, Events},
    server::{Server, io_error},
};

/// How often the watchdog checks that the sweeper timer still ticks (it
/// ticks every 20 ms).
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

/// Serves until SIGINT or SIGTERM: logs every session event (target
/// `session`) and restarts the sweeper if its counter stops advancing.
pub async fn serve(server: &mut Server) -> Result<()> {
    let mut events = Events::new(server.take_events()?)?;
    // The sweep program logged while loading; later lines come when it is
    // rerun by the watchdog, so flushing after each watchdog check suffices.
    let mut logger = server.take_logger();
    if let Some(logger) = logger.as_mut() {
        logger.flush();
    }
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(io_error("installing the SIGINT handler"))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(io_error("installing the SIGTERM handler"))?;
    // The first check comes one period in, when the timer has ticked ~50 times.
    let mut watchdog = tokio::time::interval_at(
        tokio::time::Instant::now() + WATCHDOG_PERIOD,
        WATCHDOG_PERIOD,
    );
    let mut sweeps = server.counter(Counter::Sweeps)?;
    loop {
        tokio::select! {
            batch = events.next_batch(|event| log::info!(target: "session", "{}", event::line(&event))) => batch?,
            _ = watchdog.tick() => {
                let now = server.counter(Counter::Sweeps)?;
                if now == sweeps {
                    log::warn!("the sweeper timer stopped; restarting it (status {})", server.sweep()?);
                }
                sweeps = server.counter(Counter::Sweeps)?;
                if let Some(logger) = logger.as_mut() {
                    logger.flush();
                }
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    Ok(())
}

/// The counter summary printed on exit, one `name: value` per line.
pub fn summary(server: &Server) -> Result<String> {
    let lines: Vec<String> = server
        .counters()?
        .into_iter()
        .map(|(counter, value)| format!("{:>32}: {value}", counter.name()))
        .collect();
    Ok(lines.join("\n"))
}
