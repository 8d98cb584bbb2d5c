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
//! vertex per hop in single-path.

use std::{
    collections::{BTreeMap, BTreeSet},
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
use reverse_tr_lab::{Conditions, Direction, Family, Host, Lab, command, fits};

/// Every router of the symmetric lab.
const ROUTERS: [Host; 5] = [Host::R1, Host::R2a, Host::R2b, Host::R3, Host::R4];

/// Runs of scamper per multipath condition and family: it paces its probes
/// 250 ms apart and waits its `-w` for each silent probe, 6–30 s a run,
/// and its probe count hardly varies between runs.
const SCAMPER_RUNS: usize = 2;

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

/// The runs of one case under one setting.
struct Outcome {
    case: Case,
    /// Per run: right or not, wall time, probes per direction.
    runs: Vec<(bool, Duration, BTreeMap<&'static str, u64>)>,
}

impl Outcome {
    fn right(&self) -> usize {
        self.runs.iter().filter(|(right, ..)| *right).count()
    }

    fn wall(&self) -> Option<Summary> {
        Summary::of(self.runs.iter().map(|(_, wall, _)| *wall).collect())
    }

    fn max_wall(&self) -> Duration {
        self.runs
            .iter()
            .map(|(_, wall, _)| *wall)
            .max()
            .unwrap_or_default()
    }

    /// The median of a direction's probes.
    fn probes(&self, direction: &str) -> Option<u64> {
        let mut counts: Vec<u64> = self
            .runs
            .iter()
            .filter_map(|(_, _, probes)| probes.get(direction).copied())
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
        format!(
            "{}/{} right; wall {:.2} s median, {:.2} s max; probes (median) {}",
            self.right(),
            self.runs.len(),
            wall.as_secs_f64(),
            self.max_wall().as_secs_f64(),
            probes.join(", ")
        )
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
        let outcomes = measure(lab, client, output, &setting, runs)?;
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
        let mut all_met = true;
        let mut worst: Option<(Duration, String)> = None;
        let (mut right, mut total) = (0, 0);
        for outcome in &outcomes {
            let reference = clean.iter().find(|c| {
                c.case.directions == outcome.case.directions && c.case.family == outcome.case.family
            });
            let judged = judge(setting.judge, outcome, reference, &scamper_clean);
            all_met &= judged.met;
            right += outcome.right();
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
                "{right}/{total} runs right; slowest median {:.2} s ({slowest})",
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
        let right = is_right(lab, &setting.conditions, outcome.case, &measured);
        let probes = measured
            .probes
            .iter()
            .map(|(&direction, &(sent, _))| (direction, sent))
            .collect();
        outcome.runs.push((right, measured.wall, probes));
    }
    Ok(outcomes)
}

/// Whether a run shows what the conditions let a trace see.
fn is_right(lab: &Lab, conditions: &Conditions, case: Case, measured: &Measured) -> bool {
    measured.success
        && [
            (Direction::Forward, "FORWARD"),
            (Direction::Reverse, "REVERSE"),
        ]
        .into_iter()
        .filter(|(direction, _)| case.traces(*direction))
        .all(|(direction, heading)| {
            let expected = conditions.visible(&lab.expected_hops(direction, case.family));
            measured.hops.get(heading).is_some_and(|hops| {
                fits(hops, &expected)
                    && if case.multipath {
                        *hops == expected
                    } else {
                        hops.values().all(|seen| seen.len() <= 1)
                    }
            })
        })
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
        outcome.runs.push((seen == expected, wall, probes));
    }
    Ok(outcome)
}
