//! The client where the lab is not clean: per condition (clean, a silent
//! hop, rate-limited routers, loss; see [`reverse_tr_lab::Conditions`]), per
//! direction and two-way, IPv4 and IPv6, `runs` runs of the release client
//! in one lab against one daemon: how many runs were right, wall time
//! (median, max) and probes per direction, judged against the targets of
//! an Internet-grade engine. Debian's `scamper` (`tracelb -P udp-dport`,
//! MDA at 95 %) runs beside it on the forward path, for probes and
//! correctness; it runs only in the client's namespace, towards the lab's
//! server.
//!
//! A run is right when it exits 0 and every direction it traced shows what
//! the conditions let a trace see (`Conditions::visible`): a hop at every
//! TTL, a silent router as `*`, both diamond branches in multipath, one
//! vertex per hop in single-path. A wrong run is named in its case's row
//! with what was wrong, and its output is kept in a file of its own.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::IpAddr,
    path::Path,
    process::Stdio,
    thread::sleep,
    time::{Duration, Instant},
};

use super::{
    Judged, Row, Section,
    case::{CONFIDENCE, Case, Measured, TIMEOUT, counters, run_once},
    measure::Summary,
};
use crate::Result;
use reverse_tr_lab::{Conditions, Direction, Family, Hops, Host, Lab, command, hop_wrong, wrong};

/// Every router of the symmetric lab.
const ROUTERS: [Host; 5] = [Host::R1, Host::R2a, Host::R2b, Host::R3, Host::R4];

/// Runs of scamper per multipath condition and family: it paces its probes
/// 250 ms apart and waits its `-w` for each silent probe, 6–30 s a run,
/// and its probe count hardly varies between runs.
const SCAMPER_RUNS: usize = 2;

/// Wrong runs a row names with their reasons; the rest it counts, so a
/// row stays readable when a setting goes badly wrong.
const WRONG_LISTED: usize = 3;

/// A condition of the lab and how the client is run under it.
struct Setting {
    name: &'static str,
    /// The target, as stated for an Internet-grade engine.
    target: &'static str,
    conditions: Conditions,
    multipath: bool,
    /// Runs of one family and direction start this long after the previous
    /// one ended, so that rate-limited routers refill their burst; `None`:
    /// back to back.
    spacing: Option<Duration>,
    judge: Judge,
}

/// How a setting's runs are judged.
#[derive(Clone, Copy)]
enum Judge {
    /// Every run right; two-way multipath ≤ 0.3 s; probes per direction ≤
    /// scamper's on the forward path.
    Clean,
    /// Every run right; median within `wall`; probes ≤ clean + 20 %.
    LikeClean { wall: WallLimit },
    /// Every run right; median at most this.
    AtMost(Duration),
    /// At least 19 runs in 20 right; median at most this.
    MostlyRight(Duration),
}

/// A limit on the median wall time.
#[derive(Clone, Copy)]
enum WallLimit {
    /// The clean median of the same case plus this.
    OverClean(Duration),
    Absolute(Duration),
}

fn settings() -> Vec<Setting> {
    let rate_limited = Conditions::default().rate_limited(ROUTERS);
    vec![
        Setting {
            name: "clean",
            target: "all right; two-way multipath ≤ 0.3 s; probes ≤ scamper's per direction",
            conditions: Conditions::default(),
            multipath: true,
            spacing: None,
            judge: Judge::Clean,
        },
        Setting {
            name: "silent hop (r3)",
            target: "all right; ≤ clean + 1 × --timeout; probes ≤ clean + 20 %",
            conditions: Conditions::default().silent([Host::R3]),
            multipath: true,
            spacing: None,
            judge: Judge::LikeClean {
                wall: WallLimit::OverClean(TIMEOUT),
            },
        },
        Setting {
            name: "rate-limited routers (Linux defaults, all five), runs 10 s apart",
            target: "all right; multipath ≤ 3 s; probes ≤ clean + 20 %",
            conditions: rate_limited.clone(),
            multipath: true,
            spacing: Some(Duration::from_secs(10)),
            judge: Judge::LikeClean {
                wall: WallLimit::Absolute(Duration::from_secs(3)),
            },
        },
        Setting {
            name: "rate-limited routers, single-path back to back",
            target: "all right, every hop present; ≤ 2 s",
            conditions: rate_limited,
            multipath: false,
            spacing: None,
            judge: Judge::AtMost(Duration::from_secs(2)),
        },
        Setting {
            name: "5 % loss on r2a and r4",
            target: "≥ 19/20 right; ≤ 2 × --timeout",
            conditions: Conditions::default().loss(Host::R2a, 5).loss(Host::R4, 5),
            multipath: true,
            spacing: None,
            judge: Judge::MostlyRight(2 * TIMEOUT),
        },
    ]
}

