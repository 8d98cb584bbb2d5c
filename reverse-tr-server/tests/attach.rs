//! Attaching to interfaces: TCX, the clsact fallback, and detaching.
#![cfg(feature = "root-tests")]

mod support;

use std::process::Command;

use reverse_tr_server::{Config, Error, Hook, attach, attach_with};
use support::server;

/// Runs `ip`/`tc` in this thread's namespace and returns stdout.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect("runs");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ingress_filters() -> String {
    run("tc", &["filter", "show", "dev", "veth0", "ingress"])
}

#[test]
fn attaches_by_tcx_or_clsact_and_detaches_when_dropped() {
    let mut tcx = server(Config::default());
    run(
        "ip",
        &[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ],
    );
    assert_eq!(attach(&mut tcx, "veth0").expect("attached"), Hook::Tcx);
    let mut clsact = reverse_tr_server::Server::load(Config::default()).expect("loaded");
    attach_with(&mut clsact, "veth0", Hook::Clsact).expect("clsact attach");
    assert!(
        ingress_filters().contains("reverse_tr"),
        "{}",
        ingress_filters()
    );
    drop(clsact);
    assert!(
        !ingress_filters().contains("reverse_tr"),
        "{}",
        ingress_filters()
    );
    drop(tcx);
}

#[test]
fn unknown_interfaces_are_named() {
    let mut server = server(Config::default());
    for hook in [Hook::Tcx, Hook::Clsact] {
        match attach_with(&mut server, "nosuch0", hook) {
            Err(Error::UnknownInterface(name)) => assert_eq!(name, "nosuch0"),
            other => panic!("{hook}: {other:?}"),
        }
    }
}
