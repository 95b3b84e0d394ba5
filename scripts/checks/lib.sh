#!/usr/bin/env bash
# Shared by every offline check: one cache folder outside the clone, one Python
# virtual environment for the PyPI tools, and idempotent installers so a fresh
# Debian machine gets what it needs and a warm one wastes no time.
CACHE_DIR="${EMPLOYEE_DB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/employee-db}"
VENV="${CACHE_DIR}/venv"
export CACHE_DIR VENV

ensure_venv() {
  if [[ ! -x "${VENV}/bin/python" ]]; then
    mkdir -p "${CACHE_DIR}"
    python3 -m venv "${VENV}"
    "${VENV}/bin/pip" install --quiet --upgrade pip
  fi
  export PATH="${VENV}/bin:${PATH}"
}

# ensure_pip "pkg==1.2.3" ...: installs the pinned packages that are not there yet.
ensure_pip() {
  ensure_venv
  local missing=()
  local spec
  for spec in "$@"; do
    if ! "${VENV}/bin/pip" show --quiet "${spec%%[=<>]*}" >/dev/null 2>&1; then
      missing+=("${spec}")
    fi
  done
  if ((${#missing[@]})); then
    "${VENV}/bin/pip" install --quiet "${missing[@]}"
  fi
}

# ensure_apt pkg ...: installs Debian packages that are missing (CI and developers run as root
# or with sudo available).
ensure_apt() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
  done
  if ((${#missing[@]})); then
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    ${sudo} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# checkov_checked ARGS...: runs checkov (from the shared venv) with the project's config
# and ARGS, then fails too when checkov ran no check at all: it passes a file it cannot
# parse without a word.
checkov_checked() {
  local report status=0
  report="$(mktemp)"
  LOG_LEVEL=ERROR "${VENV}/bin/checkov" --config-file .checkov.yaml "$@" \
    --output cli --output json --output-file-path "console,${report}" || status=1
  python3 scripts/checks/checkov_ran.py "${report}" || status=1
  rm -f "${report}"
  return "${status}"
}
