//! The tables as Markdown, and BENCHMARKS.md around them: the machine, the
//! kernel, the date and the commit, then the tables, then the notes on
//! what limits the figures that miss (hand-written in `notes.md`, as they
//! come from profiling, not from a run).

use std::{fmt::Write as _, process::Command};

use super::{Options, Section};
use reverse_tr_lab::command;

use crate::Result;

/// The analysis of the misses, kept beside the code that measures.
const NOTES: &str = include_str!("notes.md");

/// One section as a Markdown table.
pub fn table(section: &Section) -> String {
    let mut text = format!(
        "\n### {}\n\n| case | measured | target | verdict |\n|---|---|---|---|\n",
        section.title
    );
    for row in &section.rows {
        let (target, verdict) = row.target.as_ref().map_or(("", ""), |judged| {
            (
                judged.text.as_str(),
                if judged.met { "met" } else { "**missed**" },
            )
        });
        let _ = writeln!(
            text,
            "| {} | {} | {target} | {verdict} |",
            row.case, row.figure
        );
    }
    text
}

/// The whole of BENCHMARKS.md. When only one half ran, the other half's
/// tables are kept from `previous` (the file as it was).
pub fn document(sections: &[Section], options: Options, previous: &str) -> Result<String> {
    let mut text = String::from(
        "# Benchmarks\n\nWritten by `cargo xtask bench` (do not edit by hand; the notes at the end \
         come from `xtask/src/bench/notes.md`).\n\n",
    );
    let parts = [
        (options.server, "--server"),
        (options.client, "--client"),
        (options.quick, "--quick"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, flag)| (*flag).to_owned())
    .chain(options.runs.map(|runs| format!("--runs {runs}")))
    .collect::<Vec<_>>()
    .join(" ");
    // The server's tables are titled "Server: …", every other is the client's.
    let kept: Vec<&str> = match (options.server, options.client) {
        (true, false) => tables(previous, |title| !title.starts_with("Server")),
        (false, true) => tables(previous, |title| title.starts_with("Server")),
        _ => Vec::new(),
    };
    let _ = writeln!(text, "| | |\n|---|---|");
    for (what, value) in [
        ("run", format!("`cargo xtask bench {parts}`")),
        ("machine", machine()),
        ("kernel", output("uname", &["-r"])?),
        ("date", output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])?),
        (
            "commit",
            output("git", &["describe", "--always", "--dirty"])?,
        ),
    ] {
        let _ = writeln!(text, "| {what} | {value} |");
    }
    if !kept.is_empty() {
        let _ = writeln!(
            text,
            "| kept | the {} tables, from the run before |",
            if options.server { "client" } else { "server" }
        );
    }
    // Server tables first, as a full run writes them.
    let (kept_first, kept_last) = if options.server {
        (&[][..], &kept[..])
    } else {
        (&kept[..], &[][..])
    };
    for block in kept_first {
        text.push_str(block);
    }
    for section in sections {
        text.push_str(&table(section));
    }
    for block in kept_last {
        text.push_str(block);
    }
    text.push('\n');
    text.push_str(NOTES);
    Ok(text)
}

/// The tables of a written BENCHMARKS.md whose title passes `keep`, each
/// as written (from its `\n### ` line to the next table or the notes).
fn tables(document: &str, keep: impl Fn(&str) -> bool) -> Vec<&str> {
    let body = document.split("\n## ").next().unwrap_or_default();
    let mut starts: Vec<usize> = body.match_indices("\n### ").map(|(at, _)| at).collect();
    starts.push(body.len());
    starts
        .windows(2)
        .map(|pair| &body[pair[0]..pair[1]])
        .filter(|block| keep(block.trim_start().trim_start_matches("### ")))
        .collect()
}

/// CPUs, CPU model and memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown memory".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} × {model}, {memory}")
}

/// The trimmed standard output of a command that must succeed.
fn output(program: &str, args: &[&str]) -> Result<String> {
    Ok(command::run(Command::new(program).args(args), None)?
        .trim()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_half_not_run_keeps_its_tables() {
        let previous = "# Benchmarks\n\n| run | x |\n\n### Server: a\n\n| s |\n\n### Server: b\n\n| t |\n\n\
            ### Client: c\n\n| u |\n\n## How the figures are taken\n\nnotes\n";
        let server = tables(previous, |title| title.starts_with("Server"));
        assert_eq!(
            server,
            ["\n### Server: a\n\n| s |\n", "\n### Server: b\n\n| t |\n"]
        );
        let client = tables(previous, |title| !title.starts_with("Server"));
        assert_eq!(client, ["\n### Client: c\n\n| u |\n"]);
    }
}