/// One run: what was wrong with it (`None`: right), wall time, probes per
/// direction.
struct Run {
    wrong: Option<String>,
    /// Wrong only by branches that none of the flows sent to their hop
    /// took: the miss the MDA's ε allows (each flow answered, every one
    /// by the branches seen).
    untried: bool,
    wall: Duration,
    probes: BTreeMap<&'static str, u64>,
}

/// The runs of one case under one setting.
struct Outcome {
    case: Case,
    runs: Vec<Run>,
}

impl Outcome {
    fn right(&self) -> usize {
        self.runs.iter().filter(|run| run.wrong.is_none()).count()
    }

    /// Wrong runs that only missed branches their flows never took.
    fn untried(&self) -> usize {
        self.runs.iter().filter(|run| run.untried).count()
    }

    fn wall(&self) -> Option<Summary> {
        Summary::of(self.runs.iter().map(|run| run.wall).collect())
    }

    fn max_wall(&self) -> Duration {
        self.runs
            .iter()
            .map(|run| run.wall)
            .max()
            .unwrap_or_default()
    }

    /// The median of a direction's probes.
    fn probes(&self, direction: &str) -> Option<u64> {
        let mut counts: Vec<u64> = self
            .runs
            .iter()
            .filter_map(|run| run.probes.get(direction).copied())
            .collect();
        counts.sort_unstable();
        counts.get(counts.len().saturating_sub(1) / 2).copied()
    }

    fn figure(&self) -> String {
        let wall = self.wall().map_or(Duration::ZERO, |summary| summary.median);
        let probes: Vec<String> = Direction::ALL
            .iter()
            .filter_map(|direction| {
                let name = direction.name();
                self.probes(name).map(|probes| format!("{name} {probes}"))
            })
            .collect();
        let untried = match self.untried() {
            0 => String::new(),
            n => format!(" ({n} more missed only a branch none of its flows took, as ε allows)"),
        };
        let mut figure = format!(
            "{}/{} right{untried}; wall {:.2} s median, {:.2} s max; probes (median) {}",
            self.right(),
            self.runs.len(),
            wall.as_secs_f64(),
            self.max_wall().as_secs_f64(),
            probes.join(", ")
        );
        let wrong: Vec<String> = self
            .runs
            .iter()
            .enumerate()
            .filter_map(|(index, run)| {
                run.wrong
                    .as_ref()
                    .map(|reason| format!("run {} ({reason})", index + 1))
            })
            .collect();
        if !wrong.is_empty() {
            let listed = wrong.len().min(WRONG_LISTED);
            let _ = write!(figure, "; wrong: {}", wrong[..listed].join(", "));
            if wrong.len() > listed {
                let _ = write!(figure, " and {} more", wrong.len() - listed);
            }
        }
        figure
    }
}

/// Which runs share a router's error budget: errors go to the probing
/// host, per family (forward: the client; reverse: the server).
fn budgets(case: Case) -> Vec<(Family, Direction)> {
    Direction::ALL
        .into_iter()
        .filter(|&direction| case.traces(direction))
        .map(|direction| (case.family, direction))
        .collect()
}

/// Waits until every budget of `keys` rested `spacing` since its last use.
fn rest(
    last: &BTreeMap<(Family, Direction), Instant>,
    keys: &[(Family, Direction)],
    spacing: Option<Duration>,
) {
    let Some(spacing) = spacing else {
        return;
    };
    let wait = keys
        .iter()
        .filter_map(|key| last.get(key))
        .map(|ended| spacing.saturating_sub(ended.elapsed()))
        .max()
        .unwrap_or_default();
    sleep(wait);
}

