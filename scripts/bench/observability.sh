# shellcheck shell=bash
# Sourced by scripts/bench.sh after its main runs, with the app stopped: the cost of
# metrics and tracing (issue 13). GET / and POST /fetchdata at the first connection
# count, back to back, with metrics on (the default), off (METRICS_PORT=0), and on with
# traces sent for 10% of requests (parent-based ratio sampler) to a local OTLP sink.
# Uses bench.sh's APP_ENV, BIN, WORK, LOG_DIR, CONNS, free_port, measure_wrk, stop_pid.

# observability_run LABEL VAR=VALUE...: restarts the app with the extra variables and
# measures both endpoints.
observability_run() {
  local label="$1"
  shift
  env "${APP_ENV[@]}" "$@" python3 scripts/bench/start_app.py "${BIN}" "${APP_PORT}" \
    "${APP_LOG}" "${APP_PID_FILE}" >/dev/null ||
    { echo "bench.sh: the app did not become ready; its log:" >&2; tail -n 30 "${APP_LOG}" >&2; exit 1; }
  measure_wrk "GET / (${label})" "${CONNS[0]}" /
  measure_wrk "POST /fetchdata (${label})" "${CONNS[0]}" /fetchdata fetchdata.lua
  stop_pid "$(app_pid)"
}

OTLP_PORT="$(free_port)"
python3 scripts/bench/otlp_sink.py "${OTLP_PORT}" &
OTLP_SINK_PID=$!
say "metrics and tracing cost: GET / and POST /fetchdata at ${CONNS[0]} connections, three ways"
observability_run "metrics on" METRICS_PORT="$(free_port)"
observability_run "metrics off" METRICS_PORT=0
observability_run "metrics on, traces 10%" METRICS_PORT="$(free_port)" \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:${OTLP_PORT}" \
  OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1
kill "${OTLP_SINK_PID}" 2>/dev/null || true
wait "${OTLP_SINK_PID}" 2>/dev/null || true
