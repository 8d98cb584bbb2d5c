//! The traces as one Graphviz graph (PROTOCOL.md §11.14): a strict digraph
//! with a cluster per direction, a node per vertex labelled address, mean
//! RTT and names, and an edge per link, black where the two vertices share a
//! real flow and orange where the link rests on shadow flows only.
//!
//! Beyond the reference, for reading: forward and reverse get their own
//! colours, the root is a house, the destination has a double border,
//! black holes are dashed and grey, and a legend under the graph says so.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use graphviz_rust::{
    dot_structures::{
        Attribute, Edge, EdgeTy, Graph, GraphAttributes, Id, Node, NodeId, Stmt, Subgraph, Vertex,
    },
    printer::{DotPrinter, PrinterContext},
};

use crate::trace::graph::{Direction, Trace, VertexId};

/// Under the graph: what the marks beyond the reference's mean.
const LEGEND: &str = "house: start   double border: destination   dashed ***: no answer\n\
     labels: address, mean RTT in ms, names\n\
     orange arrow: a link seen through a silent hop only";

/// One trace to draw and the address it was heading for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drawn<'a> {
    pub direction: Direction,
    pub trace: &'a Trace,
    pub destination: IpAddr,
}

/// Colours of one direction's cluster: background, border, node fill.
struct Palette {
    background: &'static str,
    border: &'static str,
    fill: &'static str,
}

fn palette(direction: Direction) -> Palette {
    match direction {
        Direction::Forward => Palette {
            background: "#eef4fb",
            border: "#3b6ea5",
            fill: "#c6dcf5",
        },
        Direction::Reverse => Palette {
            background: "#eef8ee",
            border: "#3d8b40",
            fill: "#c5e8c6",
        },
    }
}

