//! `reverse-tr-server`: attach the reverse-traceroute server to interfaces
//! and log its sessions until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use reverse_tr_server::{
    Error, Server, attach,
    cli::Cli,
    daemon, logger,
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
    // before anything else; a single thread runs yet, as systemd::metrics_socket needs.
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
    let mut server = Server::load(config)?;
    server.apply(&policy, &lists)?;
    log::info!(
        "session timeout {:?}, at most {} sessions",
        config.timeout,
        config.max_sessions
    );
    log::info!(
        "policy: {}; {} allowed, {} denied prefixes",
        describe(&policy),
        lists.allow.len(),
        lists.deny.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = {
        let _context = runtime.enter();
        daemon::Signals::install()?
    };
    for interface in &cli.interfaces {
        let hook = attach(&mut server, interface)?;
        log::info!("serving on {interface} ({hook})");
    }
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
