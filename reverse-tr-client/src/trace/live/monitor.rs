//! The monitoring loop: in cycles, every probed vertex of each direction
//! gets one probe on its flow at its TTL (both directions at once, through
//! their [`Prober`]s), the outcomes go into the [`LivePath`]s, and the
//! observer gets a snapshot after each cycle. A cycle starts `interval`
//! after the previous one (or when it ended, if it took longer), so with
//! an interval of 1 s no router is asked more than once a second per
//! direction: the sustained rate of Linux's default ICMP error budget.
//! The first cycle waits that second too, after discovery's probes.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use super::path::LivePath;
use crate::{
    trace::Result,
    trace::probe::{ProbeOutcome, ProbeSpec, Prober},
};

/// The shortest interval between two cycles: Linux routers answer about
/// one ICMP error per second and destination after a burst of 6.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How a monitoring run is paced and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveSettings {
    /// Time from the start of one cycle to the start of the next.
    pub interval: Duration,
    /// Stop after this many cycles; `None`: until stopped.
    pub cycles: Option<u64>,
}

/// The state of both directions after a cycle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Cycles run so far (since the last reset).
    pub cycle: u64,
    /// Time since monitoring started when the latest cycle began.
    pub elapsed: Duration,
    pub forward: Option<LivePath>,
    pub reverse: Option<LivePath>,
}

impl Snapshot {
    /// The directions being monitored, forward first.
    pub(crate) fn paths(
        &self,
    ) -> impl Iterator<Item = (crate::trace::graph::Direction, &LivePath)> {
        use crate::trace::graph::Direction;
        let forward = self.forward.iter().map(|path| (Direction::Forward, path));
        forward.chain(self.reverse.iter().map(|path| (Direction::Reverse, path)))
    }

    /// Every address seen, in either direction (some more than once).
    pub(crate) fn addresses(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        self.paths()
            .flat_map(|(_, path)| path.hops())
            .flat_map(|hop| &hop.vertices)
            .filter_map(|vertex| vertex.address)
    }
}

/// Requests from outside the loop (a key pressed, Ctrl-C): a pause is
/// taken at the start of the next cycle, a reset once no cycle is in
/// flight, and a stop ends the wait between cycles.
#[derive(Debug, Default)]
pub(crate) struct Control {
    stop: AtomicBool,
    paused: AtomicBool,
    reset: AtomicBool,
    wake: Notify,
}

impl Control {
    /// Ends monitoring after the cycle in flight.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Pauses probing, or resumes it; returns whether it is now paused.
    pub(crate) fn toggle_pause(&self) -> bool {
        !self.paused.fetch_xor(true, Ordering::Relaxed)
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Clears the statistics now; cycles keep their beat.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// One direction to monitor: its prober and the path discovery found.
pub(crate) struct Watched<'a, P> {
    pub prober: &'a P,
    pub path: LivePath,
}

/// Monitors the given directions until `settings.cycles` ran or `control`
/// stops it, calling `observer` after every cycle; returns the final state.
pub(crate) async fn monitor<F: Prober, R: Prober>(
    forward: Option<Watched<'_, F>>,
    reverse: Option<Watched<'_, R>>,
    settings: LiveSettings,
    control: &Control,
    mut observer: impl FnMut(&Snapshot),
) -> Result<Snapshot> {
    let (forward_prober, reverse_prober) = (
        forward.as_ref().map(|watched| watched.prober),
        reverse.as_ref().map(|watched| watched.prober),
    );
    let mut snapshot = Snapshot {
        cycle: 0,
        elapsed: Duration::ZERO,
        forward: forward.map(|watched| watched.path),
        reverse: reverse.map(|watched| watched.path),
    };
    // Discovery has just spent the routers' bursts of errors, which
    // refill at one a second: the first cycle waits that second, or it
    // loses probes.
    rest(
        Instant::now() + MIN_INTERVAL,
        control,
        &mut snapshot,
        &mut observer,
    )
    .await;
    let start = Instant::now();
    // Probes are chosen by the cycle number, which a reset does not rewind.
    let mut turn = 0;
    while !control.is_stopped() && settings.cycles.is_none_or(|cycles| snapshot.cycle < cycles) {
        let cycle_start = Instant::now();
        take_reset(control, &mut snapshot, &mut observer);
        if !control.is_paused() {
            let at = cycle_start.duration_since(start);
            let (forward, reverse) = tokio::join!(
                probe(forward_prober, snapshot.forward.as_ref(), turn),
                probe(reverse_prober, snapshot.reverse.as_ref(), turn),
            );
            record(snapshot.forward.as_mut(), forward?, at);
            record(snapshot.reverse.as_mut(), reverse?, at);
            turn += 1;
            snapshot.cycle += 1;
            snapshot.elapsed = at;
            observer(&snapshot);
        }
        if settings
            .cycles
            .is_some_and(|cycles| snapshot.cycle >= cycles)
        {
            break;
        }
        rest(
            cycle_start + settings.interval,
            control,
            &mut snapshot,
            &mut observer,
        )
        .await;
    }
    Ok(snapshot)
}

/// Waits until `until`; only a stop cuts the wait short. A reset clears
/// the statistics at once but keeps the next cycle's time: an early cycle
/// would ask the routers for errors before their budget refills.
async fn rest(
    until: Instant,
    control: &Control,
    snapshot: &mut Snapshot,
    observer: &mut impl FnMut(&Snapshot),
) {
    while !control.is_stopped()
        && tokio::time::timeout_at(until, control.wake.notified())
            .await
            .is_ok()
    {
        take_reset(control, snapshot, observer);
    }
}

/// Clears the statistics and shows them cleared, if a reset was asked for.
fn take_reset(control: &Control, snapshot: &mut Snapshot, observer: &mut impl FnMut(&Snapshot)) {
    if control.reset.swap(false, Ordering::Relaxed) {
        for path in snapshot.forward.iter_mut().chain(&mut snapshot.reverse) {
            path.reset();
        }
        snapshot.cycle = 0;
        observer(snapshot);
    }
}

/// Sends one cycle's probes of a direction.
async fn probe<P: Prober>(
    prober: Option<&P>,
    path: Option<&LivePath>,
    turn: u64,
) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
    match (prober, path) {
        (Some(prober), Some(path)) => prober.send_batch(&path.probes(turn)).await,
        _ => Ok(Vec::new()),
    }
}

