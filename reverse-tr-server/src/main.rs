//! `reverse-tr-server`: attach the reverse-traceroute server to interfaces
//! and log its sessions until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use reverse_tr_common::policy::Policy;
use reverse_tr_server::{
    Config, Error, Server, attach,
    cli::Cli,
    daemon,
    local::{Interface, Watcher},
    logger,
    policy::describe,
    systemd::{self, Notifier},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::init(cli.log_level);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reverse-tr-server: {error}");
            if let (true, Some(Error::Verifier { log, .. })) =
                (cli.verbose, error.downcast_ref::<Error>())
            {
                eprintln!("{log}");
            }
            let code = error.downcast_ref::<Error>().map_or(1, Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let config = cli.config();
    let sources = cli.sources()?;
    let (policy, lists) = sources.read()?;
    // Taken (or bound) before loading, so a bad or taken socket fails
    // before anything else; a single thread runs yet, as
    // systemd::metrics_socket needs.
    let metrics = match (systemd::metrics_socket()?, cli.metrics) {
        (Some(_), Some(address)) => {
            return Err(Error::Config(format!(
                "--metrics {address} and a socket passed by systemd: use one of them"
            ))
            .into());
        }
        (Some(passed), None) => Some(passed),
        (None, Some(address)) => Some(
            std::net::TcpListener::bind(address)
                .map_err(|error| anyhow::anyhow!("metrics address {address}: {error}"))?,
        ),
        (None, None) => None,
    };
    if let Some(address) = metrics.as_ref().and_then(|socket| socket.local_addr().ok()) {
        log::info!("metrics on http://{address}/metrics");
    }
    let interfaces = cli
        .interfaces
        .iter()
        .map(|name| Interface::named(name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut server = Server::load(config)?;
    server.apply(&policy, &lists)?;
    log::info!(
        "session timeout {:?}, at most {} sessions",
        config.timeout,
        config.max_sessions
    );
    warn_if_fillable(&policy, config);
    log::info!(
        "policy: {}; {} allowed, {} denied prefixes",
        describe(&policy),
        lists.allow.len(),
        lists.deny.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (signals, mut addresses) = {
        let _context = runtime.enter();
        let addresses = Watcher::new(server.take_local_addresses()?, interfaces)?;
        (daemon::Signals::install()?, addresses)
    };
    // Requests are served only to the interfaces' addresses: in the map
    // before the program sees its first packet.
    runtime.block_on(addresses.refresh())?;
    for interface in &cli.interfaces {
        let hook = attach(&mut server, interface)?;
        log::info!("serving on {interface} ({hook})");
    }
    runtime.spawn(addresses.run());
    let notifier = Notifier::new();
    notifier.ready(&format!("serving on {}", cli.interfaces.join(", ")));
    runtime.block_on(daemon::serve(
        &mut server,
        daemon::Options {
            sources,
            metrics,
            signals,
            notifier,
            summary_every: cli.summary_every,
        },
    ))?;
    notifier.stopping();
    log::info!("stopping; counters: {}", daemon::summary(&server)?);
    // Dropping the server detaches the program from every interface.
    drop(server);
    Ok(())
}

/// Warns when the session limits let a flood fill the table.
fn warn_if_fillable(policy: &Policy, config: Config) {
    if !policy.sessions.is_on() {
        return log::warn!("no --session-rate: a flood from spoofed sources can fill the table");
    }
    let fill = u128::from(policy.sessions.per_second) * config.timeout.as_millis() / 1000
        + u128::from(policy.sessions.burst);
    if fill > u128::from(config.max_sessions) {
        log::warn!(
            "--session-rate × timeout + --session-burst = {fill} sessions: a flood can fill the table"
        );
    }
}
