//! One run of the client (§11.17 steps 2–4): resolve TARGET, open the
//! probers, check for a server, and discover forward and/or reverse —
//! in a two-way run both at the same time.

use std::{io::IsTerminal, net::IpAddr, sync::Arc, sync::atomic::AtomicBool};

use log::info;
use reverse_tr_common::{Family, forward::FlowPlacement, policy::request_padding};

use crate::{
    Error, Result,
    cli::privileges::drop_privileges,
    cli::progress::Progress,
    cli::resolve::{local_address, resolve_target},
    cli::{Config, Directions, LogLevel},
    trace::discovery::discover,
    trace::forward::{self, ForwardProber},
    trace::graph::{Direction, Trace},
    trace::net::Pacer,
    trace::probe::ErrorState,
    trace::reverse::{self, ReverseProber, check_presence},
};

/// What a run found.
#[derive(Debug)]
pub struct Traces {
    pub target: IpAddr,
    pub local: IpAddr,
    pub forward: Option<Trace>,
    pub reverse: Option<Trace>,
}

impl Traces {
    /// True if Ctrl-C cut a trace short.
    pub fn interrupted(&self) -> bool {
        self.all().any(Trace::interrupted)
    }

    /// The error states the server refused requests with, and how often.
    pub fn refusals(&self) -> impl Iterator<Item = (ErrorState, u32)> + '_ {
        self.reverse.iter().flat_map(|trace| {
            trace
                .refusals()
                .iter()
                .map(|(&state, &count)| (state, count))
        })
    }

    /// The traces with their directions, forward first.
    pub fn labelled(&self) -> Vec<(Direction, &Trace)> {
        let forward = self.forward.iter().map(|trace| (Direction::Forward, trace));
        forward
            .chain(self.reverse.iter().map(|trace| (Direction::Reverse, trace)))
            .collect()
    }

    fn all(&self) -> impl Iterator<Item = &Trace> {
        self.forward.iter().chain(self.reverse.iter())
    }
}

/// Runs the traces `config` asks for. Setting `stop` ends them after the
/// batches in flight; what was found is returned, flagged as interrupted.
pub async fn run(config: &Config, stop: &AtomicBool) -> Result<Traces> {
    let (target, local) = addresses(config).await?;
    let pacer = Arc::new(Pacer::new(config.gap));
    let params = &config.params;
    let progress =
        Progress::new(std::io::stderr().is_terminal() && config.log_level != LogLevel::Debug);
    let placement = FlowPlacement::DestinationPort;
    let (forward_prober, reverse_prober) =
        probers(config, local, target, placement, &pacer).await?;
    let forward = async {
        match forward_prober {
            None => Ok(None),
            Some(prober) => {
                let prober = progress.counting(Direction::Forward, prober);
                discover(&prober, params, local, Some(target), stop)
                    .await
                    .map(Some)
            }
        }
    };
    let reverse = async {
        match reverse_prober {
            None => Ok(None),
            Some(prober) => {
                let prober = progress.counting(Direction::Reverse, prober);
                discover(&prober, params, target, Some(local), stop)
                    .await
                    .map(Some)
            }
        }
    };
    // Both directions at once; the first error ends the run.
    let traces = tokio::try_join!(forward, reverse);
    progress.finish();
    let (forward, reverse) = traces?;
    Ok(Traces {
        target,
        local,
        forward,
        reverse,
    })
}

/// TARGET's address and this host's address towards it.
pub async fn addresses(config: &Config) -> Result<(IpAddr, IpAddr)> {
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
pub async fn probers(
    config: &Config,
    local: IpAddr,
    target: IpAddr,
    placement: FlowPlacement,
    pacer: &Arc<Pacer>,
) -> Result<(Option<ForwardProber>, Option<ReverseProber>)> {
    let forward = match config.directions {
        Directions::Reverse => None,
        _ => Some(forward::prober(
            local,
            target,
            config.protocol,
            placement,
            Arc::clone(pacer),
            config.timeout,
        )?),
    };
    let reverse = match config.directions {
        Directions::Forward => None,
        _ => Some(reverse::prober(
            local,
            target,
            config.protocol.number(Family::of(target)),
            // Never less than makes the request padded: a server on the
            // Internet serves unpadded requests (the reference client's)
            // from a small budget only (§10.1), and deployed reference
            // servers ignore padding.
            usize::from(config.padding).max(request_padding(
                Family::of(target),
                config.protocol.number(Family::of(target)),
            )),
            Arc::clone(pacer),
            config.timeout,
        )?),
    };
    drop_privileges()?;
    if let Some(prober) = &reverse {
        check_presence(prober).await?;
    }
    Ok((forward, reverse))
}
