//! Loading the eBPF program and talking to it: the same code serves the
//! daemon, the tests and the benchmarks.

use std::{io, time::Duration};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, ProgramArray, RingBuf},
    programs::{ProgramError, SchedClassifier, TestRun as _, TestRunOptions},
    util::KernelVersion,
};
use reverse_tr_common::{
    constants::{DEFAULT_CAPACITY, DEFAULT_TIMEOUT_NS},
    counter::Counter,
    policy::Policy,
    session::{DEADLINES_PER_SESSION, Session, SessionKey},
};

use crate::{
    apply::{self, Change, ProgramMaps},
    counters::Counters,
    error::{Error, Result},
    local::LocalAddresses,
    maps::{map, map_error, map_mut},
    policy::Lists,
};

/// The program attached to interfaces.
pub const ENTRY: &str = "reverse_tr";
/// The stage programs, in the index order of the eBPF `work` module.
const STAGES: [&str; 3] = ["request", "matched", "send"];
/// The program that starts the sweeper timer and sweeps once.
const SWEEP: &str = "sweep";

/// The eBPF object built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/reverse-tr"));

/// What the operator can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most sessions pending at once (§8.1).
    pub max_sessions: u32,
    /// How long a session waits for its answer (§8.2).
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_CAPACITY,
            timeout: Duration::from_nanos(DEFAULT_TIMEOUT_NS),
        }
    }
}

/// The verdict and output frame of one test run of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The TC verdict (-1 pass on, 2 drop, 7 redirect).
    pub verdict: i32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// The kernel's mean time of one run of the program.
    pub duration: Duration,
}

/// The program's aya-log records, forwarded to the `log` crate.
pub type Logger = aya_log::EbpfLogger<&'static dyn log::Log>;

/// The loaded program and its maps.
pub struct Server {
    ebpf: Ebpf,
    /// Must live while the programs do; taken by the daemon to read it.
    logger: Option<Logger>,
    counters: Counters,
}

impl Server {
    /// Checks the kernel and privileges, loads and verifies every program,
    /// links the stages and starts the session sweeper.
    pub fn load(config: Config) -> Result<Self> {
        preflight()?;
        let timeout_ns = u64::try_from(config.timeout.as_nanos())
            .ok()
            .filter(|ns| *ns > 0)
            .ok_or_else(|| Error::Config(format!("timeout {:?} out of range", config.timeout)))?;
        let deadlines = config
            .max_sessions
            .checked_mul(DEADLINES_PER_SESSION)
            .filter(|_| config.max_sessions > 0)
            .ok_or_else(|| {
                Error::Config(format!("{} sessions out of range", config.max_sessions))
            })?;
        let mut ebpf = EbpfLoader::new()
            .override_global("TIMEOUT_NS", &timeout_ns, true)
            .map_max_entries("SESSIONS", config.max_sessions)
            .map_max_entries("DEADLINES", deadlines)
            // At most one entry per pending session each.
            .map_max_entries("SOURCE_SESSIONS", config.max_sessions)
            .map_max_entries("PREFIX_SESSIONS", config.max_sessions)
            .load(OBJECT)
            .map_err(|error| {
                if is_permission_denied(&error) {
                    Error::Permission
                } else {
                    Error::Load(error)
                }
            })?;
        // Its ring buffer must exist before the programs that write to it load.
        let logger = aya_log::EbpfLogger::init(&mut ebpf)
            .map_err(|error| Error::Object(format!("log buffer: {error}")))?;
        for name in [ENTRY, SWEEP].into_iter().chain(STAGES) {
            classifier_mut(&mut ebpf, name)?
                .load()
                .map_err(|source| verifier_error(name, source))?;
        }
        link_stages(&mut ebpf)?;
        let counters = Counters::take(&mut ebpf)?;
        let server = Self {
            ebpf,
            logger: Some(logger),
            counters,
        };
        match server.sweep()? {
            0 => Ok(server),
            code => Err(Error::Sweeper(code)),
        }
    }

    /// Runs the entry program once on `frame` (BPF_PROG_TEST_RUN).
    pub fn run(&self, frame: &[u8]) -> Result<Run> {
        self.run_repeated(frame, 1)
    }

