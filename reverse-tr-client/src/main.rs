//! `reverse-tr`: the command line over the client library. Errors end as
//! one line `reverse-tr: <message>` on stderr and the exit status of
//! `Error::exit_code` (the table is in `--help`).

use std::{
    collections::HashMap,
    ffi::OsString,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use clap::{CommandFactory, Parser, error::ErrorKind};
use reverse_tr_client::{
    Error, aliases,
    cli::{Cli, Config, Job, LogLevel},
    dns, endpoints,
    live_cli::run_live,
    measurement::Measurement,
    output, progress,
    run::run,
    state_meaning, submit,
    survey::{Surveys, run_survey},
    write_stdout,
};
use tokio::signal::unix::{Signal, SignalKind, signal};

fn main() -> ExitCode {
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
        return show_surveys(config, &surveys?);
    }
    let started = std::time::SystemTime::now();
    let traces = run(config, &stop).await;
    interrupt.abort();
    let traces = traces?;
    let names = if config.no_resolve {
        HashMap::new()
    } else {
        dns::lookup(traces.labelled().into_iter().map(|(_, trace)| trace)).await
    };
    if let Some(path) = &config.aliases_file {
        aliases::write_aliases(&traces, path)?;
    }
    output::print_report(config, &traces, &names, started)?;
    output::store_json(config, &traces, &names)?;
    if let (Some(options), Some(collector)) = (&config.transmit, collector) {
        let body = Measurement::new(config, &traces.labelled(), &names).to_json()?;
        submit::transmit(collector, options, body.as_bytes()).await;
    }
    output::draw(config, &traces, &names)?;
    if traces.interrupted() {
        return Err(Error::Interrupted);
    }
    // The first refusal stands for all: one state is the usual cause.
    if let Some((state, count)) = traces.refusals().next() {
        log::warn!(
            "the server refused {count} request(s): {}",
            state_meaning(state)
        );
        return Err(Error::Refused { state });
    }
    Ok(())
}

/// Prints the reports of a `paths` or `fault` run.
fn show_surveys(config: &Config, surveys: &Surveys) -> Result<(), Error> {
    write_stdout(&surveys.render(&config.job)?)?;
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

/// A command-line error in at most two lines: what is wrong, then how to
/// fix it (clap's own text runs to seven). Help and version go out whole.
fn usage_error(error: &clap::Error, args: &[OsString]) -> ExitCode {
    if !error.use_stderr() {
        // --help, --version: clap prints them (to stdout) and exits 0.
        error.exit();
    }
    let text = error.render().to_string();
    // clap's paragraphs: the error (maybe over several lines), then a
    // tip, the usage and a pointer to --help.
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|paragraph| {
            let lines: Vec<&str> = paragraph.lines().map(str::trim).collect();
            lines.join(" ")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .collect();
    let what = paragraphs
        .first()
        .map_or("", |first| first.strip_prefix("error: ").unwrap_or(first));
    let fix = padding_hint(args)
        .or_else(|| {
            paragraphs
                .iter()
                .find_map(|p| p.strip_prefix("tip: ").map(str::to_owned))
        })
        .or_else(|| {
            paragraphs
                .iter()
                .find_map(|p| p.strip_prefix("Usage: "))
                .map(|usage| format!("usage: {usage} (more in --help)"))
        });
    eprintln!("reverse-tr: {what}");
    if let Some(fix) = fix {
        eprintln!("  {fix}");
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}

/// `--padding 24`: the value is optional, so clap reads 24 as the next
/// word of the command line; say how to write it.
fn padding_hint(args: &[OsString]) -> Option<String> {
    let at = args.iter().position(|arg| arg == "--padding")?;
    let value = args.get(at + 1)?.to_str()?;
    value
        .parse::<u16>()
        .is_ok()
        .then(|| format!("--padding takes its value after `=`: --padding={value}"))
}

fn list_endpoints() -> ExitCode {
    match endpoints::shipped().and_then(|list| write_stdout(&endpoints::table(&list))) {
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
    let _ = log::set_boxed_logger(Box::new(progress::Logger(logger)));
}
