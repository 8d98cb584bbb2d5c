//! Prometheus metrics: the program's per-CPU counters summed, and the
//! pending sessions counted from them, in the text exposition format
//! (version 0.0.4), served on `GET /metrics` by a minimal HTTP responder.
//! A scrape reads the request before touching the maps, never walks the
//! session table, and a failure answers 500 instead of ending the daemon.

use std::{fmt::Write as _, time::Duration};

use reverse_tr_common::counter::Counter;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::counters::{Counters, Totals};

/// Most time a scraper gets to send its request and read the answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Most scrapes answered at once; more connections are closed unanswered,
/// so a flood of them costs the daemon sockets, not memory.
pub const CONCURRENT_SCRAPES: usize = 8;

/// The exposition of `totals`.
pub fn render(totals: &Totals) -> String {
    let mut text = String::new();
    let mut previous = "";
    for (counter, value) in &totals.0 {
        let Some((name, labels)) = counter.metric() else {
            continue;
        };
        // Labelled counters of one metric are adjacent in `Counter::ALL`.
        if name != previous {
            let _ = writeln!(text, "# HELP {name} {}", help(*counter));
            let _ = writeln!(text, "# TYPE {name} counter");
            previous = name;
        }
        if labels.is_empty() {
            let _ = writeln!(text, "{name} {value}");
        } else {
            let _ = writeln!(text, "{name}{{{labels}}} {value}");
        }
    }
    let _ = writeln!(
        text,
        "# HELP reverse_tr_sessions_active Sessions waiting for their answer.\n\
         # TYPE reverse_tr_sessions_active gauge\n\
         reverse_tr_sessions_active {}",
        totals.active_sessions()
    );
    text
}

/// The HELP line of a metric: the counter's description.
fn help(counter: Counter) -> &'static str {
    match counter {
        Counter::RequestsV4Icmp
        | Counter::RequestsV4Udp
        | Counter::RequestsV4Tcp
        | Counter::RequestsV4Other
        | Counter::RequestsV6Icmp
        | Counter::RequestsV6Udp
        | Counter::RequestsV6Tcp
        | Counter::RequestsV6Other
        | Counter::Requests => "Requests received, by family and asked-for probe protocol.",
        Counter::Probes => "Probes sent.",
        Counter::ErrorResponses => "Error responses sent (invalid TTL or protocol).",
        Counter::Exists => "Requests dropped because their session was pending.",
        Counter::TableFull => "Requests dropped because the session table was full.",
        Counter::Answers => "Answers matched to a session.",
        Counter::Responses => "Success responses sent.",
        Counter::Unmatched => "Answer-like packets without a session, passed to the host.",
        Counter::TcpResets => "TCP answers handed to the host stack to reset.",
        Counter::TimedOut => "Sessions that timed out.",
        Counter::Sweeps => "Session sweeps run.",
        Counter::EventsLost => "Session events lost to a full ring buffer.",
        Counter::Failures => "Rewrites or redirects that failed.",
        Counter::RateLimited => "Requests dropped by a rate limit.",
        Counter::Denied => "Requests dropped by the allow/deny lists.",
        Counter::TooShort => "Requests dropped for being shorter than the minimum size.",
        Counter::SourceCapped => {
            "Requests dropped because their source held its most pending sessions."
        }
        Counter::PrefixCapped => {
            "Requests dropped because their prefix held its most pending sessions."
        }
        Counter::GlobalLimited => "Requests dropped by the server-wide session rate.",
        Counter::NewSourceLimited => "Requests of new sources dropped by the rate of new sources.",
        Counter::Unpadded => "Unpadded requests admitted from the unpadded budget.",
        Counter::UnpaddedLimited => "Unpadded requests dropped.",
        Counter::RefusedUnspecified
        | Counter::RefusedLoopback
        | Counter::RefusedMulticast
        | Counter::RefusedReserved
        | Counter::RefusedEmbedded
        | Counter::RefusedPrivate
        | Counter::RefusedOwn => "Requests from sources that cannot be requesters, by reason.",
        Counter::NotLocal => "Requests to an address that is not the host's.",
        Counter::Mismatched => "Answers with a session that do not echo what its probe carried.",
        Counter::Unauthenticated => "Answers matched without proof (quote too short).",
    }
}

/// Answers one HTTP exchange on `stream`: the exposition of `counters`
/// for `GET /metrics` (500 if they cannot be read), 404 for other paths;
/// gives up after [`EXCHANGE_TIMEOUT`].
pub async fn respond(mut stream: TcpStream, counters: Counters) {
    let exchange = async {
        // The request line is all we look at; it fits one read.
        let mut request = [0u8; 1024];
        let read = stream.read(&mut request).await?;
        let line = String::from_utf8_lossy(&request[..read]);
        let (status, content_type, body) = if !line.starts_with("GET /metrics ") {
            ("404 Not Found", "text/plain", "see /metrics\n".to_owned())
        } else {
            match counters.totals() {
                Ok(totals) => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    render(&totals),
                ),
                Err(error) => {
                    log::warn!("metrics scrape: {error}");
                    (
                        "500 Internal Server Error",
                        "text/plain",
                        format!("{error}\n"),
                    )
                }
            }
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
        Ok(Err(error)) => log::debug!("metrics request: {error}"),
        Err(_) => log::debug!("metrics request timed out"),
        Ok(Ok(())) => {}
    }
}
