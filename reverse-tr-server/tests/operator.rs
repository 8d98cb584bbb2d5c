//! The daemon as an operator runs it, on `lo` of a network namespace of the
//! test's own: metrics scraped on loopback move with traffic, and the
//! policy file is re-read on SIGHUP without detaching the program, all or
//! nothing.
#![cfg(feature = "root-tests")]

mod support;

use std::{net::TcpStream, time::Duration};

use support::*;

/// Writes `text` to the policy file, sends SIGHUP and returns the
/// daemon's line about the reload.
fn reload(daemon: &Logged, policy: &std::path::Path, text: &str) -> String {
    std::fs::write(policy, text).expect("policy written");
    daemon.signal(libc::SIGHUP);
    daemon.expect_line("SIGHUP:")
}

/// Waits until the metric `series` reaches `expected`.
fn reaches(port: u16, series: &str, expected: f64) -> bool {
    (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        sample(&samples(&get(port, "/metrics").1), series) == expected
    })
}

#[test]
fn metrics_move_with_traffic_and_sighup_reloads_the_policy_all_or_nothing() {
    isolate().expect("a network namespace of the test's own");
    serve_on_lo();
    let port = free_port();
    let directory =
        std::env::temp_dir().join(format!("reverse-tr-operator-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let policy = directory.join("policy");
    std::fs::write(&policy, "# nobody yet\n").expect("policy written");
    let address = format!("127.0.0.1:{port}");
    let daemon = Logged::start(daemon_command().args([
        "--metrics",
        &address,
        "--policy",
        policy.to_str().expect("a UTF-8 path"),
        "lo",
    ]));
    daemon.expect_line("serving on lo");

    // A scraper that connects and says nothing holds up no one.
    let _silent = TcpStream::connect(("127.0.0.1", port)).expect("metrics connect");
    let (status, body) = get(port, "/metrics");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains("text/plain; version=0.0.4"), "{status}");
    let before = samples(&body);
    let udp = r#"reverse_tr_requests_total{family="ipv4",protocol="udp"}"#;
    assert_eq!(sample(&before, udp), 0.0);
    assert_eq!(sample(&before, "reverse_tr_denied_total"), 0.0);
    assert!(get(port, "/").0.starts_with("HTTP/1.1 404"));

    send_request(1);
    // The request is counted before the scrape can see it only once the
    // kernel has passed it through lo's ingress: poll briefly.
    assert!(reaches(port, udp, 1.0), "the request counter moved");
    assert!(
        reaches(port, "reverse_tr_probes_total", 1.0),
        "the request was served"
    );

    let line = reload(&daemon, &policy, "deny 10.9.9.0/24\n");
    assert!(
        line.contains("SIGHUP: policy reloaded: +deny 10.9.9.0/24"),
        "{line}"
    );
    send_request(2);
    assert!(
        reaches(port, "reverse_tr_denied_total", 1.0),
        "the request was denied after the reload"
    );

    let line = reload(&daemon, &policy, "deny 10.9.9.1/24\n");
    assert!(
        line.contains("line 1: invalid prefix \"10.9.9.1/24\": host bits are set")
            && line.contains("keeping the policy in force"),
        "{line}"
    );

    // More prefixes than the deny list holds (16,384): the reload fails
    // half way, after thousands of entries went in, and is undone.
    let mut crowded = String::from("allow 10.9.9.0/24\n");
    for n in 0..16_385u32 {
        crowded.push_str(&format!("deny 11.{}.{}.0/24\n", n / 256, n % 256));
    }
    let line = reload(&daemon, &policy, &crowded);
    assert!(
        line.contains("policy not applied") && line.contains("keeping the policy in force"),
        "{line}"
    );
    send_request(3);
    assert!(
        reaches(port, "reverse_tr_denied_total", 2.0),
        "the old deny list is still in force"
    );
    // Nothing of the failed reload is left: the old file changes nothing.
    let line = reload(&daemon, &policy, "deny 10.9.9.0/24\n");
    assert!(
        line.contains("SIGHUP: policy reloaded, lists unchanged"),
        "{line}"
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&directory);
}
