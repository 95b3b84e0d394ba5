#!/usr/bin/env bash
# Benchmark of the release build against its own ceilings (issue 6): starts a private
# MariaDB on a temporary directory and a free port, seeds 10,000 employees, starts the
# app, and measures with wrk at each connection count after a warm-up:
#   GET /, POST /fetchdata (random existing IDs), the same over verified TLS to
#   MariaDB (scripts/bench/tls.sh), POST /addemp (unique IDs), GET /employees, then
#   GET / and POST /fetchdata with metrics on, off, and with traces
#   (scripts/bench/observability.sh),
# then POST /fetchdata through HAProxy in front of two instances, at rest and during a
# rolling restart of both (zero failed requests is the goal), and, as ceilings, GET /healthz (the HTTP stack alone) and MariaDB's own point-select
# rate from mariadb-slap with the query the app runs, at the same concurrency.
# Prints one table, the app's peak memory, its start-up time, binary size and container
# image size with its layers (podman, issue 10), and writes the figures as JSON. Everything it starts is stopped and removed on exit.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [-d SECONDS] [-w SECONDS] [-c "64 256"] [-o FILE] [-n] [-h]

Builds the release binary, starts MariaDB and the app on free local ports, seeds
10,000 employees and measures requests/s, p50 and p99 latency and errors with wrk,
next to the ceilings GET /healthz and mariadb-slap's point-select rate, and
POST /fetchdata again over verified TLS to MariaDB beside the plain-TCP figure.

  -d SECONDS   length of each measured run (default 10)
  -w SECONDS   warm-up before each measured run (default 3)
  -c LIST      connection counts, space-separated (default "64 256")
  -o FILE      JSON output (default target/bench.json in this checkout)
  -n           no container image: skip building and measuring it
  -h           this help

Installs wrk, mariadb-server, mariadb-client, haproxy and openssl (Debian) when missing. The image is
built with podman from the Dockerfile (scripts/images/build.sh, as root), which
installs podman and makes local stand-ins for the base images when missing. Builds in
CARGO_TARGET_DIR (default ~/.cache/employee-db/target). Variables of the app's own
(DB_MAX_CONNECTIONS, RUST_LOG, ...) set in the environment are passed on to it.
The app, MariaDB and the load generator share this machine's cores: run it on an
otherwise idle machine, and read the figures as relative to the ceilings.
EOF
}

DURATION=10
WARMUP=3
CONNECTIONS="64 256"
OUT=""
MEASURE_IMAGE=1
while getopts ":hd:w:c:o:n" opt; do
  case "${opt}" in
    h) usage; exit 0 ;;
    d) DURATION="${OPTARG}" ;;
    w) WARMUP="${OPTARG}" ;;
    c) CONNECTIONS="${OPTARG}" ;;
    o) OUT="${OPTARG}" ;;
    n) MEASURE_IMAGE=0 ;;
    :) echo "bench.sh: -${OPTARG} needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "bench.sh: unknown option -${OPTARG}" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if (($#)); then
  echo "bench.sh: unexpected argument: $1" >&2
  usage >&2
  exit 2
fi

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
positive_numbers bench.sh "durations are whole seconds above 0" "${DURATION}" "${WARMUP}"
connection_counts bench.sh "${CONNECTIONS}"
OUT="${OUT:-${ROOT}/target/bench.json}"
LOG_DIR="${ROOT}/target/bench"
mkdir -p "${LOG_DIR}" "$(dirname "${OUT}")"

SEEDED=10000
WRK_THREADS=2
DB_NAME=employees
export BENCH_LUA_DIR="${ROOT}/scripts/bench" BENCH_SEEDED="${SEEDED}"

say() { echo "==> $*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/employee-db-bench.XXXXXX")"
APP_LOG="${LOG_DIR}/app.log"
APP_PID_FILE="${WORK}/app.pid"
MARIADB_PID=""

app_pid() { cat "${APP_PID_FILE}" 2>/dev/null || true; }

