"""The guides' boto3 code, run against tarn with only the endpoint changed.

Run by TestProcessClients with TARN_ENDPOINT, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY set; prints one JSON object with what it saw.
"""
import json
import os
import sys
import time

import boto3

ENDPOINT = os.environ["TARN_ENDPOINT"]
session = boto3.session.Session(region_name="us-east-1")
athena = session.client("athena", endpoint_url=ENDPOINT)
glue = session.client("glue", endpoint_url=ENDPOINT)


def run_athena_query(sql, database, output="s3://lake/athena-results/"):
    """Start a query, poll it to its end, and return its rows (header first)."""
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": output},
    )["QueryExecutionId"]
    for _ in range(3000):
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.01)
    if status["State"] != "SUCCEEDED":
        raise RuntimeError(f"query {qid} {status['State']}: {status.get('StateChangeReason')}")
    rows = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid, PaginationConfig={"PageSize": 2}):
        for row in page["ResultSet"]["Rows"]:
            rows.append([d.get("VarCharValue") for d in row["Data"]])
    return rows


def handler(event, context):
    """An S3-event handler: each new object starts the curation job on it."""
    runs = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = record["s3"]["object"]["key"]
        resp = glue.start_job_run(
            JobName="curate",
            Arguments={"--source_path": f"s3://{bucket}/{key}", "--target_path": "s3://lake/curated/sales/"},
        )
        runs.append(resp["JobRunId"])
    return runs


def main():
    out = {"rows": run_athena_query("SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region", "guide")}
    event = {"Records": [{"s3": {"bucket": {"name": "lake"}, "object": {"key": "raw/sales/sales.csv"}}}]}
    run_id = handler(event, None)[0]
    for _ in range(3000):
        run = glue.get_job_run(JobName="curate", RunId=run_id)["JobRun"]
        if run["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING"):
            break
        time.sleep(0.01)
    out["job_state"] = run["JobRunState"]
    out["job_error"] = run.get("ErrorMessage", "")
    out["job_args"] = run["Arguments"]
    # PyAthena's DB API cursor over the same endpoint.
    from pyathena import connect

    cur = connect(s3_staging_dir="s3://lake/athena-results/", region_name="us-east-1", endpoint_url=ENDPOINT,
                  schema_name="guide", poll_interval=0.01).cursor()
    cur.execute("SELECT region, count(*) AS n FROM sales WHERE region = %(r)s GROUP BY region", {"r": "east"})
    out["pyathena_description"] = [[d[0], d[1]] for d in cur.description]
    out["pyathena_rows"] = [list(r) for r in cur.fetchall()]
    # awswrangler's default CTAS approach: a temporary CTAS table in
    # Parquet, found through the query's data manifest, then dropped; and
    # its CSV approach, which reads the query's CSV result.
    import awswrangler as wr

    wr.config.athena_endpoint_url = wr.config.glue_endpoint_url = wr.config.s3_endpoint_url = ENDPOINT
    sql = "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region"
    df = wr.athena.read_sql_query(sql, database="guide", boto3_session=session)
    out["wrangler"] = json.loads(df.sort_values("region").to_json(orient="records"))
    df = wr.athena.read_sql_query(sql, database="guide", ctas_approach=False, boto3_session=session)
    out["wrangler_csv"] = json.loads(df.to_json(orient="records"))
    out["wrangler_tables"] = sorted(wr.catalog.tables(database="guide", boto3_session=session)["Table"])
    out["wrangler_databases"] = list(wr.catalog.databases(boto3_session=session)["Database"])
    try:
        glue.get_table(DatabaseName="guide", Name="missing")
        out["missing"] = "no error"
    except glue.exceptions.EntityNotFoundException as e:
        out["missing"] = e.response["Error"]["Code"]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
