#!/usr/bin/env bash
# Search benchmark (issue 17): is GET /employees?q=... fast enough at 100,000 employees?
# Starts a private MariaDB on a temporary directory and a free port, starts the app
# (whose migrations create the search indexes), seeds 100,000 employees, and measures
# with wrk, after a warm-up, four kinds of search, each request a random one of its kind:
#   surname   the first 4 letters of a seeded surname, in random case (about 250 matches)
#   letter    one letter: thousands of matches, the count is the expensive part
#   page 5    page 5 of a surname search
#   none      text that matches nothing
# then the same four again with the search indexes dropped, to show what they are worth.
# Prints MariaDB's plan for a surname search with and without the indexes, and one table.
# scripts/bench.sh runs it after its own figures; it runs on its own as well. Everything
# it starts is stopped and removed on exit.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench/search.sh [-b BINARY] [-d SECONDS] [-w SECONDS] [-c "64"] [-r ROWS] [-h]

  -b BINARY    the app's binary (default: build the release binary)
  -d SECONDS   length of each measured run (default 10)
  -w SECONDS   warm-up before each measured run (default 3)
  -c LIST      connection counts, space-separated (default "64")
  -r ROWS      employees to seed (default 100000)
  -h           this help

Installs wrk, mariadb-server and mariadb-client (Debian) when missing. The app, MariaDB
and wrk share this machine's cores: compare the rows with each other, not with another
machine's figures.
EOF
}

BIN=""
DURATION=10
WARMUP=3
CONNECTIONS="64"
ROWS=100000
while getopts ":hb:d:w:c:r:" opt; do
  case "${opt}" in
    h) usage; exit 0 ;;
    b) BIN="${OPTARG}" ;;
    d) DURATION="${OPTARG}" ;;
    w) WARMUP="${OPTARG}" ;;
    c) CONNECTIONS="${OPTARG}" ;;
    r) ROWS="${OPTARG}" ;;
    :) echo "search.sh: -${OPTARG} needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "search.sh: unknown option -${OPTARG}" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# == 0)) || { echo "search.sh: unexpected argument: $1" >&2; usage >&2; exit 2; }

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
positive_numbers search.sh "durations and rows are whole numbers above 0" "${DURATION}" "${WARMUP}" "${ROWS}"
connection_counts search.sh "${CONNECTIONS}"
LOG_DIR="${ROOT}/target/bench"
mkdir -p "${LOG_DIR}"
export BENCH_LUA_DIR="${ROOT}/scripts/bench"

DB_NAME=employees

say() { echo "==> search: $*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/employee-db-search-bench.XXXXXX")"
APP_PID_FILE="${WORK}/app.pid"
MARIADB_PID=""

