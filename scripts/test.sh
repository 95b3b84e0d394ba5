#!/usr/bin/env bash
# The test command (README.md): installs what the tests need on a fresh Debian machine,
# then runs everything — formatting and lint, the dependency policy and SBOM
# (scripts/checks/dependencies.sh), the container image built from the Dockerfile with
# podman, the Rust unit and integration tests (SQLite, a real MariaDB server that the
# tests start on a temporary directory and free port and remove afterwards, and the
# image run hardened), and the offline validation of the deployment files.
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

echo "==> container image: podman build of the Dockerfile (scripts/images/build.sh)"
# Installs podman, runc, slirp4netns and debootstrap when missing, makes the base-image
# stand-ins once, and builds with podman's layer cache. Built here rather than inside
# cargo test, so that a cold build's minutes of compiling never run alongside the
# timing-sensitive tests; tests/api/container.rs runs this image.
if [[ $(id -u) -eq 0 || "${CI:-}" == true ]]; then
  image_started=${SECONDS}
  EMPLOYEE_DB_TEST_IMAGE="$(scripts/images/build.sh employee-db:test)"
  export EMPLOYEE_DB_TEST_IMAGE
  echo "    image ${EMPLOYEE_DB_TEST_IMAGE:0:12} ready after $((SECONDS - image_started)) s"
else
  echo "    NOT RUN: podman's image storage needs root here (the container tests say NOT RUN too)"
fi

echo "==> cargo test"
cargo test --locked

echo "==> offline validation of the deployment files"
scripts/validate-offline.sh
