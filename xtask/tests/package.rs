#![cfg(feature = "root-tests")]
//! `cargo xtask package` builds both Debian packages; installed with dpkg
//! into a scratch root (their maintainer scripts run, outside a chroot,
//! with DPKG_ROOT), both binaries run and print their version with the
//! commit, the client holds cap_net_raw, and the man pages, completions,
//! configuration and units are where man, the shells and systemd look.
//! Needs root (setcap) and cargo-deb; builds in the release profile.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

/// Runs `program` with `args`; its stdout, or a panic naming it.
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    let program = program.as_ref();
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{}: {error}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?}: {}\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An empty root directory with an empty dpkg database.
fn scratch_root() -> PathBuf {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("package-root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for directory in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        std::fs::create_dir_all(root.join(directory)).expect("the scratch root");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("the dpkg database");
    root
}

#[test]
fn both_packages_install_into_a_scratch_root_and_run() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace");
    let started = Instant::now();
    let debs = xtask::package::build(workspace).expect("cargo xtask package");
    println!("packages built in {:.0?}", started.elapsed());
    let names: Vec<String> = debs
        .iter()
        .map(|deb| {
            run("dpkg-deb", &["--field", &deb.to_string_lossy(), "Package"])
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["reverse-tr", "reverse-tr-server"]);

    let root = scratch_root();
    let root_arg = format!("--root={}", root.display());
    // The dependencies (libc6, libcap2-bin) are the host's; the scripts
    // run outside a chroot, on DPKG_ROOT's files.
    let mut install = vec![
        root_arg.as_str(),
        "--force-script-chrootless",
        "--force-depends",
        "--install",
    ];
    let paths: Vec<String> = debs
        .iter()
        .map(|deb| deb.to_string_lossy().into_owned())
        .collect();
    install.extend(paths.iter().map(String::as_str));
    run("dpkg", &install);

    // Both binaries run and name the commit they were built from.
    let commit = run(
        "git",
        &[
            "-C",
            &workspace.to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    for binary in ["reverse-tr", "reverse-tr-server"] {
        let version = run(root.join("usr/bin").join(binary), &["--version"]);
        let expected = format!("{binary} {} ({})", env!("CARGO_PKG_VERSION"), commit.trim());
        assert_eq!(version.trim(), expected);
    }
    // postinst gave the client its capability.
    let caps = run(
        "getcap",
        &[&root.join("usr/bin/reverse-tr").to_string_lossy()],
    );
    assert!(caps.contains("cap_net_raw=ep"), "{caps}");

    // Man pages in man's sections; completions where bash, zsh and fish
    // look for them.
    // Gzipped, as Debian ships man pages.
    let page = |path: &str| {
        run(
            "zcat",
            &[&root.join(format!("{path}.gz")).to_string_lossy()],
        )
    };
    for (path, title) in [
        ("usr/share/man/man1/reverse-tr.1", ".TH reverse-tr 1"),
        (
            "usr/share/man/man1/reverse-tr-reverse-udp-multipath.1",
            ".TH reverse-tr-reverse-udp-multipath 1",
        ),
        (
            "usr/share/man/man8/reverse-tr-server.8",
            ".TH reverse-tr-server 8",
        ),
    ] {
        assert!(page(path).contains(title), "{path}");
    }
    assert!(
        page("usr/share/man/man8/reverse-tr-server.8").contains("systemd\\-escape"),
        "the page says how to run it under systemd"
    );
    for binary in ["reverse-tr", "reverse-tr-server"] {
        let bash = root
            .join("usr/share/bash-completion/completions")
            .join(binary);
        run("bash", &["-n", &bash.to_string_lossy()]);
        let zsh = std::fs::read_to_string(
            root.join("usr/share/zsh/vendor-completions")
                .join(format!("_{binary}")),
        )
        .expect("the zsh completion");
        assert!(
            zsh.starts_with(&format!("#compdef {binary}")),
            "zsh: {binary}"
        );
        let fish = std::fs::read_to_string(
            root.join("usr/share/fish/vendor_completions.d")
                .join(format!("{binary}.fish")),
        )
        .expect("the fish completion");
        assert!(
            fish.contains(&format!("complete -c {binary}")),
            "fish: {binary}"
        );
    }

    // The configuration is a conffile, kept across upgrades.
    let conffiles = run(
        "dpkg-query",
        &[
            &format!("--admindir={}", root.join("var/lib/dpkg").display()),
            "--showformat=${Conffiles}",
            "--show",
            "reverse-tr-server",
        ],
    );
    assert!(
        conffiles.contains("/etc/reverse-tr/server.conf"),
        "{conffiles}"
    );

    // The units are where systemd looks (tests/systemd.rs of the server
    // verifies them).
    let unit_paths = run("systemd-analyze", &["unit-paths"]);
    assert!(
        unit_paths
            .lines()
            .any(|path| path == "/usr/lib/systemd/system"),
        "{unit_paths}"
    );
    for unit in [
        "reverse-tr-server@.service",
        "reverse-tr-server-metrics@.socket",
    ] {
        assert!(
            root.join("usr/lib/systemd/system").join(unit).exists(),
            "{unit}"
        );
    }

    std::fs::remove_dir_all(&root).expect("the scratch root is removed");
}