cleanup() {
  local pid
  for pid in "$(app_pid)" $(cat "${WORK}"/app-*.pid 2>/dev/null) "${HAPROXY_PID:-}"; do
    [[ -z "${pid}" ]] || stop_pid "${pid}"
  done
  stop_mariadb
  [[ ! -f "${WORK}/mariadb.log" ]] || cp "${WORK}/mariadb.log" "${LOG_DIR}/mariadb.log"
  rm -rf "${WORK}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

# --- tools and build ---------------------------------------------------------------
say "installing missing Debian packages (wrk, mariadb-server, mariadb-client, haproxy, openssl)"
ensure_apt wrk mariadb-server mariadb-client haproxy openssl
for tool in python3 wrk mariadbd mariadb-install-db mariadb mariadb-admin mariadb-slap strip haproxy; do
  command -v "${tool}" >/dev/null || { echo "bench.sh: ${tool} not found" >&2; exit 1; }
done

release_binary "${WORK}"
strip -o "${WORK}/employee-db.stripped" "${BIN}"
BINARY_BYTES="$(stat -c %s "${WORK}/employee-db.stripped")"

# --- the container image: built before any load, measured, not run here ---------------
IMAGE_JSON=null
if ((MEASURE_IMAGE)); then
  say "building the container image with podman (scripts/images/build.sh; -n skips this)"
  scripts/images/build.sh employee-db:bench >/dev/null
  IMAGE_JSON="$(
    # shellcheck source=scripts/images/lib.sh
    . scripts/images/lib.sh
    python3 scripts/images/measure.py employee-db:bench "$(dockerfile_bases | tail -n 1)"
  )"
fi

LOAD_BEFORE="$(load_average)"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
  say "note: load average ${LOAD_BEFORE} before the benchmark: other work on this machine makes the figures noisy"
fi

# --- MariaDB -----------------------------------------------------------------------
# shellcheck source=scripts/bench/tls.sh
. scripts/bench/tls.sh
tls_certificates
start_mariadb "${WORK}" "${WORK}/mariadb.log" 128M "${DB_NAME}" -- "${TLS_SERVER_ARGS[@]}"

# --- the app: start-up time over several starts, the last one stays up ---------------
APP_PORT="$(free_port)"
APP_ENV=(
  PORT="${APP_PORT}" BIND_ADDRESS=127.0.0.1
  DBHOST=127.0.0.1 DBPORT="${DB_PORT}" DBUSER="${DB_USER}" DBPWD="${DB_PASSWORD}" DATABASE="${DB_NAME}"
  DB_SSL_MODE=disabled
  APP_COLOR="${APP_COLOR:-lime}" GROUP_NAME="${GROUP_NAME:-Benchmark}" GROUP_SLOGAN="${GROUP_SLOGAN:-Measured, not guessed}"
  STATIC_DIR="${ROOT}/static" BACKGROUND_CACHE_DIR="${WORK}/background"
  LOG_FORMAT="${LOG_FORMAT:-json}" METRICS_PORT="$(free_port)"
)
: >"${APP_LOG}"
READY_MS=()
STARTS=5
say "starting the app ${STARTS} times on 127.0.0.1:${APP_PORT} (the first start creates the schema); log: ${APP_LOG}"
for ((i = 1; i <= STARTS; i++)); do
  ms="$(env "${APP_ENV[@]}" python3 scripts/bench/start_app.py "${BIN}" "${APP_PORT}" "${APP_LOG}" "${APP_PID_FILE}")" ||
    { echo "bench.sh: the app did not become ready; its log:" >&2; tail -n 30 "${APP_LOG}" >&2; exit 1; }
  READY_MS+=("${ms}")
  if ((i < STARTS)); then
    stop_pid "$(app_pid)"
  fi
done
APP_PID="$(app_pid)"

