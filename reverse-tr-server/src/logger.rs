//! The daemon's log: env_logger's lines on a terminal; under systemd
//! (stderr is the journal stream named by `JOURNAL_STREAM`) one line per
//! record prefixed with its syslog priority (`<4>`), which journald turns
//! into the entry's priority, and no timestamp (the journal has its own).
//!
//! A format of env_logger rather than a native-protocol logger
//! (systemd-journal-logger): the `<N>` prefix needs no socket of its own,
//! so it works in the sandbox and wherever stderr is the journal,
//! including a plain `systemd-run`, and what the daemon writes stays
//! visible on stderr in tests.

use std::{io::Write as _, os::unix::fs::MetadataExt as _};

use log::{Level, LevelFilter};

/// Installs the logger: `level` or RUST_LOG, info by default.
pub fn init(level: Option<LevelFilter>) {
    let mut builder = builder(level);
    if stderr_is_journal() {
        builder
            .format(|out, record| writeln!(out, "{}", journal_line(record.level(), record.args())));
    }
    builder.init();
}

/// The filter of `init`. `--log-level debug` is for the daemon's own
/// records (sessions, refusals, the program's log): aya's loader stays at
/// info there, since its debug lines (196 BTF fix-ups at start) bury
/// them; `trace` shows everything.
fn builder(level: Option<LevelFilter>) -> env_logger::Builder {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(level) = level {
        builder.filter_level(level);
        if level == LevelFilter::Debug {
            // A module filter matches by prefix: aya, aya_obj and aya_log.
            builder.filter_module("aya", LevelFilter::Info);
        }
    }
    builder
}

/// The syslog priority of a level (sd-daemon(3)).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One journal entry: `<priority>message`, the message's line breaks
/// turned into spaces, since journald starts a new entry (at the default
/// priority) at each one.
pub fn journal_line(level: Level, message: impl std::fmt::Display) -> String {
    let text = message.to_string();
    let one_line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    format!("<{}>{}", priority(level), one_line.join(" "))
}

/// Whether stderr is the stream `JOURNAL_STREAM` (`device:inode`) names:
/// systemd sets it for the service, a child writing elsewhere inherits it.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(metadata) = std::os::fd::AsFd::as_fd(&std::io::stderr())
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata())
    else {
        return false;
    };
    stream.to_str() == Some(&format!("{}:{}", metadata.dev(), metadata.ino()))
}

#[cfg(test)]
mod tests {
    use log::Level;

    use super::{builder, journal_line, priority};

    #[test]
    fn debug_shows_the_daemons_records_but_not_ayas_loader() {
        let shown = |level, target: &str, record_level| {
            builder(Some(level)).build().matches(
                &log::Record::builder()
                    .level(record_level)
                    .target(target)
                    .build(),
            )
        };
        let debug = log::LevelFilter::Debug;
        assert!(shown(debug, "reverse_tr_server::daemon", Level::Debug));
        assert!(
            shown(debug, "reverse_tr", Level::Debug),
            "the program's log"
        );
        assert!(!shown(debug, "aya_obj::btf::btf", Level::Debug));
        assert!(shown(debug, "aya::programs", Level::Info));
        let trace = log::LevelFilter::Trace;
        assert!(shown(trace, "aya_obj::btf::btf", Level::Debug));
        assert!(!shown(log::LevelFilter::Warn, "aya", Level::Info));
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        let priorities = [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ]
        .map(priority);
        assert_eq!(priorities, [3, 4, 6, 7, 7]);
    }

    #[test]
    fn an_entry_is_one_line_with_its_priority_and_no_timestamp() {
        assert_eq!(
            journal_line(Level::Warn, "the sweeper timer stopped"),
            "<4>the sweeper timer stopped"
        );
        assert_eq!(
            journal_line(
                Level::Info,
                "stopping; counters:\n  requests: 3\n  probes: 2\n"
            ),
            "<6>stopping; counters: requests: 3 probes: 2"
        );
    }
}
