//! The daemon's run loop: print session events, keep the sweeper alive,
//! re-read the policy on SIGHUP, serve metrics, stop on SIGINT/SIGTERM.

use std::{sync::Arc, time::Duration};

use reverse_tr_common::counter::Counter;
use tokio::{
    net::TcpListener,
    signal::unix::{Signal, SignalKind, signal},
    sync::Semaphore,
};

use crate::{
    counters::{Counters, Totals},
    error::{Error, Result},
    event::{self, Events},
    metrics,
    policy::Sources,
    server::{Server, io_error},
};

/// How often the watchdog checks that the sweeper timer still ticks (it
/// ticks every 20 ms).
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

/// How often the daemon logs the requests (and forged answers) it refused,
/// if it refused any, and the session events lost to a full ring buffer.
const SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// The signals the daemon acts on, caught from installation on: installed
/// before the program is attached, a SIGTERM right after attaching still
/// detaches it and prints the counters instead of killing the daemon.
#[derive(Debug)]
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    /// Installs the handlers; call within the daemon's tokio runtime.
    pub fn install() -> Result<Self> {
        let install = |kind: SignalKind, what: &'static str| signal(kind).map_err(io_error(what));
        Ok(Self {
            interrupt: install(SignalKind::interrupt(), "installing the SIGINT handler")?,
            terminate: install(SignalKind::terminate(), "installing the SIGTERM handler")?,
            hangup: install(SignalKind::hangup(), "installing the SIGHUP handler")?,
        })
    }
}

/// What the daemon serves besides the program.
#[derive(Debug)]
pub struct Options {
    /// Where the policy comes from, re-read on SIGHUP.
    pub sources: Sources,
    /// The bound `--metrics` socket.
    pub metrics: Option<std::net::TcpListener>,
    /// SIGINT/SIGTERM stop, SIGHUP reloads.
    pub signals: Signals,
}

/// Serves until SIGINT or SIGTERM: logs every session event (target
/// `session`), restarts the sweeper if its counter stops advancing,
/// re-applies the policy on SIGHUP and answers metrics scrapes.
pub async fn serve(server: &mut Server, options: Options) -> Result<()> {
    let mut events = Events::new(server.take_events()?)?;
    // The sweep program logged while loading; later lines come when it is
    // rerun by the watchdog, so flushing after each watchdog check suffices.
    let mut logger = server.take_logger();
    if let Some(logger) = logger.as_mut() {
        logger.flush();
    }
    let Signals {
        mut interrupt,
        mut terminate,
        mut hangup,
    } = options.signals;
    let metrics = match options.metrics {
        Some(listener) => {
            listener
                .set_nonblocking(true)
                .map_err(io_error("the metrics socket"))?;
            Some(TcpListener::from_std(listener).map_err(io_error("the metrics socket"))?)
        }
        None => None,
    };
    // The first check comes one period in, when the timer has ticked ~50 times.
    let mut watchdog = tokio::time::interval_at(
        tokio::time::Instant::now() + WATCHDOG_PERIOD,
        WATCHDOG_PERIOD,
    );
    let mut sweeps = server.counter(Counter::Sweeps)?;
    let counters = server.counter_handle();
    let scrapes = Arc::new(Semaphore::new(metrics::CONCURRENT_SCRAPES));
    let mut refusals =
        tokio::time::interval_at(tokio::time::Instant::now() + SUMMARY_PERIOD, SUMMARY_PERIOD);
    let mut last = counters.totals()?;
    loop {
        tokio::select! {
            batch = events.next_batch(log_event) => batch?,
            _ = watchdog.tick() => {
                if let Err(error) = watch(server, &mut sweeps) {
                    log::error!("watchdog: {error}");
                }
                if let Some(logger) = logger.as_mut() {
                    logger.flush();
                }
            }
            _ = refusals.tick() => log_refusals(&counters, &mut last),
            _ = hangup.recv() => reload(server, &options.sources),
            accepted = accept(metrics.as_ref()) => match (accepted, scrapes.clone().try_acquire_owned()) {
                (Ok((stream, _)), Ok(permit)) => {
                    let counters = counters.clone();
                    tokio::spawn(async move {
                        metrics::respond(stream, counters).await;
                        drop(permit);
                    });
                }
                (Ok(_), Err(_)) => log::debug!("metrics: too many scrapes at once; connection closed"),
                (Err(error), _) => log::debug!("metrics: accepting a connection: {error}"),
            },
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    // Events since the sweeper last woke us (at most one tick's worth).
    events.drain(log_event);
    Ok(())
}

/// Restarts the sweeper timer if the sweep counter has not moved since
/// `sweeps`, which it updates.
fn watch(server: &Server, sweeps: &mut u64) -> Result<()> {
    if server.counter(Counter::Sweeps)? == *sweeps {
        log::warn!(
            "the sweeper timer stopped; restarting it (status {})",
            server.sweep()?
        );
    }
    *sweeps = server.counter(Counter::Sweeps)?;
    Ok(())
}

/// Logs the refusals and lost events counted since `last`, which it
/// updates.
fn log_refusals(counters: &Counters, last: &mut Totals) {
    let now = match counters.totals() {
        Ok(now) => now,
        Err(error) => return log::warn!("reading the counters: {error}"),
    };
    let period = SUMMARY_PERIOD.as_secs();
    if let Some(refusals) = now.refusals_since(last) {
        log::info!("refused in the last {period} s: {refusals}");
    }
    let lost = now
        .get(Counter::EventsLost)
        .saturating_sub(last.get(Counter::EventsLost));
    if lost > 0 {
        log::warn!("{lost} session events lost to a full ring buffer in the last {period} s");
    }
    *last = now;
}

/// One session event as one log line (target `session`).
fn log_event(event: reverse_tr_common::event::Event) {
    log::info!(target: "session", "{}", event::line(&event));
}

/// Re-reads and applies the policy; a bad file or a failed write keeps
/// the one in force (unless undoing the write failed too, which the error
/// says).
fn reload(server: &mut Server, sources: &Sources) {
    let applied = sources
        .read()
        .and_then(|(policy, lists)| server.apply(&policy, &lists));
    match applied {
        Ok(changes) if changes.is_empty() => log::info!("SIGHUP: policy reloaded, lists unchanged"),
        Ok(changes) => {
            let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
            log::info!("SIGHUP: policy reloaded: {}", changes.join(", "));
        }
        Err(error @ Error::PolicyTorn { .. }) => log::error!("SIGHUP: {error}"),
        Err(error) => log::error!("SIGHUP: {error}; keeping the policy in force"),
    }
}

/// The next metrics connection; never ready without a socket.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
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
