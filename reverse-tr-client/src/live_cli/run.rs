//! A `live` run: discover the path of each direction asked for (as a trace
//! would), then monitor it, showing the state in the terminal or printing
//! it when done (or per cycle, `--jsonl`).

use std::{
    io::{IsTerminal, Write},
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use log::info;
use reverse_tr_common::forward::FlowPlacement;

use super::args::{LiveJob, LiveOutput};
use crate::{
    Error, Result,
    cli::{Config, Directions},
    discovery::discover,
    dns::{Names, ReverseDns, TOTAL_TIMEOUT},
    graph::Trace,
    live::{Control, LivePath, Snapshot, Watched, monitor},
    live_view::{render_csv, render_report, snapshot_json, snapshot_line},
    net::Pacer,
    probe::Prober,
    run::{addresses, forward_prober, reverse_prober},
};

/// Runs `job`; Ctrl-C ends discovery or monitoring early (a report is
/// still printed, and the exit status says interrupted).
pub async fn run_live(config: &Config, job: &LiveJob) -> Result<()> {
    if job.output == LiveOutput::Terminal && !std::io::stdout().is_terminal() {
        return Err(Error::Io(std::io::Error::other(
            "the live view needs a terminal; use --report (or --json, --csv, --jsonl)",
        )));
    }
    let (target, local) = addresses(config).await?;
    let pacer = Arc::new(Pacer::new(config.gap));
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
    control: &Control,
) -> Result<()> {
    let forward = match config.directions {
        Directions::Reverse => None,
        _ => Some(forward_prober(
            config,
            local,
            target,
            FlowPlacement::DestinationPort,
            pacer,
        )?),
    };
    let reverse = match config.directions {
        Directions::Forward => None,
        _ => Some(reverse_prober(config, local, target, pacer).await?),
    };
    info!("discovering the path(s) to monitor");
    let (forward_trace, reverse_trace) = tokio::try_join!(
        find(forward.as_ref(), config, local, target, stop),
        find(reverse.as_ref(), config, target, local, stop),
    )?;
    if stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    let max_ttl = config.params.max_ttl;
    let forward = forward
        .as_ref()
        .zip(forward_trace)
        .map(|(prober, trace)| watched(prober, &trace, target, max_ttl));
    let reverse = reverse
        .as_ref()
        .zip(reverse_trace)
        .map(|(prober, trace)| watched(prober, &trace, local, max_ttl));
    info!("monitoring, a cycle every {:?}", job.settings.interval);
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

/// Discovers one direction's path, if it is monitored.
async fn find<P: Prober>(
    prober: Option<&P>,
    config: &Config,
    root: IpAddr,
    destination: IpAddr,
    stop: &AtomicBool,
) -> Result<Option<Trace>> {
    match prober {
        Some(prober) => discover(prober, &config.params, root, Some(destination), stop)
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// The names of every address in `snapshot` (none with `-n`).
async fn names(config: &Config, snapshot: &Snapshot) -> Names {
    if config.no_resolve {
        return Names::new();
    }
    let addresses: std::collections::BTreeSet<IpAddr> = snapshot
        .paths()
        .flat_map(|(_, path)| path.hops())
        .flat_map(|hop| &hop.vertices)
        .filter_map(|vertex| vertex.address)
        .collect();
    match ReverseDns::system() {
        Some(dns) => dns.names(addresses, TOTAL_TIMEOUT).await,
        None => Names::new(),
    }
}
