#![forbid(unsafe_code)]
//! The seed lab command, run by `scripts/lab.sh` (which installs the
//! dependencies and builds this binary and the router first):
//!
//! ```text
//! lab up [static|broken|bgp] [--kernel] [--dual-stack] | demo [ROUNDS] | fix [static|bgp] | status | down
//! ```
//!
//! Everything it does is in `router_tests::seed::command`.

use std::process::ExitCode;

use router_tests::seed::command::{run, Failure};

fn main() -> ExitCode {
    // Set-up failures are panics in the harness; show them as errors. A
    // failed `up` unwinds through its lab, which removes what it made.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        eprintln!("\x1b[1;31merror:\x1b[0m {msg}");
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match std::panic::catch_unwind(|| run(&args)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Failure::Usage)) => {
            eprintln!("usage: lab up [static|broken|bgp] [--kernel] [--dual-stack] | demo [ROUNDS] | fix [static|bgp] | status | down");
            ExitCode::from(2)
        }
        Ok(Err(Failure::Error(e))) => {
            eprintln!("\x1b[1;31merror:\x1b[0m {e}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}
