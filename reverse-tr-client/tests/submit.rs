//! Submission (§11.16) against a collector the test runs on 127.0.0.1,
//! over plain HTTP and over TLS with a certificate of a CA made for the
//! test: what is sent, and what each kind of answer (or none) becomes.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::PathBuf,
    sync::Arc,
    thread::JoinHandle,
    time::Duration,
};

use reverse_tr_client::{CA_VARIABLE, Collector, OutputError as Error};

const BODY: &[u8] = br#"{"target":"192.0.2.1","hops":[]}"#;

/// A request as the collector saw it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A collector that reads one request and answers with `answer` (`None`:
/// never answers, holding the connection until the client gives up).
fn collector(answer: Option<&'static str>) -> (String, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
    let port = listener.local_addr().expect("local address").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let seen = read_request(&stream);
        match answer {
            Some(answer) => (&stream).write_all(answer.as_bytes()).expect("answer"),
            // Wait for the client to close after its timeout.
            None => {
                let _ = (&stream).read(&mut [0; 1]);
            }
        }
        seen
    });
    (format!("http://127.0.0.1:{port}/post_trace"), handle)
}

/// A collector over TLS that reads one request and answers with `answer`;
/// its certificate, for 127.0.0.1, is signed by a CA written to the
/// returned PEM file.
fn tls_collector(answer: &'static str) -> (String, PathBuf, JoinHandle<Option<Seen>>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("certificate");
    let ca_file = std::env::temp_dir().join(format!(
        "reverse-tr-test-ca-{}-{}.pem",
        std::process::id(),
        certificate.der().len()
    ));
    std::fs::write(&ca_file, ca.pem()).expect("CA file");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("server certificate");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
    let port = listener.local_addr().expect("local address").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let connection = rustls::ServerConnection::new(Arc::new(config)).expect("TLS");
        let mut tls = rustls::StreamOwned::new(connection, stream);
        // A client that refuses the certificate never sends a request.
        let seen = try_read_request(&mut tls)?;
        tls.write_all(answer.as_bytes()).expect("answer");
        tls.conn.send_close_notify();
        tls.flush().expect("flush");
        Some(seen)
    });
    (format!("https://127.0.0.1:{port}/in"), ca_file, handle)
}

fn read_request(stream: impl Read) -> Seen {
    try_read_request(stream).expect("a request")
}

/// The request on `stream`, or `None` if it ends before a request line.
fn try_read_request(stream: impl Read) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header is `name: value`");
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let seen = Seen {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: Vec::new(),
    };
    let length: usize = seen
        .header("Content-Length")
        .expect("Content-Length")
        .parse()
        .expect("a length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    Some(Seen { body, ..seen })
}

fn no_env(_: &str) -> Option<String> {
    None
}

async fn submit(url: &str, timeout: Duration) -> Result<u16, Error> {
    Collector::from_url(url, no_env)
        .expect("collector URL")
        .submit(BODY, timeout)
        .await
}

