//! Progress of a running trace on a terminal: one self-updating line on
//! stderr per run, telling for each direction the TTL being probed, probes
//! sent and answered and the addresses found. The engine reports every
//! batch to the [`Observer`] a run is given, which [`Progress`] is. Log lines erase the progress line and redraw it below them.
//! The line is cut to the terminal's width at every draw, and erased over
//! as many rows as it may wrap to since the terminal shrank.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use crate::{
    trace::graph::Direction,
    trace::probe::{ProbeOutcome, ProbeSpec},
    trace::run::Observer,
};

/// The progress line now on the terminal, if any; log lines consult it.
static SHOWN: Mutex<Option<String>> = Mutex::new(None);

fn shown() -> MutexGuard<'static, Option<String>> {
    SHOWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one direction has done so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    /// The highest TTL probed.
    pub ttl: u8,
    pub sent: u32,
    pub answered: u32,
    /// Distinct addresses that answered.
    pub found: BTreeSet<IpAddr>,
}

/// The progress of one run, shown on stderr or only counted.
#[derive(Debug)]
pub(crate) struct Progress {
    show: bool,
    counts: Mutex<BTreeMap<String, Counts>>,
}

impl Progress {
    /// `show`: draw the line (stderr is a terminal and nothing else, such
    /// as debug logging, fills it).
    pub(crate) fn new(show: bool) -> Arc<Self> {
        Arc::new(Self {
            show,
            counts: Mutex::new(BTreeMap::new()),
        })
    }

    /// The counts of `direction` so far.
    #[cfg(test)]
    pub(crate) fn counts(&self, direction: Direction) -> Counts {
        self.lock()
            .get(&direction.to_string())
            .cloned()
            .unwrap_or_default()
    }

    /// The progress line.
    pub(crate) fn line(&self) -> String {
        self.lock()
            .iter()
            .map(|(direction, c)| {
                format!(
                    "{direction} TTL {}: {} sent, {} answered, {} found",
                    c.ttl,
                    c.sent,
                    c.answered,
                    c.found.len()
                )
            })
            .collect::<Vec<_>>()
            .join("  |  ")
    }

    /// The progress line in at most `width` columns: the full line, else
    /// one word per count (`forward 7: 120/97/9`: TTL, sent/answered/found),
    /// else that cut with `…`.
    pub(crate) fn line_within(&self, width: usize) -> String {
        let full = self.line();
        if full.chars().count() <= width {
            return full;
        }
        let short = self
            .lock()
            .iter()
            .map(|(direction, c)| {
                format!(
                    "{direction} {}: {}/{}/{}",
                    c.ttl,
                    c.sent,
                    c.answered,
                    c.found.len()
                )
            })
            .collect::<Vec<_>>()
            .join(" | ");
        cut(&short, width)
    }

    /// Removes the line from the terminal (at the end of the run).
    pub(crate) fn finish(&self) {
        if self.show {
            let mut shown = shown();
            if let Some(line) = shown.take() {
                erase(&line);
            }
        }
    }

