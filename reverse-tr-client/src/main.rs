//! `reverse-tr`: the command line over the client library (its app part,
//! `cli`, does the work).

use std::process::ExitCode;

fn main() -> ExitCode {
    reverse_tr_client::main()
}
