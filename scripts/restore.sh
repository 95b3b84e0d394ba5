#!/usr/bin/env bash
# Restores a backup into the deployment's database with a one-off Job: the nightly
# CronJob's pod (same image, configuration, database credentials and security
# context) under the restore ServiceAccount, whose role may only read backups,
# running `employee-db restore`. Waits for the Job and prints its summary.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/restore.sh [-h] [-n NAMESPACE] [-t SECONDS] [--merge] BACKUP

BACKUP is a backup's name under BACKUP_URL (the prefix the nightly CronJob writes to,
from the live ConfigMap), such as 20261128T021700Z.jsonl, or a whole s3:// URL under
that prefix (the restore role may read nothing else). List the backups with
  aws s3 ls "$(terraform -chdir=terraform output -raw backup_url)"

The restore checks the whole file first (checksum, version, every row), then writes
every row in one transaction, or nothing. The database must hold no employees,
unless --merge: then rows stored identically are skipped, and one stored differently
stops the restore (nothing written) and is named.

Options:
  -n NAMESPACE  Kubernetes namespace (default: clo835)
  -t SECONDS    how long to wait for the Job (default: 1800)
  --merge       add the backup's employees to those already stored
  -h, --help    show this help

Exit codes: 0 restored, 1 the restore failed (its message is printed), 2 usage.
EOF
}

namespace=clo835
timeout=1800
merge=false
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --merge) merge=true ;;
    -n | -t)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      case "$1" in
        -n) namespace="$2" ;;
        -t) timeout="$2" ;;
      esac
      shift
      ;;
    -*) usage >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [[ ${#args[@]} -ne 1 || -z "${args[0]}" || ! "${timeout}" =~ ^[0-9]+$ ]]; then
  usage >&2
  exit 2
fi
backup="${args[0]}"
# shellcheck source=scripts/lib/cluster.sh
. "$(dirname "$0")/lib/cluster.sh"
require_tools kubectl jq

cronjob="$(k get cronjob employee-db-backup -o json)" || die "CronJob employee-db-backup not found in namespace ${namespace}: apply k8s-manifests first"
configmap="$(jq -r '.spec.jobTemplate.spec.template.spec.containers[0].envFrom[]?.configMapRef.name // empty' <<<"${cronjob}")"
[[ -n "${configmap}" ]] || die "CronJob employee-db-backup reads no ConfigMap"
prefix="$(k get configmap "${configmap}" -o jsonpath='{.data.BACKUP_URL}')"
[[ "${prefix}" == s3://*/ ]] || die "BACKUP_URL in ConfigMap ${configmap} is '${prefix}', not an s3:// prefix ending in /: set it (terraform output backup_url)"
case "${backup}" in
  s3://*) from="${backup}" ;;
  */*) die "BACKUP is a name under ${prefix} or a whole s3:// URL, not ${backup}" ;;
  *) from="${prefix}${backup}" ;;
esac
[[ "${from}" == "${prefix}"* ]] || die "${from} is not under ${prefix}: the restore role may read only there"

job="employee-db-restore-$(date -u +%Y%m%dt%H%M%S)"
restore_args=(restore --from "${from}")
[[ "${merge}" == true ]] && restore_args+=(--merge)

# The CronJob's Job template, renamed and pointed at the restore: no retries (a failed
# restore wrote nothing, and its cause needs a person), the restore identity, and the
# restore command. Labels keep the name NetworkPolicy lets reach MySQL.
manifest="$(jq --arg name "${job}" --argjson args "$(printf '%s\n' "${restore_args[@]}" | jq -R . | jq -s .)" '
  .spec.jobTemplate
  | .apiVersion = "batch/v1"
  | .kind = "Job"
  | .metadata = {name: $name, labels: ((.metadata.labels // {}) + {"app.kubernetes.io/component": "restore"})}
  | .spec.backoffLimit = 0
  | .spec.template.metadata.labels["app.kubernetes.io/component"] = "restore"
  | .spec.template.spec.serviceAccountName = "employee-db-restore"
  | .spec.template.spec.containers[0].name = "restore"
  | .spec.template.spec.containers[0].args = $args
' <<<"${cronjob}")"

step "Job ${job}: employee-db ${restore_args[*]}"
k create -f - <<<"${manifest}" >/dev/null

deadline=$((SECONDS + timeout))
while true; do
  status="$(k get job "${job}" -o jsonpath='{.status.succeeded}/{.status.failed}')"
  case "${status}" in
    1/*) outcome=restored; break ;;
    */[1-9]*) outcome=failed; break ;;
  esac
  ((SECONDS < deadline)) || { k logs "job/${job}" --tail=20 >&2 || true; die "Job ${job} did not finish within ${timeout}s"; }
  sleep 3
done
k logs "job/${job}"
[[ "${outcome}" == restored ]] || die "Job ${job} failed; nothing was written (kubectl -n ${namespace} describe job ${job})"
step "PASS  restored from ${from} (Job ${job})"
