//! Submission of a measurement to a collector (§11.16, `--transmit`): one
//! HTTP/1.1 POST of the measurement JSON with Basic authentication, over
//! `https://` (rustls, the Mozilla roots or the CA file of
//! `REVERSE_TR_COLLECTOR_CA`) or plain `http://`, by ureq. Nothing about
//! the collector is built in: its URL comes from `--collector`,
//! `REVERSE_TR_COLLECTOR` or the configuration file, its credentials from
//! `REVERSE_TR_COLLECTOR_USER`/`_PASSWORD` or the URL.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
    time::Duration,
};

use base64::Engine as _;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::{output::OutputError, output::Result};

/// How to submit the measurement (§11.16).
#[derive(Debug, Clone)]
pub struct Transmit {
    /// `--collector`, if given.
    pub collector: Option<String>,
    pub timeout: Duration,
    /// `-y`: do not ask.
    pub assume_yes: bool,
}

/// Environment variable naming the collector's URL.
pub const COLLECTOR_VARIABLE: &str = "REVERSE_TR_COLLECTOR";
/// Environment variables holding the collector's Basic credentials.
pub const USER_VARIABLE: &str = "REVERSE_TR_COLLECTOR_USER";
pub const PASSWORD_VARIABLE: &str = "REVERSE_TR_COLLECTOR_PASSWORD";
/// Environment variable naming a PEM file of the certificate authorities an
/// `https://` collector is checked against, instead of the Mozilla roots.
pub const CA_VARIABLE: &str = "REVERSE_TR_COLLECTOR_CA";

/// How the request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// Where and how to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path (and query) of the request, starting with `/`.
    pub path: String,
    /// User name and password for Basic authentication.
    pub credentials: Option<(String, String)>,
    /// The certificate authorities to trust (`REVERSE_TR_COLLECTOR_CA`).
    pub ca_file: Option<PathBuf>,
}

impl Collector {
    /// Parses `http[s]://[user:password@]host[:port][/path]` (port 80 or
    /// 443 and path `/post_trace` when left out; IPv6 hosts in brackets).
    /// Credentials in the environment win over those in the URL.
    pub fn from_url(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let bad = |reason: &str| OutputError::Transmit(format!("collector URL `{url}`: {reason}"));
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(bad("must start with https:// or http://"));
        };
        let (authority, path) = rest.find('/').map_or((rest, "/post_trace"), |slash| {
            (&rest[..slash], &rest[slash..])
        });
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, scheme.default_port())
            .ok_or_else(|| bad("bad host or port"))?;
        let from_url = userinfo.map(|userinfo| match userinfo.split_once(':') {
            Some((user, password)) => (user.to_owned(), password.to_owned()),
            None => (userinfo.to_owned(), String::new()),
        });
        let from_env =
            env(USER_VARIABLE).map(|user| (user, env(PASSWORD_VARIABLE).unwrap_or_default()));
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            credentials: from_env.or(from_url),
            ca_file: env(CA_VARIABLE)
                .filter(|file| !file.is_empty())
                .map(PathBuf::from),
        })
    }

    /// The collector this run submits to: `flag` (`--collector`), else the
    /// environment, else the configuration file; an error if none names one,
    /// the URL is bad or the CA file unreadable. Called before the trace.
    pub fn configured(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let url = match flag.map(str::to_owned).or_else(|| env(COLLECTOR_VARIABLE)) {
            Some(url) => url,
            None => config_file(&env)
                .map(|path| collector_in_config(&path))
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    OutputError::Transmit(format!(
                        "no collector configured (--collector URL, {COLLECTOR_VARIABLE} or `collector` in {})",
                        config_file(&env).map_or_else(
                            || "~/.config/reverse-tr/config.toml".to_owned(),
                            |path| path.display().to_string()
                        )
                    ))
                })?,
        };
        let collector = Self::from_url(&url, env)?;
        collector.roots()?;
        Ok(collector)
    }

    /// `host:port`, the IPv6 host in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL requested: without the credentials, which go in a header.
    fn url(&self) -> String {
        format!("{}://{}{}", self.scheme.name(), self.authority(), self.path)
    }

    /// The certificate authorities trusted for `https://`.
    fn roots(&self) -> Result<RootCerts> {
        let Some(file) = &self.ca_file else {
            return Ok(RootCerts::WebPki);
        };
        let bad = |reason: String| {
            OutputError::Transmit(format!("{CA_VARIABLE} {}: {reason}", file.display()))
        };
        let pem = std::fs::read(file).map_err(|error| bad(error.to_string()))?;
        let certificates = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(Ok(certificate)),
                Ok(_) => None,
                Err(error) => Some(Err(error)),
            })
            .collect::<Result<Vec<Certificate<'static>>, _>>()
            .map_err(|error| bad(error.to_string()))?;
        if certificates.is_empty() {
            return Err(bad("no PEM certificate in it".to_owned()));
        }
        Ok(RootCerts::new_with_certs(&certificates))
    }

    /// POSTs `body` and waits for the answer's status, all within `timeout`.
    /// Any 2xx is success; other statuses and network errors are errors.
    pub async fn submit(&self, body: &[u8], timeout: Duration) -> Result<u16> {
        let (collector, body) = (self.clone(), body.to_vec());
        tokio::task::spawn_blocking(move || collector.post(&body, timeout))
            .await
            .map_err(|error| OutputError::Transmit(error.to_string()))?
    }

    /// [`Self::submit`], blocking.
    fn post(&self, body: &[u8], timeout: Duration) -> Result<u16> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("reverse-tr/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(self.roots()?).build())
            .build()
            .new_agent();
        let mut request = agent.post(self.url()).content_type("application/json");
        if let Some((user, password)) = &self.credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request = request.header("Authorization", format!("Basic {token}"));
        }
        let answer = request
            .send(body)
            .map_err(|error| self.failure(error, timeout))?;
        let status = answer.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(OutputError::Transmit(format!(
                "the collector answered {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            )))
        }
    }

    /// One line for what went wrong talking to the collector.
    fn failure(&self, error: ureq::Error, timeout: Duration) -> OutputError {
        let authority = self.authority();
        OutputError::Transmit(match error {
            ureq::Error::Timeout(_) => format!(
                "{authority} did not answer within {} s",
                timeout.as_secs_f64()
            ),
            ureq::Error::Io(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                format!("connecting to {authority}: {error}")
            }
            // rustls reports a refused handshake (e.g. an unknown CA) as I/O.
            ureq::Error::Io(error)
                if error
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>()) =>
            {
                format!("TLS with {authority}: {error}")
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                format!("connecting to {authority}: {error}")
            }
            ureq::Error::Protocol(_) | ureq::Error::Http(_) => {
                format!("unexpected answer from {authority}: {error}")
            }
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
                format!("TLS with {authority}: {error}")
            }
            other => format!("talking to {authority}: {other}"),
        })
    }
}

