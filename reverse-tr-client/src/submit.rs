//! Submission of a measurement to a collector (§11.16, `--transmit`): one
//! plain HTTP/1.1 POST of the measurement JSON with Basic authentication.
//! Nothing about the collector is built in: its URL comes from
//! `--collector`, `REVERSE_TR_COLLECTOR` or the configuration file, its
//! credentials from `REVERSE_TR_COLLECTOR_USER`/`_PASSWORD` or the URL.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
    time::Duration,
};

use base64::Engine as _;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{Error, Result, cli::Transmit};

/// Environment variable naming the collector's URL.
pub const COLLECTOR_VARIABLE: &str = "REVERSE_TR_COLLECTOR";
/// Environment variables holding the collector's Basic credentials.
pub const USER_VARIABLE: &str = "REVERSE_TR_COLLECTOR_USER";
pub const PASSWORD_VARIABLE: &str = "REVERSE_TR_COLLECTOR_PASSWORD";

/// The most of the answer read: its status line is all that matters.
const ANSWER_LIMIT: usize = 16 * 1024;

/// Where and how to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    pub host: String,
    pub port: u16,
    /// Path (and query) of the request, starting with `/`.
    pub path: String,
    /// User name and password for Basic authentication.
    pub credentials: Option<(String, String)>,
}

impl Collector {
    /// Parses `http://[user:password@]host[:port][/path]` (port 80 and path
    /// `/post_trace` when left out; IPv6 hosts in brackets). Credentials in
    /// the environment win over those in the URL.
    pub fn from_url(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let bad = |reason: &str| Error::Transmit(format!("collector URL `{url}`: {reason}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only plain http:// URLs are supported"))?;
        let (authority, path) = rest.find('/').map_or((rest, "/post_trace"), |slash| {
            (&rest[..slash], &rest[slash..])
        });
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        let from_url = userinfo.map(|userinfo| match userinfo.split_once(':') {
            Some((user, password)) => (user.to_owned(), password.to_owned()),
            None => (userinfo.to_owned(), String::new()),
        });
        let from_env =
            env(USER_VARIABLE).map(|user| (user, env(PASSWORD_VARIABLE).unwrap_or_default()));
        Ok(Self {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            credentials: from_env.or(from_url),
        })
    }

    /// The collector this run submits to: `flag` (`--collector`), else the
    /// environment, else the configuration file; an error if none names one.
    pub fn configured(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let url = match flag.map(str::to_owned).or_else(|| env(COLLECTOR_VARIABLE)) {
            Some(url) => url,
            None => config_file(&env)
                .map(|path| collector_in_config(&path))
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    Error::Transmit(format!(
                        "no collector configured (--collector URL, {COLLECTOR_VARIABLE} or `collector` in {})",
                        config_file(&env).map_or_else(
                            || "~/.config/reverse-tr/config.toml".to_owned(),
                            |path| path.display().to_string()
                        )
                    ))
                })?,
        };
        Self::from_url(&url, env)
    }

    /// The whole request for `body`.
    fn request(&self, body: &[u8]) -> Vec<u8> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: reverse-tr/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.path,
            self.authority(),
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        if let Some((user, password)) = &self.credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            head.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        request
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// POSTs `body` and waits for the status line, all within `timeout`.
    /// Any 2xx is success; other statuses and network errors are errors.
    pub async fn submit(&self, body: &[u8], timeout: Duration) -> Result<u16> {
        let exchange = async {
            let mut stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|error| {
                    Error::Transmit(format!("connecting to {}: {error}", self.authority()))
                })?;
            let failed = |error: std::io::Error| {
                Error::Transmit(format!("talking to {}: {error}", self.authority()))
            };
            stream
                .write_all(&self.request(body))
                .await
                .map_err(failed)?;
            read_status(&mut stream).await.map_err(failed)
        };
        let status = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| {
                Error::Transmit(format!(
                    "{} did not answer within {} s",
                    self.authority(),
                    timeout.as_secs_f64()
                ))
            })??;
        match status {
            (200..=299, _) => Ok(status.0),
            (code, reason) => Err(Error::Transmit(format!(
                "the collector answered {code} {reason}"
            ))),
        }
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    let port = port.map_or(Some(80), |port| port.parse().ok())?;
    (!host.is_empty()).then_some((host, port))
}

/// Reads the answer up to the end of its status line: `(code, reason)`.
async fn read_status(stream: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut answer = Vec::new();
    let mut chunk = [0; 1024];
    let line_end = loop {
        if let Some(end) = answer.windows(2).position(|pair| pair == b"\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 || answer.len() > ANSWER_LIMIT {
            return Err(std::io::Error::other("the answer is not HTTP"));
        }
        answer.extend_from_slice(&chunk[..read]);
    };
    let line = String::from_utf8_lossy(&answer[..line_end]);
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(code))) if version.starts_with("HTTP/") => {
            Ok((code, words.next().unwrap_or_default().to_owned()))
        }
        _ => Err(std::io::Error::other(format!("unexpected answer `{line}`"))),
    }
}

/// `$XDG_CONFIG_HOME/reverse-tr/config.toml`, else `~/.config/reverse-tr/config.toml`.
fn config_file(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("reverse-tr").join("config.toml"))
}

/// The `collector` key of a configuration file; `None` if there is no file
/// or no key.
fn collector_in_config(path: &std::path::Path) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(config_error(path, error.to_string())),
    };
    let document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error: toml_edit::TomlError| config_error(path, error.message().to_owned()))?;
    match document.get("collector") {
        None => Ok(None),
        Some(item) => item
            .as_str()
            .map(|url| Some(url.to_owned()))
            .ok_or_else(|| config_error(path, "`collector` must be a string".to_owned())),
    }
}

