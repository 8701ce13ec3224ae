#!/usr/bin/env bash
# The README's test command (and CI's, via .ci/run):
#   sudo ./scripts/test-all.sh
# Installs what is missing, builds the workspace (and the release router the
# namespace tests run), runs every unit and integration test, the benchmarks'
# --quick smoke modes and the BGP and router fuzz smokes, and fails if any test left a
# network namespace behind. Under CI=true nothing may be skipped.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

if [[ $(id -u) -ne 0 ]]; then
    is_ci && die "CI runs the tests as root"
    warn "not root: the namespace tests will be SKIPPED (loudly). Run: sudo $0"
fi
./scripts/install-deps.sh
find_cargo

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/router-test-all.XXXXXX")
trap 'rm -rf "$LOG_DIR"' EXIT
ns_snapshot() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(rtest|rbench)-' | sort || true; }
all_snapshot() { ip netns list 2>/dev/null | awk '{print $1}' | sort || true; }
ns_before=$(ns_snapshot)
all_before=$(all_snapshot)

log "cargo build (workspace, debug) and the release router"
cargo build --workspace --all-targets
cargo build --release -p router
export ROUTER_BIN=$REPO_ROOT/target/release/router

# The project's rules as code: [workspace.lints] (unsafe_code = "forbid"
# outside router-sys, undocumented unsafe blocks denied there) and clippy.
log "cargo clippy (workspace, all targets, -D warnings)"
lint_rc=0
cargo clippy --workspace --all-targets -- -D warnings || lint_rc=1

# The Debian package; tests/tests/package.rs inspects it and runs the lab
# with the binary extracted from it.
log "Debian package (scripts/build-deb.sh)"
./scripts/build-deb.sh >"$LOG_DIR/deb.log" 2>&1 || { tail -n 30 "$LOG_DIR/deb.log"; die "building the .deb failed"; }
ROUTER_DEB=$(ls -t "$REPO_ROOT"/target/debian/router_*.deb | head -n 1)
export ROUTER_DEB

# Two threads: the machines have 2 cores and each namespace test runs
# several processes of its own.
log "cargo test --workspace"
set +e
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee "$LOG_DIR/test.log"
test_rc=${PIPESTATUS[0]}
set -e

