//! The public reverse-traceroute servers (§11.18): the ENDPOINTS file the
//! reference ships, compiled in. `--list-endpoints` prints it, and a TARGET
//! may name an endpoint by its short name behind a marker, `@bcix`: a bare
//! `bcix` is a host name like any other, so a local host of that name is
//! never shadowed.

use std::fmt::Write as _;

/// The shipped list, in the reference's format.
const ENDPOINTS: &str = include_str!("../../ENDPOINTS");

/// One public server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Host name (or address) of the server.
    pub address: String,
    /// The autonomous system it sits in.
    pub as_number: u32,
    /// The operator's e-mail address; empty when unknown.
    pub contact: String,
}

impl Endpoint {
    /// The short name a TARGET may use instead of the host name: the first
    /// label of the host name that is not `www` (`bcix` for `www.bcix.de`).
    pub(crate) fn short_name(&self) -> &str {
        self.address
            .split('.')
            .find(|label| *label != "www")
            .unwrap_or(&self.address)
    }
}

/// What is wrong with one line of an ENDPOINTS file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointProblem {
    #[error("expected `address;asnumber;email_contact`")]
    TooFewFields,
    #[error("the address is empty")]
    EmptyAddress,
    #[error("`{0}` is not an AS number")]
    BadAsNumber(String),
}

/// A line of an ENDPOINTS file that is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ENDPOINTS line {line}: {problem}")]
pub struct EndpointError {
    pub line: usize,
    pub problem: EndpointProblem,
}

/// Parses an ENDPOINTS file: a header line, then one `;`-separated record per
/// line. Blank lines are ignored and fields after the third tolerated.
pub(crate) fn parse(text: &str) -> Result<Vec<Endpoint>, EndpointError> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            parse_line(line).map_err(|problem| EndpointError {
                line: index + 1,
                problem,
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Result<Endpoint, EndpointProblem> {
    let mut fields = line.split(';').map(str::trim);
    let (Some(address), Some(as_number), Some(contact)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(EndpointProblem::TooFewFields);
    };
    if address.is_empty() {
        return Err(EndpointProblem::EmptyAddress);
    }
    let as_number = as_number
        .parse()
        .map_err(|_| EndpointProblem::BadAsNumber(as_number.to_owned()))?;
    Ok(Endpoint {
        address: address.to_owned(),
        as_number,
        contact: contact.to_owned(),
    })
}

/// The shipped endpoints.
pub(crate) fn shipped() -> Result<Vec<Endpoint>, EndpointError> {
    parse(ENDPOINTS)
}

/// What marks a TARGET as an endpoint's short name: `@bcix`.
pub(crate) const MARKER: char = '@';

/// The host name of the endpoint `name` (its short name or host name, any
/// case), or `None` if no endpoint has it.
pub(crate) fn host_named(name: &str) -> Option<String> {
    shipped()
        .unwrap_or_default()
        .into_iter()
        .find(|endpoint| {
            endpoint.address.eq_ignore_ascii_case(name)
                || endpoint.short_name().eq_ignore_ascii_case(name)
        })
        .map(|endpoint| endpoint.address)
}

/// The endpoints as a table for `--list-endpoints`.
pub(crate) fn table(endpoints: &[Endpoint]) -> String {
    let width = |column: &dyn Fn(&Endpoint) -> usize, title: &str| {
        endpoints.iter().map(column).chain([title.len()]).max()
    };
    let short = width(&|e| e.short_name().len(), "NAME").unwrap_or_default();
    let address = width(&|e| e.address.len(), "ADDRESS").unwrap_or_default();
    let mut text = format!(
        "{:short$}  {:address$}  {:>6}  CONTACT\n",
        "NAME", "ADDRESS", "AS"
    );
    for e in endpoints {
        let contact = if e.contact.is_empty() {
            "-"
        } else {
            &e.contact
        };
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "{:short$}  {:address$}  {:>6}  {contact}",
            e.short_name(),
            e.address,
            e.as_number
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "address;asnumber;email_contact\n";

    #[test]
    fn good_lines_blank_lines_and_extra_fields() {
        let cases = [
            (
                "a.example;680;ops@a.example\n",
                vec![("a.example", 680, "ops@a.example")],
            ),
            (
                "a.example;680;\n\n   \nb.example;1;x;extra;more\n",
                vec![("a.example", 680, ""), ("b.example", 1, "x")],
            ),
            (
                " c.example ; 4200000000 ; \n",
                vec![("c.example", 4_200_000_000, "")],
            ),
            ("", vec![]),
        ];
        for (body, expected) in cases {
            let parsed = parse(&format!("{HEADER}{body}")).expect(body);
            let got: Vec<_> = parsed
                .iter()
                .map(|e| (e.address.as_str(), e.as_number, e.contact.as_str()))
                .collect();
            assert_eq!(got, expected, "{body:?}");
        }
    }

    #[test]
    fn bad_lines_name_their_line_and_problem() {
        let cases = [
            ("a.example;680\n", 2, EndpointProblem::TooFewFields),
            ("a.example\n", 2, EndpointProblem::TooFewFields),
            (
                "\na.example;AS680;\n",
                3,
                EndpointProblem::BadAsNumber("AS680".into()),
            ),
            (
                "a.example;-1;\n",
                2,
                EndpointProblem::BadAsNumber("-1".into()),
            ),
            ("a.example;1;\n;2;\n", 3, EndpointProblem::EmptyAddress),
        ];
        for (body, line, problem) in cases {
            match parse(&format!("{HEADER}{body}")) {
                Err(EndpointError {
                    line: l,
                    problem: p,
                }) => {
                    assert_eq!((l, p), (line, problem), "{body:?}");
                }
                other => panic!("{body:?}: expected a line error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_shipped_list_parses_with_the_documented_servers() {
        let endpoints = shipped().expect("shipped ENDPOINTS");
        let got: Vec<_> = endpoints
            .iter()
            .map(|e| (e.short_name(), e.as_number))
            .collect();
        assert_eq!(
            got,
            [
                ("playground", 680),
                ("bcix", 62193),
                ("reversetraceroute", 48918),
                ("reverse-traceroute", 212567),
                ("rvstrace", 2527),
            ]
        );
    }

    #[test]
    fn endpoints_are_found_by_short_name_or_host_name() {
        let cases = [
            ("bcix", Some("www.bcix.de")),
            ("BCIX", Some("www.bcix.de")),
            ("www.bcix.de", Some("www.bcix.de")),
            ("playground", Some("playground.net.hs-augsburg.de")),
            ("example", None),
            ("", None),
        ];
        for (name, host) in cases {
            assert_eq!(host_named(name).as_deref(), host, "{name}");
        }
    }

    #[test]
    fn the_table_lists_every_endpoint() {
        let endpoints = shipped().expect("shipped ENDPOINTS");
        let text = table(&endpoints);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), endpoints.len() + 1);
        assert!(lines[0].starts_with("NAME"));
        assert!(lines[2].starts_with("bcix"));
        assert!(lines[2].contains("www.bcix.de") && lines[2].contains("62193"));
    }
}