/// `host[:port]` or `[v6][:port]`, the port `default` when left out.
fn split_host_port(text: &str, default: u16) -> Option<(&str, u16)> {
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
    let port = port.map_or(Some(default), |port| port.parse().ok())?;
    (!host.is_empty()).then_some((host, port))
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

fn config_error(path: &std::path::Path, reason: String) -> OutputError {
    OutputError::Config {
        path: path.display().to_string(),
        reason,
    }
}

/// §11.16 for a run: asks on the terminal unless `-y`, submits `body` to
/// `collector` (checked before the trace: [`Collector::configured`]) and
/// says on stderr how it went. The outcome never changes the exit status.
pub(crate) async fn transmit(collector: &Collector, options: &Transmit, body: &[u8]) {
    match confirmed_submit(collector, options, body).await {
        Ok(Some(_)) => eprintln!("reverse-tr: successfully transmitted, thank you"),
        Ok(None) => eprintln!("reverse-tr: transmission aborted"),
        Err(error) => eprintln!("reverse-tr: {error}"),
    }
}

/// The status of a submission, or `None` if the user said no.
async fn confirmed_submit(
    collector: &Collector,
    options: &Transmit,
    body: &[u8],
) -> Result<Option<u16>> {
    if !options.assume_yes {
        if !std::io::stdin().is_terminal() {
            return Err(OutputError::Transmit(
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
pub(crate) fn confirm(
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
                "https://collector.example",
                "collector.example",
                443,
                "/post_trace",
                None,
            ),
            (
                "https://u:p@[2001:db8::9]:8443/in",
                "2001:db8::9",
                8443,
                "/in",
                Some(("u", "p")),
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
            "ftp://c.example/",
            "https:/c.example/",
            "c.example:9999",
            "http://:80/",
            "http://h:port/",
            "http://[::1/",
        ] {
            assert!(
                matches!(
                    Collector::from_url(url, env_of(&[])),
                    Err(OutputError::Transmit(_))
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
            Err(OutputError::Config { .. })
        ));
        std::fs::write(&file, "collector = \n").expect("config");
        assert!(matches!(
            Collector::configured(None, &file_only),
            Err(OutputError::Config { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let nothing = Collector::configured(None, &file_only);
        assert!(
            matches!(&nothing, Err(OutputError::Transmit(m)) if m.contains("no collector configured")),
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
