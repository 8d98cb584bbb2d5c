//! The monitored path of one direction: per hop (TTL) the vertices seen
//! there, each probed on one flow, with its statistics; and the changes
//! seen while monitoring (a vertex appeared, vanished, or moved to another
//! TTL), each with its time.
//!
//! Each vertex is probed on its own flow at its own TTL. An answer from
//! another address on that flow is a path change: the newcomer joins the
//! hop on that flow, and the old vertex, no longer answering it, vanishes
//! after [`VANISH_AFTER`] probes and stops being probed: the view follows
//! the new path (rediscovery) without a restart.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use super::stats::RttStats;
use crate::{
    trace::graph::Trace,
    trace::probe::{ProbeOutcome, ProbeSpec},
};

/// Probes in a row a vertex must miss before it is taken for vanished:
/// at one probe a second, 8 s, which 10 % random loss reaches once in 10⁸.
pub(crate) const VANISH_AFTER: u32 = 8;

/// Whether a vertex is still on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VertexState {
    Active,
    /// It missed [`VANISH_AFTER`] probes in a row, the last at `at`.
    Vanished {
        at: Duration,
    },
}

/// One vertex of a hop: an address (`None`: nobody answered there yet).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveVertex {
    pub address: Option<IpAddr>,
    /// The flow it is probed on.
    pub flow: u16,
    pub stats: RttStats,
    pub state: VertexState,
    /// When it was first seen; zero for the vertices discovery found.
    pub since: Duration,
    /// Probes on its flow in a row it did not answer.
    misses: u32,
    /// Whether another address answered its flow's latest probe.
    replaced: bool,
}

impl LiveVertex {
    fn new(address: Option<IpAddr>, flow: u16, since: Duration) -> Self {
        Self {
            address,
            flow,
            stats: RttStats::default(),
            state: VertexState::Active,
            since,
            misses: 0,
            replaced: false,
        }
    }

    /// Still probed: not vanished with another address answering its flow.
    pub(crate) fn is_probed(&self) -> bool {
        !(self.replaced && matches!(self.state, VertexState::Vanished { .. }))
    }

    /// Counts a probe on its flow it did not answer; the change if this
    /// makes it vanish.
    fn missed(&mut self, replaced: bool, at: Duration) -> Option<Change> {
        self.stats.lost();
        self.misses += 1;
        self.replaced = replaced;
        let address = self.address?;
        if self.state == VertexState::Active && self.misses >= VANISH_AFTER {
            self.state = VertexState::Vanished { at };
            return Some(Change::Vanished(address));
        }
        None
    }
}

/// The vertices of one TTL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveHop {
    pub ttl: u8,
    pub vertices: Vec<LiveVertex>,
}

/// What changed on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// An address answered at a TTL for the first time (or again, after it
    /// had vanished there).
    Appeared(IpAddr),
    /// An address stopped answering at the TTL.
    Vanished(IpAddr),
    /// An address seen at TTL `from` answered at this TTL instead.
    Shifted { address: IpAddr, from: u8 },
}

/// A change, where and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathChange {
    /// Time since monitoring started.
    pub at: Duration,
    pub ttl: u8,
    pub change: Change,
}

/// The monitored path of one direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LivePath {
    destination: Option<IpAddr>,
    /// Whether discovery reached the destination: only then does a path
    /// that grew longer get probed one TTL further.
    reached: bool,
    max_ttl: u8,
    /// By TTL, ascending.
    hops: Vec<LiveHop>,
    changes: Vec<PathChange>,
}

