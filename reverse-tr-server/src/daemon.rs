//! The daemon's run loop: log session events (debug) and a periodic
//! summary (info), keep the sweeper alive and tell systemd's watchdog,
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
    systemd::Notifier,
};

/// How often the watchdog checks that the sweeper timer still ticks (it
/// ticks every 20 ms).
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

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
    /// The metrics socket: bound for `--metrics`, or passed by systemd.
    pub metrics: Option<std::net::TcpListener>,
    /// SIGINT/SIGTERM stop, SIGHUP reloads.
    pub signals: Signals,
    /// Pinged on every watchdog check.
    pub notifier: Notifier,
    /// How often the counters are summed up at info (zero: never).
    pub summary_every: Duration,
}

/// Serves until SIGINT or SIGTERM: logs every session event at debug
/// (target `session`) and a summary of the counters every
/// `summary_every` at info, restarts the sweeper if its counter stops
/// advancing, pings systemd's watchdog, re-applies the policy on SIGHUP
/// and answers metrics scrapes.
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
    let mut summary = Summary::new(options.summary_every, counters.clone());
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
                options.notifier.ping();
            }
            _ = summary.tick() => summary.log(),
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

/// One session event as one log line (target `session`), at debug: a
/// flood of requests must not flood the log with requesters' addresses;
/// the counters and the periodic summary say how many there were.
fn log_event(event: reverse_tr_common::event::Event) {
    log::debug!(target: "session", "{}", event::line(&event));
}

/// The periodic summary: what the counters moved by since the last one,
/// one line at info, and a warning when session events were lost.
struct Summary {
    timer: Option<tokio::time::Interval>,
    every: Duration,
    counters: Counters,
    last: Totals,
}

impl Summary {
    /// Counting from the program's load (its counters start at zero, and
    /// requests may arrive as soon as it is attached, before this runs).
    fn new(every: Duration, counters: Counters) -> Self {
        let timer = (!every.is_zero())
            .then(|| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
        Self {
            timer,
            every,
            counters,
            last: Totals(Counter::ALL.iter().map(|counter| (*counter, 0)).collect()),
        }
    }

    /// The next summary is due; never without a period.
    async fn tick(&mut self) {
        match self.timer.as_mut() {
            Some(timer) => {
                timer.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Logs what moved (nothing when nothing did: an idle server stays
    /// quiet), with the sessions pending.
    fn log(&mut self) {
        let now = match self.counters.totals() {
            Ok(now) => now,
            Err(error) => return log::warn!("reading the counters: {error}"),
        };
        let every = self.every;
        if let Some(moved) = now.moved_since(&self.last) {
            let pending = now.active_sessions();
            log::info!("in the last {every:?}: {moved}; {pending} sessions pending");
        }
        let lost = now
            .get(Counter::EventsLost)
            .saturating_sub(self.last.get(Counter::EventsLost));
        if lost > 0 {
            log::warn!("{lost} session events lost to a full ring buffer in the last {every:?}");
        }
        self.last = now;
    }
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

/// The counter summary logged on exit, one line (one journal entry):
/// `requests 3, probes 2, …`.
pub fn summary(server: &Server) -> Result<String> {
    let counts: Vec<String> = server
        .counters()?
        .iter()
        .map(|(counter, value)| format!("{} {value}", counter.name()))
        .collect();
    Ok(counts.join(", "))
}
