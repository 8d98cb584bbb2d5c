//! The graph one trace discovers (PROTOCOL.md §11.7): vertices grouped in
//! hops by TTL, black holes standing in for silent routers, and links
//! inferred from the flows two vertices share.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    ops::Index,
    time::Duration,
};

use crate::trace::probe::ErrorState;

/// Which way a trace runs (§11.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From here towards the target.
    Forward,
    /// From the server on the target back towards here.
    Reverse,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forward => "forward",
            Self::Reverse => "reverse",
        })
    }
}

/// Index of a vertex within its [`Trace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VertexId(usize);

/// What a vertex stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VertexKind {
    /// A host that answered (or the root).
    Responsive(IpAddr),
    /// Whatever did not answer after `predecessor` (shown as `***`).
    BlackHole { predecessor: VertexId },
}

/// One vertex of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Vertex {
    pub kind: VertexKind,
    /// Flows this vertex answered (the reference's `flow_set`).
    pub flows: BTreeSet<u16>,
    /// Flows attributed to it without direct evidence (`shadow_flow_set`).
    pub shadow_flows: BTreeSet<u16>,
    /// Round-trip times of its answers, in arrival order.
    pub rtts: Vec<Duration>,
    /// Linked vertices of the next hop, in the order they were linked.
    pub successors: Vec<VertexId>,
}

impl Vertex {
    fn new(kind: VertexKind) -> Self {
        Self {
            kind,
            flows: BTreeSet::new(),
            shadow_flows: BTreeSet::new(),
            rtts: Vec::new(),
            successors: Vec::new(),
        }
    }

    /// The address that answered, `None` for a black hole.
    pub fn address(&self) -> Option<IpAddr> {
        match self.kind {
            VertexKind::Responsive(address) => Some(address),
            VertexKind::BlackHole { .. } => None,
        }
    }

    pub fn is_black_hole(&self) -> bool {
        matches!(self.kind, VertexKind::BlackHole { .. })
    }

    /// Whether `flow` is in `flows(v) = flow_set ∪ shadow_flow_set`.
    pub fn carries(&self, flow: u16) -> bool {
        self.flows.contains(&flow) || self.shadow_flows.contains(&flow)
    }

    /// `flows(v)`, each flow once.
    pub fn all_flows(&self) -> impl Iterator<Item = u16> + '_ {
        self.flows.iter().copied().chain(
            self.shadow_flows
                .iter()
                .copied()
                .filter(|flow| !self.flows.contains(flow)),
        )
    }

    /// `|flows(v)|`.
    pub fn flow_count(&self) -> usize {
        self.all_flows().count()
    }

    /// Smallest, mean and largest RTT of its answers; `None` without any.
    pub fn rtt_summary(&self) -> Option<RttSummary> {
        let min = *self.rtts.iter().min()?;
        let max = *self.rtts.iter().max()?;
        let total: Duration = self.rtts.iter().sum();
        let mean = total.div_f64(self.rtts.len() as f64);
        Some(RttSummary { min, mean, max })
    }

    fn shares_flow_with(&self, other: &Vertex) -> bool {
        self.all_flows().any(|flow| other.carries(flow))
    }
}

/// The RTTs of one vertex in brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttSummary {
    pub min: Duration,
    pub mean: Duration,
    pub max: Duration,
}

/// The vertices found at one TTL and what probing that TTL cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub ttl: u8,
    /// Insertion order: answers come before black holes, so the first vertex
    /// is responsive whenever any is.
    pub vertices: Vec<VertexId>,
    /// Probes sent with this TTL (retries and re-probes included).
    pub sent: u32,
    /// Probes of `sent` that were answered.
    pub answered: u32,
    /// The hop's router answered, then fell silent and answered again only
    /// after a pause: it looked rate-limited (or lossy).
    pub rate_limited: bool,
}

impl Hop {
    fn new(ttl: u8) -> Self {
        Self {
            ttl,
            vertices: Vec::new(),
            sent: 0,
            answered: 0,
            rate_limited: false,
        }
    }

    /// Share of this hop's probes that got no answer, in 0..=1.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            f64::from(self.sent - self.answered) / f64::from(self.sent)
        }
    }
}

