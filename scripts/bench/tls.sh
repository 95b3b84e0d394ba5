# shellcheck shell=bash
# The cost of TLS to the database, sourced by scripts/bench.sh: the benchmark's MariaDB
# also offers TLS, with a certificate for "localhost" from a CA made here, and
# POST /fetchdata is measured a second time through an app instance that connects with
# DB_SSL_MODE=verify-identity, beside the plain-TCP instance (DB_SSL_MODE=disabled).
# Uses bench.sh's WORK, LOG_DIR, BIN, APP_ENV, CONNS, URL, free_port, say, stop_pid and
# measure_wrk.

# tls_certificates: a CA and a server certificate signed by it, in WORK/tls; sets
# TLS_SERVER_ARGS (for mariadbd) and TLS_CA.
tls_certificates() {
  local dir="${WORK}/tls"
  mkdir -p "${dir}"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=employee-db bench CA" -keyout "${dir}/ca-key.pem" -out "${dir}/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout "${dir}/server-key.pem" -out "${dir}/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"${dir}/server.ext"
  openssl x509 -req -in "${dir}/server.csr" -CA "${dir}/ca.pem" -CAkey "${dir}/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "${dir}/server.ext" -out "${dir}/server.pem" 2>/dev/null
  # shellcheck disable=SC2034 # read by bench.sh
  TLS_SERVER_ARGS=(--ssl-cert="${dir}/server.pem" --ssl-key="${dir}/server-key.pem")
  TLS_CA="${dir}/ca.pem"
}

# measure_tls_fetchdata: a second app instance over verified TLS, POST /fetchdata at
# each connection count, then that instance stops.
measure_tls_fetchdata() {
  local port pid_file="${WORK}/app-tls.pid" saved_url="${URL}" conns
  # measure_wrk counts the request log lines of the instance it measures.
  local APP_LOG="${LOG_DIR}/app-tls.log"
  port="$(free_port)"
  say "starting an app over TLS to MariaDB (DB_SSL_MODE=verify-identity) on 127.0.0.1:${port}"
  # Metrics on, as on the plain-TCP instance, on a port of its own.
  env "${APP_ENV[@]}" PORT="${port}" METRICS_PORT="$(free_port)" DBHOST=localhost DB_SSL_MODE=verify-identity DB_SSL_CA="${TLS_CA}" \
    python3 scripts/bench/start_app.py "${BIN}" "${port}" "${APP_LOG}" "${pid_file}" >/dev/null ||
    { echo "bench.sh: the TLS app did not become ready; its log:" >&2; tail -n 30 "${APP_LOG}" >&2; exit 1; }
  URL="http://127.0.0.1:${port}"
  # shellcheck disable=SC2153 # CONNS is bench.sh's
  for conns in "${CONNS[@]}"; do
    measure_wrk "POST /fetchdata over TLS (verify-identity)" "${conns}" /fetchdata fetchdata.lua
  done
  URL="${saved_url}"
  stop_pid "$(cat "${pid_file}")"
}
