//! One run of the client (§11.17 steps 2–4): resolve TARGET, open the
//! probers, drop privileges, check for a server, and hand the probers to
//! the engine: a trace (its progress on the terminal) or a survey.

use std::{io::IsTerminal, net::IpAddr, sync::Arc, sync::atomic::AtomicBool};

use log::info;
use reverse_tr_common::forward::FlowPlacement;

use crate::{
    cli::Error,
    cli::Result,
    cli::privileges::drop_privileges,
    cli::progress::Progress,
    cli::resolve::{local_address, resolve_target},
    cli::{Config, Job, LogLevel},
    trace::net::Pacer,
    trace::run::{Probers, TraceConfig, Traces, run_with},
    trace::survey::{SurveyTask, Surveys, run_surveys},
};

/// Runs the traces `config` asks for, their progress on the terminal.
/// Setting `stop` ends them after the batches in flight; what was found is
/// returned, flagged as interrupted.
pub(crate) async fn run(config: &Config, stop: &AtomicBool) -> Result<Traces> {
    let (target, local) = addresses(config).await?;
    let pacer = Arc::new(Pacer::new(config.trace.gap));
    let progress =
        Progress::new(std::io::stderr().is_terminal() && config.log_level != LogLevel::Debug);
    let placement = FlowPlacement::DestinationPort;
    let probers = probers(&config.trace, local, target, placement, &pacer).await?;
    let traces = run_with(
        &config.trace,
        probers,
        (local, target),
        stop,
        progress.as_ref(),
    )
    .await;
    progress.finish();
    Ok(traces?)
}

/// Runs the `paths` or `fault` job of `config` (nothing for a trace).
/// Setting `stop` ends it after the batches in flight.
pub(crate) async fn run_survey(config: &Config, stop: &AtomicBool) -> Result<Surveys> {
    let (task, port) = match &config.job {
        Job::Trace | Job::Live(_) => return Ok(Surveys(Vec::new())),
        Job::Paths { survey, port, .. } => (SurveyTask::Paths(survey), *port),
        Job::Fault { survey, port, .. } => (SurveyTask::Fault(survey), *port),
    };
    let (target, local) = addresses(config).await?;
    let pacer = Arc::new(Pacer::new(config.trace.gap));
    let placement = FlowPlacement::SourcePort {
        destination_port: port,
    };
    let probers = probers(&config.trace, local, target, placement, &pacer).await?;
    Ok(run_surveys(&config.trace, task, probers, (local, target), stop).await?)
}

/// TARGET's address and this host's address towards it.
pub(crate) async fn addresses(config: &Config) -> Result<(IpAddr, IpAddr)> {
    let (name, family) = (config.target.clone(), config.family);
    let target = tokio::task::spawn_blocking(move || resolve_target(&name, family))
        .await
        .map_err(|error| Error::Io(std::io::Error::other(error)))??;
    let local = local_address(target)?;
    info!("tracing {} ({target}) from {local}", config.target);
    Ok((target, local))
}

/// The probers of the directions `config` traces, forward flows placed as
/// `placement` says. Once their raw sockets are open the process drops its
/// privileges ([`drop_privileges`]); then the server on TARGET is checked
/// for (§11.5.3).
pub(crate) async fn probers(
    config: &TraceConfig,
    local: IpAddr,
    target: IpAddr,
    placement: FlowPlacement,
    pacer: &Arc<Pacer>,
) -> Result<Probers> {
    let probers = Probers::open(config, local, target, placement, pacer)?;
    drop_privileges()?;
    probers.check_presence().await?;
    Ok(probers)
}