/// Runs every setting: the client `runs` times per case, scamper
/// [`SCAMPER_RUNS`] times per family where the setting is multipath;
/// leaves the lab clean.
pub fn run(lab: &Lab, client: &Path, output: &Path, runs: usize) -> Result<Vec<Section>> {
    let mut summary = Vec::new();
    let mut detail = Vec::new();
    let mut scamper_rows = Vec::new();
    let mut clean: Vec<Outcome> = Vec::new();
    let mut scamper_clean: BTreeMap<Family, u64> = BTreeMap::new();
    for setting in settings() {
        lab.set_conditions(&setting.conditions)?;
        println!(
            "bench: client under {} ({runs} runs per case)",
            setting.name
        );
        let started = Instant::now();
        let outcomes = measure(lab, client, output, &setting, runs)?;
        let client_time = started.elapsed();
        if setting.multipath {
            for family in Family::ALL {
                let scamper = scamper(lab, &setting, family)?;
                if matches!(setting.judge, Judge::Clean)
                    && let Some(probes) = scamper.probes("forward")
                {
                    scamper_clean.insert(family, probes);
                }
                scamper_rows.push(Row {
                    case: format!("scamper tracelb, {}, {}", setting.name, family.name()),
                    figure: scamper.figure(),
                    target: None,
                });
            }
        }
        eprintln!(
            "bench: {} took {} s (the client's runs {} s)",
            setting.name,
            started.elapsed().as_secs(),
            client_time.as_secs()
        );
        let mut all_met = true;
        let mut worst: Option<(Duration, String)> = None;
        let (mut right, mut untried, mut total) = (0, 0, 0);
        for outcome in &outcomes {
            let reference = clean.iter().find(|c| {
                c.case.directions == outcome.case.directions && c.case.family == outcome.case.family
            });
            let judged = judge(setting.judge, outcome, reference, &scamper_clean);
            all_met &= judged.met;
            right += outcome.right();
            untried += outcome.untried();
            total += outcome.runs.len();
            let median = outcome
                .wall()
                .map_or(Duration::ZERO, |summary| summary.median);
            if worst.as_ref().is_none_or(|(wall, _)| median > *wall) {
                worst = Some((median, outcome.case.name()));
            }
            detail.push(Row {
                case: format!("{}: {}", setting.name, outcome.case.name()),
                figure: outcome.figure(),
                target: Some(judged),
            });
        }
        let (wall, slowest) = worst.unwrap_or_default();
        summary.push(Row {
            case: setting.name.to_owned(),
            figure: format!(
                "{right}/{total} runs right{}; slowest median {:.2} s ({slowest})",
                match untried {
                    0 => String::new(),
                    n => format!(" ({n} more missed only a branch none of its flows took)"),
                },
                wall.as_secs_f64()
            ),
            target: Some(Judged {
                text: setting.target.to_owned(),
                met: all_met,
            }),
        });
        if matches!(setting.judge, Judge::Clean) {
            clean = outcomes;
        }
    }
    lab.set_conditions(&Conditions::default())?;
    Ok(vec![
        Section {
            title: "Client under real-path conditions: the targets (every case below met, or not)",
            rows: summary,
        },
        Section {
            title: "Client under real-path conditions, per case (UDP, ε = 0.05, --timeout 2)",
            rows: detail,
        },
        Section {
            title: "scamper tracelb -P udp-dport (95 %, -w 2) on the forward path, same conditions",
            rows: scamper_rows,
        },
    ])
}

