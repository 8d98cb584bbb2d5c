//! The loader library's one error type.

use std::io;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A named interface does not exist.
    #[error("interface {0:?} does not exist")]
    UnknownInterface(String),
    /// Neither root nor CAP_BPF + CAP_NET_ADMIN.
    #[error("permission denied: run as root or with CAP_BPF and CAP_NET_ADMIN")]
    Permission,
    /// The kernel is older than the features used (bpf_timer, BTF maps).
    #[error("kernel {found} is too old: the server needs Linux 5.17 or later")]
    KernelTooOld { found: String },
    /// The kernel exposes no BTF (/sys/kernel/btf/vmlinux).
    #[error(
        "kernel without BTF (/sys/kernel/btf/vmlinux missing): build it with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoBtf,
    /// The verifier refused a program; the log says why.
    #[error("the kernel verifier rejected program {program} ({source}); --verbose shows its log")]
    Verifier {
        program: &'static str,
        #[source]
        source: io::Error,
        log: String,
    },
    /// A configuration value out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The embedded eBPF object lacks something the loader expects (a
    /// build mismatch), or it was already handed out.
    #[error("eBPF object: {0}")]
    Object(String),
    /// The sweeper timer could not be started.
    #[error("starting the session sweeper failed with error {0}")]
    Sweeper(i32),
    /// The eBPF object could not be loaded.
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program operation (load, attach, test run) failed.
    #[error("{context}: {source}")]
    Program {
        context: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("{context}: {source}")]
    Map {
        context: String,
        #[source]
        source: aya::maps::MapError,
    },
    /// Writing a policy failed; what was written is undone, so the
    /// previous policy is wholly in force.
    #[error("policy not applied: {0}")]
    PolicyKept(#[source] Box<Error>),
    /// Writing a policy failed and undoing it failed too: the program
    /// enforces a mixture of the two.
    #[error(
        "policy partly applied ({cause}), and restoring the previous one failed ({undo}): \
         restart the daemon"
    )]
    PolicyTorn { cause: Box<Error>, undo: Box<Error> },
    /// An I/O error (ring buffer polling, descriptors).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// `Result` with the loader's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit status for this error (documented in the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::UnknownInterface(_) => 3,
            Self::Permission => 4,
            Self::KernelTooOld { .. } | Self::NoBtf => 5,
            Self::Verifier { .. } => 6,
            Self::Config(_) => 2,
            _ => 1,
        }
    }
}
