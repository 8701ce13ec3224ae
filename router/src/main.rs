#![forbid(unsafe_code)]
fn main() {
    eprintln!("router: not yet wired");
    std::process::exit(2);
}
