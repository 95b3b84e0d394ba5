#!/usr/bin/env bash
# Backup and restore of 1,000,000 employees on a private MariaDB (issue 15): seeds the
# table, runs `employee-db backup` to a file and `employee-db restore` from it into a
# fresh database, each under /usr/bin/time, and reports rows/s and peak RSS. The
# restore is checked: the restored table's checksum must equal the original's.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench/backup.sh [-r ROWS] [-o FILE] [BINARY]

BINARY is the employee-db release binary (scripts/bench.sh passes its own); without
it, the release build in CARGO_TARGET_DIR is built and used.

  -r ROWS   employees to seed (default 1000000)
  -o FILE   JSON output (default target/bench-backup.json in this checkout)
  -h        this help

Installs mariadb-server, mariadb-client and time (Debian) when missing. MariaDB runs
on a temporary folder and a free port, with server defaults (durable commits), and
is stopped and removed on exit.
EOF
}

ROWS=1000000
OUT=""
while getopts ":hr:o:" opt; do
  case "${opt}" in
    h) usage; exit 0 ;;
    r) ROWS="${OPTARG}" ;;
    o) OUT="${OPTARG}" ;;
    :) echo "backup.sh: -${OPTARG} needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "backup.sh: unknown option -${OPTARG}" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
(($# <= 1)) || { usage >&2; exit 2; }

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
positive_numbers backup.sh "ROWS is a whole number above 0" "${ROWS}"
OUT="${OUT:-${ROOT}/target/bench-backup.json}"
mkdir -p "$(dirname "${OUT}")"
say() { echo "==> $*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/employee-db-bench-backup.XXXXXX")"
MARIADB_PID=""
cleanup() {
  stop_mariadb
  rm -rf "${WORK}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_apt mariadb-server mariadb-client time
if (($# == 1)); then
  BIN="$1"
else
  release_binary "${WORK}"
fi
[[ -x "${BIN}" ]] || { echo "backup.sh: ${BIN} is not an executable" >&2; exit 1; }

start_mariadb "${WORK}" "${WORK}/mariadb.log" 256M source restored

# employee-db NAME ARGS...: the binary against database NAME under /usr/bin/time;
# prints "seconds peak_rss_kib" and keeps the command's own output in WORK/NAME-ARGS[0].out.
employee_db() {
  local database="$1" log="${WORK}/$1-$2"
  shift
  env -i PATH="${PATH}" DBHOST=127.0.0.1 DBPORT="${DB_PORT}" DBUSER="${DB_USER}" DBPWD="${DB_PASSWORD}" \
    DATABASE="${database}" /usr/bin/time -v -o "${log}.time" "${BIN}" "$@" >"${log}.out" 2>&1 ||
    { echo "backup.sh: employee-db $* failed:" >&2; cat "${log}.out" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
              /Maximum resident set size/ { rss = $2 }
              END { print s, rss }' "${log}.time"
}

say "creating the schema and seeding ${ROWS} employees"
# The backup reads the table as the app's migrations create it.
cat migrations/mysql/*.sql | mariadb "${DB_CLIENT[@]}" source
awk -v n="${ROWS}" 'BEGIN {
  split("Rust Go Python Java Kubernetes Terraform SQL Réseaux", skill, " ")
  split("Toronto Montréal Vancouver Calgary Ottawa Halifax", city, " ")
  for (i = 1; i <= n; i++) {
    if (i % 1000 == 1) printf "INSERT INTO employee (emp_id, first_name, last_name, primary_skill, location) VALUES\n"
    printf "(%d, \"Prénom%d\", \"Nom-de-famille-%d\", \"%s\", \"%s\")%s\n", i, i, i, skill[i % 8 + 1], city[i % 6 + 1], (i % 1000 == 0 || i == n) ? ";" : ","
  }
}' | mariadb "${DB_CLIENT[@]}" source

checksum() { mariadb "${DB_CLIENT[@]}" --batch --skip-column-names -e "CHECKSUM TABLE employee" "$1" | awk '{ print $2 }'; }

FILE="${WORK}/employees.jsonl"
say "employee-db backup --to ${FILE}"
read -r BACKUP_S BACKUP_RSS <<<"$(employee_db source backup --to "${FILE}")"
FILE_BYTES="$(stat -c %s "${FILE}")"
say "employee-db restore --from ${FILE} (into an empty database)"
read -r RESTORE_S RESTORE_RSS <<<"$(employee_db restored restore --from "${FILE}")"
[[ "$(checksum source)" == "$(checksum restored)" ]] || { echo "backup.sh: the restored table differs from the original" >&2; exit 1; }

python3 - "${ROWS}" "${FILE_BYTES}" "${BACKUP_S}" "${BACKUP_RSS}" "${RESTORE_S}" "${RESTORE_RSS}" \
  "$(nproc)" "$(mariadbd --version | awk '{ print $3 }')" "${OUT}" <<'PY'
import json, sys

rows, size, backup_s, backup_rss, restore_s, restore_rss = (float(v) for v in sys.argv[1:7])
cores, mariadb, out = sys.argv[7:10]
figures = {
    "rows": int(rows), "file_bytes": int(size), "cores": int(cores), "mariadb": mariadb,
    "backup": {"seconds": backup_s, "rows_per_s": round(rows / backup_s), "peak_rss_kib": int(backup_rss)},
    "restore": {"seconds": restore_s, "rows_per_s": round(rows / restore_s), "peak_rss_kib": int(restore_rss)},
}
print(f"\nbackup and restore of {int(rows):,} employees ({size / 2**20:.1f} MiB of JSON Lines), MariaDB {mariadb}, {cores} cores")
print(f"{'':10}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}")
for step in ("backup", "restore"):
    f = figures[step]
    print(f"{step:10}{f['seconds']:>10.1f}{f['rows_per_s']:>12,}{f['peak_rss_kib'] / 1024:>9.1f} MiB")
with open(out, "w") as fh:
    json.dump(figures, fh, indent=2)
print(f"JSON written to {out}")
PY
