#!/usr/bin/env bash
# The heavy dbt-athena target (make test-dbt-athena, issue 16): the example
# project (examples/dbt-athena) run by real dbt-core and dbt-athena
# (.ci/requirements-dbt.txt, installed into .venv by .ci/run) against a real
# `tarn serve` over a fresh quickstart lake, through tarn's Athena, Glue, STS
# and S3 APIs; the results are checked with `tarn query`. Then: new raw
# orders arrive and the second run is incremental (only the new days' files
# scanned), a seed row changes and the snapshot records it, a duplicate-key
# replay makes the unique test fail, and a key without glue:CreateTable is
# refused. Known gaps of tarn are reported by gap() and fail the run only
# with TARN_DBT_STRICT=1 (docs/dbt.md#dbt-athena says why they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
source .ci/dbt-lib.sh
if [ ! -x "$dbt" ] || ! "$py" -c 'import dbt.adapters.athena' 2>/dev/null; then
  echo "no dbt-athena in .venv: .ci/run installs it (.ci/requirements-dbt.txt)" >&2
  exit 1
fi

build_tarn quickstart
export TARN_ACCESS_KEY_ID=TKDBTATHENA000000001
export TARN_SECRET_ACCESS_KEY=dbtathenasecretdbtathenasecret0000000000
serve_tarn

# The project is copied so that its target/ and logs/ stay out of the tree.
cp -r examples/dbt-athena "$work/project"
rm -rf "$work/project/target" "$work/project/logs"
cd "$work/project"
# dbt-athena's Athena client takes the profile's endpoint_url; its Glue, STS
# and S3 clients take boto3's AWS_ENDPOINT_URL.
export AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=$TARN_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TARN_SECRET_ACCESS_KEY \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
  DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false
q() { tarn query --format csv "$1" 2>/dev/null | tail -n +2 | paste -sd' ' -; }
# glue_table DB TABLE EXPR: EXPR of the Glue table t, read with boto3.
glue_table() { "$py" -c "import boto3,sys; t = boto3.client('glue').get_table(DatabaseName=sys.argv[1], Name=sys.argv[2])['Table']; print(*[$3])" "$1" "$2"; }
# scanned MODEL: the data scanned by a model's last build, from run_results.json.
scanned() { "$py" -c "import json,sys; r=[x for x in json.load(open('target/run_results.json'))['results'] if x['unique_id'].endswith('.'+sys.argv[1])]; print(r[0]['adapter_response'].get('data_scanned_in_bytes', ''))" "$1"; }

dbt_log_grep=("Error running SQL\|Traceback" -A12)
dbt_doc=docs/dbt.md#dbt-athena
refused() { # name expected-output command...: the command must fail, saying want
  local name=$1 want=$2
  shift 2
  if "$@" >"$work/step.log" 2>&1; then
    failed=$((failed + 1))
    echo "FAIL $name: it succeeded"
  elif grep -q "$want" "$work/step.log" logs/dbt.log; then
    pass "$name"
  else
    failed=$((failed + 1))
    echo "FAIL $name (not failing with '$want')"
    tail -30 "$work/step.log"
  fi
}

t0=$(date +%s)
step "dbt debug" "$dbt" debug --profiles-dir .
step "dbt build (first run: seed, models, snapshot, tests)" "$dbt" build --profiles-dir .
t1=$(date +%s)
first_scan=$(scanned daily_orders)
step "dbt docs generate" "$dbt" docs generate --profiles-dir .
expect "catalog.json lists the models, seed, snapshot and sources" "8 2" \
  "$("$py" -c "import json; c = json.load(open('target/catalog.json')); print(len(c['nodes']), len(c['sources']))")"
expect "catalog.json has the Glue columns of the Iceberg model" "order_date:date orders:bigint revenue:double" \
  "$("$py" -c "import json; c = json.load(open('target/catalog.json'))['nodes']['model.tarn_athena_example.daily_orders']['columns']; print(' '.join(k + ':' + v['type'] for k, v in sorted(c.items(), key=lambda x: x[1]['index'])))")"

# The results, read back with tarn query.
expect "seed analytics.regions" 5 "$(q 'select count(*) from analytics.regions')"
expect "view analytics.stg_sales" 1000 "$(q 'select count(*) from analytics.stg_sales')"
expect "tables live under s3_data_dir (Glue GetTable)" "s3://lake/analytics/dbt/analytics/orders_log/ EXTERNAL_TABLE" \
  "$(glue_table analytics orders_log "t['StorageDescriptor']['Location'], t['TableType']")"
