//! `cargo xtask`: developer and CI tasks of reverse-tr.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use reverse_tr_lab::{
    Conditions, DEFAULT_NAME, Direction, Family, Host, Lab, LabConfig, Loss, describe,
};
use std::{path::Path, process::ExitCode};

use xtask::{Interrupt, demo::Demo};

#[derive(Parser)]
#[command(about = "Developer and CI tasks of reverse-tr")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The network-namespace lab: client, routers with an ECMP diamond, server.
    #[command(subcommand)]
    Lab(LabTask),
    /// Run the demo: the asymmetric lab, our server in the server's
    /// namespace, a two-way multipath trace from the client's; tears down at
    /// the end, on failure and on Ctrl-C.
    Demo,
    /// Measure the server (BPF_PROG_TEST_RUN), the client and its live
    /// mode (in the lab), print the tables and rewrite BENCHMARKS.md; every
    /// part unless some are named.
    Bench {
        /// The server's per-packet costs, expiry and memory.
        #[arg(long)]
        server: bool,
        /// The client's time, probes, CPU and memory in the lab.
        #[arg(long)]
        client: bool,
        /// The live mode in the lab: probes per router against Linux's ICMP
        /// error budget, the client's CPU and memory over 10 minutes of
        /// two-way multipath monitoring (1 with --quick).
        #[arg(long)]
        live: bool,
        /// Fewer calls and runs: checks the benchmarks work, figures are rough.
        #[arg(long)]
        quick: bool,
        /// Runs of each client case under each lab condition (clean, silent
        /// hop, rate-limited, loss) [default: 20; 2 with --quick]. The whole
        /// client part takes about a minute per run.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        runs: Option<u16>,
    },
    /// Build the Debian packages `reverse-tr` and `reverse-tr-server`
    /// (release binaries, man pages, completions, systemd units) into
    /// target/debian/; needs cargo-deb (scripts/setup installs it).
    Package,
}

