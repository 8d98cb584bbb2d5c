//! Empty on purpose: the program is the `reverse-tr` binary of this crate.
//! The library target lets the loader's build.rs depend on the crate, so
//! cargo rebuilds the loader when the program changes.
#![no_std]
