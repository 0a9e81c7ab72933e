#!/usr/bin/env bash
# The heavy dbt-in-workflows target (make test-dbt-workflow, issue 16): real
# dbt-core + dbt-postgres (.venv, .ci/requirements-dbt.txt) run by `dbt:`
# workflow steps of a real `tarn serve`:
#   1. examples/dbt built by a workflow step; its models and tests recorded
#      and shown by `tarn workflow run`;
#   2. write-audit-publish (publish: on_tests_pass) with the guides'
#      incremental merge model over orders: a first run publishes; a
#      duplicate-key replay makes `unique` fail, the step fails naming the
#      test and the failing rows, the published table is unchanged (psql),
#      the staging schema is kept; a fixed replay publishes, incrementally
#      over the published rows;
#   3. examples/dbt with write-audit-publish (a late-binding view, a seed,
#      tables, incremental models), twice;
#   4. clear step errors: a missing project, a snapshot outside the staging
#      schema, a key that may not publish.
# TARN_DBT_TESTDATA=DIR also copies the artifacts of the failed run there
# (how internal/dbt/testdata was made).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
source .ci/dbt-lib.sh
if [ ! -x "$dbt" ]; then
  echo "no dbt in .venv: .ci/run installs it (.ci/requirements-dbt.txt)" >&2
  exit 1
fi

build_tarn quickstart
export TARN_ACCESS_KEY_ID=TKDBTADMIN0000000002
export TARN_SECRET_ACCESS_KEY=dbtsecretdbtsecretdbtsecretdbtsecret0002
# The server finds dbt through TARN_DBT, and the projects of non-admin keys
# in TARN_DBT_PROJECTS; dbt steps get a clean environment
# (not this one, which holds the admin's secret).
TARN_DBT="$dbt" TARN_DBT_PROJECTS="$work" serve_tarn

contains() { # name needle file
  if grep -qF -- "$2" "$3"; then
    pass "$1"
  else
    failed=$((failed + 1))
    echo "FAIL $1: no '$2' in:"
    tail -30 "$3"
  fi
}
# run_wf NAME LOG: starts a workflow and follows it; its exit status is the run's.
run_wf() { tarn workflow start "$1" >"$2" 2>&1; }

# 1. examples/dbt as a workflow step.
cp -r examples/dbt "$work/example"
rm -rf "$work/example/target" "$work/example/logs"
# 2. The guides' incremental merge model over orders (landed in the
# warehouse by the script, so that a replay is one INSERT).
mkdir -p "$work/wap/models"
cat >"$work/wap/dbt_project.yml" <<'EOF'
name: tarn_wap
version: "1.0.0"
config-version: 2
profile: tarn
model-paths: ["models"]
EOF
cat >"$work/wap/models/sources.yml" <<'EOF'
version: 2
sources:
  - name: landing
    schema: landing
    tables:
      - name: orders
EOF
cat >"$work/wap/models/orders_by_day.sql" <<'EOF'
-- The guides' model: merge on order_date, the new orders since the last run.
{{ config(materialized='incremental', unique_key='order_date', incremental_strategy='merge') }}
select order_date, total_amount as revenue, created_at
from {{ source('landing', 'orders') }}
{% if is_incremental() %}
where created_at > (select max(created_at) from {{ this }})
{% endif %}
EOF
cat >"$work/wap/models/schema.yml" <<'EOF'
version: 2
models:
  - name: orders_by_day
    columns:
      - name: order_date
        tests: [unique, not_null]
EOF
# 3. A project whose snapshot writes outside the target schema.
cp -r examples/dbt "$work/snap"
rm -rf "$work/snap/target" "$work/snap/logs"

cat >"$work/tarn.yaml" <<EOF
name: dbt-workflows
workflows:
  - name: dbt_example
    steps:
      - name: build
        dbt:
          project: $work/example
          command: build
          schema: analytics
  - name: orders_wap
    steps:
      - name: models
        dbt:
          project: $work/wap
          command: build
          schema: marts
          publish: on_tests_pass
          vars: {run_day: "\${day}"}
    properties: {day: "2025-03-01"}
  - name: example_wap
    steps:
      - name: build
        dbt: {project: $work/example, schema: analytics_wap, exclude: regions_snapshot, publish: on_tests_pass}
  - name: missing_project
    steps:
      - name: build
        dbt: {project: $work/nope, schema: analytics}
  - name: snapshot_wap
    steps:
      - name: build
        dbt: {project: $work/snap, schema: analytics, publish: on_tests_pass}
EOF
cat >>"$work/tarn.yaml" <<EOF
alarms:
  - name: orders_wap_failed
    rule: workflow_failed
    target: orders_wap
EOF
tarn apply -f "$work/tarn.yaml" >"$work/apply.log" 2>&1 || { cat "$work/apply.log"; exit 1; }
tarn plan -f "$work/tarn.yaml" >"$work/plan.log" 2>&1 || true
contains "tarn plan after apply: the dbt steps round-trip" "No changes" "$work/plan.log"

