#!/usr/bin/env bash
# The heavy real-engines target (make test-engines, issue 15): PyIceberg,
# Spark and Trino against a real `tarn serve` (its S3 endpoint and its Iceberg
# REST catalog at http://<api>/iceberg), driven by pytest (test/engines/).
# One tarn server, one Trino server and one Spark session per run.
# Installs what is missing first (.ci/engines-install.sh, cached).
# ENGINES_PYTEST_ARGS adds pytest arguments, split on spaces (e.g. "-k spark -x");
# TARN_ENGINES_STRICT=1 turns the known gaps of tarn (xfails) into failures.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
. .ci/engines-env.sh
start=$(date +%s)
.ci/engines-install.sh

work="$(mktemp -d)"
stop() {
  for pid in ${trino_pid:-} ${tarn_pid:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap stop EXIT

free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
s3_port=$(free_port)
api_port=$(free_port)
trino_port=$(free_port)
export TARN_ACCESS_KEY_ID=TKENGINESADMIN000001
export TARN_SECRET_ACCESS_KEY=enginessecretenginessecretenginessecret0
s3="http://127.0.0.1:$s3_port"
api="http://127.0.0.1:$api_port"

# Trino first: it takes the longest to start (about 15 s) and needs nothing of
# tarn until a query. One node, small heap, the coordinator schedules work.
mkdir -p "$work/trino/etc/catalog" "$work/trino/data"
cat >"$work/trino/etc/jvm.config" <<JVM
-server
-Xmx1G
-XX:+UseG1GC
-XX:+ExitOnOutOfMemoryError
-Djdk.attach.allowAttachSelf=true
JVM
cat >"$work/trino/etc/config.properties" <<CFG
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$trino_port
discovery.uri=http://127.0.0.1:$trino_port
query.max-memory=512MB
query.max-memory-per-node=256MB
CFG
cat >"$work/trino/etc/node.properties" <<NODE
node.environment=engines
node.id=tarn-engines
node.data-dir=$work/trino/data
NODE
# tarn's Iceberg REST catalog with OAuth2 client credentials (the access key
# id and secret) and tarn's S3 endpoint for the data and metadata files.
cat >"$work/trino/etc/catalog/tarn.properties" <<CAT
connector.name=iceberg
iceberg.catalog.type=rest
iceberg.rest-catalog.uri=$api/iceberg
iceberg.rest-catalog.security=OAUTH2
iceberg.rest-catalog.oauth2.credential=$TARN_ACCESS_KEY_ID:$TARN_SECRET_ACCESS_KEY
iceberg.rest-catalog.oauth2.server-uri=$api/iceberg/v1/oauth/tokens
fs.native-s3.enabled=true
s3.endpoint=$s3
s3.path-style-access=true
s3.aws-access-key=$TARN_ACCESS_KEY_ID
s3.aws-secret-key=$TARN_SECRET_ACCESS_KEY
s3.region=us-east-1
CAT
# The same catalog with SigV4 (signed with the s3.aws-* key) instead of OAuth2.
sed -e '/^iceberg.rest-catalog.security=/d' -e '/^iceberg.rest-catalog.oauth2/d' "$work/trino/etc/catalog/tarn.properties" >"$work/trino/etc/catalog/tarn_sigv4.properties"
printf 'iceberg.rest-catalog.sigv4-enabled=true\niceberg.rest-catalog.signing-name=execute-api\n' >>"$work/trino/etc/catalog/tarn_sigv4.properties"
JAVA_HOME="$TRINO_JAVA_HOME" PATH="$TRINO_JAVA_HOME/bin:$PATH" \
  "$TRINO_HOME/bin/launcher" run --etc-dir "$work/trino/etc" --data-dir "$work/trino/data" >"$work/trino.log" 2>&1 &
trino_pid=$!

# TARN_ENGINES_TARN_BIN: a tarn binary built elsewhere (else built here).
if [ -n "${TARN_ENGINES_TARN_BIN:-}" ]; then
  cp "$TARN_ENGINES_TARN_BIN" "$work/tarn"
else
  go build -o "$work/tarn" ./cmd/tarn
fi
"$work/tarn" serve --data "$work/data" --s3-listen "127.0.0.1:$s3_port" --api-listen "127.0.0.1:$api_port" >"$work/serve.log" 2>&1 &
tarn_pid=$!
# Ready when both ports answer (the S3 port 403s an unsigned request).
for _ in $(seq 1 300); do
  if curl -s -o /dev/null "$s3/" && curl -s -o /dev/null "$api/"; then break; fi
  if ! kill -0 "$tarn_pid" 2>/dev/null; then cat "$work/serve.log"; exit 1; fi
  sleep 0.1
done
"$work/tarn" --data "$work/data" mb s3://lake
echo "tarn serve ready: S3 $s3, API $api, Iceberg REST $api/iceberg ($(( $(date +%s) - start ))s since start)"

export TARN_ENGINES_BIN="$work/tarn" TARN_ENGINES_DATA="$work/data" TARN_ENGINES_S3="$s3" TARN_ENGINES_API="$api"
export TARN_ENGINES_BUCKET=lake TARN_ENGINES_WORK="$work" TARN_ENGINES_JARS="$ENGINES_JARS"
export TARN_ENGINES_TRINO="http://127.0.0.1:$trino_port" TARN_ENGINES_TRINO_LOG="$work/trino.log" TARN_ENGINES_TRINO_PID="$trino_pid"
export JAVA_HOME="$SPARK_JAVA_HOME" PATH="$SPARK_JAVA_HOME/bin:$PATH"
unset AWS_CA_BUNDLE AWS_PROFILE SPARK_HOME PYSPARK_SUBMIT_ARGS
export PYTHONDONTWRITEBYTECODE=1
set +e
# shellcheck disable=SC2086
.venv/bin/python -m pytest -p no:cacheprovider -rsxX -v test/engines ${ENGINES_PYTEST_ARGS:-}
rc=$?
set -e
grep -o "Server startup completed in [0-9.]*s" "$work/trino.log" | sed 's/^/Trino: /' || true
echo "make test-engines: pytest exit $rc in $(( $(date +%s) - start ))s, installs, builds and starts included"
if [ "$rc" -ne 0 ]; then
  echo "--- the last lines of tarn serve's log:"
  tail -40 "$work/serve.log"
  # 5: pytest collected no test (a broken collection must fail the target).
  exit 1
fi
