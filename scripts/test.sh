#!/usr/bin/env bash
# The test command (README.md): installs what the tests need on a fresh Debian machine,
# then runs everything — formatting and lint, the dependency policy and SBOM
# (scripts/checks/dependencies.sh), the Rust unit and integration tests
# (SQLite, and a real MariaDB server that the tests start on a temporary directory and
# free port and remove afterwards), and the offline validation of the deployment files.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

# Builds are slow on small machines: keep one target directory outside the clone so
# every clone (and CI) reuses it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CACHE_DIR}/target}"

echo "==> installing test dependencies (Debian packages)"
ensure_apt mariadb-server mariadb-client chromium chromium-driver haproxy

echo "==> cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

echo "==> dependency policy (cargo deny), advisories when reachable, SBOM"
bash scripts/checks/dependencies.sh

echo "==> cargo test"
cargo test --locked

echo "==> offline validation of the deployment files"
scripts/validate-offline.sh
