//! Builds the eBPF program with the pinned nightly (its LLVM must match
//! bpf-linker's) so the loader can embed the object, and stamps the
//! version with the commit (`reverse-tr-server --version`).
use anyhow::Context as _;
use aya_build::{Package, Toolchain};

#[path = "../build-support/version.rs"]
mod version;

fn main() -> anyhow::Result<()> {
    version::emit();
    let ebpf = Package {
        name: "reverse-tr-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../reverse-tr-ebpf"),
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], Toolchain::Custom("nightly-2026-07-01"))
        .context("building the eBPF program")
}
