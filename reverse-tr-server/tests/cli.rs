//! The daemon's one-line errors and exit statuses.

use std::process::Command;

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reverse-tr-server"))
}

/// Runs the daemon in a fresh network namespace (its interfaces are
/// unknown there, so nothing can get attached by accident; `unshare --net`
/// needs root).
#[cfg(feature = "root-tests")]
fn isolated(wrapper: &[&str], args: &[&str]) -> std::process::Output {
    let mut command = Command::new("unshare");
    command
        .arg("--net")
        .args(wrapper)
        .arg(env!("CARGO_BIN_EXE_reverse-tr-server"))
        .args(args);
    command.output().expect("unshare runs")
}

/// Name, command wrapper, arguments, exit status, message.
#[cfg(feature = "root-tests")]
type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], i32, &'a str);

#[cfg(feature = "root-tests")]
#[test]
fn errors_are_one_line_with_their_own_exit_status() {
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ];
    let cases: [Case; 3] = [
        (
            "unknown interface",
            &[],
            &["nosuch0"],
            3,
            "interface \"nosuch0\" does not exist",
        ),
        (
            "no privileges",
            &nobody,
            &["lo"],
            4,
            "permission denied: run as root or with CAP_BPF and CAP_NET_ADMIN",
        ),
        (
            "capacity beyond the deadline FIFO",
            &[],
            &["-n", "0xffffffff", "lo"],
            2,
            "invalid configuration",
        ),
    ];
    for (name, wrapper, args, status, message) in cases {
        let output = isolated(wrapper, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("reverse-tr-server: "))
            .collect();
        assert_eq!(output.status.code(), Some(status), "{name}: {stderr}");
        assert_eq!(errors.len(), 1, "{name}: {stderr}");
        assert!(errors[0].contains(message), "{name}: {stderr}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["-t", "5s", "eth0"],
        &["--timeout", "1", "-t", "1", "eth0"],
    ] {
        let output = server().args(args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn help_teaches_the_options() {
    let output = server().arg("--help").output().expect("runs");
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("help", String::from_utf8_lossy(&output.stdout));
}