t0=$(date +%s)
if run_wf dbt_example "$work/example.log"; then ok=yes; else ok=no; fi
expect "workflow with a dbt build of examples/dbt succeeds" yes "$ok"
contains "tarn workflow run shows the models" '"warehouse"."analytics"."daily_orders_merge"' "$work/example.log"
contains "tarn workflow run shows the tests" "unique_daily_orders_order_date" "$work/example.log"
contains "the summary counts them" "dbt results of step build: model success 4" "$work/example.log"
expect "its models are in the warehouse" 5 "$(psql_q 'select count(*) from analytics.sales_by_region')"
# Lineage: one OpenLineage event per model, its source a lake table.
tarn catalog lineage etl_pipeline_db.orders --downstream --json >"$work/lineage.json" 2>&1 || true
contains "lineage: the lake table's downstream has the dbt model" '"dbt.model.tarn_example.daily_orders"' "$work/lineage.json"
contains "lineage: ... and the warehouse table it wrote" '"warehouse.analytics.daily_orders"' "$work/lineage.json"
t1=$(date +%s)

# Write-audit-publish of the whole example (less its snapshot, which has
# a target_schema of its own): a seed, a late-binding view over a lake
# table, tables reading them, incremental models; twice, the second run
# incremental over the published rows.
for n in 1 2; do
  if run_wf example_wap "$work/example-wap$n.log"; then ok=yes; else ok=no; fi
  expect "examples/dbt with write-audit-publish, run $n, publishes" yes "$ok"
  if [ "$ok" = no ]; then tail -30 "$work/example-wap$n.log"; fi
  expect "... the view over the lake table, run $n" 1000 "$(psql_q 'select count(*) from analytics_wap.stg_sales')"
  expect "... the table joining it to the seed, run $n" "5/5" "$(psql_q 'select count(*) || $$/$$ || count(manager) from analytics_wap.sales_by_region')"
  expect "... the incremental models, run $n" "$(psql_q 'select count(*) from analytics.daily_orders')/$(psql_q 'select count(*) from analytics.daily_orders')" \
    "$(psql_q 'select count(*) from analytics_wap.daily_orders')/$(psql_q 'select count(distinct order_date) from analytics_wap.daily_orders_merge')"
done
expect "... its view names the published schema" "1/0" \
  "$(psql_q "select count(*) || '/' || count(*) filter (where view_definition like '%tarn_wap%') from information_schema.views where table_schema = 'analytics_wap'")"

# Write-audit-publish.
psql_q "create schema landing" >/dev/null
psql_q "create table landing.orders (order_id int, order_date date, total_amount decimal(10,2), created_at timestamp)" >/dev/null
psql_q "insert into landing.orders values (1, '2025-03-01', 10.00, '2025-03-01 10:00'), (2, '2025-03-02', 20.00, '2025-03-02 10:00'), (3, '2025-03-03', 30.00, '2025-03-03 10:00')" >/dev/null
if run_wf orders_wap "$work/wap1.log"; then ok=yes; else ok=no; fi
expect "write-audit-publish: first run publishes" yes "$ok"
expect "published marts.orders_by_day" "3/60.00" "$(psql_q 'select count(*) || $$/$$ || sum(revenue) from marts.orders_by_day')"
expect "no staging schema left" 0 "$(psql_q "select count(*) from information_schema.schemata where schema_name like 'marts%tarn_wap%'")"
# The replay: a day's orders arrive twice (a duplicate order_date).
psql_q "insert into landing.orders values (4, '2025-03-04', 40.00, '2025-03-04 10:00'), (5, '2025-03-04', 45.00, '2025-03-04 11:00')" >/dev/null
if run_wf orders_wap "$work/wap2.log"; then ok=yes; else ok=no; fi
expect "write-audit-publish: the duplicate-key replay fails the step" no "$ok"
contains "the step error names the failed test" "test unique_orders_by_day_order_date failed" "$work/wap2.log"
contains "the step error names the failing rows" "failing rows: (unique_field=2025-03-04, n_records=2)" "$work/wap2.log"
contains "the step error says nothing was published" "nothing was published" "$work/wap2.log"
expect "the published table is unchanged" "3/60.00" "$(psql_q 'select count(*) || $$/$$ || sum(revenue) from marts.orders_by_day')"
staging=$(psql_q "select schema_name from information_schema.schemata where schema_name like 'marts__tarn_wap_%'")
expect "the staging schema is kept for inspection, with the bad rows" "5" "$(psql_q "select count(*) from \"$staging\".orders_by_day")"
run_id=$(grep -o 'run wr-[^ ]*' "$work/wap2.log" | head -1 | cut -d' ' -f2)
tarn workflow run "$run_id" >"$work/wap2-run.log" 2>&1 || true
contains "tarn workflow run shows the failed test" "fail" "$work/wap2-run.log"
alarm_state() { # waits (at most 20 s) for the alarm's state to be $1
  for _ in $(seq 100); do
    tarn alarm get orders_wap_failed >"$work/alarm.log" 2>&1 || true
    if grep -q "alarm orders_wap_failed: $1" "$work/alarm.log"; then echo "$1"; return; fi
    sleep 0.2
  done
  head -3 "$work/alarm.log"
}
expect "the failed run fires the workflow_failed alarm" ALARM "$(alarm_state ALARM)"
if [ -n "${TARN_DBT_TESTDATA:-}" ]; then
  mkdir -p "$TARN_DBT_TESTDATA"
  art=$(ls -d "$work/data/dbt/$run_id"/models-*/target | tail -1)
  cp "$art/run_results.json" "$TARN_DBT_TESTDATA/wap_fail_run_results.json"
  # The manifest less dbt's own macros (400 kB of them).
  .venv/bin/python -c 'import json, sys; m = json.load(open(sys.argv[1])); m["macros"] = {}; json.dump(m, open(sys.argv[2], "w"), indent=1)' \
    "$art/manifest.json" "$TARN_DBT_TESTDATA/wap_fail_manifest.json"
