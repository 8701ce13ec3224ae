#!/usr/bin/env bash
# Builds the Debian package: target/debian/router_<version>_<arch>.deb
#   ./scripts/build-deb.sh
# The release binary, then its man pages and shell completions (generated
# from the clap definitions by `router generate`), then `cargo deb`
# (crate cargo-deb, installed by scripts/install-deps.sh) with the metadata
# in router/Cargo.toml: the binary, /etc/router/router.toml (a conffile),
# the systemd unit packaging/router.service, man pages, completions.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
find_cargo
command -v cargo-deb >/dev/null 2>&1 || die "cargo-deb is missing: run scripts/install-deps.sh (as root)"
cargo build --release -p router
# Generated, not committed (router/assets/ is ignored).
rm -rf router/assets
target/release/router generate router/assets >/dev/null
cargo deb -p router --no-build --output target/debian/ "$@"