impl LivePath {
    /// An empty path towards `destination`, probed up to `max_ttl`.
    pub(crate) fn new(destination: Option<IpAddr>, reached: bool, max_ttl: u8) -> Self {
        Self {
            destination,
            reached,
            max_ttl,
            hops: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// The path `trace` discovered: every vertex with a flow, probed on
    /// its smallest flow (black holes on one of the flows lost there).
    pub(crate) fn from_trace(trace: &Trace, destination: Option<IpAddr>, max_ttl: u8) -> Self {
        let mut path = Self::new(destination, trace.reached(), max_ttl);
        for hop in trace.hops().iter().filter(|hop| hop.ttl > 0) {
            for &id in &hop.vertices {
                let vertex = &trace[id];
                if let Some(flow) = vertex.all_flows().min() {
                    path = path.known(hop.ttl, vertex.address(), flow);
                }
            }
        }
        path
    }

    /// Adds a vertex found before monitoring (`None`: a silent one).
    pub(crate) fn known(mut self, ttl: u8, address: Option<IpAddr>, flow: u16) -> Self {
        let index = self.hop_index(ttl);
        self.hops[index]
            .vertices
            .push(LiveVertex::new(address, flow, Duration::ZERO));
        self
    }

    pub(crate) fn destination(&self) -> Option<IpAddr> {
        self.destination
    }

    pub(crate) fn hops(&self) -> &[LiveHop] {
        &self.hops
    }

    /// Every change so far, oldest first.
    pub(crate) fn changes(&self) -> &[PathChange] {
        &self.changes
    }

    /// The probes of cycle number `cycle`: each probed vertex's flow at its
    /// TTL, and one TTL further on a destination's flow answered by a
    /// router at its TTL (the path grew longer). An address seen at several
    /// TTLs is probed at one of them per cycle, in turn, so no router is
    /// asked more than once a cycle.
    pub(crate) fn probes(&self, cycle: u64) -> Vec<ProbeSpec> {
        let mut by_address: HashMap<IpAddr, Vec<ProbeSpec>> = HashMap::new();
        let mut probes = Vec::new();
        for hop in &self.hops {
            for vertex in hop.vertices.iter().filter(|vertex| vertex.is_probed()) {
                let probe = ProbeSpec {
                    ttl: hop.ttl,
                    flow: vertex.flow,
                };
                match vertex.address {
                    Some(address) => by_address.entry(address).or_default().push(probe),
                    None => probes.push(probe),
                }
            }
        }
        for mut turns in by_address.into_values() {
            turns.sort_unstable();
            turns.dedup();
            let turn = usize::try_from(cycle % turns.len() as u64).unwrap_or(0);
            probes.push(turns[turn]);
        }
        probes.extend(self.extensions());
        probes.sort_unstable();
        probes.dedup();
        probes
    }

    /// One TTL past the deepest answer on each destination's flow, where
    /// that answer came from a router.
    fn extensions(&self) -> Vec<ProbeSpec> {
        if !self.reached {
            return Vec::new();
        }
        let destination_flows = self
            .vertices()
            .filter(|(_, vertex)| vertex.address.is_some() && vertex.address == self.destination)
            .map(|(_, vertex)| vertex.flow);
        let mut probes = Vec::new();
        for flow in destination_flows {
            let deepest = self
                .vertices()
                .filter(|(_, vertex)| {
                    vertex.flow == flow
                        && vertex.address.is_some()
                        && vertex.stats.history().last().flatten().is_some()
                })
                .max_by_key(|(ttl, _)| *ttl);
            if let Some((ttl, vertex)) = deepest
                && vertex.address != self.destination
                && ttl < self.max_ttl
            {
                probes.push(ProbeSpec { ttl: ttl + 1, flow });
            }
        }
        probes
    }

    fn vertices(&self) -> impl Iterator<Item = (u8, &LiveVertex)> {
        self.hops
            .iter()
            .flat_map(|hop| hop.vertices.iter().map(move |vertex| (hop.ttl, vertex)))
    }

    /// Records what became of `probe`, `at` a time since monitoring started.
    pub(crate) fn record(&mut self, probe: ProbeSpec, outcome: &ProbeOutcome, at: Duration) {
        let answer = match *outcome {
            ProbeOutcome::Answered { hop, rtt } => Some((hop, rtt)),
            ProbeOutcome::Lost | ProbeOutcome::Refused { .. } => None,
        };
        let Some((address, rtt)) = answer else {
            if let Some(index) = self.hops.iter().position(|hop| hop.ttl == probe.ttl) {
                self.miss(index, probe, None, at);
            }
            return;
        };
        if Some(address) == self.destination
            && self.vertices().any(|(ttl, vertex)| {
                ttl < probe.ttl
                    && vertex.flow == probe.flow
                    && vertex.address == Some(address)
                    && vertex.state == VertexState::Active
                    && !vertex.replaced
            })
        {
            // Past the end of its flow (a probe of the cycle in which the
            // path grew shorter): the destination answers any larger TTL.
            return;
        }
        let shifted_from = self
            .vertices()
            .find(|(ttl, vertex)| {
                *ttl != probe.ttl
                    && vertex.address == Some(address)
                    && vertex.state == VertexState::Active
            })
            .map(|(ttl, _)| ttl);
        let index = self.hop_index(probe.ttl);
        let hop = &mut self.hops[index];
        // A silent vertex on this flow was a gap the answer fills.
        hop.vertices
            .retain(|vertex| vertex.address.is_some() || vertex.flow != probe.flow);
        let change = match hop
            .vertices
            .iter_mut()
            .find(|vertex| vertex.address == Some(address))
        {
            Some(vertex) => {
                let back = matches!(vertex.state, VertexState::Vanished { .. });
                vertex.state = VertexState::Active;
                vertex.misses = 0;
                vertex.replaced = false;
                vertex.stats.answered(rtt);
                back.then_some(Change::Appeared(address))
            }
            None => {
                let mut vertex = LiveVertex::new(Some(address), probe.flow, at);
                vertex.stats.answered(rtt);
                hop.vertices.push(vertex);
                Some(match shifted_from {
                    Some(from) => Change::Shifted { address, from },
                    None => Change::Appeared(address),
                })
            }
        };
        self.note(at, probe.ttl, change);
        self.miss(index, probe, Some(address), at);
        if Some(address) == self.destination {
            self.end_at(probe, at);
        }
    }

    /// Every probed vertex of the hop on the probe's flow that is not
    /// `answered` (any, if nothing answered) missed the probe.
    fn miss(&mut self, index: usize, probe: ProbeSpec, answered: Option<IpAddr>, at: Duration) {
        let ttl = self.hops[index].ttl;
        let changes: Vec<_> = self.hops[index]
            .vertices
            .iter_mut()
            .filter(|vertex| {
                vertex.flow == probe.flow
                    && vertex.is_probed()
                    && (answered.is_none() || vertex.address != answered)
            })
            .filter_map(|vertex| vertex.missed(answered.is_some(), at))
            .collect();
        for change in changes {
            self.note(at, ttl, Some(change));
        }
    }

    /// The destination answered the probe: its flow ends at its TTL, so the
    /// vertices deeper on that flow are off the path.
    fn end_at(&mut self, probe: ProbeSpec, at: Duration) {
        let destination = self.destination;
        let mut changes = Vec::new();
        for hop in self.hops.iter_mut().filter(|hop| hop.ttl > probe.ttl) {
            for vertex in hop
                .vertices
                .iter_mut()
                .filter(|vertex| vertex.flow == probe.flow && vertex.is_probed())
            {
                vertex.replaced = true;
                if vertex.state == VertexState::Active {
                    vertex.state = VertexState::Vanished { at };
                    if let Some(address) = vertex.address
                        && vertex.address != destination
                    {
                        changes.push((hop.ttl, Change::Vanished(address)));
                    }
                }
            }
        }
        for (ttl, change) in changes {
            self.note(at, ttl, Some(change));
        }
    }

    fn note(&mut self, at: Duration, ttl: u8, change: Option<Change>) {
        if let Some(change) = change {
            self.changes.push(PathChange { at, ttl, change });
        }
    }

    /// The index of the hop of `ttl`, inserted empty if missing.
    fn hop_index(&mut self, ttl: u8) -> usize {
        match self.hops.binary_search_by_key(&ttl, |hop| hop.ttl) {
            Ok(index) => index,
            Err(index) => {
                self.hops.insert(
                    index,
                    LiveHop {
                        ttl,
                        vertices: Vec::new(),
                    },
                );
                index
            }
        }
    }

    /// Starts over from the current path: statistics and changes cleared,
    /// vertices no longer probed dropped.
    pub(crate) fn reset(&mut self) {
        for hop in &mut self.hops {
            hop.vertices.retain(LiveVertex::is_probed);
            for vertex in &mut hop.vertices {
                *vertex = LiveVertex::new(vertex.address, vertex.flow, Duration::ZERO);
            }
        }
        self.hops.retain(|hop| !hop.vertices.is_empty());
        self.changes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::host;

    const DESTINATION: u8 = 9;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn answer(n: u8, ms: u64) -> ProbeOutcome {
        ProbeOutcome::Answered {
            hop: host(n),
            rtt: Duration::from_millis(ms),
        }
    }

    /// host(1), host(2), then the destination, all on flow 7.
    fn line() -> LivePath {
        LivePath::new(Some(host(DESTINATION)), true, 10)
            .known(1, Some(host(1)), 7)
            .known(2, Some(host(2)), 7)
            .known(3, Some(host(DESTINATION)), 7)
    }

    fn probe(ttl: u8, flow: u16) -> ProbeSpec {
        ProbeSpec { ttl, flow }
    }

    /// Answers every probe of a cycle as `network(probe)` says.
    fn cycle(
        path: &mut LivePath,
        cycle: u64,
        network: impl Fn(ProbeSpec) -> ProbeOutcome,
    ) -> Vec<ProbeSpec> {
        let probes = path.probes(cycle);
        for &probe in &probes {
            path.record(probe, &network(probe), secs(cycle));
        }
        probes
    }

    fn vertex(path: &LivePath, ttl: u8, n: u8) -> &LiveVertex {
        path.hops()
            .iter()
            .find(|hop| hop.ttl == ttl)
            .and_then(|hop| hop.vertices.iter().find(|v| v.address == Some(host(n))))
            .unwrap_or_else(|| panic!("no host({n}) at TTL {ttl}"))
    }

    /// The original line: TTL t answered by host(t), the destination at 3.
    fn clean(probe: ProbeSpec) -> ProbeOutcome {
        match probe.ttl {
            1 | 2 => answer(probe.ttl, u64::from(probe.ttl)),
            _ => answer(DESTINATION, 3),
        }
    }

    #[test]
    fn a_clean_path_gets_one_probe_per_vertex_and_cycle() {
        let mut path = line();
        for n in 0..5 {
            let sent = cycle(&mut path, n, clean);
            assert_eq!(sent, vec![probe(1, 7), probe(2, 7), probe(3, 7)]);
        }
        let stats = &vertex(&path, 2, 2).stats;
        assert_eq!((stats.sent(), stats.received()), (5, 5));
        assert_eq!(stats.last(), Some(Duration::from_millis(2)));
        assert!(path.changes().is_empty());
    }

    #[test]
    fn loss_is_counted_on_the_vertex_that_loses() {
        let mut path = line();
        for n in 0..10 {
            cycle(&mut path, n, |probe| {
                if probe.ttl == 2 && n % 2 == 0 {
                    ProbeOutcome::Lost
                } else {
                    clean(probe)
                }
            });
        }
        assert!((vertex(&path, 2, 2).stats.loss_percent() - 50.0).abs() < 1e-9);
        assert_eq!(vertex(&path, 1, 1).stats.loss_percent(), 0.0);
        assert_eq!(vertex(&path, 3, DESTINATION).stats.loss_percent(), 0.0);
        assert!(path.changes().is_empty(), "loss is no path change");
    }

    #[test]
    fn a_new_router_at_a_ttl_replaces_the_old_one() {
        let mut path = line();
        cycle(&mut path, 0, clean);
        let rerouted = |probe: ProbeSpec| {
            if probe.ttl == 2 {
                answer(5, 4)
            } else {
                clean(probe)
            }
        };
        for n in 1..=u64::from(VANISH_AFTER) {
            cycle(&mut path, n, rerouted);
        }
        let vanish_time = secs(u64::from(VANISH_AFTER));
        assert_eq!(
            path.changes(),
            [
                PathChange {
                    at: secs(1),
                    ttl: 2,
                    change: Change::Appeared(host(5)),
                },
                PathChange {
                    at: vanish_time,
                    ttl: 2,
                    change: Change::Vanished(host(2)),
                },
            ]
        );
        let old = vertex(&path, 2, 2);
        assert_eq!(old.state, VertexState::Vanished { at: vanish_time });
        assert!(!old.is_probed(), "a replaced vertex is no longer probed");
        let new = vertex(&path, 2, 5);
        assert_eq!((new.since, new.flow), (secs(1), 7));
        assert_eq!(new.stats.received(), VANISH_AFTER);
        // The view follows: the new router is probed on the old flow.
        assert_eq!(
            path.probes(100),
            vec![probe(1, 7), probe(2, 7), probe(3, 7)]
        );
    }

    #[test]
    fn a_silent_router_vanishes_but_is_still_probed_and_comes_back() {
        let mut path = line();
        let silent = |probe: ProbeSpec| {
            if probe.ttl == 2 {
                ProbeOutcome::Lost
            } else {
                clean(probe)
            }
        };
        for n in 0..u64::from(VANISH_AFTER) {
            cycle(&mut path, n, silent);
        }
        assert!(matches!(
            vertex(&path, 2, 2).state,
            VertexState::Vanished { .. }
        ));
        assert!(vertex(&path, 2, 2).is_probed(), "nothing replaced it");
        cycle(&mut path, 20, clean);
        assert_eq!(vertex(&path, 2, 2).state, VertexState::Active);
        let kinds: Vec<_> = path.changes().iter().map(|c| c.change).collect();
        assert_eq!(
            kinds,
            [Change::Vanished(host(2)), Change::Appeared(host(2))]
        );
    }

    #[test]
    fn a_longer_path_is_followed_one_ttl_further() {
        // A router (host 6) is inserted at TTL 2: host 2 moves to TTL 3,
        // the destination to TTL 4.
        let longer = |probe: ProbeSpec| match probe.ttl {
            1 => answer(1, 1),
            2 => answer(6, 2),
            3 => answer(2, 3),
            _ => answer(DESTINATION, 4),
        };
        let mut path = line();
        cycle(&mut path, 0, clean);
        let sent = cycle(&mut path, 1, longer);
        assert_eq!(sent, vec![probe(1, 7), probe(2, 7), probe(3, 7)]);
        // TTL 3 answered by a router on the destination's flow: one further.
        let sent = cycle(&mut path, 2, longer);
        assert!(sent.contains(&probe(4, 7)), "{sent:?}");
        let changes: Vec<_> = path.changes().iter().map(|c| (c.ttl, c.change)).collect();
        assert_eq!(
            changes,
            [
                (2, Change::Appeared(host(6))),
                (
                    3,
                    Change::Shifted {
                        address: host(2),
                        from: 2
                    }
                ),
                (
                    4,
                    Change::Shifted {
                        address: host(DESTINATION),
                        from: 3
                    }
                ),
            ]
        );
        for n in 3..20 {
            cycle(&mut path, n, longer);
        }
        // The old places vanished and are no longer probed.
        assert!(!vertex(&path, 2, 2).is_probed());
        assert!(!vertex(&path, 3, DESTINATION).is_probed());
        assert_eq!(vertex(&path, 4, DESTINATION).stats.loss_percent(), 0.0);
        let sent = path.probes(21);
        assert_eq!(
            sent,
            vec![probe(1, 7), probe(2, 7), probe(3, 7), probe(4, 7)]
        );
    }

    #[test]
    fn a_shorter_path_drops_the_hops_past_the_destination() {
        let shorter = |probe: ProbeSpec| match probe.ttl {
            1 => answer(1, 1),
            _ => answer(DESTINATION, 2),
        };
        let mut path = line();
        cycle(&mut path, 0, clean);
        cycle(&mut path, 1, shorter);
        let changes: Vec<_> = path.changes().iter().map(|c| (c.ttl, c.change)).collect();
        assert_eq!(
            changes,
            [(
                2,
                Change::Shifted {
                    address: host(DESTINATION),
                    from: 3
                }
            )]
        );
        assert!(!vertex(&path, 3, DESTINATION).is_probed());
        for n in 2..12 {
            cycle(&mut path, n, shorter);
        }
        assert!(!vertex(&path, 2, 2).is_probed());
        assert_eq!(path.probes(12), vec![probe(1, 7), probe(2, 7)]);
    }

    #[test]
    fn load_balanced_vertices_keep_their_own_flows_and_statistics() {
        // host 2 and host 3 share TTL 2 on flows 7 and 8; host 3 loses all.
        let mut path = LivePath::new(Some(host(DESTINATION)), true, 10)
            .known(1, Some(host(1)), 7)
            .known(2, Some(host(2)), 7)
            .known(2, Some(host(3)), 8)
            .known(3, Some(host(DESTINATION)), 7);
        for n in 0..3 {
            let sent = cycle(&mut path, n, |probe| match (probe.ttl, probe.flow) {
                (1, _) => answer(1, 1),
                (2, 7) => answer(2, 2),
                (2, _) => ProbeOutcome::Lost,
                _ => answer(DESTINATION, 3),
            });
            assert_eq!(sent.len(), 4, "{sent:?}");
        }
        assert_eq!(vertex(&path, 2, 2).stats.loss_percent(), 0.0);
        assert_eq!(vertex(&path, 2, 3).stats.loss_percent(), 100.0);
        assert_eq!(path.hops()[1].vertices.len(), 2);
    }

    #[test]
    fn an_address_at_two_ttls_is_probed_at_one_per_cycle() {
        let path = LivePath::new(None, false, 10)
            .known(1, Some(host(1)), 7)
            .known(2, Some(host(1)), 7);
        assert_eq!(path.probes(0), vec![probe(1, 7)]);
        assert_eq!(path.probes(1), vec![probe(2, 7)]);
    }

    #[test]
    fn an_answer_fills_a_silent_vertex_and_reset_starts_over() {
        let mut path = LivePath::new(None, false, 10)
            .known(1, None, 7)
            .known(2, Some(host(2)), 7);
        assert_eq!(path.probes(0), vec![probe(1, 7), probe(2, 7)]);
        cycle(&mut path, 0, |probe| answer(probe.ttl, 1));
        assert_eq!(path.hops()[0].vertices.len(), 1, "the gap was filled");
        assert_eq!(path.changes()[0].change, Change::Appeared(host(1)));
        path.reset();
        assert!(path.changes().is_empty());
        assert_eq!(vertex(&path, 1, 1).stats.sent(), 0);
        assert_eq!(path.probes(0), vec![probe(1, 7), probe(2, 7)]);
    }
}
