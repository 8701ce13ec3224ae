#!/usr/bin/env bash
# The seed lab (../shared/LAB.md) in network namespaces, with `router` as the
# router VM.
#
#   sudo ./scripts/lab.sh up [static|broken|bgp] [--kernel] [--dual-stack]
#   sudo ./scripts/lab.sh demo      # curl-pod -> the three webpods, router counters
#   sudo ./scripts/lab.sh fix [static|bgp]   # broken -> fixed (default: the seed's static route)
#   sudo ./scripts/lab.sh status
#   sudo ./scripts/lab.sh down
#
# `--kernel` uses the router namespace's own kernel as the router (addresses on
# eth0/1/2, ip_forward=1, `ip route` routes), the "router VM" of the seed.
# `--dual-stack` adds IPv6 next to IPv4 (fd00:10::/64, fd00:20::/64, wan
# fd00:2::/64, PodCIDRs fd00:172:20:N::/64); demo then curls over both.
#
# Topology (every name below is prefixed with "$RLAB_PREFIX-", default "rlab-"):
#
#   wan (10.0.2.2, counts leaks) --eth0-- router --eth1-- switch(br0) --+-- k8s-ctr 192.168.10.100 -- curl-pod 172.20.0.95
#                                           |                           |                            \- webpod-ctr 172.20.0.238
#                                           |                           +-- k8s-w1  192.168.10.101 -- webpod-w1 172.20.1.154
#                                           +--eth2-- k8s-w0 192.168.20.100 -- webpod-w0 172.20.2.249
#
# Environment: RLAB_PREFIX (namespace prefix), RLAB_STATE (state dir),
# ROUTER_BIN (router binary; default target/release/router, built if absent),
# RLAB_BIN (the lab command; default target/release/lab, built if absent),
# RLAB_NO_SETUP=1 (skip install-deps.sh and cargo build; the tests set it).
#
# The lab itself — its one definition (tests/src/seed/mod.rs) and the code
# that builds it, shared with the tests — is the `lab` binary of the
# router-tests crate; this script installs what it needs, builds it and runs it.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

(($#)) || usage
case $1 in
    up | demo | fix | status | down) ;;
    *) usage ;;
esac
require_root "lab.sh $1"

# Binaries given by the caller are used as they are; otherwise they are built.
LAB_BIN_GIVEN=${RLAB_BIN:+1}
ROUTER_BIN_GIVEN=${ROUTER_BIN:+1}
export RLAB_BIN=${RLAB_BIN:-$REPO_ROOT/target/release/lab}
export ROUTER_BIN=${ROUTER_BIN:-$REPO_ROOT/target/release/router}
export RLAB_SCRIPT=$0

build() {
    find_cargo
    log "building $* (cargo build --release)"
    (cd "$REPO_ROOT" && cargo build --release "$@")
}

if [[ "${RLAB_NO_SETUP:-0}" != 1 ]]; then
    if [[ $1 == up ]]; then
        "$REPO_ROOT/scripts/install-deps.sh"
        targets=()
        [[ -z "${LAB_BIN_GIVEN:-}" ]] && targets+=(-p router-tests --bin lab)
        # The kernel forwarder needs no router binary.
        [[ -z "${ROUTER_BIN_GIVEN:-}" && " $* " != *" --kernel "* ]] && targets+=(-p router --bin router)
        ((${#targets[@]})) && build "${targets[@]}"
    elif [[ -z "${LAB_BIN_GIVEN:-}" && ! -x "$RLAB_BIN" ]]; then
        build -p router-tests --bin lab
    fi
fi
[[ -x "$RLAB_BIN" ]] || die "lab command $RLAB_BIN not found (cargo build --release -p router-tests --bin lab)"

rc=0
"$RLAB_BIN" "$@" || rc=$?
((rc == 2)) && usage
exit "$rc"