/// The result of one discovery: the graph reachable from the root, hop by hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    vertices: Vec<Vertex>,
    hops: Vec<Hop>,
    reached: bool,
    interrupted: bool,
    refusals: BTreeMap<ErrorState, u32>,
    /// The root sends every flow to one first hop (see
    /// [`Prober::one_first_hop`](crate::trace::probe::Prober::one_first_hop)).
    one_first_hop: bool,
}

impl Index<VertexId> for Trace {
    type Output = Vertex;

    fn index(&self, id: VertexId) -> &Vertex {
        &self.vertices[id.0]
    }
}

impl Trace {
    /// A trace holding only the root vertex, at TTL 0.
    pub fn new(root: IpAddr) -> Self {
        let mut hop = Hop::new(0);
        hop.vertices.push(VertexId(0));
        Self {
            vertices: vec![Vertex::new(VertexKind::Responsive(root))],
            hops: vec![hop],
            reached: false,
            interrupted: false,
            refusals: BTreeMap::new(),
            one_first_hop: false,
        }
    }

    pub fn root(&self) -> VertexId {
        VertexId(0)
    }

    /// The hops, the root's (TTL 0) first.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// Whether the destination answered as the only responsive vertex of a hop.
    pub fn reached(&self) -> bool {
        self.reached
    }

