//! Attaching the entry program to the TC ingress hook of interfaces.

use std::{ffi::CString, fmt};

use aya::programs::{
    LinkOrder, ProgramError, TcAttachType,
    tc::{self, NlOptions, TcAttach, TcError},
};

use crate::{
    error::{Error, Result},
    server::{Server, program_error},
};

/// How the program gets attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// A TCX link (Linux 6.6+): removed with the loader, never stale.
    Tcx,
    /// A direct-action filter on the clsact qdisc (older kernels).
    Clsact,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcx => "tcx",
            Self::Clsact => "clsact",
        })
    }
}

/// Attaches the server to the ingress of `interface`, through TCX if the
/// kernel has it, else through a clsact filter. Detached when the server
/// is dropped.
pub fn attach(server: &mut Server, interface: &str) -> Result<Hook> {
    match attach_with(server, interface, Hook::Tcx) {
        Ok(()) => Ok(Hook::Tcx),
        Err(error @ Error::UnknownInterface(_)) => Err(error),
        Err(error) => {
            log::debug!("tcx attach to {interface} failed ({error}); trying clsact");
            attach_with(server, interface, Hook::Clsact).map(|()| Hook::Clsact)
        }
    }
}

/// Attaches the server to the ingress of `interface` through `hook`
/// (adding the clsact qdisc if it is missing).
pub fn attach_with(server: &mut Server, interface: &str, hook: Hook) -> Result<()> {
    let unknown = || Error::UnknownInterface(interface.to_owned());
    let name = CString::new(interface).map_err(|_| unknown())?;
    let name = name.as_c_str();
    let attach = match hook {
        Hook::Tcx => TcAttach::Tcx {
            attach_type: TcAttachType::Ingress,
            order: LinkOrder::default(),
        },
        Hook::Clsact => {
            match tc::qdisc_add_clsact(name) {
                Ok(()) | Err(TcError::AlreadyAttached) => {}
                Err(TcError::IoError(error)) if error.raw_os_error() == Some(libc::ENODEV) => {
                    return Err(unknown());
                }
                Err(source) => {
                    return Err(Error::Io {
                        context: format!("adding the clsact qdisc to {interface}"),
                        source: std::io::Error::other(source),
                    });
                }
            }
            TcAttach::Netlink {
                parent: TcAttachType::Ingress.into(),
                options: NlOptions::default(),
            }
        }
    };
    match server.entry_mut()?.attach(name, attach) {
        Ok(_) => Ok(()),
        Err(ProgramError::UnknownInterface { .. }) => Err(unknown()),
        Err(source) => Err(program_error(&format!("attaching to {interface} ({hook})"))(source)),
    }
}
