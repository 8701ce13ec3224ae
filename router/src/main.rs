//! `router`: see `router --help` and `router::cli`.
fn main() -> std::process::ExitCode {
    router::cli::main()
}
