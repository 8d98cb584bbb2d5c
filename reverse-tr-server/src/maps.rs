//! Finding the program's maps in the loaded object, and the error of a
//! failed map operation.

use aya::{Ebpf, maps::Map};

use crate::error::{Error, Result};

/// The map `name` of the loaded object.
pub(crate) fn map<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Map> {
    ebpf.map(name).ok_or_else(|| missing(name))
}

/// The map `name` of the loaded object, for writing.
pub(crate) fn map_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Map> {
    ebpf.map_mut(name).ok_or_else(|| missing(name))
}

/// Takes the map `name` out of the loaded object (once), for a reader that
/// outlives the borrow of the object.
pub(crate) fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<Map> {
    ebpf.take_map(name).ok_or_else(|| missing(name))
}

fn missing(name: &str) -> Error {
    Error::Object(format!("map {name} missing"))
}

/// Turns a failed map operation into an [`Error::Map`] saying what failed.
pub(crate) fn map_error(context: &str) -> impl Fn(aya::maps::MapError) -> Error + '_ {
    move |source| Error::Map {
        context: context.to_owned(),
        source,
    }
}
