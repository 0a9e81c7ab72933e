#!/usr/bin/env bash
# The heavy S3 target (make test-s3-suite): versitygw's own S3 test suite
# (full-flow, 687 tests) against a real `tarn serve`. It fails when fewer
# than S3_SUITE_MIN tests pass. docs/api.md lists the tests that cannot
# apply to tarn and why.
# -v lists every failing test with the start of its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
min="${S3_SUITE_MIN:-0}"
port="${S3_SUITE_PORT:-17390}"
work="$(mktemp -d)"
trap 'if [ -n "${tarn_pid:-}" ]; then kill "$tarn_pid" 2>/dev/null || true; wait "$tarn_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

vgw="${VERSITYGW:-$(go env GOPATH)/bin/versitygw}"
if [ ! -x "$vgw" ]; then
  GOBIN="$(dirname "$vgw")" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
go build -o "$work/tarn" ./cmd/tarn

export TARN_ACCESS_KEY_ID=TKS3SUITEADMIN000001
export TARN_SECRET_ACCESS_KEY=s3suitesecrets3suitesecrets3suitesecret0
"$work/tarn" serve --data "$work/data" --s3-listen "127.0.0.1:$port" --api-listen "127.0.0.1:$((port + 1))" >"$work/serve.log" 2>&1 &
tarn_pid=$!
# Ready when the S3 port answers (403 to an unsigned request).
for _ in $(seq 1 300); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
  if ! kill -0 "$tarn_pid" 2>/dev/null; then cat "$work/serve.log"; exit 1; fi
  sleep 0.1
done

unset AWS_CA_BUNDLE
start=$(date +%s)
set +e
# Some tests run ./versitygw (its admin CLI) from the working folder.
ln -s "$vgw" "$work/versitygw"
(cd "$work" && ./versitygw test -a "$TARN_ACCESS_KEY_ID" -s "$TARN_SECRET_ACCESS_KEY" -e "http://127.0.0.1:$port" full-flow >"$work/suite.log" 2>&1)
set -e
secs=$(( $(date +%s) - start ))
log="${S3_SUITE_LOG:-s3-suite.log}"
sed 's/\x1b\[[0-9;]*m//g' "$work/suite.log" >"$log"
pass=$(grep -c '^PASS ' "$log" || true)
fail=$(grep -c '^FAIL ' "$log" || true)
if grep -q '^panic:' "$log"; then
  echo "versitygw's harness panicked (see $log): the tests after it did not run"
fi
echo "versitygw full-flow against tarn: PASS $pass FAIL $fail of 687 in ${secs}s (log: $log; minimum $min)"
grep '^FAIL ' "$log" | sed 's/^FAIL \([A-Za-z]*\)_.*/\1/' | sort | uniq -c | sort -rn | head -25
if [ "${1:-}" = "-v" ]; then
  # Every failure, by group, with the start of its reason.
  grep '^FAIL ' "$log" | cut -c1-160 | sort
fi
if [ "$pass" -lt "$min" ]; then
  echo "FAIL: $pass passed, fewer than $min"
  exit 1
fi