    /// Whether discovery was stopped before it ended by itself.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Every vertex reachable from the root once, depth-first pre-order
    /// (the root first, successors in the order they were linked).
    pub fn preorder(&self) -> Vec<VertexId> {
        let mut seen = vec![false; self.vertices.len()];
        let mut order = Vec::new();
        let mut stack = vec![self.root()];
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut seen[id.0], true) {
                order.push(id);
                stack.extend(self[id].successors.iter().rev().copied());
            }
        }
        order
    }

    /// Error states the server answered with (reverse only), and how often.
    pub fn refusals(&self) -> &BTreeMap<ErrorState, u32> {
        &self.refusals
    }

    /// Equality of §11.7: responsive vertices by address, black holes by the
    /// address of their predecessors.
    pub fn same_vertex(&self, a: VertexId, b: VertexId) -> bool {
        match (self[a].kind, self[b].kind) {
            (VertexKind::Responsive(x), VertexKind::Responsive(y)) => x == y,
            (
                VertexKind::BlackHole { predecessor: p },
                VertexKind::BlackHole { predecessor: q },
            ) => self.same_vertex(p, q),
            _ => false,
        }
    }

    pub(crate) fn set_reached(&mut self) {
        self.reached = true;
    }

    pub(crate) fn set_interrupted(&mut self) {
        self.interrupted = true;
    }

    pub(crate) fn refused(&mut self, state: ErrorState) {
        *self.refusals.entry(state).or_default() += 1;
    }

    pub(crate) fn hop(&self, hop: usize) -> &Hop {
        &self.hops[hop]
    }

    pub(crate) fn vertex_mut(&mut self, id: VertexId) -> &mut Vertex {
        &mut self.vertices[id.0]
    }

    /// Appends an empty hop for `ttl` and returns its index.
    pub(crate) fn push_hop(&mut self, ttl: u8) -> usize {
        self.hops.push(Hop::new(ttl));
        self.hops.len() - 1
    }

    /// Counts probes sent with the hop's TTL and how many were answered.
    pub(crate) fn count_probes(&mut self, hop: usize, sent: u32, answered: u32) {
        let hop = &mut self.hops[hop];
        hop.sent += sent;
        hop.answered += answered;
    }

    /// The first vertex of a hop (responsive whenever one is).
    pub(crate) fn first(&self, hop: usize) -> Option<VertexId> {
        self.hops[hop].vertices.first().copied()
    }

    /// `record(hop, address, flow, rtt)`; returns the vertex if it is new.
    pub(crate) fn record(
        &mut self,
        hop: usize,
        address: IpAddr,
        flow: u16,
        rtt: Duration,
    ) -> Option<VertexId> {
        let existing = self.hops[hop]
            .vertices
            .iter()
            .copied()
            .find(|&id| self[id].kind == VertexKind::Responsive(address));
        let (id, new) = match existing {
            Some(id) => (id, false),
            None => {
                let id = self.add_vertex(hop, VertexKind::Responsive(address));
                (id, true)
            }
        };
        let vertex = self.vertex_mut(id);
        vertex.flows.insert(flow);
        vertex.rtts.push(rtt);
        new.then_some(id)
    }

    /// `flows(hop)`: every flow of every vertex of the hop.
    pub(crate) fn hop_flows(&self, hop: usize) -> BTreeSet<u16> {
        self.hops[hop]
            .vertices
            .iter()
            .flat_map(|&id| self[id].all_flows())
            .collect()
    }

    /// `connect(hop, next)`: links every vertex of `hop` to every vertex of
    /// `next` it shares a flow with; returns the number of new links.
    pub(crate) fn connect(&mut self, hop: usize, next: usize) -> usize {
        let mut links = Vec::new();
        for &v in &self.hops[hop].vertices {
            for &w in &self.hops[next].vertices {
                if !self[v].successors.contains(&w) && self[v].shares_flow_with(&self[w]) {
                    links.push((v, w));
                }
            }
        }
        for &(v, w) in &links {
            self.vertex_mut(v).successors.push(w);
        }
        links.len()
    }

    /// Gives every vertex of `hop` without successors a black hole in
    /// `next`, which inherits its flows as shadow flows so later answers on
    /// those flows reconnect the path across the silent hop.
    pub(crate) fn add_black_holes(&mut self, hop: usize, next: usize) {
        let orphans: Vec<VertexId> = self.hops[hop]
            .vertices
            .iter()
            .copied()
            .filter(|&id| self[id].successors.is_empty())
            .collect();
        for predecessor in orphans {
            let shadow_flows = self[predecessor].all_flows().collect();
            let hole = self.add_vertex(next, VertexKind::BlackHole { predecessor });
            self.vertex_mut(hole).shadow_flows = shadow_flows;
            self.vertex_mut(predecessor).successors.push(hole);
        }
    }

    /// Whether the hop probed with `ttl` has answered.
    pub(crate) fn answered_at(&self, ttl: u8) -> bool {
        self.answered_where(|probed| probed == ttl)
    }

    /// Whether the hop probed with `ttl` or a deeper one has answered: where
    /// only a deeper one did, silence at `ttl` is the hop's, not the path's.
    pub(crate) fn answered_from(&self, ttl: u8) -> bool {
        self.answered_where(|probed| probed >= ttl)
    }

    /// Notes that the root sends every flow to one first hop.
    pub(crate) fn set_one_first_hop(&mut self) {
        self.one_first_hop = true;
    }

    /// Whether the trace's first hop (index 1) is TTL 1 and the root is
    /// known to send every flow there: one vertex, for certain.
    pub(crate) fn first_hop_is_sole(&self) -> bool {
        self.one_first_hop && self.hops.get(1).is_some_and(|hop| hop.ttl == 1)
    }

    /// The vertices of `hop` that answered.
    pub(crate) fn responsive(&self, hop: usize) -> impl Iterator<Item = VertexId> + '_ {
        self.hops[hop]
            .vertices
            .iter()
            .copied()
            .filter(|&id| !self[id].is_black_hole())
    }

    /// The vertex of the first hop where `address` answered alone.
    pub(crate) fn first_alone(&self, address: IpAddr) -> Option<VertexId> {
        (0..self.hops.len()).find_map(|hop| {
            let mut responsive = self.responsive(hop);
            match (responsive.next(), responsive.next()) {
                (Some(id), None) if self[id].address() == Some(address) => Some(id),
                _ => None,
            }
        })
    }

    /// Whether `hop` has a black hole.
    pub(crate) fn has_holes(&self, hop: usize) -> bool {
        self.hops[hop]
            .vertices
            .iter()
            .any(|&id| self[id].is_black_hole())
    }

    /// Whether a vertex of `hop` that answered is no successor of any
    /// vertex of the hop before: found on flows never asked there, it is
    /// on no path from the root yet.
    pub(crate) fn has_unlinked(&self, hop: usize) -> bool {
        let Some(previous) = hop.checked_sub(1) else {
            return false;
        };
        self.responsive(hop).any(|id| {
            !self.hops[previous]
                .vertices
                .iter()
                .any(|&v| self[v].successors.contains(&id))
        })
    }

    /// Whether a hop whose TTL `ttls` accepts has a responsive vertex.
    fn answered_where(&self, ttls: impl Fn(u8) -> bool) -> bool {
        self.hops
            .iter()
            .filter(|hop| ttls(hop.ttl))
            .flat_map(|hop| &hop.vertices)
            .any(|&id| !self[id].is_black_hole())
    }

    /// Notes that the hop looked rate-limited.
    pub(crate) fn set_rate_limited(&mut self, hop: usize) {
        self.hops[hop].rate_limited = true;
    }

    /// After late answers at `hop` (a re-probe of a hop that seemed
    /// silent): drops the black holes standing in for vertices of the hop
    /// before that now have a responsive successor, and links what
    /// answered to both neighbouring hops.
    pub(crate) fn fill_holes(&mut self, hop: usize) {
        let Some(previous) = hop.checked_sub(1) else {
            return;
        };
        self.connect(previous, hop);
        if hop + 1 < self.hops.len() {
            self.connect(hop, hop + 1);
        }
        // A hole is filled when every vertex before it that leads into it
        // also leads to a responsive vertex of the hop (its predecessor
        // may itself have been a hole, filled by now).
        let leads_into = |trace: &Self, hole: VertexId| -> Vec<VertexId> {
            trace.hops[previous]
                .vertices
                .iter()
                .copied()
                .filter(|&v| trace[v].successors.contains(&hole))
                .collect()
        };
        let filled: Vec<VertexId> = self.hops[hop]
            .vertices
            .iter()
            .copied()
            .filter(|&id| self[id].is_black_hole())
            .filter(|&hole| {
                leads_into(self, hole).into_iter().all(|v| {
                    self[v]
                        .successors
                        .iter()
                        .any(|&successor| !self[successor].is_black_hole())
                })
            })
            .collect();
        for hole in filled {
            for v in leads_into(self, hole) {
                self.vertex_mut(v)
                    .successors
                    .retain(|&successor| successor != hole);
            }
            self.hops[hop].vertices.retain(|&id| id != hole);
        }
    }

    /// Keeps only what is reachable from the root: the graph of §11.7.
    /// Hops left without vertices are dropped (the root's hop never is).
    pub(crate) fn prune(&mut self) {
        let mut reachable = vec![false; self.vertices.len()];
        let mut stack = vec![self.root()];
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut reachable[id.0], true) {
                stack.extend(self[id].successors.iter().copied());
            }
        }
        for hop in &mut self.hops {
            hop.vertices.retain(|id| reachable[id.0]);
        }
        self.hops
            .retain(|hop| hop.ttl == 0 || !hop.vertices.is_empty());
    }

    fn add_vertex(&mut self, hop: usize, kind: VertexKind) -> VertexId {
        let id = VertexId(self.vertices.len());
        self.vertices.push(Vertex::new(kind));
        self.hops[hop].vertices.push(id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::host;

    const RTT: Duration = Duration::from_millis(1);

    /// Root `10.0.0.100` and one empty hop at TTL 1.
    fn two_hops() -> (Trace, usize) {
        let mut trace = Trace::new(host(100));
        let next = trace.push_hop(1);
        (trace, next)
    }

    fn record_all(trace: &mut Trace, hop: usize, address: u8, flows: &[u16]) -> VertexId {
        for &flow in flows {
            trace.record(hop, host(address), flow, RTT);
        }
        trace.hops[hop]
            .vertices
            .iter()
            .copied()
            .find(|&id| trace[id].address() == Some(host(address)))
            .expect("recorded")
    }

    #[test]
    fn record_finds_or_inserts_by_address() {
        let (mut trace, hop) = two_hops();
        assert!(trace.record(hop, host(1), 10, RTT).is_some());
        assert!(
            trace
                .record(hop, host(1), 11, Duration::from_millis(3))
                .is_none()
        );
        assert!(trace.record(hop, host(2), 12, RTT).is_some());
        let first = trace.first(hop).expect("vertex");
        assert_eq!(trace.hops[hop].vertices.len(), 2);
        assert_eq!(trace[first].flows, BTreeSet::from([10, 11]));
        assert_eq!(trace[first].rtts, [RTT, Duration::from_millis(3)]);
    }

    #[test]
    fn connect_links_vertices_sharing_a_flow_once() {
        let (mut trace, next) = two_hops();
        let root = trace.root();
        trace.vertex_mut(root).flows.extend([1, 2, 3]);
        let a = record_all(&mut trace, next, 1, &[1, 2]);
        let b = record_all(&mut trace, next, 2, &[7]);
        assert_eq!(trace.connect(0, next), 1);
        assert_eq!(trace[root].successors, [a]);
        // A shadow flow links just as well; known links are not counted again.
        trace.vertex_mut(root).shadow_flows.insert(7);
        assert_eq!(trace.connect(0, next), 1);
        assert_eq!(trace.connect(0, next), 0);
        assert_eq!(trace[root].successors, [a, b]);
    }

    #[test]
    fn black_holes_inherit_flows_and_reconnect_the_path() {
        let (mut trace, first_hop) = two_hops();
        let root = trace.root();
        trace.vertex_mut(root).flows.insert(5);
        let a = record_all(&mut trace, first_hop, 1, &[5, 6]);
        trace.connect(0, first_hop);
        let silent = trace.push_hop(2);
        trace.add_black_holes(first_hop, silent);
        let hole = trace.first(silent).expect("black hole");
        assert_eq!(trace[hole].kind, VertexKind::BlackHole { predecessor: a });
        assert_eq!(trace[hole].shadow_flows, BTreeSet::from([5, 6]));
        assert!(trace[hole].flows.is_empty());
        assert_eq!(trace[a].successors, [hole]);
        // Only vertices without successors get one.
        trace.add_black_holes(first_hop, silent);
        assert_eq!(trace.hops[silent].vertices, [hole]);
        let third = trace.push_hop(3);
        let c = record_all(&mut trace, third, 3, &[6]);
        assert_eq!(trace.connect(silent, third), 1);
        assert_eq!(trace[hole].successors, [c]);
    }

    #[test]
    fn equality_by_address_and_by_predecessor_address() {
        let (mut trace, hop) = two_hops();
        let later = trace.push_hop(2);
        let a = record_all(&mut trace, hop, 1, &[1]);
        let a_again = record_all(&mut trace, later, 1, &[1]);
        let b = record_all(&mut trace, later, 2, &[2]);
        assert!(trace.same_vertex(a, a_again));
        assert!(!trace.same_vertex(a, b));
        let holes = trace.push_hop(3);
        trace.add_black_holes(later, holes);
        let [after_a, after_b] = trace.hops[holes].vertices[..] else {
            panic!("two black holes")
        };
        let beyond = trace.push_hop(4);
        trace.add_black_holes(hop, beyond);
        let also_after_a = trace.first(beyond).expect("black hole");
        assert!(trace.same_vertex(after_a, also_after_a));
        assert!(!trace.same_vertex(after_a, after_b));
        assert!(!trace.same_vertex(after_a, a));
    }

    #[test]
    fn prune_keeps_what_the_root_reaches() {
        let (mut trace, hop) = two_hops();
        trace.vertex_mut(trace.root()).flows.insert(1);
        let a = record_all(&mut trace, hop, 1, &[1]);
        let stray = record_all(&mut trace, hop, 2, &[9]);
        trace.connect(0, hop);
        let silent = trace.push_hop(2);
        trace.add_black_holes(hop, silent);
        trace.vertex_mut(a).successors.clear();
        trace.prune();
        assert_eq!(trace.hops().len(), 2);
        assert_eq!(trace.hops()[1].vertices, [a]);
        assert_ne!(a, stray);
    }

    #[test]
    fn rtt_summary_of_the_answers() {
        let (mut trace, hop) = two_hops();
        let a = record_all(&mut trace, hop, 1, &[1]);
        trace.record(hop, host(1), 2, Duration::from_millis(5));
        trace.record(hop, host(1), 3, Duration::from_millis(3));
        let summary = trace[a].rtt_summary().expect("answers");
        assert_eq!(summary.min, RTT);
        assert_eq!(summary.mean, Duration::from_millis(3));
        assert_eq!(summary.max, Duration::from_millis(5));
        assert_eq!(trace[trace.root()].rtt_summary(), None);
    }

    #[test]
    fn loss_is_the_unanswered_share() {
        let (mut trace, hop) = two_hops();
        assert_eq!(trace.hops[hop].loss(), 0.0);
        trace.count_probes(hop, 4, 1);
        assert_eq!(trace.hops[hop].loss(), 0.75);
    }
}
