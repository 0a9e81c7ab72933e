#!/usr/bin/env bash
# The new user's first hour, end to end, as the README and docs tell it:
# quickstart, an own CSV with bad rows, a job with dead letters, a new
# column arriving, the job evolving its table, and the same queries with and
# without a server printing the same bytes. Every step is checked; the first
# failure stops the script with a non-zero exit.
#
#   TARN=/path/to/tarn examples/first-hour/run.sh [WORKDIR]
set -euo pipefail
TARN=${TARN:-tarn}
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK"
export TARN_DATA="$WORK/lake"
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
expect() { # expect "what" "got" "want"
  [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
  echo "ok: $1 = $3"
}

step "quickstart"
"$TARN" quickstart >/dev/null
expect "sales rows" "$("$TARN" query --format csv "SELECT count(*) AS n FROM etl_pipeline_db.sales" 2>/dev/null | tail -1)" "1000"

step "my own CSV, with two bad rows"
cat > signups.csv <<'CSV'
id,email,plan,amount
1,a@example.com,free,0
2,b@example.com,pro,12.5
3,c@example.com,pro,not-a-number
4,d@example.com,team,49,extra-field
5,e@example.com,free,0
CSV
"$TARN" cp signups.csv s3://lake/raw/signups/2025-01.csv >/dev/null
"$TARN" crawler create signups_crawler --database mine --path s3://lake/raw/signups/ >/dev/null
"$TARN" crawler start signups_crawler >/dev/null
expect "crawled columns" "$("$TARN" query --format csv "SELECT * FROM mine.signups LIMIT 0" 2>/dev/null | head -1)" "id,email,plan,amount"

step "a job: CSV to curated Parquet; bad rows go to dead letters"
"$TARN" job create signups_job --sql "SELECT id, email, plan, TRY_CAST(amount AS DOUBLE) AS amount FROM mine.signups" \
  --target s3://lake/curated/signups/ --table curated.signups --bookmarks --max-rejected 50% >/dev/null
"$TARN" job start signups_job > job1.txt 2>&1 || { cat job1.txt; fail "first job run"; }
grep "rejected 1" job1.txt >/dev/null || { cat job1.txt; fail "the row with an extra field is not counted as rejected"; }
expect "curated rows after run 1" "$("$TARN" query --format csv "SELECT count(*) || '/' || count(amount) AS n FROM curated.signups" 2>/dev/null | tail -1)" "4/3"

step "a new column arrives"
cat > signups2.csv <<'CSV'
id,email,plan,amount,campaign
6,f@example.com,pro,12.5,spring
7,g@example.com,free,0,spring
CSV
"$TARN" cp signups2.csv s3://lake/raw/signups/2025-02.csv >/dev/null
"$TARN" crawler start signups_crawler > crawl2.txt 2>&1 || { cat crawl2.txt; fail "second crawl"; }
expect "old and new files read by header" "$("$TARN" query --format csv "SELECT count(*) FILTER (WHERE campaign IS NULL) || '/' || count(campaign) AS n FROM mine.signups WHERE id IN (1, 2, 5, 6, 7)" 2>/dev/null | tail -1)" "3/2"

step "the job evolves its table"
"$TARN" job update signups_job --sql "SELECT id, email, plan, TRY_CAST(amount AS DOUBLE) AS amount, campaign FROM mine.signups" >/dev/null
"$TARN" job start signups_job > job2.txt 2>&1 || { cat job2.txt; fail "second job run"; }
expect "curated rows after run 2 (the bookmark read only the new file)" "$("$TARN" query --format csv "SELECT count(*) || '/' || count(campaign) AS n FROM curated.signups" 2>/dev/null | tail -1)" "6/2"
versions=$("$TARN" catalog versions curated.signups)
[[ $versions == *campaign* ]] || fail "no schema version names the new column"
echo "ok: a new schema version adds campaign"

step "the same answers with and without a server"
QUERIES=(
  "SELECT plan, count(*) AS n, round(sum(amount), 2) AS total, max(campaign) AS campaign FROM curated.signups GROUP BY plan ORDER BY plan"
  "SELECT region, count(*), round(sum(quantity * unit_price), 2) FROM etl_pipeline_db.sales GROUP BY 1 ORDER BY 1"
  "SELECT DATE '2025-06-02' AS d, CAST(NULL AS VARCHAR) AS nothing, 1.5::DECIMAL(10,2) AS dec, 12345678.9::DOUBLE AS dbl"
)
for i in "${!QUERIES[@]}"; do
  for f in csv json table; do
    "$TARN" query --format "$f" "${QUERIES[$i]}" > "local-$i.$f" 2>/dev/null
  done
done
"$TARN" serve --s3-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 > serve.log 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true; wait $SERVE 2>/dev/null || true' EXIT
up=""
for _ in $(seq 1 200); do
  # (not `status | grep -q`: with pipefail, grep closing early fails the pipe)
  st=$("$TARN" status 2>/dev/null || true)
  if [[ $st == *"REST API"* ]]; then up=1; break; fi
  kill -0 $SERVE 2>/dev/null || { cat serve.log; fail "tarn serve exited"; }
  sleep 0.05 # waiting for the server to write serve.json; the loop is bounded
done
[ -n "$up" ] || { cat serve.log; fail "the server did not come up"; }
for i in "${!QUERIES[@]}"; do
  for f in csv json table; do
    "$TARN" query --format "$f" "${QUERIES[$i]}" > "served-$i.$f" 2>served.err
    grep "via http" served.err >/dev/null || fail "query $i did not go through the server"
    diff -u "local-$i.$f" "served-$i.$f" || fail "query $i ($f) prints differently through the server"
  done
done
echo "ok: ${#QUERIES[@]} queries x 3 formats print the same bytes with and without a server"
echo
echo "first hour: all steps passed"