smoke_rc=0
log "benchmarks: --quick smoke runs"
if [[ -d bench/src/bin ]]; then
    cargo build --release -p bench --bins
    for src in bench/src/bin/*.rs; do
        bin=$(basename "$src" .rs)
        # Only the benchmarks (they take --quick); helper tools are run by them.
        grep -q -- '--quick\|quick:' "$src" || continue
        log "bench $bin --quick"
        args=(--quick)
        # Results of smoke runs go to the scratch dir, not bench/out/.
        if "target/release/$bin" --help 2>/dev/null | grep -q -- '--out'; then args+=(--out "$LOG_DIR/bench-$bin"); fi
        if ! timeout 600 "target/release/$bin" "${args[@]}" > "$LOG_DIR/bench-$bin.log" 2>&1; then
            tail -n 40 "$LOG_DIR/bench-$bin.log"
            warn "bench $bin --quick failed"
            smoke_rc=1
        else
            tail -n 30 "$LOG_DIR/bench-$bin.log"
        fi
    done
fi
# The benchmarks of issues 2-4 and 11 must exist (and so be smoke-tested).
for b in fwd_bench fib_bench bgp_bench fault_bench; do
    if [[ ! -f bench/src/bin/$b.rs ]]; then
        warn "bench/src/bin/$b.rs is missing"
        is_ci && smoke_rc=1
    fi
done

# The cargo-fuzz targets, briefly: BGP's (bgp/README.md, "cargo fuzz"),
# FUZZ_SECS each, and the router's (README.md, "Fuzzing the router"),
# ROUTER_FUZZ_SECS each. One target at a time; seeds in fuzz/seeds (per
# target for the router), dictionaries in fuzz/dict/<target>.dict.
fuzz_smoke() { # crate-dir secs
    local dir=$1 secs=$2 target corpus seeds dict
    for target in $(ls "$dir/fuzz/fuzz_targets/" | sed -n 's/\.rs$//p'); do
        log "fuzz smoke: $dir/$target ($secs s)"
        corpus=$(mktemp -d "$LOG_DIR/corpus-$dir-$target.XXXXXX")
        seeds=fuzz/seeds
        if [[ -d $dir/fuzz/seeds/$target ]]; then seeds=fuzz/seeds/$target; fi
        dict=()
        if [[ -f $dir/fuzz/dict/$target.dict ]]; then dict=("-dict=fuzz/dict/$target.dict"); fi
        if ! (cd "$dir" && timeout 900 cargo +nightly fuzz run "$target" "$corpus" "$seeds" -- \
            -max_total_time="$secs" -max_len=4096 "${dict[@]}" >"$LOG_DIR/fuzz-$dir-$target.log" 2>&1); then
            tail -n 40 "$LOG_DIR/fuzz-$dir-$target.log"
            warn "fuzz target $dir/$target failed (artifacts in $dir/fuzz/artifacts/)"
            smoke_rc=1
        else
            grep -E '^Done|stat::number_of_executed_units' "$LOG_DIR/fuzz-$dir-$target.log" | tail -n 2 || true
        fi
    done
}
if [[ -f bgp/fuzz/Cargo.toml || -f router/fuzz/Cargo.toml ]]; then
    if cargo fuzz --version >/dev/null 2>&1 && cargo +nightly --version >/dev/null 2>&1; then
        if [[ -f bgp/fuzz/Cargo.toml ]]; then fuzz_smoke bgp "${FUZZ_SECS:-30}"; fi
        if [[ -f router/fuzz/Cargo.toml ]]; then fuzz_smoke router "${ROUTER_FUZZ_SECS:-15}"; fi
    elif is_ci; then
        warn "cargo-fuzz or a nightly toolchain is missing: the fuzz smoke cannot run"
        smoke_rc=1
    else
        warn "SKIPPED the fuzz smoke: needs cargo-fuzz and a nightly toolchain"
    fi
fi

leak_rc=0
ns_after=$(ns_snapshot)
# Our namespaces are named `<prefix>-<pid>-…` after the test process that made
# them: one is leaked only once that process is gone (a concurrent run's live
# namespaces are not ours to judge or delete).
leaked=$(comm -13 <(echo "$ns_before") <(echo "$ns_after") | grep -v '^$' |
    while read -r ns; do
        pid=$(echo "$ns" | cut -d- -f2)
        [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && continue
        echo "$ns"
    done || true)
if [[ -n "$leaked" ]]; then
    warn "tests left network namespaces behind (a cleanup bug):"
    echo "$leaked" >&2
    # Remove them so the next run starts clean, but still fail this one.
    for ns in $leaked; do del_netns "$ns"; done
    leak_rc=1
fi
# Namespaces under other names (tests that do not use router-tests): on CI's
# fresh machine any new one is a leak; on a shared machine other sessions'
# may come and go, so only warn there.
others=$(comm -13 <(echo "$all_before") <(all_snapshot) | grep -Ev '^(rtest|rbench)-|^$' || true)
if [[ -n "$others" ]]; then
    if is_ci; then
        warn "namespaces left behind: $(echo $others)"
        for ns in $others; do del_netns "$ns"; done
        leak_rc=1
    else
        warn "namespaces that appeared during the run (other sessions?): $(echo $others)"
    fi
fi

echo
log "summary (cargo test)"
grep -E '^(test result:|     Running|   Doc-tests)' "$LOG_DIR/test.log" | sed 's/^ *//' || true
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^(passed|failed|ignored);?$/) { k=$(i+1); sub(";", "", k); n[k] += $i } } }
     END { printf "TOTAL: %d passed, %d failed, %d ignored\n", n["passed"], n["failed"], n["ignored"] }' "$LOG_DIR/test.log"
skipped=$(grep -c '!!! SKIPPED' "$LOG_DIR/test.log" || true)
((skipped)) && warn "$skipped test(s) SKIPPED for missing prerequisites (see above)"
if ((test_rc || smoke_rc || leak_rc || lint_rc)); then
    die "FAILED (cargo test rc=$test_rc, bench/fuzz smoke rc=$smoke_rc, leaked namespaces rc=$leak_rc, clippy rc=$lint_rc)"
fi
log "all passed"
