//! `cargo xtask bench`: the server's per-packet costs through
//! BPF_PROG_TEST_RUN ([`server`]) and the client's cost in the lab against
//! the real daemon ([`client`]), the live mode's pacing and cost
//! ([`live`]); prints the tables and rewrites
//! BENCHMARKS.md. Benchmarks measure; tests assert: no timing is judged
//! anywhere but here.

mod case;
pub mod client;
mod conditions;
mod live;
pub mod measure;
mod replay;
mod report;
pub mod server;

use std::{path::Path, time::Duration};

use crate::Result;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub server: bool,
    pub client: bool,
    /// The live mode's probes per router, CPU and memory (10 minutes of
    /// monitoring, 1 when quick).
    pub live: bool,
    /// Fewer calls, repetitions and runs: a smoke run, not figures.
    pub quick: bool,
    /// Runs of each case under each lab condition (`None`: 20, or 2 when
    /// quick).
    pub runs: Option<usize>,
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: String,
    pub figure: String,
    pub target: Option<Judged>,
}

/// A table of figures measured the same way.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: &'static str,
    pub rows: Vec<Row>,
}

/// A per-packet target: at most `limit_ns`, beside the reference
/// program's figure measured the same way on this machine.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    limit_ns: u128,
    reference: &'static str,
}

impl Target {
    pub const fn at_most(limit_ns: u128, reference: &'static str) -> Self {
        Self {
            limit_ns,
            reference,
        }
    }

    /// The verdict on a measured time.
    pub fn judge(self, measured: Duration) -> Judged {
        Judged {
            text: format!("≤ {} ns (reference {})", self.limit_ns, self.reference),
            met: measured.as_nanos() <= self.limit_ns,
        }
    }
}

/// A target and whether the figure meets it.
#[derive(Debug, Clone)]
pub struct Judged {
    pub text: String,
    pub met: bool,
}

/// Runs the benchmarks `options` ask for, prints each table as it is
/// done and rewrites `BENCHMARKS.md` in `workspace`.
pub fn run(workspace: &Path, options: Options) -> Result<()> {
    let mut sections = Vec::new();
    if options.server {
        let scale = if options.quick {
            server::Scale {
                calls: 1_000,
                repeat: 10_000,
            }
        } else {
            server::Scale {
                calls: 20_000,
                repeat: 1_000_000,
            }
        };
        // The server part moves its thread into a namespace of its own and
        // pins it; the client part needs neither.
        let done = std::thread::scope(|scope| scope.spawn(|| server::run(scale)).join());
        let server_sections =
            done.map_err(|_| crate::Error::Bench("the server part panicked".into()))??;
        for section in &server_sections {
            print!("{}", report::table(section));
        }
        sections.extend(server_sections);
    }
    if options.client {
        let runs = if options.quick { 1 } else { 5 };
        let condition_runs = options.runs.unwrap_or(if options.quick { 2 } else { 20 });
        let client_sections = client::run(workspace, runs, condition_runs)?;
        for section in &client_sections {
            print!("{}", report::table(section));
        }
        sections.extend(client_sections);
    }
    if options.live {
        let minutes = if options.quick { 1 } else { 10 };
        let live_sections = live::run(workspace, minutes)?;
        for section in &live_sections {
            print!("{}", report::table(section));
        }
        sections.extend(live_sections);
    }
    let path = workspace.join("BENCHMARKS.md");
    // A missing file only means nothing to keep.
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, report::document(&sections, options, &previous)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
