//! Vertex merging before rendering (PROTOCOL.md §11.13): every class of
//! equal vertices becomes one, so the same router seen at several TTLs is
//! drawn once, with the mean over all its RTTs. The result may have loops.

use std::{collections::HashMap, net::IpAddr};

use crate::trace::graph::{Trace, VertexId, VertexKind};

/// What makes two vertices equal (§11.7): a responsive vertex is its
/// address; a black hole is its predecessor's class, one level further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct VertexClass {
    /// How many black holes lead from `address` to this vertex.
    pub holes: usize,
    pub address: IpAddr,
}

impl VertexClass {
    pub(crate) fn of(trace: &Trace, mut id: VertexId) -> Self {
        let mut holes = 0;
        loop {
            match trace[id].kind {
                VertexKind::Responsive(address) => return Self { holes, address },
                VertexKind::BlackHole { predecessor } => {
                    holes += 1;
                    id = predecessor;
                }
            }
        }
    }
}

/// The trace with each class of equal vertices folded into its first member
/// in depth-first order: successors, flows and shadow flows united, RTTs
/// concatenated, self loops dropped.
pub(crate) fn merge(trace: &Trace) -> Trace {
    let mut merged = trace.clone();
    let order = trace.preorder();
    let mut representative: HashMap<VertexClass, VertexId> = HashMap::new();
    let mut class_of = HashMap::new();
    for &id in &order {
        let class = VertexClass::of(trace, id);
        representative.entry(class).or_insert(id);
        class_of.insert(id, class);
    }
    let rep = |id: VertexId| representative[&class_of[&id]];
    for &id in &order {
        let target = rep(id);
        if target != id {
            let member = trace[id].clone();
            let folded = merged.vertex_mut(target);
            folded.flows.extend(member.flows);
            folded.shadow_flows.extend(member.shadow_flows);
            folded.rtts.extend(member.rtts);
            folded.successors.extend(member.successors);
        }
    }
    for &id in &order {
        if rep(id) == id {
            let vertex = merged.vertex_mut(id);
            let mut successors: Vec<VertexId> = Vec::new();
            for successor in vertex.successors.iter().map(|&s| rep(s)) {
                if successor != id && !successors.contains(&successor) {
                    successors.push(successor);
                }
            }
            vertex.successors = successors;
        }
    }
    merged.prune();
    merged
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, time::Duration};

    use super::*;
    use crate::trace::fake_network::host;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Root, then one hop per entry of `hops`: (address, flow, rtt in ms),
    /// linked by flows, with black holes after silent hops.
    fn trace(hops: &[&[(u8, u16, u64)]]) -> Trace {
        let mut trace = Trace::new(host(100));
        let root = trace.root();
        let flows = hops
            .iter()
            .flat_map(|hop| hop.iter().map(|answer| answer.1));
        trace.vertex_mut(root).flows.extend(flows);
        let mut previous = 0;
        for (ttl, answers) in (1..).zip(hops) {
            let hop = trace.push_hop(ttl);
            for &(address, flow, rtt) in *answers {
                trace.record(hop, host(address), flow, ms(rtt));
            }
            trace.connect(previous, hop);
            trace.add_black_holes(previous, hop);
            previous = hop;
        }
        trace.prune();
        trace
    }

    fn addresses(trace: &Trace, ids: &[VertexId]) -> Vec<Option<IpAddr>> {
        ids.iter().map(|&id| trace[id].address()).collect()
    }

    fn find(trace: &Trace, address: u8) -> VertexId {
        trace
            .preorder()
            .into_iter()
            .find(|&id| trace[id].address() == Some(host(address)))
            .expect("vertex in the trace")
    }

    #[test]
    fn same_router_at_two_ttls_becomes_one_vertex() {
        // Flow 1 sees 1 → 3, flow 2 sees 2 → 1 → 3: router 1 at TTL 1 and 2.
        let trace = trace(&[
            &[(1, 1, 1), (2, 2, 2)],
            &[(3, 1, 5), (1, 2, 3)],
            &[(3, 2, 7)],
        ]);
        // Router 3 at TTL 2 is silent after it on flow 1: a black hole.
        assert_eq!(trace.preorder().len(), 7);
        let merged = merge(&trace);
        assert_eq!(merged.preorder().len(), 5);
        let one = find(&merged, 1);
        assert_eq!(merged[one].rtts, [ms(1), ms(3)]);
        assert_eq!(merged[one].flows, BTreeSet::from([1, 2]));
        assert_eq!(addresses(&merged, &merged[one].successors), [Some(host(3))]);
        let two = find(&merged, 2);
        assert_eq!(addresses(&merged, &merged[two].successors), [Some(host(1))]);
        let three = find(&merged, 3);
        assert_eq!(merged[three].rtts, [ms(5), ms(7)]);
        assert_eq!(addresses(&merged, &merged[three].successors), [None]);
    }

    #[test]
    fn black_holes_are_equal_by_predecessor_address() {
        // Router 1 at TTL 1 and 3, silent after it both times.
        let mut trace = Trace::new(host(100));
        let root = trace.root();
        trace.vertex_mut(root).flows.insert(1);
        let first = trace.push_hop(1);
        trace.record(first, host(1), 1, ms(1));
        trace.connect(0, first);
        let holes = trace.push_hop(2);
        trace.add_black_holes(first, holes);
        let hole = trace.first(holes).expect("black hole");
        let again = trace.push_hop(3);
        trace.record(again, host(1), 1, ms(2));
        trace.connect(holes, again);
        let more_holes = trace.push_hop(4);
        trace.add_black_holes(again, more_holes);
        assert_eq!(trace.preorder().len(), 5);
        let merged = merge(&trace);
        // root → 1 → *** → 1 folds into root → 1 ⇄ ***.
        let order = merged.preorder();
        assert_eq!(
            addresses(&merged, &order),
            [Some(host(100)), Some(host(1)), None]
        );
        let one = order[1];
        assert_eq!(merged[one].successors, [hole]);
        assert_eq!(merged[hole].successors, [one]);
    }

    #[test]
    fn self_loops_are_removed() {
        // Router 1 answers at TTL 1 and 2 on the same flow: 1 → 1.
        let trace = trace(&[&[(1, 1, 1)], &[(1, 1, 2)], &[(2, 1, 3)]]);
        let merged = merge(&trace);
        let one = find(&merged, 1);
        assert_eq!(addresses(&merged, &merged[one].successors), [Some(host(2))]);
        assert_eq!(merged[one].rtts, [ms(1), ms(2)]);
    }

    #[test]
    fn distinct_vertices_stay_apart() {
        let trace = trace(&[&[(1, 1, 1), (2, 2, 1)], &[(3, 1, 2), (3, 2, 2)]]);
        let merged = merge(&trace);
        assert_eq!(merged.preorder().len(), trace.preorder().len());
        assert_eq!(merged, trace);
    }
}
