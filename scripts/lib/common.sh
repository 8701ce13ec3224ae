# shellcheck shell=bash
# Shared helpers for scripts/*.sh (sourced, not run).

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

is_ci() { [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (network namespaces): run it with sudo"
}

# Puts cargo on PATH: sudo resets PATH, so also look in root's and the
# invoking user's ~/.cargo/bin. Fails with a clear message when there is none.
find_cargo() {
    if command -v cargo >/dev/null 2>&1; then return 0; fi
    local d
    for d in "${CARGO_HOME:-/nonexistent}/bin" /root/.cargo/bin \
             ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/bin"} /usr/local/cargo/bin; do
        if [[ -x "$d/cargo" ]]; then
            export PATH="$d:$PATH"
            return 0
        fi
    done
    die "cargo not found. Install a Rust toolchain >= 1.80 (https://rustup.rs; Debian 12's rustc is too old) and rerun."
}

# Kills every process inside namespace $1 by PID, then deletes it.
del_netns() {
    local ns=$1 pid
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || return 0
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || warn "could not delete namespace $ns"
}