/// The client's runs of every case of `setting`.
fn measure(
    lab: &Lab,
    client: &Path,
    output: &Path,
    setting: &Setting,
    runs: usize,
) -> Result<Vec<Outcome>> {
    let mut outcomes: Vec<Outcome> = Family::ALL
        .into_iter()
        .flat_map(|family| {
            ["forward", "reverse", "two-way"].map(|directions| Outcome {
                case: Case {
                    directions,
                    multipath: setting.multipath,
                    family,
                },
                runs: Vec::new(),
            })
        })
        .collect();
    let mut last_use = BTreeMap::new();
    // Spaced runs go round the cases, so one case's rest is another's run;
    // back-to-back runs repeat one case, the hardest on a router's budget.
    let order: Vec<(usize, usize)> = if setting.spacing.is_some() {
        (0..runs)
            .flat_map(|_| 0..outcomes.len())
            .enumerate()
            .collect()
    } else {
        (0..outcomes.len())
            .flat_map(|case| (0..runs).map(move |_| case))
            .enumerate()
            .collect()
    };
    for (_, index) in order {
        let outcome = &mut outcomes[index];
        let keys = budgets(outcome.case);
        rest(&last_use, &keys, setting.spacing);
        let measured = run_once(lab, client, outcome.case, output)?;
        for key in keys {
            last_use.insert(key, Instant::now());
        }
        let case = outcome.case;
        let expected: Vec<(Direction, Hops)> = Direction::ALL
            .into_iter()
            .filter(|&direction| case.traces(direction))
            .map(|direction| {
                let hops = lab.expected_hops(direction, case.family);
                (direction, setting.conditions.visible(&hops))
            })
            .collect();
        let reason = wrong(measured.status, &measured.hops, &expected, case.multipath);
        if let Some(reason) = &reason {
            let run = outcome.runs.len() + 1;
            keep_output(output, setting.name, case, run, reason, &measured)?;
        }
        let rooted: Vec<(Direction, IpAddr, Hops)> = expected
            .iter()
            .map(|(direction, hops)| {
                let root = match direction {
                    Direction::Forward => Host::Client,
                    Direction::Reverse => Host::Server,
                };
                (*direction, lab.addr(root, case.family), hops.clone())
            })
            .collect();
        let untried = reason.is_some()
            && case.multipath
            && untried_branches(&measured.stderr, &measured.hops, &rooted);
        let probes = measured
            .probes
            .iter()
            .map(|(&direction, &(sent, _))| (direction, sent))
            .collect();
        outcome.runs.push(Run {
            wrong: reason,
            untried,
            wall: measured.wall,
            probes,
        });
    }
    Ok(outcomes)
}

/// Writes a wrong run's report and log to a file of its own in `output`
/// (the next run overwrites the client's) and names it on stderr, so the
/// run can be diagnosed after the bench.
fn keep_output(
    output: &Path,
    setting: &str,
    case: Case,
    run: usize,
    reason: &str,
    measured: &Measured,
) -> Result<()> {
    let title = format!("{setting}: {}, run {run}", case.name());
    let slug: Vec<String> = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let path = output.join(format!("bench-wrong-{}.txt", slug.join("-")));
    std::fs::write(
        &path,
        format!(
            "{title}: {reason}\n\n--- stdout ---\n{}\n--- stderr ---\n{}",
            measured.stdout, measured.stderr
        ),
    )?;
    eprintln!(
        "bench: {title} wrong ({reason}); its output: {}",
        path.display()
    );
    Ok(())
}

/// Whether a multipath run that is wrong is wrong only where the MDA's ε
/// allows: at every hop where it differs from `expected`, it saw some of
/// the expected branches and no other address, and the client's batch log
/// (`stderr`, debug level) shows every flow it sent to that hop from that
/// direction's root (`expected` holds each direction with its root)
/// answered. A branch that answered nothing would leave flows unanswered;
/// a branch no flow took leaves none.
fn untried_branches(
    stderr: &str,
    traced: &BTreeMap<String, Hops>,
    expected: &[(Direction, IpAddr, Hops)],
) -> bool {
    expected.iter().all(|(direction, root, expected)| {
        let Some(traced) = traced.get(&direction.name().to_uppercase()) else {
            return false;
        };
        expected.iter().all(|(ttl, allowed)| {
            let seen = traced.get(ttl).cloned().unwrap_or_default();
            seen == *allowed
                || (!seen.is_empty()
                    && seen.is_subset(allowed)
                    && every_flow_answered(stderr, *root, *ttl))
        })
    })
}

