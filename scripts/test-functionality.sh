#!/usr/bin/env bash
# Exercises a running employee-db from the outside, the way a user would: every page,
# an add-then-fetch round trip with a fresh employee ID, the background image and the
# security headers. Works against docker compose, a port-forward or the load balancer.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/test-functionality.sh [-h] [-k] URL

Checks the employee-db app served at URL, for example
  http://localhost:8080                       (docker compose)
  http://<load balancer hostname>             (EKS: kubectl -n clo835 get svc employee-db)

It adds one employee with a new, unique ID (named "Smoke Test<ID>").

Options:
  -k   accept a self-signed TLS certificate (https URLs only)
  -h   show this help

Needs curl and jq. Prints one PASS/FAIL line per check; exits 1 if any check failed.
EOF
}

curl_opts=(--silent --show-error --max-time 15)
while getopts ":hk" opt; do
  case "${opt}" in
    h) usage; exit 0 ;;
    k) curl_opts+=(--insecure) ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -ne 1 ]]; then
  usage >&2
  exit 2
fi
base="${1%/}"
if [[ ! "${base}" =~ ^https?:// ]]; then
  echo "URL must start with http:// or https:// (got: ${base})" >&2
  exit 2
fi
for tool in curl jq; do
  command -v "${tool}" >/dev/null || { echo "${tool} is required" >&2; exit 2; }
done

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
passed=0
failed=0

pass() { printf '  PASS  %s\n' "$1"; passed=$((passed + 1)); }
fail() { printf '  FAIL  %s\n' "$1"; failed=$((failed + 1)); }

# request METHOD PATH [curl args...]: stores the body and headers, prints the status.
request() {
  local method="$1" path="$2"
  shift 2
  curl "${curl_opts[@]}" -X "${method}" -o "${work}/body" -D "${work}/headers" \
    -w '%{http_code}' "$@" "${base}${path}" 2>"${work}/error" || true
}

body_has() { grep -qF -- "$1" "${work}/body"; }
header_value() { { grep -i "^$1:" "${work}/headers" || true; } | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# page DESCRIPTION WANT_STATUS METHOD PATH [TEXT ...] [-- curl args...]
page() {
  local description="$1" want="$2" method="$3" path="$4"
  shift 4
  local texts=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do
    texts+=("$1")
    shift
  done
  [[ $# -gt 0 ]] && shift
  local status
  status="$(request "${method}" "${path}" "$@")"
  if [[ "${status}" != "${want}" ]]; then
    fail "${description}: ${method} ${path} answered ${status:-nothing}, expected ${want} $(cat "${work}/error")"
    return
  fi
  local text
  for text in "${texts[@]}"; do
    if ! body_has "${text}"; then
      fail "${description}: ${method} ${path} does not contain \"${text}\""
      return
    fi
  done
  pass "${description}"
}

echo "Testing ${base}"

echo "Health"
page "liveness probe /healthz" 200 GET /healthz
page "readiness probe /readyz (database reachable)" 200 GET /readyz

echo "Pages"
page "home page with the employee form" 200 GET / \
  "Employee Database" 'name="emp_id"' 'name="first_name"' 'name="last_name"' \
  'name="primary_skill"' 'name="location"' 'action="/addemp"' 'formaction="/getemp"'
page "about page" 200 GET /about "About" 'href="/"'
page "lookup form" 200 GET /getemp 'action="/fetchdata"' 'name="emp_id"'
page "employee list" 200 GET /employees
page "stylesheet" 200 GET /static/app.css

echo "Security headers"
request GET / >/dev/null
for header in content-security-policy x-content-type-options x-frame-options referrer-policy; do
  value="$(header_value "${header}")"
  if [[ -n "${value}" ]]; then
    pass "${header}: ${value}"
  else
    fail "${header} missing on /"
  fi
done
if [[ "$(header_value x-content-type-options)" == "nosniff" ]]; then
  pass "x-content-type-options is nosniff"
else
  fail "x-content-type-options is not nosniff"
fi

echo "Add and fetch round trip"
emp_id="$(date +%s)$(printf %03d $((RANDOM % 1000)))"
first="Smoke"
last="Test${emp_id: -6}"
form=(--data-urlencode "emp_id=${emp_id}" --data-urlencode "first_name=${first}"
  --data-urlencode "last_name=${last}" --data-urlencode "primary_skill=Smoke testing"
  --data-urlencode "location=Offline CI")
page "add employee ${emp_id}" 200 POST /addemp "${first} ${last}" -- "${form[@]}"
page "fetch employee ${emp_id}" 200 POST /fetchdata \
  "${emp_id}" "${first}" "${last}" "Smoke testing" "Offline CI" "Primary Interest" \
  -- --data-urlencode "emp_id=${emp_id}"
page "employee ${emp_id} has its own page" 200 GET "/employees/${emp_id}" "${last}"

status="$(request POST /addemp "${form[@]}")"
if [[ "${status}" =~ ^4[0-9][0-9]$ ]]; then
  pass "adding ${emp_id} again is refused with ${status}"
else
  fail "adding ${emp_id} again answered ${status}, expected a 4xx refusal"
fi
status="$(request POST /addemp --data-urlencode "emp_id=${emp_id}1")"
if [[ "${status}" =~ ^4[0-9][0-9]$ ]] && grep -qi "first" "${work}/body"; then
  pass "a form with missing fields is refused with ${status} and an explanation"
else
  fail "a form with missing fields answered ${status}, expected a 4xx page naming the fields"
fi

unknown="9${emp_id}"
status="$(request POST /fetchdata --data-urlencode "emp_id=${unknown}")"
if body_has "Employee Not Found"; then
  pass "unknown ID ${unknown} shows Employee Not Found (${status})"
else
  fail "unknown ID ${unknown} answered ${status} without \"Employee Not Found\""
fi

echo "Background image"
status="$(request GET /background)"
state="$(jq -r '.state // empty' "${work}/body" 2>/dev/null || true)"
source_url="$(jq -r '.source.url // "none"' "${work}/body" 2>/dev/null || true)"
case "${status}:${state}" in
  200:none)
    pass "/background: no image configured, pages use APP_COLOR"
    ;;
  200:fetching)
    pass "/background: fetching ${source_url}; pages use the colour or the previous image meanwhile"
    ;;
  200:failed)
    fail "/background: ${source_url} cannot be shown: $(jq -c '.last_error' "${work}/body")"
    ;;
  200:ready)
    image_path="$(jq -r '.image.path' "${work}/body")"
    pass "/background: ${source_url} is shown as ${image_path}"
    page "home page shows the background ${image_path}" 200 GET / "src=\"${image_path}\""
    status="$(request GET "${image_path}")"
    type="$(header_value content-type)"
    if [[ "${status}" == 200 && "${type}" == image/* ]]; then
      pass "background image served (${type}, $(wc -c <"${work}/body") bytes)"
    else
      fail "background image ${image_path} answered ${status} with content type ${type:-none}"
    fi
    ;;
  *)
    fail "/background answered ${status} without a known state: $(head -c 200 "${work}/body")"
    ;;
esac

echo
echo "${passed} passed, ${failed} failed"
[[ "${failed}" -eq 0 ]]
