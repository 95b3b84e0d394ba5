#!/usr/bin/env bash
# Checks that this machine and the cluster are ready for deploying employee-db to EKS:
# the tools and their versions, the AWS identity, cluster access, and what the
# manifests need to find in the cluster. Prints a PASS/WARN/FAIL list; exits 1 when
# anything required is missing.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/validate-prerequisites.sh [-h] [-n NAMESPACE] [--https] [--rds] [--tools-only]

Checks, in order:
  tools        aws >= 2, kubectl >= 1.31, curl, jq, git (required);
               terraform >= 1.11.1 and docker (only needed to build the cluster or
               images locally: warnings)
  AWS          the caller identity (aws sts get-caller-identity) and a region
  cluster      kubectl reaches the API server and may apply the manifests
  add-ons      EBS CSI driver (volumes), EKS Pod Identity agent (S3 access),
               metrics API (autoscaling), AWS Load Balancer Controller running
               (the app's NLB, and the ALB of the alb-https overlay)
  HTTPS        with --https: the IngressClass alb, k8s-overlays/alb-https/settings.env
               filled in (not placeholders), its ACM certificate issued
  RDS          with --rds: k8s-overlays/rds/settings.env and rds-ca.pem filled in (not
               placeholders)
  namespace    NAMESPACE exists, with the Secrets mysql-root and mysql-app (none
               with --rds: the app logs in to RDS with its IAM role)
  after apply  the app's ServiceAccount may list namespaces and may not read Secrets

Options:
  -n NAMESPACE  namespace of the app (default: clo835)
  --https       also check what k8s-overlays/alb-https(-sign-in) needs
  --rds         check for k8s-overlays/rds (MySQL on Amazon RDS) instead of the in-cluster MySQL
  --tools-only  check the local tools only (no AWS or cluster calls)
  -h, --help    show this help
EOF
}

namespace=clo835
tools_only=false
https=false
rds=false
rds_overlay="$(cd "$(dirname "$0")/.." && pwd)/k8s-overlays/rds"
settings="$(cd "$(dirname "$0")/.." && pwd)/k8s-overlays/alb-https/settings.env"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    -n)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      namespace="$2"
      shift
      ;;
    --tools-only) tools_only=true ;;
    --https) https=true ;;
    --rds) rds=true ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done

passes=0
warnings=0
failures=0
pass() { printf '  PASS  %s\n' "$1"; passes=$((passes + 1)); }
warn() { printf '  WARN  %s\n' "$1"; warnings=$((warnings + 1)); }
fail() { printf '  FAIL  %s\n' "$1"; failures=$((failures + 1)); }

# version_at_least HAVE WANT: true when HAVE >= WANT (dotted numbers).
version_at_least() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]; }

# tool NAME MINIMUM REQUIRED VERSION_COMMAND...: checks presence and version.
tool() {
  local name="$1" minimum="$2" required="$3"
  shift 3
  local report=fail
  [[ "${required}" == required ]] || report=warn
  if ! command -v "${name}" >/dev/null; then
    "${report}" "${name} not found"
    return
  fi
  if [[ -z "${minimum}" ]]; then
    pass "${name} found"
    return
  fi
  local version
  version="$("$@" 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n 1 || true)"
  if [[ -z "${version}" ]]; then
    "${report}" "${name}: cannot read its version"
  elif version_at_least "${version}" "${minimum}"; then
    pass "${name} ${version} (>= ${minimum})"
  else
    "${report}" "${name} ${version} is older than ${minimum}"
  fi
}

summary() {
  echo
  echo "${passes} passed, ${failures} failed, ${warnings} warnings"
  [[ "${failures}" -eq 0 ]]
}

echo "Tools"
tool aws 2.0 required aws --version
tool kubectl 1.31 required kubectl version --client
tool curl "" required
tool jq "" required
tool git "" required
tool terraform 1.11.1 optional terraform version
tool docker "" optional

if [[ "${tools_only}" == true ]] || ! command -v aws >/dev/null || ! command -v kubectl >/dev/null; then
  summary
  exit
fi

echo "AWS"
if identity="$(aws sts get-caller-identity --query Arn --output text 2>&1)"; then
  pass "AWS identity: ${identity}"
else
  fail "no AWS identity (aws sts get-caller-identity): ${identity}"
fi
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}"
if [[ -n "${region}" ]]; then
  pass "AWS region: ${region}"
else
  fail "no AWS region (set AWS_REGION or aws configure set region ...)"
fi

echo "Cluster"
if server="$(kubectl version --request-timeout=10s 2>/dev/null | sed -n 's/^Server Version: //p')" && [[ -n "${server}" ]]; then
  pass "API server $(kubectl config current-context 2>/dev/null || echo '?') answers, version ${server}"
else
  fail "kubectl cannot reach a cluster (aws eks update-kubeconfig --region REGION --name CLUSTER)"
  summary
  exit
fi
for resource in deployments statefulsets services configmaps networkpolicies; do
  if [[ "$(kubectl auth can-i create "${resource}" --namespace "${namespace}" 2>/dev/null)" == yes ]]; then
    pass "may create ${resource} in ${namespace}"
  else
    fail "may not create ${resource} in ${namespace}"
  fi
done
for resource in clusterroles storageclasses; do
  if [[ "$(kubectl auth can-i create "${resource}" 2>/dev/null)" == yes ]]; then
    pass "may create ${resource} (cluster-scoped)"
  else
    fail "may not create ${resource}: applying the kustomization needs cluster-admin"
  fi