/// Whether every flow the client's batch lines show sent from `root` at
/// `ttl` was answered at least once (lines `batch from ROOT at TTL N:
/// FLOW=ADDRESS …`, `*` for lost, `!` for refused).
fn every_flow_answered(stderr: &str, root: IpAddr, ttl: u8) -> bool {
    let marker = format!("batch from {root} at TTL {ttl}: ");
    let mut flows: BTreeMap<&str, bool> = BTreeMap::new();
    for line in stderr.lines() {
        let Some((_, probes)) = line.split_once(&marker) else {
            continue;
        };
        for probe in probes.split_whitespace() {
            if let Some((flow, answer)) = probe.split_once('=') {
                *flows.entry(flow).or_default() |= answer != "*" && answer != "!";
            }
        }
    }
    !flows.is_empty() && flows.values().all(|&answered| answered)
}

fn judge(
    judge: Judge,
    outcome: &Outcome,
    clean: Option<&Outcome>,
    scamper: &BTreeMap<Family, u64>,
) -> Judged {
    let runs = outcome.runs.len();
    let all_right = outcome.right() == runs;
    let median = outcome
        .wall()
        .map_or(Duration::ZERO, |summary| summary.median);
    let directions: Vec<&str> = Direction::ALL
        .iter()
        .map(|direction| direction.name())
        .filter(|name| outcome.probes(name).is_some())
        .collect();
    let probes_within = |limit: &dyn Fn(&str) -> Option<u64>| {
        directions.iter().all(|direction| {
            outcome
                .probes(direction)
                .zip(limit(direction))
                .is_some_and(|(probes, limit)| probes <= limit)
        })
    };
    let seconds = |duration: Duration| format!("{:.2} s", duration.as_secs_f64());
    match judge {
        Judge::Clean => {
            let scamper = scamper.get(&outcome.case.family).copied();
            let fast = outcome.case.directions != "two-way" || median <= Duration::from_millis(300);
            Judged {
                text: format!(
                    "{runs}/{runs}{}; probes ≤ scamper's {}",
                    if outcome.case.directions == "two-way" {
                        ", ≤ 0.30 s"
                    } else {
                        ""
                    },
                    scamper.map_or_else(|| "?".to_owned(), |p| p.to_string())
                ),
                met: all_right && fast && probes_within(&|_| scamper),
            }
        }
        Judge::LikeClean { wall } => {
            let limit = match wall {
                WallLimit::OverClean(slack) => clean
                    .and_then(Outcome::wall)
                    .map(|summary| summary.median + slack),
                WallLimit::Absolute(limit) => Some(limit),
            };
            let allowed = |direction: &str| {
                clean
                    .and_then(|clean| clean.probes(direction))
                    .map(|probes| probes * 6 / 5)
            };
            let allowed_text: Vec<String> = directions
                .iter()
                .map(|direction| {
                    format!(
                        "{direction} {}",
                        allowed(direction).map_or_else(|| "?".to_owned(), |p| p.to_string())
                    )
                })
                .collect();
            Judged {
                text: format!(
                    "{runs}/{runs}, ≤ {}, probes ≤ {}",
                    limit.map_or_else(|| "?".to_owned(), seconds),
                    allowed_text.join(", ")
                ),
                met: all_right
                    && limit.is_some_and(|limit| median <= limit)
                    && probes_within(&allowed),
            }
        }
        Judge::AtMost(limit) => Judged {
            text: format!("{runs}/{runs}, ≤ {}", seconds(limit)),
            met: all_right && median <= limit,
        },
        Judge::MostlyRight(limit) => {
            let needed = runs - runs / 20;
            Judged {
                text: format!("≥ {needed}/{runs}, ≤ {}", seconds(limit)),
                met: outcome.right() >= needed && median <= limit,
            }
        }
    }
}