say "seeding ${SEEDED} employees"
awk -v n="${SEEDED}" 'BEGIN {
  split("Rust Go Python Java Kubernetes Terraform SQL Networking", skill, " ")
  split("Toronto Montreal Vancouver Calgary Ottawa Halifax", city, " ")
  for (i = 1; i <= n; i++) {
    if (i % 1000 == 1) printf "INSERT INTO employee (emp_id, first_name, last_name, primary_skill, location) VALUES\n"
    printf "(%d, \"First%d\", \"Last%d\", \"%s\", \"%s\")%s\n", i, i, i, skill[i % 8 + 1], city[i % 6 + 1], (i % 1000 == 0 || i == n) ? ";" : ","
  }
}' | mariadb "${DB_CLIENT[@]}" "${DB_NAME}"
cp "${APP_LOG}" "${LOG_DIR}/app-start.log"

# --- measurements --------------------------------------------------------------------
RESULTS="${WORK}/results.jsonl"
: >"${RESULTS}"
URL="http://127.0.0.1:${APP_PORT}"
RUN_NO=0

# measure_wrk LABEL CONNECTIONS PATH [LUA_SCRIPT]: a warm-up, then the measured run.
measure_wrk() {
  local label="$1" conns="$2" path="$3" script="${4:-report.lua}" out result lines hwm
  # wrk needs a connection per thread at least.
  local threads=$((conns < WRK_THREADS ? conns : WRK_THREADS))
  say "${label} at ${conns} connections: ${WARMUP} s warm-up, ${DURATION} s measured"
  RUN_NO=$((RUN_NO + 1))
  BENCH_ID_BASE=$((RUN_NO * 1000000000)) wrk -t"${threads}" -c"${conns}" -d"${WARMUP}s" \
    -s "scripts/bench/${script}" "${URL}${path}" >/dev/null
  : >"${APP_LOG}"
  RUN_NO=$((RUN_NO + 1))
  out="$(BENCH_ID_BASE=$((RUN_NO * 1000000000)) wrk -t"${threads}" -c"${conns}" -d"${DURATION}s" \
    -s "scripts/bench/${script}" "${URL}${path}")"
  result="$(sed -n 's/^BENCH_RESULT //p' <<<"${out}")"
  [[ -n "${result}" ]] || { echo "bench.sh: no result from wrk:" >&2; echo "${out}" >&2; exit 1; }
  lines="$(grep -c latency_ms "${APP_LOG}" || true)"
  # The first instance's peak memory so far (none once it is stopped): the report names
  # the run that set the whole run's peak.
  hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/${APP_PID:-0}/status" 2>/dev/null || true)"
  printf '{"endpoint":"%s","connections":%d,"tool":"wrk","app_log_lines":%d,"app_peak_rss_kib":%s,"wrk":%s}\n' \
    "${label}" "${conns}" "${lines}" "${hwm:-null}" "${result}" >>"${RESULTS}"
}

# The app's lookup, as MariaDB's own client runs it: random existing IDs, one per line.
QUERIES="${WORK}/point-select.sql"
awk -v n="${SEEDED}" 'BEGIN { srand(42); for (i = 0; i < 5000; i++)
  printf "SELECT emp_id, first_name, last_name, primary_skill, location FROM employee WHERE emp_id = %d\n", int(rand() * n) + 1 }' >"${QUERIES}"

# slap CONCURRENCY QUERIES_PER_CLIENT: prints "seconds queries_per_client".
slap() {
  mariadb-slap "${DB_CLIENT[@]}" --create-schema="${DB_NAME}" --no-drop --query="${QUERIES}" \
    --concurrency="$1" --number-of-queries="$(($1 * $2))" --iterations=1 2>&1 |
    awk '/Average number of seconds to run all queries/ { s = $(NF - 1) }
         /Average number of queries per client/ { q = $NF }
         END { if (s == "" || q == "") exit 1; print s, q }'
}