fn record(path: Option<&mut LivePath>, outcomes: Vec<(ProbeSpec, ProbeOutcome)>, at: Duration) {
    if let Some(path) = path {
        for (probe, outcome) in outcomes {
            path.record(probe, &outcome, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        trace::fake_network::{FakeNetwork, host, rate_limited},
        trace::graph::Direction,
    };

    const DESTINATION: u8 = 9;
    const SECOND: Duration = Duration::from_secs(1);

    fn answer(n: u8) -> ProbeOutcome {
        ProbeOutcome::Answered {
            hop: host(n),
            rtt: Duration::from_millis(u64::from(n)),
        }
    }

    /// host(1), host(2), the destination at TTL 3, on `flow`.
    fn line(flow: u16) -> LivePath {
        LivePath::new(Some(host(DESTINATION)), true, 10)
            .known(1, Some(host(1)), flow)
            .known(2, Some(host(2)), flow)
            .known(3, Some(host(DESTINATION)), flow)
    }

    fn clean(probe: ProbeSpec, _: usize) -> ProbeOutcome {
        match probe.ttl {
            1 | 2 => answer(probe.ttl),
            _ => answer(DESTINATION),
        }
    }

    /// `cycles` of the forward direction alone, on `line(7)`.
    async fn forward_only<F>(network: &FakeNetwork<F>, cycles: u64) -> Snapshot
    where
        F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync,
    {
        monitor(
            Some(Watched {
                prober: network,
                path: line(7),
            }),
            None::<Watched<'_, FakeNetwork<fn(ProbeSpec, usize) -> ProbeOutcome>>>,
            settings(cycles),
            &Control::default(),
            |_| {},
        )
        .await
        .expect("monitoring")
    }

    fn settings(cycles: u64) -> LiveSettings {
        LiveSettings {
            interval: SECOND,
            cycles: Some(cycles),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn both_directions_are_probed_once_a_cycle_per_router_an_interval_apart() {
        let (forward, reverse) = (FakeNetwork::new(clean), FakeNetwork::new(clean));
        let mut seen = Vec::new();
        let start = Instant::now();
        let snapshot = monitor(
            Some(Watched {
                prober: &forward,
                path: line(7),
            }),
            Some(Watched {
                prober: &reverse,
                path: line(8),
            }),
            settings(5),
            &Control::default(),
            |snapshot| seen.push((snapshot.cycle, snapshot.elapsed)),
        )
        .await
        .expect("monitoring");
        let expected: Vec<_> = (1..=5).map(|n| (n, SECOND * (n as u32 - 1))).collect();
        assert_eq!(
            seen, expected,
            "one snapshot a cycle, cycles an interval apart"
        );
        assert_eq!(
            start.elapsed(),
            MIN_INTERVAL + SECOND * 4,
            "a rest after discovery, no wait after the last cycle"
        );
        for (network, flow) in [(&forward, 7), (&reverse, 8)] {
            let batches = network.batches();
            assert_eq!(batches.len(), 5);
            for batch in batches {
                let ttls: Vec<_> = batch.iter().map(|probe| (probe.ttl, probe.flow)).collect();
                assert_eq!(ttls, [(1, flow), (2, flow), (3, flow)]);
            }
        }
        let directions: Vec<_> = snapshot.paths().map(|(direction, _)| direction).collect();
        assert_eq!(directions, [Direction::Forward, Direction::Reverse]);
        for (_, path) in snapshot.paths() {
            for vertex in path.hops().iter().flat_map(|hop| &hop.vertices) {
                assert_eq!((vertex.stats.sent(), vertex.stats.received()), (5, 5));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn routers_whose_burst_discovery_spent_lose_no_probe_of_the_first_cycle() {
        // Linux's limit; discovery has just spent every router's burst.
        let network = FakeNetwork::new(rate_limited(|probe| clean(probe, 0)));
        let discovery: Vec<ProbeSpec> = (1..=3)
            .flat_map(|ttl| (0..6).map(move |flow| ProbeSpec { ttl, flow }))
            .collect();
        let answered = network.send_batch(&discovery).await.expect("fake network");
        assert!(
            answered
                .iter()
                .all(|(_, outcome)| matches!(outcome, ProbeOutcome::Answered { .. }))
        );
        let snapshot = forward_only(&network, 5).await;
        for vertex in snapshot
            .paths()
            .flat_map(|(_, path)| path.hops())
            .flat_map(|hop| &hop.vertices)
        {
            assert_eq!((vertex.stats.sent(), vertex.stats.received()), (5, 5));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn monitoring_follows_a_route_change_without_a_restart() {
        // After 9 probes (3 cycles), TTL 2 is answered by host(5).
        let network = FakeNetwork::new(|probe: ProbeSpec, sequence| match probe.ttl {
            2 if sequence >= 9 => answer(5),
            _ => clean(probe, sequence),
        });
        let snapshot = forward_only(&network, 15).await;
        let path = snapshot.forward.expect("forward");
        let hop = &path.hops()[1];
        let addresses: Vec<_> = hop.vertices.iter().map(|v| v.address).collect();
        assert_eq!(addresses, [Some(host(2)), Some(host(5))]);
        assert!(!hop.vertices[0].is_probed());
        assert_eq!(hop.vertices[1].since, SECOND * 3);
        assert_eq!(hop.vertices[1].stats.received(), 12);
        // The last cycles probe the new router only, once each.
        assert_eq!(network.batches().last().map(Vec::len), Some(3));
        assert_eq!(path.changes().len(), 2, "{:?}", path.changes());
    }

    #[tokio::test(start_paused = true)]
    async fn pause_sends_nothing_reset_clears_and_stop_ends() {
        let network = Arc::new(FakeNetwork::new(clean));
        let control = Arc::new(Control::default());
        let task = {
            let (network, control) = (Arc::clone(&network), Arc::clone(&control));
            tokio::spawn(async move {
                let mut cycles = Vec::new();
                let snapshot = monitor(
                    Some(Watched {
                        prober: &*network,
                        path: line(7),
                    }),
                    None::<Watched<'_, FakeNetwork<fn(ProbeSpec, usize) -> ProbeOutcome>>>,
                    LiveSettings {
                        interval: SECOND,
                        cycles: None,
                    },
                    &control,
                    |snapshot| cycles.push(snapshot.cycle),
                )
                .await;
                (snapshot, cycles)
            })
        };
        tokio::time::sleep(MIN_INTERVAL + SECOND * 3 / 2).await; // the rest, two cycles
        assert!(control.toggle_pause());
        tokio::time::sleep(SECOND * 3).await;
        assert_eq!(network.batches().len(), 2, "nothing is sent while paused");
        assert!(!control.toggle_pause());
        control.reset();
        tokio::time::sleep(SECOND).await;
        control.stop();
        let (snapshot, cycles) = task.await.expect("task");
        let snapshot = snapshot.expect("monitoring");
        assert_eq!(cycles, [1, 2, 0, 1], "a reset starts the count over");
        let path = snapshot.forward.expect("forward");
        let vertex = &path.hops()[0].vertices[0];
        assert_eq!(vertex.stats.sent(), 1, "statistics since the reset");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_clears_at_once_but_never_brings_a_cycle_forward() {
        let network = Arc::new(FakeNetwork::new(clean));
        let control = Arc::new(Control::default());
        let start = Instant::now();
        let task = {
            let (network, control) = (Arc::clone(&network), Arc::clone(&control));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                monitor(
                    Some(Watched {
                        prober: &*network,
                        path: line(7),
                    }),
                    None::<Watched<'_, FakeNetwork<fn(ProbeSpec, usize) -> ProbeOutcome>>>,
                    settings(2),
                    &control,
                    |snapshot| seen.push((snapshot.cycle, start.elapsed())),
                )
                .await
                .expect("monitoring");
                seen
            })
        };
        // One reset in the rest after discovery, one between the cycles.
        for _ in 0..2 {
            tokio::time::sleep(SECOND / 2).await;
            control.reset();
            tokio::time::sleep(SECOND / 2).await;
        }
        let seen = task.await.expect("task");
        let half = SECOND / 2;
        // Two cycles counted since the last reset: three in all.
        assert_eq!(
            seen,
            [
                (0, half),
                (1, SECOND),
                (0, SECOND + half),
                (1, SECOND * 2),
                (2, SECOND * 3)
            ]
        );
        let sent: Vec<Duration> = network.sent().iter().map(|&(at, _)| at - start).collect();
        assert_eq!(
            sent,
            [SECOND, SECOND * 2, SECOND * 3],
            "on the interval's beat"
        );
    }
}
