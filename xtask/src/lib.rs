//! Library side of xtask: the network-namespace lab, usable from tests of
//! every crate (`xtask::lab::Lab`), and what the CLI tasks share.

mod command;
mod error;
mod interrupt;
pub mod lab;

pub use error::{Error, Result};
pub use interrupt::Interrupt;