ha_location() { glue_table analytics sales_by_region "t['StorageDescriptor']['Location']"; }
ha_first=$(ha_location)
expect "views are Glue VIRTUAL_VIEWs" "VIRTUAL_VIEW" "$(glue_table analytics stg_sales "t['TableType']")"
expect "table analytics.sales_by_region = the lake's revenue per region" \
  "$(q "select region || '=' || cast(round(sum(quantity * unit_price), 2) as varchar) from etl_pipeline_db.sales group by region order by region")" \
  "$(q "select region || '=' || cast(revenue as varchar) from analytics.sales_by_region where manager is not null order by region")"
orders_per_day="select count(distinct cast(order_date as date)) || '/' || count(*) from etl_pipeline_db.orders"
expect "incremental (merge, Iceberg) analytics.daily_orders = the lake's orders per day" \
  "$(q "$orders_per_day")" "$(q "select count(*) || '/' || sum(orders) from analytics.daily_orders")"
expect "analytics.daily_orders is an Iceberg table" "ICEBERG" "$(glue_table analytics daily_orders "t['Parameters']['table_type'].upper()")"
expect "incremental (append) analytics.orders_log = the orders with an id" \
  "$(q 'select count(*) from etl_pipeline_db.orders where order_id is not null')" "$(q 'select count(*) from analytics.orders_log')"
orders_per_month="select order_month || ':' || cast(sum(orders) as varchar) from analytics.orders_by_month group by order_month order by order_month"
lake_per_month="select m || ':' || cast(n as varchar) from (select date_format(order_date, '%Y-%m') as m, count(*) as n from etl_pipeline_db.orders group by 1) order by 1"
expect "incremental (insert_overwrite, partitioned Hive) analytics.orders_by_month" "$(q "$lake_per_month")" "$(q "$orders_per_month")"
expect "snapshot snapshots.regions_snapshot" "5" "$(q 'select count(*) from snapshots.regions_snapshot where dbt_valid_to is null')"

# New orders arrive: a day after the last one (a new partition of the raw
# table), and one more order on the last day.
cat >"$work/new.json" <<'EOF'
{"order_id":"ORD-20250401-0000","customer_id":"CUST00001","order_date":"2025-04-01T08:00:00Z","status":"PLACED","customer":{"name":"N","email":"n@example.com","zip_code":"00001"},"items":[],"total_amount":10.5,"tags":[]}
{"order_id":"ORD-20250401-0001","customer_id":"CUST00002","order_date":"2025-04-01T09:30:00Z","status":"PLACED","customer":{"name":"M","email":"m@example.com","zip_code":"00002"},"items":[],"total_amount":20.25,"tags":[]}
EOF
cat >"$work/late.json" <<'EOF'
{"order_id":"ORD-20250331-9999","customer_id":"CUST00003","order_date":"2025-03-31T23:59:00Z","status":"PLACED","customer":{"name":"L","email":"l@example.com","zip_code":"00003"},"items":[],"total_amount":5.0,"tags":[]}
EOF
tarn cp "$work/new.json" s3://lake/raw/orders/year=2025/month=04/day=01/orders.json >/dev/null 2>&1
tarn cp "$work/late.json" s3://lake/raw/orders/year=2025/month=03/day=31/late.json >/dev/null 2>&1
tarn query "ALTER TABLE etl_pipeline_db.orders ADD PARTITION (year=2025, month=4, day=1) LOCATION 's3://lake/raw/orders/year=2025/month=04/day=01/'" >/dev/null 2>&1
expect "the raw table has the new orders" 1803 "$(q 'select count(*) from etl_pipeline_db.orders')"

step "dbt run (second run: incremental merge, append, insert_overwrite; view and table replaced)" "$dbt" run --profiles-dir .
expect "daily_orders after its second run: the last day rebuilt, the new day added, none twice" \
  "$(q "$orders_per_day")/91" "$(q "select count(*) || '/' || sum(orders) || '/' || count(distinct order_date) from analytics.daily_orders")"
expect "daily_orders' last days" "2025-03-31:$(q "select count(*) from etl_pipeline_db.orders where cast(order_date as date) = date '2025-03-31'") 2025-04-01:2" \
  "$(q "select cast(order_date as varchar) || ':' || cast(orders as varchar) from analytics.daily_orders where order_date >= date '2025-03-31' order by 1")"
second_scan=$(scanned daily_orders)
expect "the second run of daily_orders scanned only the last two days' files (first run $first_scan bytes, second $second_scan)" yes \
  "$([ -n "$second_scan" ] && [ "$second_scan" -gt 0 ] && [ $((second_scan * 20)) -lt "$first_scan" ] && echo yes || echo no)"
# (The raw orders hold the guides' duplicated orders too: the log keeps them.)
dups="select count(*) || chr(47) || (count(*) - count(distinct order_id))"
expect "orders_log after its second run: the three new orders appended" \
  "$(q "$dups from etl_pipeline_db.orders where order_id is not null")" "$(q "$dups from analytics.orders_log")"
expect "orders_by_month after its second run: March rewritten, April added, January and February kept" \
  "$(q "$lake_per_month")" "$(q "$orders_per_month")"