# measure_slap CONNECTIONS: a calibration run that doubles as the warm-up sizes the
# measured run to about DURATION seconds (mariadb-slap counts queries, not time).
measure_slap() {
  local conns="$1" secs per_client rate
  say "point-select (mariadb-slap) at ${conns} clients: warm-up, then about ${DURATION} s measured"
  read -r secs per_client <<<"$(slap "${conns}" 200)" || { echo "bench.sh: mariadb-slap failed" >&2; exit 1; }
  rate="$(awk -v c="${conns}" -v q="${per_client}" -v s="${secs}" 'BEGIN { print c * q / s }')"
  per_client="$(awk -v r="${rate}" -v c="${conns}" -v d="${DURATION}" 'BEGIN { n = int(r * d / c); print (n < 100 ? 100 : n) }')"
  read -r secs per_client <<<"$(slap "${conns}" "${per_client}")" || { echo "bench.sh: mariadb-slap failed" >&2; exit 1; }
  printf '{"endpoint":"point-select (mariadb-slap)","connections":%d,"tool":"mariadb-slap","seconds":%s,"queries_per_client":%s}\n' \
    "${conns}" "${secs}" "${per_client}" >>"${RESULTS}"
}

for conns in "${CONNS[@]}"; do measure_wrk "GET /healthz" "${conns}" /healthz; done
# One connection: the latency of a lookup with nothing to batch it with (issue 12).
for conns in 1 "${CONNS[@]}"; do measure_slap "${conns}"; done
for conns in "${CONNS[@]}"; do measure_wrk "GET /" "${conns}" /; done
for conns in 1 "${CONNS[@]}"; do measure_wrk "POST /fetchdata" "${conns}" /fetchdata fetchdata.lua; done
measure_tls_fetchdata
# Before /addemp, so the list always counts the same 10,000 employees.
for conns in "${CONNS[@]}"; do measure_wrk "GET /employees" "${conns}" /employees; done
for conns in "${CONNS[@]}"; do measure_wrk "POST /addemp" "${conns}" /addemp addemp.lua; done

PEAK_RSS_KIB="$(awk '/^VmHWM:/ { print $2 }' "/proc/${APP_PID}/status")"
# What the resident memory is made of at the end: the binary's pages (file-backed, shared
# between replicas on a node) against the heap and stacks (anonymous).
RSS_SPLIT="$(awk '/^(RssAnon|RssFile):/ { printf "%s%s %d", sep, $1, $2; sep = ", " }' "/proc/${APP_PID}/status")"
: >"${APP_LOG}"
stop_pid "${APP_PID}"
# The app logs, as it stops, how many lookups and list pages each database query
# answered (src/db/readers.rs), over its whole run, warm-ups included.
READ_BATCHES="$(python3 -c 'import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("message") == "database reads":
        print(entry["batches"])' "${APP_LOG}")"
# shellcheck source=scripts/bench/observability.sh
. scripts/bench/observability.sh

# --- a rolling restart behind a load balancer ------------------------------------------
# Two instances behind HAProxy, which health-checks /readyz every 200 ms and neither
# retries nor redispatches (a Kubernetes Service or an NLB does not either). wrk runs
# lookups through it at rest, then again while both instances are replaced one after the
# other, each with a shutdown delay, as the manifests set one for the same reason.
ROLL_DELAY_SECS=2
ROLL_CONNS="${CONNS[0]}"
APP_PORTS=("$(free_port)" "$(free_port)")
LB_PORT="$(free_port)"
LB_STATS_PORT="$(free_port)"
cat >"${WORK}/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout check 2s
  retries 0
frontend web
  bind 127.0.0.1:${LB_PORT}
  default_backend app
frontend stats
  bind 127.0.0.1:${LB_STATS_PORT}
  stats enable
  stats uri /stats
backend app
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 200ms fall 2 rise 2
  server a 127.0.0.1:${APP_PORTS[0]} check
  server b 127.0.0.1:${APP_PORTS[1]} check
