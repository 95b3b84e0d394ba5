#!/usr/bin/env bash
# Fills the alb-https overlay's settings from Terraform, and points the domain at the
# load balancer once it exists. Terraform cannot do the second part: the ALB is created
# by the AWS Load Balancer Controller from the Ingress, after `terraform apply`.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/configure-alb-https.sh [-h] [-n NAMESPACE] [--dns | --remove-dns]

Without an action: reads `terraform output -json alb_https_settings` (in terraform/)
and writes k8s-overlays/alb-https/settings.env (domain, Route 53 zone, certificate
ARN, Cognito user pool when sign-in is on), then prints the overlay to apply.

  --dns         once `kubectl apply -k` has created the ALB: creates or updates the
                Route 53 alias record DOMAIN -> the Ingress's load balancer
  --remove-dns  deletes that record (before `terraform destroy`)
  -n NAMESPACE  namespace of the app (default: clo835)
  -h, --help    show this help

Environment: TERRAFORM_DIR (default: terraform/ beside this script's folder).
EOF
}

root="$(cd "$(dirname "$0")/.." && pwd)"
settings="${root}/k8s-overlays/alb-https/settings.env"
terraform_dir="${TERRAFORM_DIR:-${root}/terraform}"
namespace=clo835
action=settings
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    -n)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      namespace="$2"
      shift
      ;;
    --dns) action=dns ;;
    --remove-dns) action=remove-dns ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done

# die, require_tools and k (kubectl in the namespace) are shared with the other
# operator scripts.
# shellcheck source=scripts/lib/cluster.sh
. "${root}/scripts/lib/cluster.sh"

write_settings() {
  require_tools terraform jq
  local json
  json="$(terraform -chdir="${terraform_dir}" output -json alb_https_settings)" ||
    die "terraform output failed in ${terraform_dir} (run terraform apply first)"
  [[ "$(jq -r 'type' <<<"${json}")" == object ]] ||
    die "alb_https_settings is empty: set domain_name and hosted_zone_id in terraform.tfvars and apply"
  local sign_in overlay=alb-https
  sign_in="$(jq -c '.sign_in // empty' <<<"${json}")"
  [[ -z "${sign_in}" ]] || overlay=alb-https-sign-in
  {
    echo "# Written by scripts/configure-alb-https.sh from \`terraform output alb_https_settings\`;"
    echo "# run it again after changing domain_name, hosted_zone_id or enable_sign_in."
    jq -r '"DOMAIN_NAME=\(.domain_name)", "HOSTED_ZONE_ID=\(.hosted_zone_id)", "CERTIFICATE_ARN=\(.certificate_arn)"' <<<"${json}"
    echo "SIGN_IN_COGNITO=${sign_in}"
  } >"${settings}.tmp"
  mv "${settings}.tmp" "${settings}"
  echo "wrote ${settings#"${root}"/}"
  echo "next: kubectl apply -k k8s-overlays/${overlay}"
  echo "then: scripts/configure-alb-https.sh --dns   (once the Ingress has an address)"
}

# setting NAME: the value of NAME in settings.env.
setting() { sed -n "s/^$1=//p" "${settings}"; }

change_dns() {
  local change="$1"
  require_tools aws kubectl jq
  local domain zone host
  domain="$(setting DOMAIN_NAME)"
  zone="$(setting HOSTED_ZONE_ID)"
  [[ -n "${domain}" && "${domain}" != app.example.com && "${zone}" != Z0000000000000000000 ]] ||
    die "${settings#"${root}"/} holds placeholders: run scripts/configure-alb-https.sh first"
  host="$(k get ingress employee-db \
    -o jsonpath='{.status.loadBalancer.ingress[0].hostname}')"
  [[ -n "${host}" ]] || die "Ingress employee-db has no load balancer yet (kubectl -n ${namespace} describe ingress employee-db)"
  # An alias record names the load balancer's own hosted zone, which differs by region.
  local lb_zone
  lb_zone="$(aws elbv2 describe-load-balancers --output json |
    jq -r --arg host "${host}" '.LoadBalancers[] | select(.DNSName == $host) | .CanonicalHostedZoneId')"
  [[ -n "${lb_zone}" ]] || die "no load balancer named ${host} in this account and region"
  local batch
  batch="$(jq -n --arg action "${change}" --arg name "${domain}" --arg host "${host}" --arg zone "${lb_zone}" '{
    Comment: "employee-db: \($name) -> the alb-https Ingress",
    Changes: [{Action: $action, ResourceRecordSet: {
      Name: $name, Type: "A",
      AliasTarget: {HostedZoneId: $zone, DNSName: "dualstack.\($host)", EvaluateTargetHealth: true}
    }}]
  }')"
  aws route53 change-resource-record-sets --hosted-zone-id "${zone}" --change-batch "${batch}" >/dev/null
  echo "${change} ${domain} A (alias) -> ${host}"
}

case "${action}" in
  settings) write_settings ;;
  dns) change_dns UPSERT ;;
  remove-dns) change_dns DELETE ;;
esac