done

echo "Add-ons"
if kubectl get csidriver ebs.csi.aws.com >/dev/null 2>&1; then
  pass "EBS CSI driver installed (MySQL's gp3 volume)"
else
  fail "EBS CSI driver missing: MySQL's PersistentVolumeClaim would stay Pending"
fi
if kubectl --namespace kube-system get daemonset eks-pod-identity-agent >/dev/null 2>&1; then
  pass "EKS Pod Identity agent installed (S3 access for clo835-sa)"
else
  warn "EKS Pod Identity agent not found: the background image needs it (or an IRSA annotation)"
fi
# Registered is not enough: the APIService must be Available (metrics-server answering).
if [[ "$(kubectl get apiservice v1beta1.metrics.k8s.io \
  -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null)" == True ]]; then
  pass "metrics API available (HorizontalPodAutoscaler)"
else
  fail "no metrics API (the metrics-server add-on): the HorizontalPodAutoscaler would never scale"
fi
available="$(kubectl --namespace kube-system get deployment aws-load-balancer-controller \
  -o jsonpath='{.status.availableReplicas}' 2>/dev/null || true)"
if [[ "${available:-0}" -ge 1 ]]; then
  pass "AWS Load Balancer Controller running (${available} available)"
else
  fail "AWS Load Balancer Controller not running in kube-system: the app's Service would get no load balancer"
fi

if [[ "${https}" == true ]]; then
  echo "HTTPS (k8s-overlays/alb-https)"
  if kubectl get ingressclass alb >/dev/null 2>&1; then
    pass "IngressClass alb exists"
  else
    fail "IngressClass alb missing (the load balancer controller's chart creates it)"
  fi
  domain="$(sed -n 's/^DOMAIN_NAME=//p' "${settings}" 2>/dev/null || true)"
  certificate="$(sed -n 's/^CERTIFICATE_ARN=//p' "${settings}" 2>/dev/null || true)"
  if [[ -z "${domain}" || "${domain}" == app.example.com || "${certificate}" == *:000000000000:* ]]; then
    fail "k8s-overlays/alb-https/settings.env holds placeholders: run scripts/configure-alb-https.sh"
  else
    pass "settings.env names ${domain}"
    status="$(aws acm describe-certificate --certificate-arn "${certificate}" \
      --query Certificate.Status --output text 2>&1 || true)"
    if [[ "${status}" == ISSUED ]]; then
      pass "certificate for ${domain} issued"
    else
      fail "certificate ${certificate} is not issued: ${status}"
    fi
  fi
fi

if [[ "${rds}" == true ]]; then
  echo "RDS (k8s-overlays/rds)"
  dbhost="$(sed -n 's/^DBHOST=//p' "${rds_overlay}/settings.env" 2>/dev/null || true)"
  if [[ -z "${dbhost}" || "${dbhost}" == *.invalid ]]; then
    fail "k8s-overlays/rds/settings.env holds placeholders: run scripts/configure-rds.sh"
  else
    pass "settings.env names ${dbhost}"
  fi
  if grep -q -- '-----BEGIN CERTIFICATE-----' "${rds_overlay}/rds-ca.pem" 2>/dev/null; then
    pass "rds-ca.pem holds $(grep -c -- '-----BEGIN CERTIFICATE-----' "${rds_overlay}/rds-ca.pem") CA certificates"
  else
    fail "k8s-overlays/rds/rds-ca.pem is the placeholder: run scripts/configure-rds.sh"
  fi
fi

echo "Namespace ${namespace}"
if kubectl get namespace "${namespace}" >/dev/null 2>&1; then
  pass "namespace ${namespace} exists"
  secrets=(mysql-root:password mysql-app:username mysql-app:password)
  # With RDS there is no database Secret: the app logs in with its IAM role.
  [[ "${rds}" == false ]] || secrets=()
  for secret in "${secrets[@]}"; do
    name="${secret%%:*}"
    key="${secret#*:}"
    if [[ -n "$(kubectl --namespace "${namespace}" get secret "${name}" -o jsonpath="{.data.${key}}" 2>/dev/null)" ]]; then
      pass "Secret ${name} has ${key}"
    else
      fail "Secret ${name} lacks ${key} (see k8s-manifests/secrets.example.yaml)"
    fi
  done
else
  fail "namespace ${namespace} missing: kubectl apply -f k8s-manifests/namespace.yaml, then create the Secrets"
fi

echo "After apply"
sa="system:serviceaccount:${namespace}:clo835-sa"
if kubectl --namespace "${namespace}" get serviceaccount clo835-sa >/dev/null 2>&1; then
  if [[ "$(kubectl auth can-i list namespaces --as "${sa}" 2>/dev/null)" == yes ]]; then
    pass "clo835-sa may list namespaces"
  else
    fail "clo835-sa may not list namespaces (ClusterRoleBinding clo835-namespace-reader)"
  fi
  if [[ "$(kubectl auth can-i get secrets --namespace "${namespace}" --as "${sa}" 2>/dev/null)" == no ]]; then
    pass "clo835-sa may not read Secrets"
  else
    fail "clo835-sa may read Secrets: it should not"
  fi
else
  warn "ServiceAccount clo835-sa not there yet (kubectl apply -k k8s-manifests creates it)"
fi

summary
