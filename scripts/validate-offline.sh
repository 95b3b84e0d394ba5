#!/usr/bin/env bash
# Offline validation of everything that ships the app (container image, compose,
# Kubernetes, Terraform, workflows, scripts). Nothing here needs Docker, a cluster or AWS.
# Each area has its own check script under scripts/checks/; they share the tool set-up
# in scripts/checks/lib.sh, and the Python assertions live in tests/offline/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

failed=()
for check in scripts/checks/[0-9]*.sh; do
  echo "==> ${check}"
  if ! bash "${check}"; then
    failed+=("${check}")
  fi
done

if ((${#failed[@]})); then
  echo "offline validation FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "offline validation passed"
