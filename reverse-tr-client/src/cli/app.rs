//! The app's edge: the `reverse-tr` command from parsing to its exit
//! status. Errors end as one line `reverse-tr: <message>` on stderr and the
//! exit status of `Error::exit_code` (the table is in `--help`).

use std::{
    ffi::OsString,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use clap::{CommandFactory, Parser, error::ErrorKind};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::{
    cli::Error,
    cli::dns,
    cli::endpoints,
    cli::live::run_live,
    cli::progress::Logger,
    cli::run::{run, run_survey},
    cli::usage::usage_error,
    cli::{Cli, Config, Job, LogLevel},
    output::aliases,
    output::measurement::Measurement,
    output::show,
    output::submit,
    output::write_stdout,
    output::{Layout, Names, Run, SurveyView, render_surveys},
    trace::survey::Surveys,
};

/// The `reverse-tr` command: parses the command line, runs it, and ends
/// with its exit status.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error, &args),
    };
    if cli.options.list_endpoints {
        return list_endpoints();
    }
    let config = match cli.config() {
        Ok(config) => config,
        Err(message) => {
            let error = Cli::command().error(ErrorKind::ArgumentConflict, message);
            return usage_error(&error, &args);
        }
    };
    // A bad collector URL is a usage error, found before any probe is sent.
    let collector = match &config.transmit {
        Some(options) => match submit::Collector::configured(options.collector.as_deref(), |name| {
            std::env::var(name).ok()
        }) {
            Ok(collector) => Some(collector),
            Err(error) => {
                eprintln!("reverse-tr: {error}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    init_logging(config.log_level);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Io)
        .and_then(|runtime| runtime.block_on(trace(&config, collector.as_ref())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reverse-tr: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs the traces, with Ctrl-C, SIGTERM or SIGHUP ending them early, and
/// prints them.
async fn trace(config: &Config, collector: Option<&submit::Collector>) -> Result<(), Error> {
    if let Job::Live(job) = &config.job {
        return run_live(config, job).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = tokio::spawn(on_interrupt(Interruptions::new()?, Arc::clone(&stop)));
    if config.job != Job::Trace {
        let surveys = run_survey(config, &stop).await;
        interrupt.abort();
        return show_surveys(&config.job, &surveys?);
    }
    let started = std::time::SystemTime::now();
    let traces = run(config, &stop).await;
    interrupt.abort();
    let traces = traces?;
    let names = if config.no_resolve {
        Names::new()
    } else {
        dns::lookup(traces.labelled().into_iter().map(|(_, trace)| trace)).await
    };
    if let Some(path) = &config.aliases_file {
        aliases::write_aliases(&traces, path)?;
    }
    let run = Run {
        target: &config.target,
        config: &config.trace,
        traces: &traces,
        names: &names,
    };
    show::print_report(&config.output, run, started)?;
    show::store_json(&config.output, run)?;
    if let (Some(options), Some(collector)) = (&config.transmit, collector) {
        let body = Measurement::new(&config.target, &config.trace, &traces.labelled(), &names)
            .to_json()?;
        submit::transmit(collector, options, body.as_bytes()).await;
    }
    show::draw(&config.output, run)?;
    if traces.interrupted() {
        return Err(Error::Interrupted);
    }
    // The first refusal stands for all: one state is the usual cause.
    if let Some((state, count)) = traces.refusals().next() {
        log::warn!("the server refused {count} request(s): {state}");
        return Err(Error::refused(state));
    }
    Ok(())
}

/// Prints the reports of a `paths` or `fault` run.
fn show_surveys(job: &Job, surveys: &Surveys) -> Result<(), Error> {
    let view = match job {
        Job::Fault { json: true, .. } => SurveyView::FaultJson,
        Job::Paths { layout, .. } => SurveyView::Text(*layout),
        Job::Trace | Job::Fault { .. } | Job::Live(_) => SurveyView::Text(Layout::Horizontal),
    };
    write_stdout(&render_surveys(surveys, view)?)?;
    if surveys.interrupted() {
        return Err(Error::Interrupted);
    }
    Ok(())
}

/// First Ctrl-C, SIGTERM or SIGHUP: finish the probes in flight and print
/// what was found. Second: leave at once.
/// The handlers are in place before the trace starts (`signals`).
async fn on_interrupt(mut signals: Interruptions, stop: Arc<AtomicBool>) {
    signals.next().await;
    stop.store(true, Ordering::Relaxed);
    eprintln!(
        "reverse-tr: interrupted; finishing the probes in flight (Ctrl-C again to quit at once)"
    );
    signals.next().await;
    std::process::exit(i32::from(Error::Interrupted.exit_code()));
}

/// The signals that interrupt a trace.
struct Interruptions([Signal; 3]);

impl Interruptions {
    fn new() -> std::io::Result<Self> {
        Ok(Self([
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ]))
    }

    /// Waits for the next of them.
    async fn next(&mut self) {
        let [interrupt, terminate, hangup] = &mut self.0;
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    }
}

fn list_endpoints() -> ExitCode {
    let listed = endpoints::shipped()
        .map_err(Error::from)
        .and_then(|list| Ok(write_stdout(&endpoints::table(&list))?));
    match listed {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reverse-tr: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn init_logging(level: LogLevel) {
    let filter = match level {
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warning => log::LevelFilter::Warn,
    };
    let logger = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .filter_module("reverse_tr_client", filter)
        .format_timestamp(None)
        .format_target(false)
        .build();
    log::set_max_level(logger.filter());
    // Only fails if a logger is already set, which nothing else does.
    let _ = log::set_boxed_logger(Box::new(Logger(logger)));
}