CFG
SERVER_NAMES=(a b)
# start_instance INDEX: one instance with the shutdown delay, its pid in WORK/app-INDEX.pid.
start_instance() {
  env "${APP_ENV[@]}" PORT="${APP_PORTS[$1]}" METRICS_PORT=0 SHUTDOWN_DELAY_SECS="${ROLL_DELAY_SECS}" \
    python3 scripts/bench/start_app.py "${BIN}" "${APP_PORTS[$1]}" "${LOG_DIR}/roll-$1.log" \
    "${WORK}/app-$1.pid" >/dev/null
}
# wait_until_balanced INDEX: until HAProxy's statistics show that instance up.
wait_until_balanced() {
  python3 scripts/bench/haproxy_up.py "${LB_STATS_PORT}" "${SERVER_NAMES[$1]}"
}
say "rolling restart: two instances behind HAProxy on 127.0.0.1:${LB_PORT}"
start_instance 0
start_instance 1
haproxy -db -f "${WORK}/haproxy.cfg" >"${LOG_DIR}/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_until_balanced 0
wait_until_balanced 1
URL="http://127.0.0.1:${LB_PORT}"
measure_wrk "POST /fetchdata via HAProxy, at rest" "${ROLL_CONNS}" /fetchdata fetchdata.lua
ROLL_SECONDS=$((4 * ROLL_DELAY_SECS + 10))
say "POST /fetchdata via HAProxy during a rolling restart of both instances (${ROLL_SECONDS} s)"
wrk -t"${WRK_THREADS}" -c"${ROLL_CONNS}" -d"${ROLL_SECONDS}s" -s scripts/bench/fetchdata.lua \
  "${URL}/fetchdata" >"${WORK}/roll.out" &
WRK_PID=$!
sleep 2
for i in 0 1; do
  stop_pid "$(cat "${WORK}/app-${i}.pid")"
  start_instance "${i}"
  wait_until_balanced "${i}"
done
wait "${WRK_PID}"
result="$(sed -n 's/^BENCH_RESULT //p' "${WORK}/roll.out")"
[[ -n "${result}" ]] || { echo "bench.sh: no result from wrk during the roll" >&2; exit 1; }
printf '{"endpoint":"POST /fetchdata via HAProxy, rolling restart","connections":%d,"tool":"wrk","app_log_lines":0,"wrk":%s}\n' \
  "${ROLL_CONNS}" "${result}" >>"${RESULTS}"
for i in 0 1; do stop_pid "$(cat "${WORK}/app-${i}.pid")"; done
stop_pid "${HAPROXY_PID}"
LOAD_AFTER="$(load_average)"

ready_json="$(IFS=,; echo "${READY_MS[*]}")"
cat >"${WORK}/meta.json" <<EOF
{"peak_rss_kib": ${PEAK_RSS_KIB}, "ready_ms": [${ready_json}], "binary_bytes": ${BINARY_BYTES},
 "image": ${IMAGE_JSON}, "read_batches": "${READ_BATCHES}", "rss_split_kib": "${RSS_SPLIT}",
 "cores": $(nproc), "load_before": "${LOAD_BEFORE}", "load_after": "${LOAD_AFTER}",
 "duration_s": ${DURATION}, "warmup_s": ${WARMUP}, "wrk_threads": ${WRK_THREADS},
 "seeded_employees": ${SEEDED}, "mariadb": "$(mariadbd --version | awk '{ print $3 }')",
 "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"}
EOF
echo
python3 scripts/bench/report.py "${RESULTS}" "${WORK}/meta.json" "${OUT}"
echo "errors: wrk's socket errors (connect, read, write, timeout > 2 s); non-2xx: answers with status >= 400."
echo "mariadb-slap runs the app's point-select as text queries over TCP and reports no latencies."
echo "JSON written to ${OUT}; the app's log of the last run is in ${APP_LOG}"
# Search at 100,000 employees, with and without the search indexes (issue 17).
scripts/bench/search.sh -b "${BIN}" -d "${DURATION}" -w "${WARMUP}" -c "${CONNS[0]}"
scripts/bench/backup.sh "${BIN}" # backup and restore of 1,000,000 employees, on a MariaDB of its own
