# What scripts/bench.sh, scripts/bench/search.sh and scripts/bench/backup.sh share:
# their environment, option checks, the release binary, stopping what they started, and
# a private MariaDB server. Sourced from the checkout's root.
# shellcheck shell=bash

# shellcheck source=scripts/checks/lib.sh
. scripts/checks/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CACHE_DIR}/target}"
# mariadbd and mariadb-install-db live in /usr/sbin.
export PATH="${PATH}:/usr/sbin"

# positive_numbers SCRIPT MESSAGE VALUE...: exits 2 with MESSAGE unless every VALUE is a
# whole number above 0.
positive_numbers() {
  local script="$1" message="$2" n
  shift 2
  for n in "$@"; do
    [[ "${n}" =~ ^[0-9]+$ && "${n}" -gt 0 ]] || { echo "${script}: ${message}" >&2; exit 2; }
  done
}

# connection_counts SCRIPT LIST: sets CONNS to LIST's counts, and exits 2 unless each is a
# whole number of 2 or more (wrk needs a connection per thread).
connection_counts() {
  local n
  read -r -a CONNS <<<"$2"
  for n in "${CONNS[@]}"; do
    [[ "${n}" =~ ^[0-9]+$ && "${n}" -ge 2 ]] || { echo "$1: connection counts are whole numbers of 2 or more" >&2; exit 2; }
  done
}

# release_binary DIR: builds the release binary and sets BIN to a copy of it in DIR.
# Announces itself through the calling script's say.
release_binary() {
  say "building the release binary (CARGO_TARGET_DIR=${CARGO_TARGET_DIR})"
  # Other clones build into the same target directory (scripts/test.sh), and cargo does
  # not copy a binary it finds up to date back into release/: rebuilding the small
  # binary crate makes release/employee-db this checkout's. The copy is what runs.
  touch src/main.rs
  cargo build --release --locked --bin employee-db
  BIN="$1/employee-db"
  cp "${CARGO_TARGET_DIR}/release/employee-db" "${BIN}"
}

# Sends SIGTERM and waits (at most 15 s) for a process that is not our child to go.
stop_pid() {
  local pid="$1" i
  kill -TERM "${pid}" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    kill -0 "${pid}" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "${pid}" 2>/dev/null || true
}

# Stops the server start_mariadb started, if it did.
stop_mariadb() {
  [[ -n "${MARIADB_PID:-}" ]] || return 0
  stop_pid "${MARIADB_PID}"
  wait "${MARIADB_PID}" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_mariadb DIR LOG BUFFER_POOL DATABASE... [-- MARIADBD_ARG...]
# Initialises DIR/data and starts mariadbd on 127.0.0.1 and a free port, with the server's
# defaults otherwise (durability included: innodb_flush_log_at_trx_commit=1), its error
# log in LOG. Creates each DATABASE (utf8mb4) and a user with every privilege on them, and
# returns once the server answers. Sets DB_PORT, DB_USER, DB_PASSWORD, MARIADB_PID and
# DB_CLIENT (the client's options: a defaults file with the login).
start_mariadb() {
  local dir="$1" log="$2" buffer_pool="$3" i db
  shift 3
  local databases=() server_args=()
  while (($#)); do
    if [[ "$1" == "--" ]]; then
      shift
      server_args=("$@")
      break
    fi
    databases+=("$1")
    shift
  done
  DB_PORT="$(free_port)"
  DB_USER=bench
  DB_PASSWORD=bench-password
  local root_args=()
  # The server refuses to run as root unless told to.
  [[ $(id -u) -ne 0 ]] || root_args=(--user=root)
  say "starting MariaDB on 127.0.0.1:${DB_PORT} (data in ${dir}/data)"
  # Its own temporary folder: servers sharing /tmp have collided on temporary table names.
  mkdir -p "${dir}/tmp"
  mariadb-install-db --no-defaults --datadir="${dir}/data" --tmpdir="${dir}/tmp" \
    --auth-root-authentication-method=normal --skip-test-db "${root_args[@]}" >"${dir}/install.log" 2>&1 ||
    { cat "${dir}/install.log" >&2; exit 1; }
  {
    for db in "${databases[@]}"; do
      echo "CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4;"
    done
    echo "CREATE USER IF NOT EXISTS '${DB_USER}'@'%' IDENTIFIED BY '${DB_PASSWORD}';"
    for db in "${databases[@]}"; do
      echo "GRANT ALL PRIVILEGES ON ${db}.* TO '${DB_USER}'@'%';"
    done
  } >"${dir}/init.sql"
  mariadbd --no-defaults --datadir="${dir}/data" --tmpdir="${dir}/tmp" --port="${DB_PORT}" --bind-address=127.0.0.1 \
    --socket="${dir}/mysqld.sock" --pid-file="${dir}/mysqld.pid" --log-error="${log}" \
    --init-file="${dir}/init.sql" --skip-name-resolve --skip-log-bin --max-connections=1000 \
    --innodb-buffer-pool-size="${buffer_pool}" "${server_args[@]}" "${root_args[@]}" >/dev/null 2>&1 &
  MARIADB_PID=$!
  cat >"${dir}/client.cnf" <<EOF
[client]
protocol=tcp
host=127.0.0.1
port=${DB_PORT}
user=${DB_USER}
password=${DB_PASSWORD}
EOF
  DB_CLIENT=(--defaults-file="${dir}/client.cnf")
  for ((i = 0; ; i++)); do
    mariadb-admin "${DB_CLIENT[@]}" --silent ping >/dev/null 2>&1 && break
    if ! kill -0 "${MARIADB_PID}" 2>/dev/null || ((i > 600)); then
      echo "MariaDB did not start:" >&2
      tail -n 30 "${log}" >&2
      exit 1
    fi
    sleep 0.1
  done
}