fi
# The fix: the duplicate is removed and an old landing row deleted, so that
# only an incremental run over the published rows gives 4 days (a full
# rebuild would give 3).
psql_q "delete from landing.orders where order_id in (1, 5)" >/dev/null
if run_wf orders_wap "$work/wap3.log"; then ok=yes; else ok=no; fi
expect "write-audit-publish: the fixed replay publishes" yes "$ok"
expect "published incrementally over the published rows" "4/100.00" "$(psql_q 'select count(*) || $$/$$ || sum(revenue) from marts.orders_by_day')"
expect "the alarm clears after the run that published" OK "$(alarm_state OK)"
expect "the failed run's staging schema is gone" 0 "$(psql_q "select count(*) from information_schema.schemata where schema_name like 'marts%tarn_wap%'")"

# A key that may build in its staging schemas but not replace the
# published table: the publish fails as a whole, nothing changes.
cat >"$work/policy.json" <<'EOF'
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["glue:*Workflow*", "athena:*"], "Resource": "*"},
  {"Effect": "Allow", "Action": "redshift:*", "Resource": ["arn:aws:glue:*:*:database/marts__tarn_wap_*", "arn:aws:glue:*:*:table/marts__tarn_wap_*/*"]},
  {"Effect": "Allow", "Action": "redshift:ReadData", "Resource": ["arn:aws:glue:*:*:table/landing/*", "arn:aws:glue:*:*:table/marts/*"]}]}
EOF
tarn keys create modeler --policy "$work/policy.json" >"$work/key.log" 2>&1 || { cat "$work/key.log"; exit 1; }
modeler=$(grep -o 'AWS_ACCESS_KEY_ID=[A-Z0-9]*' "$work/key.log" | cut -d= -f2)
token=$(tarn keys token "$modeler" 2>/dev/null)
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "http://127.0.0.1:$api_port/api/v1/workflows" \
  -d "{\"name\": \"orders_wap_modeler\", \"steps\": [{\"name\": \"models\", \"dbt\": {\"project\": \"$work/wap\", \"schema\": \"marts\", \"publish\": \"on_tests_pass\"}}]}" >"$work/create.log" 2>&1 ||
  { echo "FAIL cannot create the modeler's workflow"; cat "$work/create.log"; failed=$((failed + 1)); }
psql_q "insert into landing.orders values (6, '2025-03-05', 50.00, '2025-03-05 10:00')" >/dev/null
if run_wf orders_wap_modeler "$work/modeler.log"; then ok=yes; else ok=no; fi
expect "a key that may not replace the published table: the step fails" no "$ok"
contains "... at the publish, naming the right" "may not redshift:CreateTable on arn:aws:glue:*:*:table/marts/orders_by_day" "$work/modeler.log"
expect "... and nothing changed" "4/100.00" "$(psql_q 'select count(*) || $$/$$ || sum(revenue) from marts.orders_by_day')"

# Clear errors.
if run_wf missing_project "$work/missing.log"; then ok=yes; else ok=no; fi
expect "a missing project fails the step" no "$ok"
contains "... saying so" "no dbt project at $work/nope" "$work/missing.log"
if run_wf snapshot_wap "$work/snap.log"; then ok=yes; else ok=no; fi
expect "a snapshot outside the staging schema fails write-audit-publish" no "$ok"
contains "... naming it" "snapshot regions_snapshot writes to schema \"snapshots\"" "$work/snap.log"
t2=$(date +%s)

echo "dbt workflows: example build step in $((t1 - t0))s, all in $((t2 - t0))s"
echo "dbt-workflow: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  tail -50 "$work/serve.log"
fi
[ "$failed" -eq 0 ]
