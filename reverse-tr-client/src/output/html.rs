//! The interactive page (`-f html`): one self-contained HTML file drawing
//! the graph of each direction in its own panel, laid out here (x by hop,
//! vertices of a hop spread vertically), so the page's small inline script
//! only draws, pans, zooms, drags and shows a vertex's details on click.
//! The traces travel as JSON inside the page; addresses and names are
//! untrusted, so the JSON is escaped for its `<script>` element and the
//! script only ever sets them as text.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use serde_json::{Value, json};

use crate::{
    output::Drawn,
    trace::graph::{Direction, Trace, VertexId},
};

/// The page around the data: markup, style and script.
const TEMPLATE: &str = include_str!("page.html");
/// Where the template takes the JSON.
const DATA: &str = "__TRACE_DATA__";

/// Layout in SVG units: distance of two hops, of two vertices of a hop,
/// space around a panel's graph, a panel's title and between panels.
const COLUMN: f64 = 190.0;
const ROW: f64 = 70.0;
const MARGIN: f64 = 90.0;
const TITLE: f64 = 40.0;
const GAP: f64 = 30.0;
/// Room per character of a panel's title (15px semi-bold) and on its sides,
/// so a narrow graph's panel still holds its title.
const TITLE_CHARACTER: f64 = 10.0;
const TITLE_INDENT: f64 = 14.0;

/// The page for `traces` (one panel each, in order), titled `title`.
pub fn render_html(
    title: &str,
    traces: &[Drawn<'_>],
    names: &HashMap<IpAddr, Vec<String>>,
) -> String {
    let mut panels = Vec::new();
    let mut vertices = Vec::new();
    let mut edges = Vec::new();
    let mut top = 0.0;
    for drawn in traces {
        let panel = lay_out(drawn, top, names);
        top += panel.height + GAP;
        panels.push(panel.json);
        vertices.extend(panel.vertices);
        edges.extend(panel.edges);
    }
    let data = json!({
        "title": title,
        "panels": panels,
        "vertices": vertices,
        "edges": edges,
    });
    TEMPLATE.replacen(DATA, &script_safe(&data.to_string()), 1)
}

/// One direction's panel, its vertices and its edges, as the page reads them.
struct Panel {
    json: Value,
    height: f64,
    vertices: Vec<Value>,
    edges: Vec<Value>,
}

fn lay_out(drawn: &Drawn<'_>, top: f64, names: &HashMap<IpAddr, Vec<String>>) -> Panel {
    let trace = drawn.trace;
    let rows = trace
        .hops()
        .iter()
        .map(|hop| hop.vertices.len())
        .max()
        .unwrap_or(1) as f64;
    let height = TITLE + rows * ROW + MARGIN / 2.0;
    let graph_width = 2.0 * MARGIN + (trace.hops().len().saturating_sub(1)) as f64 * COLUMN;
    let ids = vertex_ids(drawn.direction, trace);
    let mut vertices = Vec::new();
    let mut columns = Vec::new();
    for (column, hop) in trace.hops().iter().enumerate() {
        let x = MARGIN + column as f64 * COLUMN;
        columns.push(json!({ "x": x, "ttl": hop.ttl }));
        // Centred in the panel: a lone vertex sits on the middle line.
        let first = top + TITLE + (rows - hop.vertices.len() as f64) * ROW / 2.0 + ROW / 2.0;
        for (row, &id) in hop.vertices.iter().enumerate() {
            let vertex = &trace[id];
            let address = vertex.address();
            let role = if id == trace.root() {
                "root"
            } else if vertex.is_black_hole() {
                "black-hole"
            } else if address == Some(drawn.destination) {
                "destination"
            } else {
                "router"
            };
            vertices.push(json!({
                "id": ids[&id],
                "direction": drawn.direction.to_string(),
                "ttl": hop.ttl,
                "x": x,
                "y": first + row as f64 * ROW,
                "role": role,
                "address": address.map(|address| address.to_string()),
                "names": address.and_then(|address| names.get(&address)).cloned().unwrap_or_default(),
                "rtts": vertex.rtts.iter().map(|rtt| rtt.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
                "flows": vertex.flows,
                "shadowFlows": vertex.shadow_flows.difference(&vertex.flows).collect::<BTreeSet<_>>(),
            }));
        }
    }
    let mut edges = Vec::new();
    for id in trace.hops().iter().flat_map(|hop| &hop.vertices) {
        for successor in &trace[*id].successors {
            let (Some(from), Some(to)) = (ids.get(id), ids.get(successor)) else {
                continue;
            };
            // §11.14: black when a real flow links them, orange when only
            // shadow flows do.
            let real = trace[*id]
                .flows
                .intersection(&trace[*successor].flows)
                .next()
                .is_some();
            edges.push(json!({ "from": from, "to": to, "real": real }));
        }
    }
    let label = format!(
        "{} ({})",
        drawn.direction.to_string().to_uppercase(),
        if trace.interrupted() {
            "interrupted, partial"
        } else if trace.reached() {
            "destination reached"
        } else {
            "destination not reached"
        }
    );
    let title_width = 2.0 * TITLE_INDENT + label.chars().count() as f64 * TITLE_CHARACTER;
    let width = graph_width.max(title_width);
    Panel {
        json: json!({
            "direction": drawn.direction.to_string(),
            "label": label,
            "x": 0.0,
            "y": top,
            "width": width,
            "height": height,
            "columns": columns,
        }),
        height,
        vertices,
        edges,
    }
}

/// Each vertex of the trace's hops named `<direction>-<ttl>-<position>`:
/// stable for a page, and what `#select=` deep links may use.
fn vertex_ids(direction: Direction, trace: &Trace) -> HashMap<VertexId, String> {
    trace
        .hops()
        .iter()
        .flat_map(|hop| {
            hop.vertices
                .iter()
                .enumerate()
                .map(move |(position, &id)| (id, format!("{direction}-{}-{position}", hop.ttl)))
        })
        .collect()
}

/// JSON that cannot end its `<script>` element or open markup: `<`, `>`
/// and `&` (and the JavaScript line separators) as `\u` escapes, which
/// JSON.parse reads back unchanged.
fn script_safe(json: &str) -> String {
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                safe.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            _ => safe.push(c),
        }
    }
    safe
}

