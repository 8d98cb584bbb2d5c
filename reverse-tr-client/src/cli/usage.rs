//! Command-line errors in at most two lines: what is wrong, then how to
//! fix it (clap's own text runs to seven). Help and version go out whole.

use std::{ffi::OsString, process::ExitCode};

/// Prints `error` short (help and version as clap prints them) and returns
/// its exit status; `args` is the command line, for the hints.
pub(crate) fn usage_error(error: &clap::Error, args: &[OsString]) -> ExitCode {
    if !error.use_stderr() {
        // --help, --version: clap prints them (to stdout) and exits 0.
        error.exit();
    }
    let text = error.render().to_string();
    eprintln!("reverse-tr: {}", short(&text, args));
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
}

/// clap's rendered error as one line of what is wrong and, if there is
/// one, a second, indented line with the fix.
fn short(text: &str, args: &[OsString]) -> String {
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
    match fix {
        Some(fix) => format!("{what}\n  {fix}"),
        None => what.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_paragraphs_become_what_and_the_fix() {
        let missing = "error: the following required arguments were not provided:\n  <TARGET>\n\n\
                       Usage: reverse-tr forward udp multipath <TARGET>\n\n\
                       For more information, try '--help'.\n";
        assert_eq!(
            short(missing, &[]),
            "the following required arguments were not provided: <TARGET>\n  \
             usage: reverse-tr forward udp multipath <TARGET> (more in --help)"
        );
        let tip = "error: unrecognized subcommand 'forwrd'\n\n  tip: a similar subcommand exists: 'forward'\n\n\
                   Usage: reverse-tr [OPTIONS] <DIRECTION>\n";
        assert_eq!(
            short(tip, &[]),
            "unrecognized subcommand 'forwrd'\n  a similar subcommand exists: 'forward'"
        );
        let args: Vec<OsString> = ["reverse-tr", "--padding", "24"].map(Into::into).to_vec();
        assert!(short("error: unrecognized subcommand '24'\n", &args).ends_with("--padding=24"));
        assert_eq!(short("error: bad\n", &[]), "bad");
    }
}