/// The DOT source of `traces` (forward first), host names from `names`.
pub(crate) fn render_dot(traces: &[Drawn<'_>], names: &HashMap<IpAddr, Vec<String>>) -> String {
    let mut stmts = vec![
        graph_attributes(&[
            ("fontname", "Helvetica"),
            ("fontsize", "10"),
            ("nodesep", "0.3"),
            ("ranksep", "0.35"),
            // Sharp PNGs; SVG and PDF are vectors anyway.
            ("dpi", "150"),
            ("labelloc", "b"),
            ("label", LEGEND),
        ]),
        Stmt::GAttribute(GraphAttributes::Node(vec![
            attribute("fontname", "Helvetica"),
            attribute("fontsize", "11"),
            attribute("shape", "box"),
        ])),
        Stmt::GAttribute(GraphAttributes::Edge(vec![attribute("arrowsize", "0.7")])),
    ];
    stmts.extend(
        traces
            .iter()
            .map(|drawn| Stmt::Subgraph(cluster(drawn, names))),
    );
    let graph = Graph::DiGraph {
        id: Id::Anonymous(String::new()),
        strict: true,
        stmts,
    };
    let mut context = PrinterContext::default();
    context.with_indent_step(4);
    let mut text = graph.print(&mut context);
    text.push('\n');
    text
}

fn cluster(drawn: &Drawn<'_>, names: &HashMap<IpAddr, Vec<String>>) -> Subgraph {
    let (name, label, prefix) = match drawn.direction {
        Direction::Forward => ("cluster_forward", "FORWARD", 'f'),
        Direction::Reverse => ("cluster_reverse", "REVERSE", 'r'),
    };
    let colours = palette(drawn.direction);
    let mut stmts = vec![
        Stmt::GAttribute(GraphAttributes::Node(vec![
            attribute("style", "filled"),
            attribute("fillcolor", colours.fill),
        ])),
        graph_attributes(&[
            ("label", label),
            ("labelloc", "t"),
            ("fontsize", "14"),
            ("style", "filled,rounded"),
            ("fillcolor", colours.background),
            ("color", colours.border),
            ("fontcolor", colours.border),
        ]),
    ];
    let trace = drawn.trace;
    let order = trace.preorder();
    let node_id = |id: VertexId| {
        let index = order.iter().position(|&other| other == id).unwrap_or(0);
        NodeId(Id::Plain(format!("{prefix}{index}")), None)
    };
    for &id in &order {
        let mut attributes = vec![attribute("label", &label_of(trace, id, names))];
        let vertex = &trace[id];
        if id == trace.root() {
            attributes.push(attribute("shape", "house"));
        } else if vertex.is_black_hole() {
            attributes.extend([
                attribute("style", "filled,dashed"),
                attribute("fillcolor", "#f2f2f2"),
                attribute("fontcolor", "#777777"),
                attribute("color", "#777777"),
            ]);
        } else if vertex.address() == Some(drawn.destination) {
            attributes.extend([attribute("peripheries", "2"), attribute("penwidth", "1.5")]);
        }
        stmts.push(Stmt::Node(Node::new(node_id(id), attributes)));
    }
    for &id in &order {
        for &successor in &trace[id].successors {
            let real = trace[id]
                .flows
                .iter()
                .any(|flow| trace[successor].flows.contains(flow));
            let colour = if real { "black" } else { "orange" };
            stmts.push(Stmt::Edge(Edge {
                ty: EdgeTy::Pair(Vertex::N(node_id(id)), Vertex::N(node_id(successor))),
                attributes: vec![attribute("color", colour)],
            }));
        }
    }
    Subgraph {
        id: Id::Plain(name.to_owned()),
        stmts,
    }
}

/// Address, mean RTT in ms with two decimals, then the names or one empty line.
fn label_of(trace: &Trace, id: VertexId, names: &HashMap<IpAddr, Vec<String>>) -> String {
    let vertex = &trace[id];
    let address = vertex
        .address()
        .map_or_else(|| "***".to_owned(), |address| address.to_string());
    let mean = vertex
        .rtt_summary()
        .map_or(Duration::ZERO, |summary| summary.mean);
    let mut lines = vec![address, format!("{:.2}", mean.as_secs_f64() * 1000.0)];
    match vertex.address().and_then(|address| names.get(&address)) {
        Some(hostnames) if !hostnames.is_empty() => lines.extend(hostnames.iter().cloned()),
        _ => lines.push(String::new()),
    }
    lines.join("\n")
}

fn graph_attributes(pairs: &[(&str, &str)]) -> Stmt {
    let attributes = pairs
        .iter()
        .map(|&(key, value)| attribute(key, value))
        .collect();
    Stmt::GAttribute(GraphAttributes::Graph(attributes))
}

/// `key="value"`, the value quoted for DOT; a line break becomes DOT's `\n`.
fn attribute(key: &str, value: &str) -> Attribute {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    Attribute(Id::Plain(key.to_owned()), Id::Escaped(quoted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        output::{GraphFormat, write_graph},
        trace::fake_network::{host, trace},
    };

    /// A diamond (1 → 2 | 3) into a silent hop, then 4 on both flows.
    fn diamond() -> Trace {
        trace(
            &[
                (&[(1, 1, 1), (1, 2, 1)], 2),
                (&[(2, 1, 2), (3, 2, 3)], 2),
                (&[], 2),
                (&[(4, 1, 4), (4, 2, 6)], 2),
            ],
            true,
        )
    }

    fn dot_of(trace: &Trace) -> String {
        let names = HashMap::from([(
            host(1),
            vec!["gw.example".to_owned(), "gw-alias.example".to_owned()],
        )]);
        let drawn = [
            Drawn {
                direction: Direction::Forward,
                trace,
                destination: host(4),
            },
            Drawn {
                direction: Direction::Reverse,
                trace,
                destination: host(4),
            },
        ];
        render_dot(&drawn, &names)
    }

    #[test]
    fn dot_source_of_two_clusters_with_black_holes_and_names() {
        insta::assert_snapshot!(dot_of(&diamond()));
    }

    #[test]
    fn edges_to_black_holes_are_orange_the_others_black() {
        let dot = dot_of(&diamond());
        let cluster = &dot[dot.find("cluster_forward").expect("forward")..][..dot
            .find("cluster_reverse")
            .expect("reverse")
            - dot.find("cluster_forward").expect("forward")];
        let edges: Vec<&str> = cluster.lines().filter(|line| line.contains("->")).collect();
        // root→1, 1→2, 1→3 real; 2→***, 3→***, ***→4 twice through shadow flows.
        assert_eq!(
            edges.iter().filter(|e| e.contains("\"black\"")).count(),
            3,
            "{cluster}"
        );
        assert_eq!(
            edges.iter().filter(|e| e.contains("\"orange\"")).count(),
            4,
            "{cluster}"
        );
        assert!(cluster.contains(r#"label="10.0.0.1\n1.00\ngw.example\ngw-alias.example""#));
        assert!(cluster.contains(r#"label="***\n0.00\n""#));
        assert!(cluster.contains(r#"label="10.0.0.4\n5.00\n""#));
    }

    fn scratch(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("reverse-tr-dot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir.join(name).display().to_string()
    }

    #[test]
    fn dot_format_writes_the_source_without_graphviz() {
        let dot = dot_of(&diamond());
        let path = write_graph(&dot, GraphFormat::Dot, &scratch("source")).expect("written");
        assert!(path.ends_with("source.dot"));
        assert_eq!(std::fs::read_to_string(path).expect("readable"), dot);
    }

    #[test]
    fn svg_is_laid_out_by_graphviz_when_installed() {
        let graphviz = std::process::Command::new("dot").arg("-V").output().is_ok();
        let written = write_graph(&dot_of(&diamond()), GraphFormat::Svg, &scratch("picture"));
        if !graphviz {
            assert!(matches!(
                written,
                Err(crate::output::OutputError::NoGraphviz { format: "svg" })
            ));
            return;
        }
        let path = written.expect("laid out");
        let svg = std::fs::read_to_string(path).expect("readable");
        assert!(svg.contains("<svg") && svg.contains("cluster_forward") && svg.contains("REVERSE"));
    }
}
