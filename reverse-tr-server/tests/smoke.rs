use reverse_tr_server::{Config, Server};

#[test]
fn loads() {
    let server = match Server::load(Config::default()) {
        Ok(s) => s,
        Err(reverse_tr_server::Error::Verifier { log, .. }) => panic!("{log}"),
        Err(e) => panic!("{e}"),
    };
    let frame = [0u8; 64];
    let run = server.run(&frame).unwrap();
    assert_eq!(run.verdict, -1);
}
