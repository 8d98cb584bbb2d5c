//! A `live` run: discover the path of each direction asked for (as a trace
//! would), then monitor it, showing the state in the terminal or printing
//! it when done (or per cycle, `--jsonl`).

use std::{
    io::{IsTerminal, Write},
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use log::info;
use reverse_tr_common::forward::FlowPlacement;

use tokio::sync::watch;

use super::{
    args::{LiveJob, LiveOutput},
    terminal,
};
use crate::{
    cli::Config,
    cli::Error,
    cli::Result,
    cli::dns::{ReverseDns, TOTAL_TIMEOUT},
    cli::run::{addresses, probers},
    output::Names,
    output::live::{ViewOptions, render_csv, render_report, snapshot_json, snapshot_line},
    trace::discovery::discover,
    trace::graph::Trace,
    trace::live::{Control, LivePath, Snapshot, Watched, monitor},
    trace::net::Pacer,
    trace::probe::Prober,
    trace::run::{Directions, Probers},
};

/// Runs `job`; Ctrl-C ends discovery or monitoring early (a report is
/// still printed, and the exit status says interrupted).
pub(crate) async fn run_live(config: &Config, job: &LiveJob) -> Result<()> {
    if job.output == LiveOutput::Terminal && !std::io::stdout().is_terminal() {
        return Err(Error::Io(std::io::Error::other(
            "the live view needs a terminal; use --report (or --json, --csv, --jsonl)",
        )));
    }
    let (target, local) = addresses(config).await?;
    let pacer = Arc::new(Pacer::new(config.trace.gap));
    let stop = Arc::new(AtomicBool::new(false));
    let control = Arc::new(Control::default());
    let interrupt = tokio::spawn({
        let (stop, control) = (Arc::clone(&stop), Arc::clone(&control));
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
                control.stop();
            }
        }
    });
    let result = watch(config, job, target, local, &pacer, &stop, &control).await;
    interrupt.abort();
    result?;
    if stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

async fn watch(
    config: &Config,
    job: &LiveJob,
    target: IpAddr,
    local: IpAddr,
    pacer: &Arc<Pacer>,
    stop: &AtomicBool,
    control: &Arc<Control>,
) -> Result<()> {
    let Probers { forward, reverse } = probers(
        &config.trace,
        local,
        target,
        FlowPlacement::DestinationPort,
        pacer,
    )
    .await?;
    info!("discovering the path(s) to monitor");
    let (forward_trace, reverse_trace) = tokio::try_join!(
        find(forward.as_ref(), config, local, target, stop),
        find(reverse.as_ref(), config, target, local, stop),
    )?;
    if stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    let max_ttl = config.trace.params.max_ttl;
    let forward = forward
        .as_ref()
        .zip(forward_trace)
        .map(|(prober, trace)| watched(prober, &trace, target, max_ttl));
    let reverse = reverse
        .as_ref()
        .zip(reverse_trace)
        .map(|(prober, trace)| watched(prober, &trace, local, max_ttl));
    info!("monitoring, a cycle every {:?}", job.settings.interval);
    if job.output == LiveOutput::Terminal {
        return watch_in_terminal(config, job, forward, reverse, control).await;
    }
    let mut stdout = std::io::stdout().lock();
    let snapshot = match job.output {
        LiveOutput::JsonLines => {
            monitor(forward, reverse, job.settings, control, |snapshot| {
                let written =
                    snapshot_line(snapshot).and_then(|line| Ok(stdout.write_all(line.as_bytes())?));
                if written.is_err() {
                    // Whoever read the lines is gone.
                    control.stop();
                }
            })
            .await?
        }
        _ => monitor(forward, reverse, job.settings, control, |_| {}).await?,
    };
    let names = names(config, &snapshot).await;
    let names = Some(&names);
    let text = match job.output {
        LiveOutput::Text | LiveOutput::Terminal => render_report(&snapshot, names),
        LiveOutput::Json => snapshot_json(&snapshot)?,
        LiveOutput::Csv => render_csv(&snapshot, names),
        LiveOutput::JsonLines => String::new(),
    };
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn watched<'a, P>(
    prober: &'a P,
    trace: &Trace,
    destination: IpAddr,
    max_ttl: u8,
) -> Watched<'a, P> {
    Watched {
        prober,
        path: LivePath::from_trace(trace, Some(destination), max_ttl),
    }
}

/// The terminal view until the user quits (or monitoring ends), then the
/// final tables on stdout, which stay in the scrollback.
async fn watch_in_terminal<F: Prober, R: Prober>(
    config: &Config,
    job: &LiveJob,
    forward: Option<Watched<'_, F>>,
    reverse: Option<Watched<'_, R>>,
    control: &Arc<Control>,
) -> Result<()> {
    let start = Snapshot {
        cycle: 0,
        elapsed: std::time::Duration::ZERO,
        forward: forward.as_ref().map(|watched| watched.path.clone()),
        reverse: reverse.as_ref().map(|watched| watched.path.clone()),
    };
    let (sender, receiver) = watch::channel(start);
    let names = Arc::new(Mutex::new(Names::new()));
    let lookups = (!config.no_resolve)
        .then(|| tokio::spawn(terminal::resolve(receiver.clone(), Arc::clone(&names))));
    let view = ViewOptions {
        title: format!(
            "{} {} {}",
            directions(config.trace.directions),
            protocol(config),
            config.target
        ),
        names: !config.no_resolve,
        ..ViewOptions::default()
    };
    // Log lines would scribble over the view.
    let level = log::max_level();
    log::set_max_level(log::LevelFilter::Off);
    let ui = tokio::task::spawn_blocking({
        let (control, names) = (Arc::clone(control), Arc::clone(&names));
        move || terminal::show(&receiver, &control, &names, view)
    });
    let monitored = monitor(forward, reverse, job.settings, control, |snapshot| {
        sender.send_replace(snapshot.clone());
    })
    .await;
    control.stop();
    let shown = ui.await.map_err(std::io::Error::other);
    log::set_max_level(level);
    if let Some(lookups) = lookups {
        lookups.abort();
    }
    shown??;
    let snapshot = monitored?;
    let names = names.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(render_report(&snapshot, Some(&names)).as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn directions(directions: Directions) -> &'static str {
    match directions {
        Directions::Forward => "forward",
        Directions::Reverse => "reverse",
        Directions::TwoWay => "two-way",
    }
}

fn protocol(config: &Config) -> &'static str {
    match config.trace.protocol {
        reverse_tr_common::ProbeProtocol::Udp => "udp",
        reverse_tr_common::ProbeProtocol::Tcp => "tcp",
        reverse_tr_common::ProbeProtocol::Icmp => "icmp",
    }
}

/// Discovers one direction's path, if it is monitored.
async fn find<P: Prober>(
    prober: Option<&P>,
    config: &Config,
    root: IpAddr,
    destination: IpAddr,
    stop: &AtomicBool,
) -> Result<Option<Trace>> {
    match prober {
        Some(prober) => Ok(Some(
            discover(prober, &config.trace.params, root, Some(destination), stop).await?,
        )),
        None => Ok(None),
    }
}

/// The names of every address in `snapshot` (none with `-n`).
async fn names(config: &Config, snapshot: &Snapshot) -> Names {
    if config.no_resolve {
        return Names::new();
    }
    let addresses: std::collections::BTreeSet<IpAddr> = snapshot.addresses().collect();
    match ReverseDns::system() {
        Some(dns) => dns.names(addresses, TOTAL_TIMEOUT).await,
        None => Names::new(),
    }
}
