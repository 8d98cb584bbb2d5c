//! SIGINT and SIGTERM end `Interrupt::wait` instead of the process. A binary
//! of its own: the handler is process-wide and installs once.

use std::process::Command;

use xtask::Interrupt;

#[test]
fn signals_end_the_wait_instead_of_the_process() {
    let interrupt = Interrupt::install().expect("handler installs");
    for signal in ["-INT", "-TERM"] {
        let sent = Command::new("kill")
            .args([signal, &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal}");
        // Returns only if the handler saw the signal (which would otherwise
        // have killed this test).
        interrupt.wait();
    }
    assert!(Interrupt::install().is_err(), "one handler per process");
}