expect "sales_by_region after its second run (ha: swapped to a new location)" "5 yes" \
  "$(q 'select count(*) from analytics.sales_by_region') $([ "$(ha_location)" != "$ha_first" ] && echo yes || echo no)"
expect "sales_iceberg after its second run (Iceberg: renamed in)" "1000 ICEBERG" \
  "$(q 'select count(*) from analytics.sales_iceberg') $(glue_table analytics sales_iceberg "t['Parameters']['table_type'].upper()")"

# A seed row changes: the snapshot closes the old version and adds the new.
sed -i 's/^North,Ana$/North,Zoe/' seeds/regions.csv
step "dbt seed + snapshot (second run: one region's manager changed)" sh -c "'$dbt' seed --profiles-dir . && '$dbt' snapshot --profiles-dir ."
expect "snapshot keeps the old row and adds the new one" "6 5 Zoe" \
  "$(q "select count(*) || ' ' || count_if(dbt_valid_to is null) || ' ' || max(case when region = 'North' and dbt_valid_to is null then manager end) from snapshots.regions_snapshot")"
step "dbt run sales_by_region (third run, after the seed change: ha swap)" "$dbt" run --profiles-dir . --select sales_by_region
expect "the swapped table reads its new version (North's manager is Zoe)" "Zoe 5" \
  "$(q "select max(case when region = 'North' then manager end) || ' ' || cast(count(*) as varchar) from analytics.sales_by_region")"
step "dbt test (after the second runs)" "$dbt" test --profiles-dir .
t2=$(date +%s)

step "dbt run --full-refresh (the Iceberg incremental rebuilt beside the live table, then swapped)" "$dbt" run --profiles-dir . --select daily_orders --full-refresh
expect "daily_orders after a full refresh" "$(q "$orders_per_day")" "$(q "select count(*) || '/' || sum(orders) from analytics.daily_orders")"

# A Hive incremental model whose columns grow (on_schema_change).
mkdir -p models/grow
cat >models/grow/grows.sql <<'EOF'
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns') }}
select region, count(*) as n {% if var('grow', false) %}, sum(quantity) as q{% endif %} from {{ source('raw', 'sales') }} group by region
EOF
step "dbt run of a Hive incremental model (first run)" "$dbt" run --profiles-dir . --select grows
step "dbt run of the Hive incremental model with a new column (on_schema_change=append_new_columns: ALTER TABLE ADD COLUMNS)" \
  "$dbt" run --profiles-dir . --select grows --vars '{grow: true}'
expect "the grown model: the first run's rows read q as NULL, the second run's carry it" \
  "$(q "select count(distinct region) || '/' || count(distinct region) || '/' || sum(quantity) from etl_pipeline_db.sales")" \
  "$(q "select count(*) filter (where q is null) || '/' || count(*) filter (where q is not null) || '/' || sum(q) from analytics.grows")"
rm -rf models/grow

# The guides' failure case: a replayed load duplicates a day; the unique
# test on the merge key catches it.
tarn query "INSERT INTO analytics.daily_orders SELECT * FROM analytics.daily_orders WHERE order_date = date '2025-03-31'" >/dev/null 2>&1
refused "a duplicate-key replay fails the unique test" "FAIL 1 unique_daily_orders_order_date" \
  "$dbt" test --profiles-dir . --select daily_orders

# A key without glue:CreateTable cannot build a model's table: dbt-athena
# run into a schema of its own (DBT_SCHEMA) creates the schema, then fails.
cat >"$work/policy.json" <<'EOF'
{"Statement": [
  {"Effect": "Allow", "Action": ["athena:*", "glue:Get*", "glue:BatchGet*", "glue:UpdateTable", "glue:DeleteTable",
    "glue:BatchDeleteTable", "glue:CreateDatabase", "s3:*", "sts:*"], "Resource": "*"}]}
EOF
created=$(tarn keys create dbt-no-create --policy "$work/policy.json" 2>/dev/null)
key_id=$(echo "$created" | sed -n 's/.*AWS_ACCESS_KEY_ID=//p')
key_secret=$(echo "$created" | sed -n 's/.*AWS_SECRET_ACCESS_KEY=//p')
refused "a key without glue:CreateTable cannot create a model's table" "may not glue:CreateTable" \
  env AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$key_secret" DBT_SCHEMA=hostile "$dbt" run --profiles-dir . --select stg_sales sales_by_region
expect "and the schema it made holds no table" "[]" \
  "$("$py" -c "import boto3; print([t['Name'] for t in boto3.client('glue').get_tables(DatabaseName='hostile')['TableList']])")"

echo "dbt-athena on tarn: first dbt build in $((t1 - t0))s, all steps in $((t2 - t0))s; $gaps known gaps"
echo "dbt-athena: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