/// Headless Chromium for the tests, shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/support/chromium.rs"]
mod chromium;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::{host, trace};

    use super::chromium::chromium;

    /// A diamond forward (1, then 2 or 3, then 200) and a chain with a
    /// silent hop back.
    fn two_way() -> (Trace, Trace) {
        let forward = trace(
            &[
                (&[(1, 1, 1), (1, 2, 2)], 2),
                (&[(2, 1, 3), (3, 2, 4)], 2),
                (&[(200, 1, 5), (200, 2, 6)], 2),
            ],
            true,
        );
        let reverse = trace(&[(&[(4, 7, 1)], 2), (&[], 2), (&[(5, 7, 3)], 1)], false);
        (forward, reverse)
    }

    /// Both directions as `render_html` takes them.
    fn both<'a>(forward: &'a Trace, reverse: &'a Trace) -> [Drawn<'a>; 2] {
        [
            Drawn {
                direction: Direction::Forward,
                trace: forward,
                destination: host(200),
            },
            Drawn {
                direction: Direction::Reverse,
                trace: reverse,
                destination: host(100),
            },
        ]
    }

    fn data(page: &str) -> Value {
        let start = page.find("id=\"trace-data\"").expect("the data element");
        let start = start + page[start..].find('>').expect("the tag ends") + 1;
        let end = start + page[start..].find("</script>").expect("the element ends");
        serde_json::from_str(&page[start..end]).expect("valid JSON")
    }

    #[test]
    fn every_vertex_and_link_is_in_the_data() {
        let (forward, reverse) = two_way();
        let drawn = both(&forward, &reverse);
        let data = data(&render_html("to 10.0.0.200", &drawn, &HashMap::new()));
        let vertices = data["vertices"].as_array().expect("vertices");
        let ids: Vec<&str> = vertices.iter().filter_map(|v| v["id"].as_str()).collect();
        assert_eq!(
            ids,
            [
                "forward-0-0",
                "forward-1-0",
                "forward-2-0",
                "forward-2-1",
                "forward-3-0",
                "reverse-0-0",
                "reverse-1-0",
                "reverse-2-0",
                "reverse-3-0"
            ]
        );
        let roles: Vec<&str> = vertices.iter().filter_map(|v| v["role"].as_str()).collect();
        assert_eq!(
            roles,
            [
                "root",
                "router",
                "router",
                "router",
                "destination",
                "root",
                "router",
                "black-hole",
                "router"
            ]
        );
        // Two branches of one hop share its x, not its y.
        assert_eq!(vertices[2]["x"], vertices[3]["x"]);
        assert_ne!(vertices[2]["y"], vertices[3]["y"]);
        // The reverse panel lies below the forward one.
        let panels = data["panels"].as_array().expect("panels");
        let bottom = panels[0]["y"].as_f64().unwrap_or_default()
            + panels[0]["height"].as_f64().unwrap_or_default();
        assert!(panels[1]["y"].as_f64().unwrap_or_default() > bottom);
        let edges: Vec<(String, String, bool)> = data["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                (
                    e["from"].as_str().unwrap_or_default().to_owned(),
                    e["to"].as_str().unwrap_or_default().to_owned(),
                    e["real"].as_bool().unwrap_or_default(),
                )
            })
            .collect();
        let edge = |from: &str, to: &str, real| (from.to_owned(), to.to_owned(), real);
        for expected in [
            edge("forward-0-0", "forward-1-0", true),
            edge("forward-1-0", "forward-2-0", true),
            edge("forward-1-0", "forward-2-1", true),
            edge("forward-2-1", "forward-3-0", true),
            edge("reverse-1-0", "reverse-2-0", false),
            edge("reverse-2-0", "reverse-3-0", false),
        ] {
            assert!(edges.contains(&expected), "{expected:?} in {edges:?}");
        }
        assert_eq!(edges.len(), 8);
    }

    /// A panel holds its title even when its graph is one vertex wide
    /// (a target that answers at TTL 1 merges with the root).
    #[test]
    fn a_narrow_panel_still_holds_its_title() {
        let lone = trace(&[], false);
        let drawn = [Drawn {
            direction: Direction::Forward,
            trace: &lone,
            destination: host(200),
        }];
        let data = data(&render_html("to 10.0.0.200", &drawn, &HashMap::new()));
        let panel = &data["panels"][0];
        let label = panel["label"].as_str().expect("a label");
        assert_eq!(label, "FORWARD (destination not reached)");
        let width = panel["width"].as_f64().expect("a width");
        // DejaVu Sans at 15px semi-bold averages under 9.5px a character.
        assert!(width >= 9.5 * label.len() as f64 + 14.0, "{width}");
    }

    #[test]
    fn hostile_names_stay_data() {
        let (forward, _) = two_way();
        let evil = "</script><img src=x onerror=alert(1)>&amp;\u{2028}";
        let names = HashMap::from([(host(1), vec![evil.to_owned()])]);
        let drawn = [Drawn {
            direction: Direction::Forward,
            trace: &forward,
            destination: host(200),
        }];
        let page = render_html(evil, &drawn, &names);
        assert!(!page.contains("<img"), "markup escaped");
        assert_eq!(
            page.matches("</script>").count(),
            TEMPLATE.matches("</script>").count()
        );
        let data = data(&page);
        assert_eq!(data["title"], evil);
        assert_eq!(data["vertices"][1]["names"][0], evil);
    }

    /// The page in a real browser: one drawn node per vertex after its
    /// script ran, a deep link selecting a vertex, hostile names as text,
    /// and a screenshot.
    #[test]
    fn chromium_draws_every_vertex_and_honours_deep_links() {
        let (forward, reverse) = two_way();
        let names = HashMap::from([
            (host(1), vec!["gw.example.net".to_owned()]),
            (host(3), vec!["<img src=x onerror=alert(1)>".to_owned()]),
        ]);
        let drawn = both(&forward, &reverse);
        let directory =
            std::env::temp_dir().join(format!("reverse-tr-html-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("a temporary directory");
        let page = directory.join("trace.html");
        std::fs::write(
            &page,
            render_html("reverse-tr to 10.0.0.200", &drawn, &names),
        )
        .expect("the page is written");
        let profile = directory.join("profile");
        let url = format!("file://{}", page.display());

        let dom = chromium(&profile, &url, &["--dump-dom"]);
        let drawn_ids: Vec<&str> = dom
            .split("data-id=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        let expected: Vec<String> =
            data(&std::fs::read_to_string(&page).expect("the page"))["vertices"]
                .as_array()
                .expect("vertices")
                .iter()
                .filter_map(|vertex| vertex["id"].as_str().map(str::to_owned))
                .collect();
        assert_eq!(drawn_ids, expected, "{dom}");
        assert_eq!(dom.matches(" data-from=").count(), 8, "{dom}");
        assert!(!dom.contains("data-selected"), "nothing selected yet");

        let dom = chromium(&profile, &format!("{url}#select=10.0.0.3"), &["--dump-dom"]);
        assert!(dom.contains("data-selected=\"forward-2-1\""), "{dom}");
        assert!(dom.contains("<h2>10.0.0.3</h2>"), "{dom}");
        assert!(dom.contains("4.000 ms / 4.000 ms / 4.000 ms"), "{dom}");
        assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
        assert!(!dom.contains("<img"), "{dom}");

        let screenshot = directory.join("page.png");
        chromium(
            &profile,
            &format!("{url}#select=forward-1-0"),
            &[
                &format!("--screenshot={}", screenshot.display()),
                "--window-size=1200,800",
            ],
        );
        let png = std::fs::read(&screenshot).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        // A blank 1200×800 page compresses to a few kB; a drawn graph does not.
        assert!(png.len() > 20_000, "{} octets", png.len());
        std::fs::remove_dir_all(&directory).expect("the temporary directory is removed");
    }
}
