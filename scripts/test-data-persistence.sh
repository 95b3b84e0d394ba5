#!/usr/bin/env bash
# Proves that employees survive the loss of the MySQL pod: add one, delete the pod,
# wait for the StatefulSet to recreate it on the same volume, and fetch it again.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/test-data-persistence.sh [-h] [-n NAMESPACE] [-u URL] [-t SECONDS]

Adds an employee through the app, deletes the MySQL pod (mysql-0), waits until
MySQL and the app are ready again, and checks that the employee is still there.

Options:
  -n NAMESPACE  Kubernetes namespace (default: clo835)
  -u URL        where the app answers (default: the load balancer of Service
                employee-db; with none, run `kubectl -n clo835 port-forward
                svc/employee-db 8080:80` and pass -u http://localhost:8080)
  -t SECONDS    how long to wait for MySQL to come back (default: 300)
  -h            show this help

Needs kubectl (with access to the cluster) and curl. Exits 1 if the data was lost.
EOF
}

namespace=clo835
url=""
timeout=300
while getopts ":hn:u:t:" opt; do
  case "${opt}" in
    h) usage; exit 0 ;;
    n) namespace="${OPTARG}" ;;
    u) url="${OPTARG%/}" ;;
    t) timeout="${OPTARG}" ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -ne 0 || ! "${timeout}" =~ ^[0-9]+$ ]]; then
  usage >&2
  exit 2
fi
# shellcheck source=scripts/lib/cluster.sh
. "$(dirname "$0")/lib/cluster.sh"
require_tools kubectl curl
resolve_app_url

# post_shows TEXT PATH FIELD=VALUE...: posts the form; true when the answer is a 200
# page that contains TEXT.
post_shows() {
  local text="$1" path="$2" args=() field page
  shift 2
  for field in "$@"; do args+=(--data-urlencode "${field}"); done
  page="$(curl --silent --show-error --fail --max-time 15 "${args[@]}" "${url}${path}")" || return 1
  grep -qF -- "${text}" <<<"${page}"
}

wait_until() {
  local what="$1" deadline=$((SECONDS + timeout))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "${what}: not within ${timeout}s"
    sleep 3
  done
}

app_ready() { curl --silent --fail --max-time 5 "${url}/readyz"; }
new_mysql_ready() {
  [[ "$(k get pod mysql-0 -o jsonpath='{.metadata.uid}')" != "${old_uid}" ]] &&
    [[ "$(k get pod mysql-0 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

step "app at ${url}, namespace ${namespace}"
wait_until "app ready" app_ready

emp_id="$(date +%s)$(printf %03d $((RANDOM % 1000)))"
last="Persist${emp_id: -6}"
step "adding employee ${emp_id} (Data ${last})"
post_shows "${last}" /addemp "emp_id=${emp_id}" "first_name=Data" "last_name=${last}" \
  "primary_skill=Durability" "location=EBS volume" || die "the app did not confirm the new employee"
post_shows "${last}" /fetchdata "emp_id=${emp_id}" || die "employee ${emp_id} not found right after adding it"

claim="$(k get pod mysql-0 -o jsonpath='{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}')"
volume="$(k get pvc "${claim}" -o jsonpath='{.spec.volumeName}')"
old_uid="$(k get pod mysql-0 -o jsonpath='{.metadata.uid}')"
step "deleting pod mysql-0 (claim ${claim}, volume ${volume})"
started=${SECONDS}
k delete pod mysql-0 --wait=false >/dev/null

wait_until "a new mysql-0 ready" new_mysql_ready
step "new mysql-0 ready after $((SECONDS - started))s"
wait_until "app ready again" app_ready
step "app ready again after $((SECONDS - started))s"

now_volume="$(k get pvc "${claim}" -o jsonpath='{.spec.volumeName}')"
[[ "${now_volume}" == "${volume}" ]] || die "the claim is bound to ${now_volume}, not ${volume}"
if post_shows "${last}" /fetchdata "emp_id=${emp_id}"; then
  step "PASS  employee ${emp_id} survived the MySQL pod's deletion (same volume ${volume})"
else
  die "employee ${emp_id} is gone after the MySQL pod was recreated"
fi
