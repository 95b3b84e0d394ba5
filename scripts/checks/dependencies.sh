#!/usr/bin/env bash
# Dependency policy and SBOM, run by scripts/test.sh (and, for advisories only, by the
# workflow's advisories job):
#   1. cargo deny check licenses bans sources: deny.toml's policy. Needs no network
#      beyond the crates.io downloads that cargo already does.
#   2. cargo deny check advisories: needs the RustSec database from GitHub, so it runs
#      only when that is reachable and says so when it is not. EMPLOYEE_DB_ADVISORIES
#      overrides that: "required" (the workflow's advisories job) fails instead of
#      skipping, "skip" leaves the check to that job.
#   3. a CycloneDX SBOM of the binary's crates, written to
#      $CARGO_TARGET_DIR/sbom/employee-db.cdx.json (the image job attaches it to the
#      image), and tests/offline/test_sbom.py, which checks it against Cargo.lock.
#
# Usage: scripts/checks/dependencies.sh [advisories]   (the argument runs step 2 alone)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

# Pinned tool versions, built from crates.io on first use and kept in the shared cache.
# Both build on Rust 1.95 with --locked; see README.md for the cold-build time.
CARGO_DENY_VERSION="0.20.2"
CARGO_CYCLONEDX_VERSION="0.5.9"
TOOLS_ROOT="${CACHE_DIR}/tools"
export PATH="${TOOLS_ROOT}/bin:${PATH}"

# The RustSec database cargo-deny clones (its default source).
ADVISORY_DB_URL="https://github.com/rustsec/advisory-db"

# ensure_cargo_tool CRATE VERSION: installs CRATE at exactly VERSION under TOOLS_ROOT
# unless that version is already there. The build goes to a throw-away directory, not the
# project's CARGO_TARGET_DIR, so the tools never share (or invalidate) the app's cache.
# cargo install's own record (.crates.toml) says what is installed: the two tools do not
# print their versions in the same way.
ensure_cargo_tool() {
  local crate="$1" version="$2"
  if [[ -x "${TOOLS_ROOT}/bin/${crate}" ]] &&
    grep -qF "\"${crate} ${version} (registry+" "${TOOLS_ROOT}/.crates.toml" 2>/dev/null; then
    return 0
  fi
  echo "installing ${crate} ${version} from crates.io (a few minutes, once)"
  env -u CARGO_TARGET_DIR cargo install --quiet --locked --version "=${version}" --root "${TOOLS_ROOT}" "${crate}"
}

advisories() {
  local mode="${EMPLOYEE_DB_ADVISORIES:-auto}"
  case "${mode}" in
    skip)
      echo "advisories: SKIPPED (EMPLOYEE_DB_ADVISORIES=skip; the workflow's advisories job runs them)"
      return 0
      ;;
    auto | required) ;;
    *)
      echo "EMPLOYEE_DB_ADVISORIES must be auto, required or skip (got '${mode}')" >&2
      return 2
      ;;
  esac
  # cargo-deny fetches the database with the git command line.
  if ! command -v git >/dev/null; then
    if [[ "${mode}" == "required" ]]; then
      echo "advisories: FAILED: git is not installed (cargo-deny fetches the RustSec database with it)" >&2
      return 1
    fi
    echo "advisories: SKIPPED: git is not installed (cargo-deny fetches the RustSec database with it)"
    return 0
  fi
  if ! timeout 30 git ls-remote --exit-code "${ADVISORY_DB_URL}" HEAD >/dev/null 2>&1; then
    if [[ "${mode}" == "required" ]]; then
      echo "advisories: FAILED: the RustSec database (${ADVISORY_DB_URL}) is unreachable" >&2
      return 1
    fi
    echo "advisories: SKIPPED: the RustSec database (${ADVISORY_DB_URL}) is unreachable from here;"
    echo "            the workflow's advisories job checks them on every push and weekly"
    return 0
  fi
  cargo deny --locked check advisories
}

ensure_cargo_tool cargo-deny "${CARGO_DENY_VERSION}"

if [[ "${1:-}" == "advisories" ]]; then
  advisories
  exit
fi

ensure_cargo_tool cargo-cyclonedx "${CARGO_CYCLONEDX_VERSION}"
IAC_VENV="${CACHE_DIR}/venv-iac"
VENV="${IAC_VENV}" ensure_pip "pytest==9.2.0"

failed=0

echo "--- cargo deny check licenses bans sources"
# --hide-inclusion-graph: the duplicate warnings name the versions; the full trees would
# run to hundreds of lines on every test run.
if ! cargo deny --locked check --hide-inclusion-graph licenses bans sources; then
  failed=1
fi

echo "--- cargo deny check advisories"
if ! advisories; then
  failed=1
fi

echo "--- SBOM (CycloneDX) of the employee-db binary"
sbom_dir="${CARGO_TARGET_DIR:-${CACHE_DIR}/target}/sbom"
mkdir -p "${sbom_dir}"
# cargo-cyclonedx writes next to Cargo.toml; the file is moved out of the source tree at
# once. Its default target is the build machine's; the amd64 and arm64 builds use the
# same crates (tests/offline/test_sbom.py checks that), so one SBOM describes both. It
# lists the crates the binary is built from, build-time ones included, and no
# dev-dependencies.
cargo cyclonedx --format json --spec-version 1.5 --override-filename employee-db.cdx
mv employee-db.cdx.json "${sbom_dir}/employee-db.cdx.json"
echo "wrote ${sbom_dir}/employee-db.cdx.json"

echo "--- pytest tests/offline/test_sbom.py"
if ! SBOM="${sbom_dir}/employee-db.cdx.json" "${IAC_VENV}/bin/python" -m pytest -q -p no:cacheprovider tests/offline/test_sbom.py; then
  failed=1
fi

exit "${failed}"
