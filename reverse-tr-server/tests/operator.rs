//! The daemon as an operator runs it, on `lo` of a network namespace of the
//! test's own: metrics scraped on loopback move with traffic, and the
//! policy file is re-read on SIGHUP without detaching the program.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn metrics_move_with_traffic_and_sighup_reloads_the_policy() {
    isolate().expect("a network namespace of the test's own");
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
    let moved = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        sample(&samples(&get(port, "/metrics").1), udp) == 1.0
    });
    assert!(moved, "the request counter moved");

    std::fs::write(&policy, "deny 127.0.0.0/8\n").expect("policy written");
    daemon.signal(libc::SIGHUP);
    daemon.expect_line("SIGHUP: policy reloaded: +deny 127.0.0.0/8");
    send_request(2);
    let denied = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        sample(
            &samples(&get(port, "/metrics").1),
            "reverse_tr_denied_total",
        ) == 1.0
    });
    assert!(denied, "the request was denied after the reload");

    std::fs::write(&policy, "deny 127.0.0.1/8\n").expect("policy written");
    daemon.signal(libc::SIGHUP);
    let line = daemon.expect_line("SIGHUP:");
    assert!(
        line.contains("line 1: invalid prefix \"127.0.0.1/8\": host bits are set")
            && line.contains("keeping the policy in force"),
        "{line}"
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&directory);
}
