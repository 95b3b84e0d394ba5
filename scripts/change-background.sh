#!/usr/bin/env bash
# Changes the page background of a running deployment without a restart: edits
# BACKGROUND_IMAGE_URL in the live ConfigMap, then waits until the app serves the new
# image (the kubelet refreshes the mounted ConfigMap file, the app follows the file)
# and reports how long that took.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/change-background.sh [-h] [-n NAMESPACE] [-u URL] [-t SECONDS] [--save] IMAGE_URL

IMAGE_URL is the private object to show, s3://bucket/key (or its https S3 URL).
The app's role must be allowed to read it (Terraform's role reads its own bucket).

Options:
  -n NAMESPACE  Kubernetes namespace (default: clo835)
  -u URL        where the app answers, to watch for the change (default: the load
                balancer of Service employee-db)
  -t SECONDS    how long to wait for the app to show the image (default: 300)
  --save        also write the value into k8s-manifests/app-config.env, so the next
                `kubectl apply -k k8s-manifests` keeps it (then commit that file)
  -h, --help    show this help

The live edit takes effect in the running pods without a restart, usually within a
minute or two (the kubelet's ConfigMap sync). A later `kubectl apply -k` without
--save puts the committed value back.
EOF
}

namespace=clo835
url=""
timeout=300
save=false
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --save) save=true ;;
    -n | -u | -t)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      case "$1" in
        -n) namespace="$2" ;;
        -u) url="${2%/}" ;;
        -t) timeout="$2" ;;
      esac
      shift
      ;;
    -*) usage >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [[ ${#args[@]} -ne 1 || ! "${timeout}" =~ ^[0-9]+$ ]]; then
  usage >&2
  exit 2
fi
image_url="${args[0]}"
if [[ ! "${image_url}" =~ ^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+ &&
  ! "${image_url}" =~ ^https://[a-z0-9.-]+\.amazonaws\.com/.+ ]]; then
  echo "IMAGE_URL must look like s3://bucket/key or https://bucket.s3.REGION.amazonaws.com/key" >&2
  exit 2
fi
# shellcheck source=scripts/lib/cluster.sh
. "$(dirname "$0")/lib/cluster.sh"
require_tools kubectl curl jq
resolve_app_url

# The ConfigMap the pods mount (its name carries kustomize's hash).
configmap="$(k get deployment employee-db -o jsonpath='{.spec.template.spec.volumes[?(@.name=="config")].configMap.name}')"
[[ -n "${configmap}" ]] || die "Deployment employee-db mounts no ConfigMap volume named config"
current="$(k get configmap "${configmap}" -o jsonpath='{.data.BACKGROUND_IMAGE_URL}')"

background_status() { curl --silent --show-error --fail --max-time 10 "${url}/background"; }

before="$(background_status | jq -r '.image.path // "no image"')" || die "cannot read ${url}/background"
step "ConfigMap ${configmap}: BACKGROUND_IMAGE_URL ${current:-<empty>} -> ${image_url}"
step "the app shows ${before} now"

if [[ "${save}" == true ]]; then
  env_file="$(dirname "$0")/../k8s-manifests/app-config.env"
  escaped="$(printf '%s' "${image_url}" | sed 's/[&|\\]/\\&/g')"
  sed "s|^BACKGROUND_IMAGE_URL=.*|BACKGROUND_IMAGE_URL=${escaped}|" "${env_file}" >"${env_file}.new"
  mv "${env_file}.new" "${env_file}"
  step "saved in ${env_file}: commit it so the next apply keeps this background"
fi

if [[ "${current}" == "${image_url}" ]]; then
  step "already set in the live ConfigMap; nothing to change"
  exit 0
fi
patch="$(jq -cn --arg url "${image_url}" '{data: {BACKGROUND_IMAGE_URL: $url}}')"
k patch configmap "${configmap}" --type merge --patch "${patch}" >/dev/null
step "ConfigMap updated"

# What one answer of GET /background says about the new URL: "shown PATH" once the app
# serves it, "failed REASON" when the app cannot fetch it, "waiting" otherwise.
verdict() {
  jq -r --arg url "${image_url}" '
    if (.source.url // "") != $url then "waiting"
    elif .state == "ready" and (.image.path // "") != "" then "shown \(.image.path)"
    elif .state == "failed" then
      "failed \(.last_error.category // "?"): \(.last_error.check // "") \(.last_error.detail // "")"
    else "waiting" end' 2>/dev/null || echo waiting
}

# Done when several answers in a row (the load balancer spreads them over the
# replicas) show the new image; the time reported is that of the first of them. Stop
# early when the app keeps failing to fetch the image.
started=${SECONDS}
first_seen=0
deadline=$((SECONDS + timeout))
shown=0
failed=0
while ((shown < 6)); do
  ((SECONDS < deadline)) || die "the app did not show ${image_url} within ${timeout}s"
  answer="$(background_status 2>/dev/null | verdict || true)"
  case "${answer}" in
    shown\ *)
      ((shown > 0)) || first_seen=$((SECONDS - started))
      shown=$((shown + 1)) failed=0 path="${answer#shown }"
      ;;
    failed\ *) shown=0 failed=$((failed + 1)) ;;
    *) shown=0 failed=0 ;;
  esac
  ((failed < 3)) || die "the app cannot show ${image_url}: ${answer#failed }"
  sleep 2
done
step "PASS  the app shows ${path} for ${image_url}, ${first_seen}s after the change, without a restart"
