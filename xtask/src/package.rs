//! `cargo xtask package`: the Debian packages `reverse-tr` and
//! `reverse-tr-server` (cargo-deb), with man pages and shell completions
//! generated from the binaries' clap grammars.
//!
//! Steps: a release build of both binaries; the generated files under
//! `<target>/release/generated/<binary>/`, where the `[package.metadata.deb]`
//! assets of each crate expect them; `cargo deb --no-build` per crate,
//! writing `<target>/debian/*.deb`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use clap_complete::Shell;

use reverse_tr_lab::command;

use crate::Result;

/// A binary to package: its crate, its name and its man page section.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// The cargo package holding it (and its Debian metadata).
    pub package: &'static str,
    /// The executable's name.
    pub name: &'static str,
    /// 1 for user commands, 8 for daemons.
    pub section: &'static str,
    /// Its clap grammar.
    pub command: fn() -> clap::Command,
}

/// The client and the server.
pub const BINARIES: [Binary; 2] = [
    Binary {
        package: "reverse-tr-client",
        name: "reverse-tr",
        section: "1",
        command: reverse_tr_client::command,
    },
    Binary {
        package: "reverse-tr-server",
        name: "reverse-tr-server",
        section: "8",
        command: reverse_tr_server::cli::command,
    },
];

/// The shells completions are generated for; their files' installed
/// places are in each crate's Debian assets.
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The cargo target directory of `workspace`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

/// Builds both packages; returns the paths of the `.deb` files.
pub fn build(workspace: &Path) -> Result<Vec<PathBuf>> {
    let release = target_dir(workspace).join("release");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(workspace)
        .args(["build", "--release", "--locked"]);
    for binary in BINARIES {
        cargo.args(["-p", binary.package]);
    }
    status(&mut cargo)?;
    let mut debs = Vec::new();
    for binary in BINARIES {
        generate(&binary, &release.join("generated").join(binary.name))?;
        let output = command::run(
            Command::new(env!("CARGO")).current_dir(workspace).args([
                "deb",
                "--no-build",
                "--locked",
                "-p",
                binary.package,
            ]),
            None,
        )?;
        // cargo-deb prints the path of the package it wrote, last.
        let deb = output.lines().last().unwrap_or_default().trim();
        debs.push(PathBuf::from(deb));
    }
    Ok(debs)
}

/// Writes `binary`'s man pages (one per command and subcommand, gzipped
/// as Debian installs them: cargo-deb leaves them as they are) and its
/// completions for [`SHELLS`] into `directory`, emptied first.
pub fn generate(binary: &Binary, directory: &Path) -> Result<()> {
    if directory.exists() {
        fs::remove_dir_all(directory)?;
    }
    fs::create_dir_all(directory)?;
    let command = (binary.command)().name(binary.name).bin_name(binary.name);
    pages(command.clone(), binary.section, directory)?;
    let mut gzip = Command::new("gzip");
    // -n: no name or time stamp in the header, so the package is reproducible.
    gzip.arg("-9n");
    for entry in fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == binary.section) {
            gzip.arg(path);
        }
    }
    command::run(&mut gzip, None)?;
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut command.clone(), binary.name, directory)?;
    }
    Ok(())
}

/// The man page of `command` and, recursively, of its subcommands, in
/// `section`; a subcommand's page is named after its path
/// (`reverse-tr-reverse-udp-singlepath.1`), clap_mangen's generate_to
/// without its fixed section 1.
fn pages(mut command: clap::Command, section: &str, directory: &Path) -> Result<()> {
    // Building names each subcommand by its path (its display name).
    command.build();
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        pending.extend(
            command
                .get_subcommands()
                .filter(|sub| !sub.is_hide_set())
                .cloned(),
        );
        clap_mangen::Man::new(command)
            .section(section)
            .generate_to(directory)?;
    }
    Ok(())
}

/// Runs `command` with its output on the terminal (a release build takes
/// minutes and shows its progress); a failure names the command.
fn status(command: &mut Command) -> Result<()> {
    let line = command::describe(command);
    // The lab's errors for helper programs name the command line.
    let status = command
        .status()
        .map_err(|source| reverse_tr_lab::Error::Spawn {
            command: line.clone(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(reverse_tr_lab::Error::Command {
            command: line,
            status,
            stderr: "see above".to_owned(),
        }
        .into())
    }
}