    fn draw(&self) {
        if self.show {
            let line = self.line_within(terminal_width().saturating_sub(1));
            let mut shown = shown();
            if let Some(old) = shown.as_deref() {
                erase(old);
            }
            put(&line);
            *shown = Some(line);
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Counts>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts what each direction sends and gets back.
impl Observer for Progress {
    fn sending(&self, direction: Direction, probes: &[ProbeSpec]) {
        {
            let mut counts = self.lock();
            let c = counts.entry(direction.to_string()).or_default();
            c.sent += u32::try_from(probes.len()).unwrap_or(u32::MAX);
            c.ttl = probes
                .iter()
                .map(|p| p.ttl)
                .max()
                .unwrap_or(c.ttl)
                .max(c.ttl);
        }
        self.draw();
    }

    fn outcomes(&self, direction: Direction, outcomes: &[(ProbeSpec, ProbeOutcome)]) {
        {
            let mut counts = self.lock();
            let c = counts.entry(direction.to_string()).or_default();
            for (_, outcome) in outcomes {
                if let ProbeOutcome::Answered { hop, .. } = outcome {
                    c.answered += 1;
                    c.found.insert(*hop);
                }
            }
        }
        self.draw();
    }
}

/// `text` in at most `width` columns (one per character: the line is ASCII
/// but for the `…` that marks a cut).
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        kept.push('…');
    }
    kept
}

/// Columns of the terminal on stderr (80 if it does not say).
fn terminal_width() -> usize {
    terminal_size::terminal_size_of(std::io::stderr()).map_or(80, |(width, _)| usize::from(width.0))
}

/// What erases `shown` when the terminal is now `width` columns wide: a
/// line drawn on a wider terminal may have wrapped to several rows, all of
/// which are cleared from the last up.
fn erasure(shown: &str, width: usize) -> String {
    let rows = shown.chars().count().max(1).div_ceil(width.max(1));
    let mut text = "\r\x1b[2K".to_owned();
    for _ in 1..rows {
        text.push_str("\x1b[1A\x1b[2K");
    }
    text
}

/// Erases the progress line `shown` from the terminal.
fn erase(shown: &str) {
    put(&erasure(shown, terminal_width()));
}

/// Writes `text` to stderr; a terminal that cannot be written to has
/// nothing to show, so failures are ignored.
fn put(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// A logger that erases the progress line before each record and redraws
/// it after, so log lines and the line never mix.
pub(crate) struct Logger<L>(pub L);

impl<L: log::Log> log::Log for Logger<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.0.enabled(record.metadata()) {
            return;
        }
        let shown = shown();
        if let Some(line) = shown.as_deref() {
            erase(line);
        }
        self.0.log(record);
        if let Some(line) = shown.as_deref() {
            put(line);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::trace::{Result, probe::Prober, run::Observed};

    /// Answers odd flows only, from `10.0.<ttl>.<flow % 4>`.
    struct OddFlows;

    impl Prober for OddFlows {
        async fn send_batch(&self, probes: &[ProbeSpec]) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
            Ok(probes
                .iter()
                .map(|&probe| {
                    let outcome = if probe.flow % 2 == 1 {
                        ProbeOutcome::Answered {
                            hop: IpAddr::from([10, 0, probe.ttl, (probe.flow % 4) as u8]),
                            rtt: Duration::from_millis(1),
                        }
                    } else {
                        ProbeOutcome::Lost
                    };
                    (probe, outcome)
                })
                .collect())
        }
    }

    fn batch(ttl: u8, flows: std::ops::Range<u16>) -> Vec<ProbeSpec> {
        flows.map(|flow| ProbeSpec { ttl, flow }).collect()
    }

    #[tokio::test]
    async fn counts_probes_answers_and_addresses_per_direction() {
        let progress = Progress::new(false);
        let forward = Observed::new(OddFlows, progress.as_ref(), Direction::Forward);
        let reverse = Observed::new(OddFlows, progress.as_ref(), Direction::Reverse);
        let outcomes = forward.send_batch(&batch(1, 1..7)).await.expect("batch");
        assert_eq!(outcomes.len(), 6, "the wrapper passes outcomes on");
        forward.send_batch(&batch(2, 1..5)).await.expect("batch");
        reverse.send_batch(&batch(1, 2..3)).await.expect("batch");

        let f = progress.counts(Direction::Forward);
        // Flows 1, 3, 5 at TTL 1 (10.0.1.1, 10.0.1.3) and 1, 3 at TTL 2.
        assert_eq!((f.ttl, f.sent, f.answered, f.found.len()), (2, 10, 5, 4));
        let r = progress.counts(Direction::Reverse);
        assert_eq!((r.ttl, r.sent, r.answered, r.found.len()), (1, 1, 0, 0));
        assert_eq!(
            progress.line(),
            "forward TTL 2: 10 sent, 5 answered, 4 found  |  reverse TTL 1: 1 sent, 0 answered, 0 found"
        );
    }

    #[tokio::test]
    async fn the_line_never_exceeds_the_width() {
        let progress = Progress::new(false);
        let forward = Observed::new(OddFlows, progress.as_ref(), Direction::Forward);
        let reverse = Observed::new(OddFlows, progress.as_ref(), Direction::Reverse);
        forward.send_batch(&batch(12, 1..300)).await.expect("batch");
        reverse.send_batch(&batch(9, 1..40)).await.expect("batch");
        let full = progress.line();
        assert_eq!(full.len(), 96, "{full}");
        assert_eq!(progress.line_within(200), full);
        assert_eq!(
            progress.line_within(79),
            "forward 12: 299/150/2 | reverse 9: 39/20/2"
        );
        for width in 0..100 {
            let line = progress.line_within(width);
            assert!(line.chars().count() <= width, "{width}: {line}");
        }
        assert_eq!(progress.line_within(12), "forward 12:…");
    }

    #[test]
    fn erasing_clears_every_row_a_wrapped_line_took() {
        let line = "x".repeat(100);
        assert_eq!(erasure(&line, 120), "\r\x1b[2K");
        assert_eq!(erasure(&line, 100), "\r\x1b[2K");
        // Shrunk to 40 columns: the line now takes three rows.
        assert_eq!(erasure(&line, 40), "\r\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2K");
        assert_eq!(erasure("", 0), "\r\x1b[2K");
    }

    #[tokio::test]
    async fn a_retry_at_a_lower_ttl_keeps_the_highest() {
        let progress = Progress::new(false);
        let forward = Observed::new(OddFlows, progress.as_ref(), Direction::Forward);
        forward.send_batch(&batch(3, 1..2)).await.expect("batch");
        forward.send_batch(&batch(2, 1..2)).await.expect("batch");
        assert_eq!(progress.counts(Direction::Forward).ttl, 3);
    }
}