#[derive(Subcommand)]
enum LabTask {
    /// Build a lab and leave it up (or, with --wait, until Ctrl-C).
    Up {
        /// Send reverse traffic (server → client) through an extra router, r5.
        #[arg(long)]
        asymmetric: bool,
        /// Name of the lab (namespaces rtr-NAME-<host>).
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// Stay in the foreground and tear the lab down on Ctrl-C or SIGTERM.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        conditions: ConditionArgs,
    },
    /// Replace the routers' conditions of a lab that is up (none given: clean).
    Conditions {
        /// Name of the lab.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        #[command(flatten)]
        conditions: ConditionArgs,
    },
    /// Remove a lab, or every lab of ours.
    Down(DownArgs),
    /// Prove reachability both ways for both families, the paths and the
    /// diamond's flow splitting; exits non-zero on a failure.
    Status {
        /// Name of the lab.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
}

/// Routers that misbehave as on real paths; they combine with each other
/// and with --asymmetric. Routers: r1, r2a, r2b, r3, r4, r5 (asymmetric).
#[derive(Args)]
struct ConditionArgs {
    /// Routers that forward but send no ICMP errors (Time Exceeded,
    /// Unreachable), both families: they show as `*`.
    #[arg(long, value_name = "ROUTER,...", value_delimiter = ',', value_parser = reverse_tr_lab::router)]
    silent: Vec<Host>,
    /// Routers with Linux's default ICMP error rate limits (per destination
    /// a burst of 6, then 1/s; 1,000/s in all), which the lab otherwise lifts.
    #[arg(long, value_name = "ROUTER,...", value_delimiter = ',', value_parser = reverse_tr_lab::router)]
    rate_limited: Vec<Host>,
    /// Routers that drop PERCENT % of the packets they forward, at random,
    /// both ways (nftables numgen), e.g. --loss r2a:5,r4:5.
    #[arg(long, value_name = "ROUTER:PERCENT,...", value_delimiter = ',')]
    loss: Vec<Loss>,
    /// Routers that drop PERCENT % of the reverse probes they forward
    /// towards the client, and nothing else: loss on the way back that
    /// only a reverse trace sees, e.g. --reverse-loss r3:40.
    #[arg(long, value_name = "ROUTER:PERCENT,...", value_delimiter = ',')]
    reverse_loss: Vec<Loss>,
}

impl ConditionArgs {
    fn conditions(self) -> Conditions {
        let conditions = self.loss.into_iter().fold(
            Conditions::default()
                .silent(self.silent)
                .rate_limited(self.rate_limited),
            |conditions, loss| conditions.loss(loss.router, loss.percent),
        );
        self.reverse_loss
            .into_iter()
            .fold(conditions, |conditions, loss| {
                conditions.reverse_loss(loss.router, loss.percent)
            })
    }
}

#[derive(Args)]
#[group(multiple = false)]
struct DownArgs {
    /// Name of the lab [default: lab].
    #[arg(long)]
    name: Option<String>,
    /// Every lab of ours, including those of running tests.
    #[arg(long)]
    all: bool,
}

fn main() -> ExitCode {
    // One line per failure, never a backtrace (RUST_BACKTRACE may be set).
    match run(Cli::parse().task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> anyhow::Result<()> {
    match task {
        Task::Lab(LabTask::Up {
            asymmetric,
            name,
            wait,
            conditions,
        }) => up(asymmetric, name, wait, &conditions.conditions()),
        Task::Lab(LabTask::Conditions { name, conditions }) => {
            let conditions = conditions.conditions();
            Lab::attach(&name)?.set_conditions(&conditions)?;
            println!("lab `{name}`: {conditions}");
            Ok(())
        }
        Task::Lab(LabTask::Down(DownArgs { all: true, .. })) => {
            let removed = Lab::remove_all()?;
            println!("removed {removed} namespaces");
            Ok(())
        }
        Task::Lab(LabTask::Down(DownArgs { name, .. })) => {
            let name = name.as_deref().unwrap_or(DEFAULT_NAME);
            if !Lab::remove(name)? {
                return Err(reverse_tr_lab::Error::NotFound(name.to_owned()).into());
            }
            println!("lab `{name}` removed");
            Ok(())
        }
        Task::Lab(LabTask::Status { name }) => status(&name),
        Task::Demo => demo(),
        Task::Bench {
            server,
            client,
            live,
            quick,
            runs,
        } => bench(xtask::bench::Options {
            server,
            client,
            live,
            quick,
            runs: runs.map(usize::from),
        }),
        Task::Package => package(),
    }
}

fn up(asymmetric: bool, name: String, wait: bool, conditions: &Conditions) -> anyhow::Result<()> {
    // Before building, so that Ctrl-C during the build still tears down.
    let interrupt = wait.then(Interrupt::install).transpose()?;
    let lab = Lab::up(LabConfig {
        asymmetric,
        name: Some(name),
    })
    .context("cannot bring the lab up")?;
    // A failure here drops `lab`, which tears it down.
    lab.set_conditions(conditions)?;
    print_lab(&lab);
    println!("conditions: {conditions}");
    match interrupt {
        Some(interrupt) => {
            println!("up until Ctrl-C");
            interrupt.wait();
            let name = lab.name();
            lab.down()?;
            println!("lab `{name}` torn down");
        }
        None => {
            println!("remove it with: cargo xtask lab down --name {}", lab.name());
            lab.keep();
        }
    }
    Ok(())
}

fn demo() -> anyhow::Result<()> {
    // Ctrl-C reaches the server and the client too (same process group):
    // they stop by themselves, and this process lives on to tear down.
    let _interrupt = Interrupt::install()?;
    let trace = Demo::build(workspace()?)?.run()?;
    if !trace.status.success() {
        bail!("the trace did not complete ({})", trace.status);
    }
    Ok(())
}

fn package() -> anyhow::Result<()> {
    for deb in xtask::package::build(workspace()?)? {
        println!("{}", deb.display());
    }
    Ok(())
}

/// The workspace's root directory.
fn workspace() -> anyhow::Result<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives inside the workspace")
}

/// Every part when none is named.
fn bench(options: xtask::bench::Options) -> anyhow::Result<()> {
    let workspace = workspace()?;
    let all = !options.server && !options.client && !options.live;
    xtask::bench::run(
        workspace,
        xtask::bench::Options {
            server: options.server || all,
            client: options.client || all,
            live: options.live || all,
            ..options
        },
    )?;
    Ok(())
}

fn print_lab(lab: &Lab) {
    let variant = if lab.is_asymmetric() {
        "asymmetric"
    } else {
        "symmetric"
    };
    println!("lab `{}` is up ({variant})", lab.name());
    for host in lab.hosts() {
        println!(
            "  {:<7} {:<20} {:<12} {}",
            host.name(),
            lab.netns(host),
            lab.addr(host, Family::V4),
            lab.addr(host, Family::V6)
        );
    }
    for direction in Direction::ALL {
        println!(
            "{} path ({} → {}): {}",
            direction.name(),
            direction.source().name(),
            direction.destination().name(),
            describe(&lab.expected_hops(direction, Family::V4))
        );
    }
    println!(
        "try: ip netns exec {} traceroute -n {}",
        lab.netns(Host::Client),
        lab.addr(Host::Server, Family::V4)
    );
}

fn status(name: &str) -> anyhow::Result<()> {
    let lab = Lab::attach(name)?;
    let checks = lab.status()?;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|check| !check.passed()).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", checks.len());
    }
    println!("all {} checks passed", checks.len());
    Ok(())
}
