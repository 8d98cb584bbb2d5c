//! The demo: the asymmetric lab, our server attached in the server's
//! namespace, and a two-way multipath trace from the client's namespace, so
//! the reverse path (through r5) visibly differs from the forward one.
//! The client writes the graph as DOT, drawn to SVG and PNG by Graphviz.
//! Everything is torn down at the end, on failure and on Ctrl-C.

use std::{
    fs::File,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use reverse_tr_lab::{Direction, Family, Host, Lab, LabConfig, describe};

use crate::{Error, Result};

/// The daemon says this once its program is attached to the interface.
const SERVING: &str = "serving on";
/// How long the daemon may take to load and attach its program.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the demo finds the binaries and writes its files.
pub struct Demo {
    /// Directory holding `reverse-tr` and `reverse-tr-server`.
    pub binaries: PathBuf,
    /// Directory for the server's log and the graph pictures.
    pub output: PathBuf,
}

impl Demo {
    /// Builds the server and the client (debug profile, shared with the
    /// tests, so a tested tree builds nothing) and returns where they are.
    pub fn build(workspace: &Path) -> Result<Self> {
        Self::build_profile(workspace, false)
    }

    /// Builds the server and the client in the debug or (`release`) the
    /// release profile and returns where they are.
    pub fn build_profile(workspace: &Path, release: bool) -> Result<Self> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.current_dir(workspace).args([
            "build",
            "--quiet",
            "-p",
            "reverse-tr-server",
            "-p",
            "reverse-tr-client",
        ]);
        if release {
            build.arg("--release");
        }
        let status = build.status()?;
        if !status.success() {
            return Err(Error::Demo(format!(
                "building the server and client failed ({status})"
            )));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace.join("target"), PathBuf::from);
        let output = workspace.join("out");
        std::fs::create_dir_all(&output)?;
        Ok(Self {
            binaries: target.join(if release { "release" } else { "debug" }),
            output,
        })
    }

    /// Runs the demo in a fresh asymmetric lab, printing as it goes, and
    /// returns what the client did. The lab is removed when this returns,
    /// whatever happened.
    pub fn run(&self) -> Result<Trace> {
        let lab = Lab::up(LabConfig {
            asymmetric: true,
            name: None,
        })?;
        let target = lab.addr(Host::Server, Family::V4);
        println!("== lab `{}` is up (asymmetric)", lab.name());
        for direction in Direction::ALL {
            println!(
                "   {} path, as built: {}",
                direction.name(),
                describe(&lab.expected_hops(direction, Family::V4))
            );
        }

        let log_path = self.output.join("demo-server.log");
        let server = Server::start(&lab, &self.binaries.join("reverse-tr-server"), &log_path)?;
        println!(
            "== reverse-tr-server serves on the server's eth0 ({target}); log: {}",
            log_path.display()
        );

        let graph = self.output.join("demo");
        println!("== reverse-tr two-way udp multipath {target}  (from the client's namespace)\n");
        let started = Instant::now();
        let client = lab
            .command(
                Host::Client,
                &self.binaries.join("reverse-tr").to_string_lossy(),
            )
            // ε = 0.01: the diamond's second branch is missed in < 1 % of runs.
            .args(["-n", "-l", "warning", "-f", "dot", "-o"])
            .arg(&graph)
            .args(["two-way", "udp", "multipath"])
            .args(["--confidence", "0.01"])
            .arg(target.to_string())
            .stderr(Stdio::inherit())
            .output()?;
        let elapsed = started.elapsed();
        let report = String::from_utf8_lossy(&client.stdout).into_owned();
        println!("{report}");
        println!("== the two-way trace took {:.2} s", elapsed.as_secs_f64());
        let pictures = if client.status.success() {
            draw(&graph.with_extension("dot"))?
        } else {
            Vec::new()
        };
        for picture in &pictures {
            println!("== the graph: {}", picture.display());
        }

        let summary = server.stop()?;
        println!("\n== server stopped; its counters:\n{summary}");
        lab.down()?;
        println!("== lab torn down");
        Ok(Trace {
            status: client.status,
            report,
            pictures,
        })
    }
}

/// Lays the client's DOT file out as SVG and PNG beside it with Graphviz.
fn draw(dot: &Path) -> Result<Vec<PathBuf>> {
    ["svg", "png"]
        .into_iter()
        .map(|format| {
            let picture = dot.with_extension(format);
            let status = Command::new("dot")
                .arg(format!("-T{format}"))
                .arg("-o")
                .arg(&picture)
                .arg(dot)
                .status()
                .map_err(|error| {
                    Error::Demo(format!(
                        "running Graphviz `dot` ({error}); install the `graphviz` package"
                    ))
                })?;
            if status.success() {
                Ok(picture)
            } else {
                Err(Error::Demo(format!("`dot -T{format}` failed ({status})")))
            }
        })
        .collect()
}

/// What the demo's client did.
pub struct Trace {
    /// The client's exit status.
    pub status: ExitStatus,
    /// The text report it printed.
    pub report: String,
    /// The graph drawn as SVG and PNG.
    pub pictures: Vec<PathBuf>,
}

/// The daemon running in the lab; killed on drop if not stopped cleanly.
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts the daemon and waits until it says its program is attached.
    pub(crate) fn start(lab: &Lab, binary: &Path, log: &Path) -> Result<Self> {
        let mut child = lab
            .command(Host::Server, &binary.to_string_lossy())
            .args(["--log-level", "info", "eth0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error::Demo("no server stderr".into()))?;
        let mut file = File::create(log)?;
        let (ready, attached) = mpsc::channel();
        // Copies the daemon's log to the file for as long as it runs, and
        // signals once the attach line went by.
        thread::spawn(move || {
            for line in BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if line.contains(SERVING) {
                    let _ = ready.send(());
                }
                let _ = std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes());
            }
        });
        let server = Self {
            child,
            log: log.to_path_buf(),
        };
        match attached.recv_timeout(START_TIMEOUT) {
            Ok(()) => Ok(server),
            Err(_) => Err(Error::Demo(format!(
                "the server did not attach within {START_TIMEOUT:?}; see {}",
                server.log.display()
            ))),
        }
    }

    /// The daemon's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the daemon as systemd would (SIGTERM) and returns the counter
    /// summary it logs on the way out.
    pub(crate) fn stop(mut self) -> Result<String> {
        let pid =
            i32::try_from(self.child.id()).map_err(|_| Error::Demo("pid out of range".into()))?;
        // SAFETY: signals our own child, which has not been waited for yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = self.child.wait()?;
        // The log thread ends with the daemon's stderr; give it a moment to flush.
        thread::sleep(Duration::from_millis(100));
        let log = std::fs::read_to_string(&self.log)?;
        // One line, `stopping; counters: requests 3, probes 2, …`: one per counter here.
        let summary = log
            .lines()
            .find_map(|line| line.split_once("counters: "))
            .map(|(_, counts)| counts.replace(", ", "\n"))
            .unwrap_or_default();
        if !status.success() {
            return Err(Error::Demo(format!(
                "the server exited with {status}; see {}",
                self.log.display()
            )));
        }
        Ok(summary)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already reaped after `stop`; otherwise make sure it is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
