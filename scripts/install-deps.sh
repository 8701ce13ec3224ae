#!/usr/bin/env bash
# Installs what the lab, the tests and the benchmarks need, if missing.
# Idempotent: checks first, runs `apt-get update` at most once, installs only
# what is absent. Needs root to install; under CI=true anything still missing
# afterwards is an error. The Rust toolchain is not installed here (no
# rustup mirror is reachable): without cargo the script fails with a message.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# command-to-check : Debian package
NEEDS=(
    "ip:iproute2"
    "ss:iproute2"
    "ping:iputils-ping"
    "iperf3:iperf3"
    "curl:curl"
    "socat:socat"
    "python3:python3"
    "tcpdump:tcpdump"
    "ethtool:ethtool"
    "traceroute:traceroute"
    "sysctl:procps"
    "pkill:procps"
    "sha256sum:coreutils"
    "timeout:coreutils"
    "gobgpd:gobgpd"
    "gobgp:gobgpd"
    "bird:bird2"
    "birdc:bird2"
    "/usr/lib/frr/bgpd:frr"
    "vtysh:frr"
    # Build dependencies of the router's host set-up (crates nftnl, mnl).
    "/usr/include/libnftnl/chain.h:libnftnl-dev"
    "/usr/include/libmnl/libmnl.h:libmnl-dev"
    "pkg-config:pkg-config"
    # Metrics are checked with promtool; units with systemd-analyze; the
    # package is inspected with dpkg-deb.
    "promtool:prometheus"
    "systemd-analyze:systemd"
    "dpkg-deb:dpkg"
)

have() {
    if [[ "$1" == /* ]]; then [[ -e "$1" ]]; else command -v "$1" >/dev/null 2>&1; fi
}

missing_pkgs() {
    local entry cmd pkg
    for entry in "${NEEDS[@]}"; do
        cmd=${entry%%:*}
        pkg=${entry#*:}
        have "$cmd" || echo "$pkg"
    done | sort -u
}

mapfile -t missing < <(missing_pkgs)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        die "missing packages: ${missing[*]} — rerun as root (sudo $0) to install them"
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing packages: ${missing[*]} and no apt-get to install them"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq || warn "apt-get update failed"
    # One package at a time so one unavailable package does not block the rest.
    for pkg in "${missing[@]}"; do
        timeout 900 apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
            || warn "could not install $pkg"
    done
    # The Debian services of these daemons are not wanted: tests and the lab
    # start their own instances inside namespaces.
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        for svc in bird frr gobgpd iperf3 prometheus prometheus-node-exporter; do
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        done
    fi
fi

mapfile -t still < <(missing_pkgs)
if ((${#still[@]})); then
    if is_ci; then
        die "still missing after install: ${still[*]}"
    fi
    warn "still missing: ${still[*]} (tests that need them will be skipped loudly)"
fi

find_cargo
# cargo-fuzz (from crates.io) for the BGP fuzz smoke in scripts/test-all.sh;
# it needs a nightly toolchain, which rustup installs where it can reach its
# distribution server.
if [[ -f "$REPO_ROOT/bgp/fuzz/Cargo.toml" ]] && ! cargo +nightly --version >/dev/null 2>&1 &&
    command -v rustup >/dev/null 2>&1; then
    log "installing a nightly toolchain (rustup) for cargo-fuzz"
    timeout 900 rustup toolchain install nightly --profile minimal || warn "could not install a nightly toolchain"
fi
if [[ -f "$REPO_ROOT/bgp/fuzz/Cargo.toml" ]] && ! cargo fuzz --version >/dev/null 2>&1; then
    if cargo +nightly --version >/dev/null 2>&1; then
        log "installing cargo-fuzz (cargo install)"
        timeout 1200 cargo install cargo-fuzz --locked || warn "could not install cargo-fuzz"
    fi
    if ! cargo fuzz --version >/dev/null 2>&1 || ! cargo +nightly --version >/dev/null 2>&1; then
        is_ci && die "the BGP fuzz smoke needs cargo-fuzz and a nightly Rust toolchain (rustup toolchain install nightly)"
        warn "no cargo-fuzz/nightly: the BGP fuzz smoke will be skipped"
    fi
fi
# cargo-deb (from crates.io) builds the Debian package (scripts/build-deb.sh).
if ! cargo deb --version >/dev/null 2>&1; then
    log "installing cargo-deb (cargo install)"
    timeout 1500 cargo install cargo-deb --locked || warn "could not install cargo-deb"
    if ! cargo deb --version >/dev/null 2>&1; then
        is_ci && die "the package test needs cargo-deb (cargo install cargo-deb)"
        warn "no cargo-deb: the package test will be skipped"
    fi
fi
log "dependencies ok ($(cargo --version))"