cleanup() {
  local pid
  pid="$(cat "${APP_PID_FILE}" 2>/dev/null || true)"
  [[ -z "${pid}" ]] || stop_pid "${pid}"
  stop_mariadb
  rm -rf "${WORK}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools and build ---------------------------------------------------------------
ensure_apt wrk mariadb-server mariadb-client
for tool in python3 wrk mariadbd mariadb-install-db mariadb mariadb-admin; do
  command -v "${tool}" >/dev/null || { echo "search.sh: ${tool} not found" >&2; exit 1; }
done
[[ -n "${BIN}" ]] || release_binary "${WORK}"
[[ -x "${BIN}" ]] || { echo "search.sh: ${BIN} is not an executable" >&2; exit 1; }

# --- MariaDB -----------------------------------------------------------------------
start_mariadb "${WORK}" "${LOG_DIR}/search-mariadb.log" 128M "${DB_NAME}"
DB=(mariadb "${DB_CLIENT[@]}" "${DB_NAME}")

# --- the app (its migrations create the table and the search indexes) ------------------
APP_PORT="$(free_port)"
APP_LOG="${LOG_DIR}/search-app.log"
: >"${APP_LOG}"
say "starting the app on 127.0.0.1:${APP_PORT}; log: ${APP_LOG}"
env PORT="${APP_PORT}" BIND_ADDRESS=127.0.0.1 \
  DBHOST=127.0.0.1 DBPORT="${DB_PORT}" DBUSER="${DB_USER}" DBPWD="${DB_PASSWORD}" DATABASE="${DB_NAME}" \
  APP_COLOR=lime STATIC_DIR="${ROOT}/static" BACKGROUND_CACHE_DIR="${WORK}/background" LOG_FORMAT=json \
  python3 scripts/bench/start_app.py "${BIN}" "${APP_PORT}" "${APP_LOG}" "${APP_PID_FILE}" >/dev/null ||
  { echo "search.sh: the app did not become ready; its log:" >&2; tail -n 30 "${APP_LOG}" >&2; exit 1; }

# --- 100,000 employees ----------------------------------------------------------------
# Surnames from three of 20 two-letter syllables (8,000 surnames, so the first two
# syllables, 4 letters, pick out 1 in 400 rows), first names, skills and places from short lists,
# some of them with accents. The same seed gives the same rows every run.
say "seeding ${ROWS} employees"
SYLLABLES="ka be lo ve ma ri so ta ne di pu ga mo we th si br fe do li"
awk -v n="${ROWS}" -v syllables="${SYLLABLES}" 'BEGIN {
  srand(17)
  s = split(syllables, syl, " ")
  f = split("Ada Alan Grace Émile Zoë Søren Linus Ken Dennis Barbara Margaret Edsger Tony John Frances Radia Hedy Katherine Annie Donald", first, " ")
  k = split("Rust Go Python Java Kubernetes Terraform SQL Networking Compilers Databases", skill, " ")
  c = split("Toronto Montréal Vancouver Calgary Ottawa Halifax Québec Winnipeg Regina Victoria", city, " ")
  for (i = 1; i <= n; i++) {
    a = syl[int(rand() * s) + 1]
    last = toupper(substr(a, 1, 1)) substr(a, 2) syl[int(rand() * s) + 1] syl[int(rand() * s) + 1]
    if (i % 1000 == 1) printf "INSERT INTO employee (emp_id, first_name, last_name, primary_skill, location) VALUES\n"
    printf "(%d, \"%s\", \"%s\", \"%s\", \"%s\")%s\n", i, first[int(rand() * f) + 1], last,
      skill[int(rand() * k) + 1], city[int(rand() * c) + 1], (i % 1000 == 0 || i == n) ? ";" : ","
  }
}' | "${DB[@]}"
"${DB[@]}" -e "ANALYZE TABLE employee" >/dev/null

# The query strings of each kind, one per line, percent-encoded as a browser sends them.
awk -v syllables="${SYLLABLES}" -v dir="${WORK}" 'BEGIN {
  srand(29)
  s = split(syllables, syl, " ")
  for (i = 0; i < 500; i++) {
    prefix = syl[int(rand() * s) + 1] syl[int(rand() * s) + 1]
    # The first two syllables of a surname, in random case.
    word = ""
    for (j = 1; j <= length(prefix); j++) {
      ch = substr(prefix, j, 1)
      word = word (rand() < 0.5 ? toupper(ch) : ch)
    }
    print "q=" word > (dir "/surname.txt")
    print "q=" word "&page=5" > (dir "/page5.txt")
    print "q=zq" int(rand() * 1000000) > (dir "/none.txt")
  }
  split("a b c d e f g h i j k l m n o p q r s t u v w x y z", letters, " ")
  for (i = 1; i <= 26; i++) print "q=" letters[i] > (dir "/letter.txt")
}'
SAMPLE="$(head -n 1 "${WORK}/surname.txt" | cut -d= -f2)"
MATCHES="$("${DB[@]}" -N -e "SELECT COUNT(*) FROM employee WHERE first_name LIKE '${SAMPLE}%' OR last_name LIKE '${SAMPLE}%' OR primary_skill LIKE '${SAMPLE}%' OR location LIKE '${SAMPLE}%'")"
LETTER_MATCHES="$("${DB[@]}" -N -e "SELECT COUNT(*) FROM employee WHERE first_name LIKE 'm%' OR last_name LIKE 'm%' OR primary_skill LIKE 'm%' OR location LIKE 'm%'")"

