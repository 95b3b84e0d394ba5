#!/usr/bin/env bash
# Shared by the operator scripts that talk to the cluster (sourced, not run).
# Expects the caller to have set `namespace` and `url` (empty: use the load balancer).
# shellcheck disable=SC2154

# kubectl in the app's namespace.
k() { kubectl --namespace "${namespace}" "$@"; }
step() { printf '%s  %s\n' "$(date +%T)" "$*"; }
die() { printf '%s  FAIL  %s\n' "$(date +%T)" "$*" >&2; exit 1; }

# require_tools TOOL...: exits 2 naming the first missing tool.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null || { echo "${tool} is required" >&2; exit 2; }
  done
}

# Sets `url` to the app's load balancer when the caller was given none.
resolve_app_url() {
  if [[ -z "${url}" ]]; then
    local host
    host="$(k get service employee-db -o jsonpath='{.status.loadBalancer.ingress[0].hostname}{.status.loadBalancer.ingress[0].ip}')"
    # Empty too with the alb-https overlay (the Service is ClusterIP there): pass
    # -u https://<domain>, or, behind the sign-in page, a kubectl port-forward URL.
    [[ -n "${host}" ]] || die "Service employee-db has no load balancer address; pass -u URL (https://<domain> with the alb-https overlay)"
    url="http://${host}"
  fi
}