#[tokio::test]
async fn a_2xx_answer_is_success_and_the_request_is_the_protocols() {
    let (url, server) = collector(Some(
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let url = url.replace("http://", "http://alice:s3cret@");
    let status = submit(&url, Duration::from_secs(10)).await;
    let seen = server.join().expect("collector thread");
    assert_eq!(status.ok(), Some(201));
    assert_eq!(seen.request_line, "POST /post_trace HTTP/1.1");
    assert_eq!(seen.header("Content-Type"), Some("application/json"));
    // base64("alice:s3cret")
    assert_eq!(seen.header("Authorization"), Some("Basic YWxpY2U6czNjcmV0"));
    assert!(
        seen.header("Host")
            .is_some_and(|h| h.starts_with("127.0.0.1:"))
    );
    assert_eq!(seen.body, BODY);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_the_collectors_ca_sends_the_same_request() {
    let (url, ca_file, server) = tls_collector("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let ca = ca_file.to_str().expect("utf-8 path").to_owned();
    let env = move |name: &str| (name == CA_VARIABLE).then(|| ca.clone());
    let url = url.replace("https://", "https://alice:s3cret@");
    let collector = Collector::configured(Some(&url), env).expect("collector");
    let status = collector.submit(BODY, Duration::from_secs(10)).await;
    let seen = server.join().expect("collector thread").expect("a request");
    std::fs::remove_file(&ca_file).expect("cleanup");
    assert_eq!(status.ok(), Some(200));
    assert_eq!(seen.request_line, "POST /in HTTP/1.1");
    assert_eq!(seen.header("Authorization"), Some("Basic YWxpY2U6czNjcmV0"));
    assert_eq!(seen.body, BODY);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_without_trusting_the_ca_is_a_tls_failure() {
    let (url, ca_file, server) = tls_collector("HTTP/1.1 200 OK\r\n\r\n");
    // The Mozilla roots do not include the test's CA.
    let result = submit(&url, Duration::from_secs(10)).await;
    assert!(server.join().expect("collector thread").is_none());
    std::fs::remove_file(&ca_file).expect("cleanup");
    match result {
        Err(Error::Transmit(message)) => {
            assert!(message.starts_with("TLS with 127.0.0.1:"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn a_ca_file_without_certificates_is_refused_before_submitting() {
    let env = |name: &str| (name == CA_VARIABLE).then(|| "/dev/null".to_owned());
    match Collector::configured(Some("https://127.0.0.1/"), env) {
        Err(Error::Transmit(message)) => assert!(
            message.contains("REVERSE_TR_COLLECTOR_CA /dev/null: no PEM certificate"),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn refusals_and_server_errors_are_failures_naming_the_status() {
    let cases = [
        (
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
            "401 Unauthorized",
        ),
        (
            "HTTP/1.0 500 Internal Server Error\r\n\r\noops",
            "500 Internal Server Error",
        ),
        ("SMTP ready\r\n", "unexpected answer"),
    ];
    for (answer, expected) in cases {
        let (url, server) = collector(Some(answer));
        let result = submit(&url, Duration::from_secs(10)).await;
        server.join().expect("collector thread");
        match result {
            Err(Error::Transmit(message)) => assert!(message.contains(expected), "{message}"),
            other => panic!("{answer:?}: expected a failure, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_failure() {
    // A port that was just free: bind, note, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    for scheme in ["http", "https"] {
        let result = submit(
            &format!("{scheme}://127.0.0.1:{port}/post_trace"),
            Duration::from_secs(10),
        )
        .await;
        match result {
            Err(Error::Transmit(message)) => {
                assert!(
                    message.contains(&format!("connecting to 127.0.0.1:{port}")),
                    "{scheme}: {message}"
                );
            }
            other => panic!("{scheme}: expected a failure, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_silent_collector_times_out() {
    let (url, server) = collector(None);
    let result = submit(&url, Duration::from_millis(300)).await;
    match result {
        Err(Error::Transmit(message)) => {
            assert!(message.contains("did not answer within 0.3 s"), "{message}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The client closed its end: the collector thread ends.
    let seen = server.join().expect("collector thread");
    assert_eq!(seen.body, BODY);
}

/// The binary end to end: it traces (raw sockets: root) before it
/// transmits.
#[cfg(feature = "root-tests")]
mod binary {
    use super::*;

    /// Runs the binary: a forward trace of 127.0.0.1 (loopback only), then
    /// `--transmit` to `url`, with stdin not a terminal.
    fn trace_and_transmit(url: &str, options: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_reverse-tr"))
            .args(["-n", "-l", "warning", "--transmit", "--collector", url])
            .args(options)
            .args(["forward", "icmp", "singlepath", "--flow", "1", "127.0.0.1"])
            .env_remove("REVERSE_TR_COLLECTOR_USER")
            .env_remove("REVERSE_TR_COLLECTOR_PASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the binary runs")
    }

    #[test]
    fn the_binary_transmits_the_measurement_and_prints_the_trace_whatever_the_outcome() {
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                "successfully transmitted",
            ),
            (
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
                "transmission failed: the collector answered 401 Unauthorized",
            ),
        ];
        for (answer, expected) in cases {
            let (url, server) = collector(Some(answer));
            let output = trace_and_transmit(&url, &["-y"]);
            let seen = server.join().expect("collector thread");
            let (stdout, stderr) = (
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
            assert_eq!(output.status.code(), Some(0), "{stderr}");
            assert!(stdout.contains("FORWARD"), "{stdout}");
            assert!(stderr.contains(expected), "{stderr}");
            let body = String::from_utf8_lossy(&seen.body);
            assert!(
                body.starts_with('{') && body.contains(r#""target":"127.0.0.1""#),
                "{body}"
            );
        }
    }

    #[test]
    fn without_a_terminal_to_ask_on_nothing_is_sent_unless_y() {
        // Nothing listens here; asking first means never connecting.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let output = trace_and_transmit(&format!("http://127.0.0.1:{port}/"), &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("pass -y"), "{stderr}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("FORWARD"));
    }
}