/// scamper's runs on the forward path of `family` under `setting`.
fn scamper(lab: &Lab, setting: &Setting, family: Family) -> Result<Outcome> {
    let case = Case {
        directions: "forward",
        multipath: true,
        family,
    };
    let target = lab.addr(Host::Server, family);
    let expected: BTreeSet<IpAddr> = setting
        .conditions
        .visible(&lab.expected_hops(Direction::Forward, family))
        .into_values()
        .flatten()
        .collect();
    let mut outcome = Outcome {
        case,
        runs: Vec::new(),
    };
    let mut last_use = BTreeMap::new();
    let tracelb = format!(
        "tracelb -P udp-dport -c {:.0} -w {}",
        (1.0 - CONFIDENCE) * 100.0,
        TIMEOUT.as_secs()
    );
    for _ in 0..SCAMPER_RUNS {
        rest(&last_use, &budgets(case), setting.spacing);
        let before = counters(lab)?;
        let started = Instant::now();
        let output = command::run(
            lab.command(Host::Client, "scamper")
                .args(["-O", "text", "-c", &tracelb, "-i", &target.to_string()])
                .stdin(Stdio::null()),
            None,
        )?;
        let wall = started.elapsed();
        last_use.insert((family, Direction::Forward), Instant::now());
        let after = counters(lab)?;
        // Line 1 names the source and destination; the links follow.
        let seen: BTreeSet<IpAddr> = output
            .lines()
            .skip(1)
            .flat_map(|line| line.split(|c: char| c.is_whitespace() || "(),".contains(c)))
            .filter_map(|word| word.parse().ok())
            .collect();
        let probes = BTreeMap::from([("forward", after[0] - before[0])]);
        // Its text gives links, not TTLs: the path is judged as one hop.
        let reason = hop_wrong(Some(&seen), Some(&expected), true);
        outcome.runs.push(Run {
            wrong: reason,
            untried: false,
            wall,
            probes,
        });
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reverse_tr_lab::hops_of;

    #[test]
    fn a_branch_no_flow_took_is_told_from_a_branch_that_never_answered() {
        let root: IpAddr = "10.0.1.100".parse().expect("address");
        let expected = hops_of(&[&["10.255.0.1"], &["10.255.0.21", "10.255.0.22"]]);
        let missing_branch = hops_of(&[&["10.255.0.1"], &["10.255.0.21"]]);
        let report = |traced: &Hops| BTreeMap::from([("FORWARD".to_owned(), traced.clone())]);
        let rooted = [(Direction::Forward, root, expected.clone())];
        let untried = "[DEBUG] batch from 10.0.1.100 at TTL 2: 1=10.255.0.21 2=*\n\
                       [DEBUG] batch from 10.0.1.100 at TTL 2: 2=10.255.0.21\n\
                       [DEBUG] batch from 10.0.7.200 at TTL 2: 9=*\n";
        assert!(untried_branches(untried, &report(&missing_branch), &rooted));
        let unanswered = "[DEBUG] batch from 10.0.1.100 at TTL 2: 1=10.255.0.21 2=*\n";
        assert!(!untried_branches(
            unanswered,
            &report(&missing_branch),
            &rooted
        ));
        let missing_hop = hops_of(&[&["10.255.0.1"], &[]]);
        assert!(!untried_branches(untried, &report(&missing_hop), &rooted));
        assert!(!untried_branches("", &report(&missing_branch), &rooted));
    }

    #[test]
    fn a_row_names_three_wrong_runs_and_counts_the_rest() {
        let run = |wrong: Option<&str>| Run {
            untried: wrong == Some("e"),
            wrong: wrong.map(str::to_owned),
            wall: Duration::ZERO,
            probes: BTreeMap::new(),
        };
        let outcome = Outcome {
            case: Case {
                directions: "forward",
                multipath: true,
                family: Family::V4,
            },
            runs: vec![
                run(None),
                run(Some("a")),
                run(Some("b")),
                run(None),
                run(Some("c")),
                run(Some("d")),
                run(Some("e")),
            ],
        };
        let figure = outcome.figure();
        assert!(
            figure.starts_with(
                "2/7 right (1 more missed only a branch none of its flows took, as ε allows);"
            ) && figure.ends_with("; wrong: run 2 (a), run 3 (b), run 5 (c) and 2 more"),
            "{figure}"
        );
    }
}