fn config_error(path: &std::path::Path, reason: String) -> Error {
    Error::Config {
        path: path.display().to_string(),
        reason,
    }
}

/// §11.16 for a run: asks on the terminal unless `-y`, submits `body` and
/// says on stderr how it went. The outcome never changes the exit status.
pub async fn transmit(options: &Transmit, body: &[u8]) {
    match confirmed_submit(options, body).await {
        Ok(Some(_)) => eprintln!("reverse-tr: successfully transmitted, thank you"),
        Ok(None) => eprintln!("reverse-tr: transmission aborted"),
        Err(error) => eprintln!("reverse-tr: {error}"),
    }
}

/// The status of a submission, or `None` if the user said no.
async fn confirmed_submit(options: &Transmit, body: &[u8]) -> Result<Option<u16>> {
    let collector = Collector::configured(options.collector.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    if !options.assume_yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Transmit(
                "no terminal to ask for confirmation on; pass -y to transmit without asking"
                    .to_owned(),
            ));
        }
        let agreed = tokio::task::block_in_place(|| {
            confirm(
                &mut std::io::stdin().lock(),
                &mut std::io::stderr(),
                &collector.authority(),
            )
        })?;
        if !agreed {
            return Ok(None);
        }
    }
    collector.submit(body, options.timeout).await.map(Some)
}

/// Asks on the terminal whether to upload (§11.16); only `y` or `yes`
/// (any case) agrees.
pub fn confirm(
    input: &mut impl BufRead,
    output: &mut impl Write,
    host: &str,
) -> std::io::Result<bool> {
    write!(
        output,
        "The measurement (the traces with their addresses and host names) will be uploaded to the collector at {host} for research. Transmit? [y/N] "
    )?;
    output.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    let answer = answer.trim();
    Ok(answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn urls_give_host_port_path_and_credentials() {
        let none = env_of(&[]);
        let cases = [
            (
                "http://collector.example:9999/post_trace",
                "collector.example",
                9999,
                "/post_trace",
                None,
            ),
            (
                "http://collector.example",
                "collector.example",
                80,
                "/post_trace",
                None,
            ),
            (
                "http://u:p@127.0.0.1:8080/x?y=1",
                "127.0.0.1",
                8080,
                "/x?y=1",
                Some(("u", "p")),
            ),
            ("http://[::1]:9999/", "::1", 9999, "/", None),
            ("http://u@h/", "h", 80, "/", Some(("u", ""))),
        ];
        for (url, host, port, path, credentials) in cases {
            let collector = Collector::from_url(url, &none).expect(url);
            assert_eq!(
                (
                    collector.host.as_str(),
                    collector.port,
                    collector.path.as_str()
                ),
                (host, port, path),
                "{url}"
            );
            let got = collector
                .credentials
                .as_ref()
                .map(|(u, p)| (u.as_str(), p.as_str()));
            assert_eq!(got, credentials, "{url}");
        }
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "https://c.example/",
            "c.example:9999",
            "http://:80/",
            "http://h:port/",
            "http://[::1/",
        ] {
            assert!(
                matches!(
                    Collector::from_url(url, env_of(&[])),
                    Err(Error::Transmit(_))
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn environment_credentials_win_over_the_url() {
        let env = env_of(&[(USER_VARIABLE, "env-user"), (PASSWORD_VARIABLE, "env-pass")]);
        let collector = Collector::from_url("http://u:p@h:1/", env).expect("url");
        assert_eq!(
            collector.credentials,
            Some(("env-user".to_owned(), "env-pass".to_owned()))
        );
    }

    #[test]
    fn the_flag_then_the_environment_then_the_config_file() {
        let dir = std::env::temp_dir().join(format!("reverse-tr-config-{}", std::process::id()));
        let file = dir.join("reverse-tr").join("config.toml");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("config dir");
        std::fs::write(&file, "# ours\ncollector = \"http://from-file:1/p\"\n").expect("config");
        let config_home = dir.to_str().expect("utf-8 path");
        let all = env_of(&[
            (COLLECTOR_VARIABLE, "http://from-env:2/"),
            ("XDG_CONFIG_HOME", config_home),
        ]);
        let file_only = env_of(&[("XDG_CONFIG_HOME", config_home)]);
        let host = |c: Result<Collector>| c.expect("collector").host;
        assert_eq!(
            host(Collector::configured(Some("http://from-flag:3/"), &all)),
            "from-flag"
        );
        assert_eq!(host(Collector::configured(None, &all)), "from-env");
        assert_eq!(host(Collector::configured(None, &file_only)), "from-file");

        std::fs::write(&file, "collector = 3\n").expect("config");
        assert!(matches!(
            Collector::configured(None, &file_only),
            Err(Error::Config { .. })
        ));
        std::fs::write(&file, "collector = \n").expect("config");
        assert!(matches!(
            Collector::configured(None, &file_only),
            Err(Error::Config { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let nothing = Collector::configured(None, &file_only);
        assert!(
            matches!(&nothing, Err(Error::Transmit(m)) if m.contains("no collector configured")),
            "{nothing:?}"
        );
    }

    #[test]
    fn only_y_or_yes_agrees() {
        let cases = [
            ("y\n", true),
            ("YES\n", true),
            (" yes \n", true),
            ("n\n", false),
            ("\n", false),
            ("", false),
            ("yep\n", false),
        ];
        for (answer, agrees) in cases {
            let mut prompt = Vec::new();
            let got = confirm(&mut answer.as_bytes(), &mut prompt, "h:1").expect("confirm");
            assert_eq!(got, agrees, "{answer:?}");
            assert!(String::from_utf8_lossy(&prompt).contains("uploaded to the collector at h:1"));
        }
    }
}
