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

/// The part of the benchmark a table belongs to, by its title: the
/// server's are titled "Server: …", the live mode's "Live mode: …", every
/// other is the client's. Tables are written in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Server,
    Client,
    Live,
}

impl Part {
    fn of(title: &str) -> Self {
        if title.starts_with("Server") {
            Part::Server
        } else if title.starts_with("Live mode") {
            Part::Live
        } else {
            Part::Client
        }
    }

    fn ran(self, options: Options) -> bool {
        match self {
            Part::Server => options.server,
            Part::Client => options.client,
            Part::Live => options.live,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Part::Server => "server",
            Part::Client => "client",
            Part::Live => "live mode",
        }
    }
}

/// The whole of BENCHMARKS.md. The tables of the parts that did not run
/// are kept from `previous` (the file as it was).
pub fn document(sections: &[Section], options: Options, previous: &str) -> Result<String> {
    let mut text = String::from(
        "# Benchmarks\n\nWritten by `cargo xtask bench` (do not edit by hand; the notes at the end \
         come from `xtask/src/bench/notes.md`).\n\n",
    );
    let parts = [
        (options.server, "--server"),
        (options.client, "--client"),
        (options.live, "--live"),
        (options.quick, "--quick"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, flag)| (*flag).to_owned())
    .chain(options.runs.map(|runs| format!("--runs {runs}")))
    .collect::<Vec<_>>()
    .join(" ");
    let kept = tables(previous, |title| !Part::of(title).ran(options));
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
    let kept_parts: Vec<&str> = kept
        .iter()
        .map(|block| Part::of(title(block)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(Part::name)
        .collect();
    if !kept_parts.is_empty() {
        let _ = writeln!(
            text,
            "| kept | the {} tables, from the run before |",
            kept_parts.join(" and ")
        );
    }
    // Kept and new tables in part order, each part's in its own order.
    let mut blocks: Vec<(Part, String)> = kept
        .iter()
        .map(|block| (Part::of(title(block)), (*block).to_owned()))
        .chain(
            sections
                .iter()
                .map(|section| (Part::of(section.title), table(section))),
        )
        .collect();
    blocks.sort_by_key(|(part, _)| *part);
    for (_, block) in blocks {
        text.push_str(&block);
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
        .filter(|block| keep(title(block)))
        .collect()
}

/// The title of a table block (from its `### ` line on).
fn title(block: &str) -> &str {
    block.trim_start().trim_start_matches("### ")
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

    #[test]
    fn a_live_run_keeps_the_server_and_client_tables_in_order() {
        let previous = "# Benchmarks\n\n| run | x |\n\n### Server: a\n\n| s |\n\n\
            ### Client: c\n\n| u |\n\n### Live mode: old\n\n| v |\n\n## How\n";
        let options = Options {
            server: false,
            client: false,
            live: true,
            quick: true,
            runs: None,
        };
        let sections = [Section {
            title: "Live mode: new",
            rows: Vec::new(),
        }];
        let text = document(&sections, options, previous).expect("a document");
        let at = |what: &str| {
            text.find(what)
                .unwrap_or_else(|| panic!("{what} in {text}"))
        };
        assert!(at("### Server: a") < at("### Client: c"), "{text}");
        assert!(at("### Client: c") < at("### Live mode: new"), "{text}");
        assert!(!text.contains("Live mode: old"), "{text}");
        assert!(
            text.contains("| kept | the server and client tables"),
            "{text}"
        );
        assert!(
            text.contains("`cargo xtask bench --live --quick`"),
            "{text}"
        );
    }
}