    /// Runs the entry program `repeat` times on `frame` in the kernel; from
    /// the second run on it sees the first run's output if it rewrote the
    /// frame. The benchmarks read the mean run time from it.
    pub fn run_repeated(&self, frame: &[u8], repeat: u32) -> Result<Run> {
        let mut out = vec![0u8; frame.len() + 256];
        let result = classifier(&self.ebpf, ENTRY)?
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                repeat,
                ..TestRunOptions::new()
            })
            .map_err(program_error("test run"))?;
        out.truncate(result.data_size_out as usize);
        Ok(Run {
            // The verdict is an i32 the kernel hands back as u32.
            verdict: result.return_value as i32,
            frame: out,
            duration: result.duration,
        })
    }

    /// Starts (or restarts) the sweeper timer and expires what is due;
    /// returns the timer helpers' status (0 = running).
    pub fn sweep(&self) -> Result<i32> {
        // Any frame will do: the sweep program does not look at it.
        let frame = [0u8; 64];
        let result = classifier(&self.ebpf, SWEEP)?
            .test_run(TestRunOptions {
                data_in: Some(&frame),
                ..TestRunOptions::new()
            })
            .map_err(program_error("running the sweeper"))?;
        Ok(result.return_value as i32)
    }

    /// Totals of every counter over all CPUs, in [`Counter::ALL`] order.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>> {
        Ok(self.counters.totals()?.0)
    }

    /// The total of one counter.
    pub fn counter(&self, counter: Counter) -> Result<u64> {
        self.counters.get(counter)
    }

    /// A handle on the counters that can be read without the server.
    pub fn counter_handle(&self) -> Counters {
        self.counters.clone()
    }

    /// The pending sessions, walking the whole table (for tests and
    /// benchmarks; the daemon counts them with [`Counters`]).
    pub fn sessions(&self) -> Result<Vec<(SessionKey, Session)>> {
        let table: HashMap<_, SessionKey, Session> =
            HashMap::try_from(map(&self.ebpf, "SESSIONS")?).map_err(map_error("SESSIONS"))?;
        table
            .iter()
            .map(|entry| entry.map_err(map_error("reading sessions")))
            .collect()
    }

    /// Takes the event ring buffer (once) for reading.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>> {
        let events = self
            .ebpf
            .take_map("EVENTS")
            .ok_or_else(|| Error::Object("event ring buffer already taken".into()))?;
        RingBuf::try_from(events).map_err(map_error("EVENTS"))
    }

    /// Takes the map of the addresses requests are served to (once), for
    /// a [`crate::local::Watcher`] to keep current.
    pub fn take_local_addresses(&mut self) -> Result<LocalAddresses> {
        LocalAddresses::take(&mut self.ebpf)
    }

    /// Takes the reader of the program's log lines (once); they are logged
    /// through the `log` crate when it is flushed.
    pub fn take_logger(&mut self) -> Option<Logger> {
        self.logger.take()
    }

    /// The attachable program, for [`crate::attach`].
    pub(crate) fn entry_mut(&mut self) -> Result<&mut SchedClassifier> {
        classifier_mut(&mut self.ebpf, ENTRY)
    }

    /// Writes `policy` and `lists` into the running program, all or
    /// nothing (see [`apply::apply`]); returns the list entries that changed.
    pub fn apply(&mut self, policy: &Policy, lists: &Lists) -> Result<Vec<Change>> {
        apply::apply(&mut ProgramMaps(&mut self.ebpf), policy, lists)
    }
}

/// Fills the program array the entry program tail-calls through.
fn link_stages(ebpf: &mut Ebpf) -> Result<()> {
    let mut stages = Vec::with_capacity(STAGES.len());
    for name in STAGES {
        let fd = classifier_mut(ebpf, name)?
            .fd()
            .map_err(program_error("program descriptor"))?
            .try_clone()
            .map_err(io_error("duplicating a program descriptor"))?;
        stages.push(fd);
    }
    let mut table =
        ProgramArray::try_from(map_mut(ebpf, "STAGES")?).map_err(map_error("STAGES"))?;
    for (index, fd) in (0u32..).zip(&stages) {
        table
            .set(index, fd, 0)
            .map_err(map_error("linking the stages"))?;
    }
    Ok(())
}

/// Refuses early, with a clear reason, what would fail obscurely later.
fn preflight() -> Result<()> {
    // bpf_loop (the sweeper) arrived in 5.17; bpf_timer needs 5.15.
    let minimum = KernelVersion::new(5, 17, 0);
    if let Ok(current) = KernelVersion::current()
        && current < minimum
    {
        return Err(Error::KernelTooOld {
            found: current.to_string(),
        });
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(Error::NoBtf);
    }
    if !crate::privilege::sufficient() {
        return Err(Error::Permission);
    }
    Ok(())
}

fn classifier<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a SchedClassifier> {
    let program = ebpf
        .program(name)
        .ok_or_else(|| Error::Object(format!("program {name} missing")))?;
    program.try_into().map_err(program_error(name))
}

fn classifier_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut SchedClassifier> {
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::Object(format!("program {name} missing")))?;
    program.try_into().map_err(program_error(name))
}

/// A load failure: EPERM means missing privileges, anything else the verifier.
fn verifier_error(program: &'static str, error: ProgramError) -> Error {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            // EACCES is the verifier refusing an access, not missing privileges.
            if io_error.raw_os_error() == Some(libc::EPERM) {
                Error::Permission
            } else {
                Error::Verifier {
                    program,
                    source: io_error,
                    log: verifier_log.to_string(),
                }
            }
        }
        source => Error::Program {
            context: format!("loading program {program}"),
            source,
        },
    }
}

fn is_permission_denied(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::PermissionDenied
        {
            return true;
        }
        current = error.source();
    }
    false
}

pub(crate) fn program_error(context: &str) -> impl Fn(ProgramError) -> Error + '_ {
    move |source| Error::Program {
        context: context.to_owned(),
        source,
    }
}

pub(crate) fn io_error(context: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.to_owned(),
        source,
    }
}
