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

/// How the program got attached.
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
    let name =
        CString::new(interface).map_err(|_| Error::UnknownInterface(interface.to_owned()))?;
    let interface = name.as_c_str();
    let program = server.entry_mut()?;
    let tcx = TcAttach::Tcx {
        attach_type: TcAttachType::Ingress,
        order: LinkOrder::default(),
    };
    match program.attach(interface, tcx) {
        Ok(_) => return Ok(Hook::Tcx),
        Err(ProgramError::UnknownInterface { .. }) => {
            return Err(Error::UnknownInterface(
                interface.to_string_lossy().into_owned(),
            ));
        }
        Err(error) => log::debug!("tcx attach to {interface:?} failed ({error}); trying clsact"),
    }
    match tc::qdisc_add_clsact(interface) {
        Ok(()) | Err(TcError::AlreadyAttached) => {}
        Err(source) => {
            return Err(Error::Io {
                context: format!("adding the clsact qdisc to {interface:?}"),
                source: std::io::Error::other(source),
            });
        }
    }
    let netlink = TcAttach::Netlink {
        parent: TcAttachType::Ingress.into(),
        options: NlOptions::default(),
    };
    program
        .attach(interface, netlink)
        .map_err(program_error("attaching to the clsact ingress hook"))?;
    Ok(Hook::Clsact)
}
