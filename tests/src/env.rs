//! What a test needs from the machine: root, tools on PATH, and the
//! repository's files and binaries. Tests that need root or a tool call
//! [`require_root`]/[`require_tool`] (or the [`require!`](crate::require)
//! macro): under `CI=true` a missing prerequisite panics (the run fails),
//! otherwise the test prints a loud SKIPPED line and returns.

use std::fs;
use std::path::{Path, PathBuf};

/// True when running under CI (`CI=true`/`CI=1`): missing prerequisites fail.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE") | Ok("True")
    )
}

fn skip_or_fail(what: &str) -> bool {
    if in_ci() {
        panic!("prerequisite missing under CI=true: {what}");
    }
    // Straight to fd 2: libtest captures `eprintln!` of passing tests, and a
    // skip must never be silent.
    use std::io::Write;
    let bar = "!".repeat(72);
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!!! SKIPPED: {what}\n!!! (run as root via `sudo ./scripts/test-all.sh`; under CI=true this fails)\n{bar}"
    );
    false
}

/// Whether the process runs as root (uid 0), read from /proc without libc.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Returns true when the test may go on. Without root: panics under CI,
/// otherwise prints a loud SKIPPED message and returns false.
pub fn require_root() -> bool {
    is_root() || skip_or_fail("this test needs root (network namespaces)")
}

/// Whether `tool` is an executable on PATH.
pub fn have_tool(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        fs::metadata(dir.join(tool))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Returns true when `tool` is on PATH; otherwise panics under CI or skips loudly.
pub fn require_tool(tool: &str) -> bool {
    have_tool(tool)
        || skip_or_fail(&format!(
            "this test needs `{tool}` on PATH (scripts/install-deps.sh installs it)"
        ))
}

/// `require_root()` and every tool in `tools`.
pub fn require_root_and(tools: &[&str]) -> bool {
    require_root() && tools.iter().all(|t| require_tool(t))
}

/// Early-return from a test whose prerequisites are missing (see [`require_root_and`]).
#[macro_export]
macro_rules! require {
    ($($tool:expr),* $(,)?) => {
        if !$crate::require_root_and(&[$($tool),*]) {
            return;
        }
    };
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The `router` binary: `$ROUTER_BIN`, else the newer of
/// `target/release/router` and `target/debug/router`.
pub fn router_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ROUTER_BIN") {
        return PathBuf::from(p);
    }
    let t = target_dir();
    let candidates = [t.join("release/router"), t.join("debug/router")];
    candidates
        .iter()
        .filter_map(|p| fs::metadata(p).and_then(|m| m.modified()).ok().map(|m| (m, p.clone())))
        .max_by_key(|(m, _)| *m)
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "no router binary: set ROUTER_BIN or build it (`cargo build --release -p router`); looked in {}",
                t.display()
            )
        })
}

/// A file or script shipped in the repository (e.g. `scripts/lib/whoami.py`).
pub fn repo_file(rel: &str) -> PathBuf {
    let p = workspace_root().join(rel);
    assert!(p.exists(), "{} is missing", p.display());
    p
}
