#!/usr/bin/env bash
# Fills the rds overlay from Terraform and AWS, and creates the app's IAM database
# user once. Terraform cannot do either: the CA bundle is a download, and the user is
# made with SQL inside the database, which only the VPC can reach.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/configure-rds.sh [-h] [--create-user]

Without an action: reads `terraform output -json rds_settings` (in terraform/), writes
k8s-overlays/rds/settings.env (DBHOST, DBPORT, DBUSER, AWS_REGION) and downloads AWS's
CA bundle for the region to k8s-overlays/rds/rds-ca.pem, then prints the overlay to
apply.

  --create-user  runs `terraform output -raw rds_create_user_sql` once, as the master
                 user, from a short-lived MySQL client pod in namespace default (the
                 database accepts only the cluster); the master password goes from
                 Secrets Manager to the client on its standard input, never on a
                 command line or in the pod's spec
  -h, --help     show this help

Environment: TERRAFORM_DIR (default: terraform/ beside this script's folder),
RDS_CA_BASE_URL (default: https://truststore.pki.rds.amazonaws.com).
EOF
}

root="$(cd "$(dirname "$0")/.." && pwd)"
overlay="${root}/k8s-overlays/rds"
terraform_dir="${TERRAFORM_DIR:-${root}/terraform}"
# AWS publishes one bundle per region (and a global one) under this address: the
# Amazon RDS User Guide, "Certificate bundles for specific AWS Regions".
ca_base_url="${RDS_CA_BASE_URL:-https://truststore.pki.rds.amazonaws.com}"
# The client image: the MySQL release the database runs.
client_image=mysql:8.4
namespace=default
action=settings
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --create-user) action=create-user ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done

# die, require_tools and k (kubectl in the namespace) are shared with the other
# operator scripts.
# shellcheck source=scripts/lib/cluster.sh
. "${root}/scripts/lib/cluster.sh"

rds_settings() {
  local json
  json="$(terraform -chdir="${terraform_dir}" output -json rds_settings)" ||
    die "terraform output failed in ${terraform_dir} (run terraform apply first)"
  [[ "$(jq -r 'type' <<<"${json}")" == object ]] ||
    die "rds_settings is empty: set database = \"rds\" in terraform.tfvars and apply"
  printf '%s' "${json}"
}

write_settings() {
  require_tools terraform jq curl
  local json region
  json="$(rds_settings)"
  region="$(jq -r .region <<<"${json}")"
  [[ "${region}" =~ ^[a-z]{2}(-gov)?-[a-z]+-[0-9]$ ]] || die "unexpected region '${region}' in rds_settings"
  local bundle="${overlay}/rds-ca.pem"
  curl --fail --silent --show-error --location --proto '=https' \
    --output "${bundle}.tmp" "${ca_base_url}/${region}/${region}-bundle.pem" ||
    die "cannot download the RDS CA bundle for ${region} from ${ca_base_url}"
  grep -q -- '-----BEGIN CERTIFICATE-----' "${bundle}.tmp" ||
    die "${ca_base_url}/${region}/${region}-bundle.pem is not a PEM certificate bundle"
  mv "${bundle}.tmp" "${bundle}"
  {
    echo "# Written by scripts/configure-rds.sh from \`terraform output rds_settings\`;"
    echo "# run it again after changing the database's name, region or user."
    jq -r '"DBHOST=\(.host)", "DBPORT=\(.port)", "DBUSER=\(.user)", "AWS_REGION=\(.region)"' <<<"${json}"
  } >"${overlay}/settings.env.tmp"
  mv "${overlay}/settings.env.tmp" "${overlay}/settings.env"
  echo "wrote k8s-overlays/rds/settings.env and k8s-overlays/rds/rds-ca.pem ($(grep -c -- '-----BEGIN CERTIFICATE-----' "${bundle}") certificates for ${region})"
  echo "next, once: scripts/configure-rds.sh --create-user"
  echo "then: kubectl apply -k k8s-overlays/rds"
}

create_user() {
  require_tools terraform jq aws kubectl
  local json sql host port user secret region
  json="$(rds_settings)"
  sql="$(terraform -chdir="${terraform_dir}" output -raw rds_create_user_sql)"
  host="$(jq -r .host <<<"${json}")"
  port="$(jq -r .port <<<"${json}")"
  user="$(jq -r .master_user <<<"${json}")"
  secret="$(jq -r .master_user_secret_arn <<<"${json}")"
  region="$(jq -r .region <<<"${json}")"
  step "creating the app's database user on ${host} as ${user}"
  # The password is read from standard input inside the pod: it appears in no
  # argument list, environment of this shell, or Kubernetes object. TLS is required
  # by the server; the client has no CA bundle to check it with (a one-time step
  # inside the VPC). The single quotes are meant: the pod's shell expands them.
  # shellcheck disable=SC2016
  aws secretsmanager get-secret-value --region "${region}" --secret-id "${secret}" \
    --query SecretString --output text | jq -r .password |
    k run employee-db-create-user --rm -i --quiet --restart=Never --image="${client_image}" \
      --command -- sh -c 'IFS= read -r MYSQL_PWD && export MYSQL_PWD &&
        exec mysql --host="$1" --port="$2" --user="$3" --ssl-mode=REQUIRED --execute="$4"' \
      sh "${host}" "${port}" "${user}" "${sql}" ||
    die "the SQL failed (is the cluster's node group up, and the instance available?)"
  step "done: the app may now log in as $(jq -r .user <<<"${json}") with its IAM role"
}

case "${action}" in
  settings) write_settings ;;
  create-user) create_user ;;
esac