# plan LABEL: MariaDB's plan for the surname search the app runs, one line.
plan() {
  echo "plan ${1}: $("${DB[@]}" -N -e "EXPLAIN SELECT emp_id FROM employee WHERE first_name LIKE '${SAMPLE}%' ESCAPE '!' OR last_name LIKE '${SAMPLE}%' ESCAPE '!' OR primary_skill LIKE '${SAMPLE}%' ESCAPE '!' OR location LIKE '${SAMPLE}%' ESCAPE '!' ORDER BY emp_id LIMIT 50" |
    awk -F'\t' '{ print "type=" $4 ", key=" $6 ", rows=" $9 ", " $10 }')"
}

# --- measurements --------------------------------------------------------------------
RESULTS="${WORK}/results.jsonl"
: >"${RESULTS}"
URL="http://127.0.0.1:${APP_PORT}"

# measure INDEXES KIND CONNECTIONS: a warm-up, then the measured run.
measure() {
  local indexes="$1" kind="$2" conns="$3" out result
  say "${kind} searches (${indexes}) at ${conns} connections: ${WARMUP} s warm-up, ${DURATION} s measured"
  BENCH_QUERIES="${WORK}/${kind}.txt" wrk -t2 -c"${conns}" -d"${WARMUP}s" -s scripts/bench/search.lua "${URL}" >/dev/null
  out="$(BENCH_QUERIES="${WORK}/${kind}.txt" wrk -t2 -c"${conns}" -d"${DURATION}s" --timeout 10s -s scripts/bench/search.lua "${URL}")"
  result="$(sed -n 's/^BENCH_RESULT //p' <<<"${out}")"
  [[ -n "${result}" ]] || { echo "search.sh: no result from wrk:" >&2; echo "${out}" >&2; exit 1; }
  printf '{"indexes":"%s","kind":"%s","connections":%d,"wrk":%s}\n' "${indexes}" "${kind}" "${conns}" "${result}" >>"${RESULTS}"
}

PLANS=("$(plan "with the indexes")")
for conns in "${CONNS[@]}"; do
  for kind in surname letter page5 none; do measure "indexed" "${kind}" "${conns}"; done
done
say "dropping the search indexes"
"${DB[@]}" -e "ALTER TABLE employee DROP INDEX employee_first_name, DROP INDEX employee_last_name, DROP INDEX employee_primary_skill, DROP INDEX employee_location"
PLANS+=("$(plan "without them")")
for conns in "${CONNS[@]}"; do
  for kind in surname letter page5 none; do measure "no index" "${kind}" "${conns}"; done
done
PEAK_RSS_KIB="$(awk '/^VmHWM:/ { print $2 }' "/proc/$(cat "${APP_PID_FILE}")/status")"

echo
echo "Search at ${ROWS} employees (MariaDB $(mariadbd --version | awk '{ print $3 }'), $(nproc) cores shared by the app, MariaDB and wrk)"
echo "a surname search (\"${SAMPLE}\") matches ${MATCHES} employees; a one-letter search (\"m\") ${LETTER_MATCHES}"
printf '%s\n' "${PLANS[@]}"
python3 - "${RESULTS}" <<'PY'
import json
import sys

runs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
names = {"surname": "surname prefix", "letter": "one letter", "page5": "page 5 of a surname", "none": "no match"}
print(f"{'search':<22} {'indexes':<9} {'conns':>5} {'req/s':>9} {'p50':>10} {'p99':>10} {'errors':>6} {'non-2xx':>7}")
for run in runs:
    w = run["wrk"]
    rps = w["requests"] / (w["duration_us"] / 1e6)
    errors = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    print(f"{names[run['kind']]:<22} {run['indexes']:<9} {run['connections']:>5} {rps:>9.1f} "
          f"{w['p50_us'] / 1000:>7.2f} ms {w['p99_us'] / 1000:>7.2f} ms {errors:>6} {w['non_2xx']:>7}")
PY
echo "app peak memory: $((PEAK_RSS_KIB / 1024)) MiB; app log: ${APP_LOG}"
