//! `cargo xtask lab` as a user runs it (needs root).
#![cfg(feature = "root-tests")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use reverse_tr_lab::RemoveOnDrop;

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

#[test]
fn up_status_down() {
    let name = format!("c{}", std::process::id());
    let _cleanup = RemoveOnDrop(name.clone());
    let up = xtask(&["lab", "up", "--asymmetric", "--name", &name]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        text(&up).contains(&format!("rtr-{name}-r5")),
        "{}",
        text(&up)
    );

    let status = xtask(&["lab", "status", "--name", &name]);
    let report = text(&status);
    assert!(status.status.success(), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    assert!(
        report.contains("reverse path server → client: r4, r3, r5, r1, client"),
        "{report}"
    );

    let again = xtask(&["lab", "up", "--name", &name]);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already up"), "{}", text(&again));

    let down = xtask(&["lab", "down", "--name", &name]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!netns_exists(&format!("rtr-{name}-client")));

    for args in [["lab", "status", "--name"], ["lab", "down", "--name"]] {
        let missing = xtask(&[args[0], args[1], args[2], &name]);
        assert!(!missing.status.success(), "{args:?}");
        assert!(
            text(&missing).contains("no lab named"),
            "{}",
            text(&missing)
        );
    }
}

#[test]
fn up_wait_tears_down_on_each_signal() {
    for signal in ["-INT", "-TERM"] {
        let name = format!("w{}", std::process::id());
        let _cleanup = RemoveOnDrop(name.clone());
        let mut up = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["lab", "up", "--wait", "--name", &name])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn xtask");
        let mut stdout = BufReader::new(up.stdout.take().expect("piped stdout")).lines();
        let printed: Vec<String> = stdout
            .by_ref()
            .map_while(Result::ok)
            .take_while(|line| !line.starts_with("up until"))
            .collect();
        assert!(netns_exists(&format!("rtr-{name}-server")), "{printed:#?}");
        let sent = Command::new("kill")
            .args([signal, &up.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let last: Vec<String> = stdout.map_while(Result::ok).collect();
        let exit = up.wait().expect("wait for xtask");
        assert!(exit.success(), "{signal}: {exit}");
        assert_eq!(last, [format!("lab `{name}` torn down")], "{signal}");
        assert!(!netns_exists(&format!("rtr-{name}-client")), "{signal}");
    }
}
