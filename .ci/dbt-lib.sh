# Shared by the dbt scripts (.ci/dbt.sh, dbt-athena.sh, dbt-workflow.sh,
# dbt-adapter.sh), sourced from the repository's root: a work folder removed
# on exit, a tarn built into it, `tarn serve` on free ports, and the PASS /
# FAIL / GAP bookkeeping. Callers set dbt_log_grep (an array of grep's
# arguments: what of dbt's logs/dbt.log a failed step shows) and dbt_doc
# (where a gap is explained) before using step and gap.
root="$PWD"
py="$root/.venv/bin/python"
dbt="$root/.venv/bin/dbt"
script="${0#"$root"/}"

work="$(mktemp -d)"
stop() {
  if [ -n "${tarn_pid:-}" ]; then
    kill "$tarn_pid" 2>/dev/null || true
    wait "$tarn_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tarn() { "$work/tarn" --data "$work/data" "$@"; }

# build_tarn [quickstart]: builds tarn into the work folder, and makes the
# quickstart's lake with it when asked.
build_tarn() {
  go build -o "$work/tarn" ./cmd/tarn
  if [ "${1:-}" = quickstart ]; then
    tarn quickstart >"$work/quickstart.log" 2>&1 || { cat "$work/quickstart.log"; exit 1; }
  fi
}

# serve_tarn: `tarn serve` with its S3, REST and PostgreSQL endpoints on free
# ports (s3_port, api_port, pg_port), as the key in TARN_ACCESS_KEY_ID;
# returns when all three listen.
serve_tarn() {
  s3_port=$(free_port)
  api_port=$(free_port)
  pg_port=$(free_port)
  tarn serve --s3-listen "127.0.0.1:$s3_port" --api-listen "127.0.0.1:$api_port" \
    --pg-listen "127.0.0.1:$pg_port" >"$work/serve.log" 2>&1 &
  tarn_pid=$!
  until grep -q "PostgreSQL endpoint" "$work/serve.log" && grep -q "REST API on" "$work/serve.log"; do
    if ! kill -0 "$tarn_pid" 2>/dev/null; then cat "$work/serve.log"; exit 1; fi
    sleep 0.2
  done
}

psql_q() { PGPASSWORD="$TARN_SECRET_ACCESS_KEY" psql -X -At -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$pg_port user=$TARN_ACCESS_KEY_ID dbname=warehouse" -c "$1"; }

dbt_log_grep=(-i error)
dbt_doc=docs/dbt.md
passed=0
failed=0
gaps=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
step() { # name command...
  local name=$1
  shift
  if "$@" >"$work/step.log" 2>&1; then
    pass "$name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    tail -40 "$work/step.log"
    grep -n "${dbt_log_grep[@]}" logs/dbt.log 2>/dev/null | tail -60 || true
  fi
}
expect() { # name want got
  if [ -n "$3" ] && [ "$2" = "$3" ]; then
    pass "$1"
  else
    failed=$((failed + 1))
    echo "FAIL $1: got '$3', want '$2'"
  fi
}
gap() { # name expected-error command...: a known gap of tarn
  local name=$1 want=$2
  shift 2
  if "$@" >"$work/step.log" 2>&1; then
    pass "$name (a known gap no more: update $dbt_doc and $script)"
  elif grep -q "$want" "$work/step.log"; then
    gaps=$((gaps + 1))
    echo "GAP  $name: $want ($dbt_doc)"
    if [ "${TARN_DBT_STRICT:-}" = 1 ]; then failed=$((failed + 1)); fi
  else
    failed=$((failed + 1))
    echo "FAIL $name (not the known gap's error)"
    tail -40 "$work/step.log"
  fi
}
