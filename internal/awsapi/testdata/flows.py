"""Glue workflows and IAM from boto3, against tarn with only the endpoint changed.

Run by TestProcessClients after the guide's job "curate" exists; prints one
JSON object with what it saw.
"""
import json
import os
import time

import boto3
from botocore.exceptions import ClientError

ENDPOINT = os.environ["TARN_ENDPOINT"]
session = boto3.session.Session(region_name="us-east-1")
glue = session.client("glue", endpoint_url=ENDPOINT)
iam = session.client("iam", endpoint_url=ENDPOINT)
out = {}

glue.create_workflow(Name="py-flow", DefaultRunProperties={"source_path": "s3://lake/raw/sales/"})
glue.create_trigger(Name="py-start", WorkflowName="py-flow", Type="ON_DEMAND",
                    Actions=[{"JobName": "curate", "Arguments": {"--source_path": "${source_path}"}}])
run_id = glue.start_workflow_run(Name="py-flow")["RunId"]
for _ in range(3000):
    run = glue.get_workflow_run(Name="py-flow", RunId=run_id, IncludeGraph=True)["Run"]
    if run["Status"] != "RUNNING":
        break
    time.sleep(0.02)
out["workflow_status"] = run["Status"]
out["workflow_succeeded"] = run["Statistics"]["SucceededActions"]
out["started_on_is_datetime"] = hasattr(run["StartedOn"], "year")
out["graph_types"] = sorted({n["Type"] for n in run["Graph"]["Nodes"]})
out["triggers"] = glue.list_triggers(DependentJobName="curate")["TriggerNames"]
glue.delete_trigger(Name="py-start")
glue.delete_workflow(Name="py-flow")

iam.create_user(UserName="py-bot")
key = iam.create_access_key(UserName="py-bot")["AccessKey"]
iam.put_user_policy(UserName="py-bot", PolicyName="read", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "glue:GetDatabases", "Resource": "*"}]}))
out["policy"] = iam.get_user_policy(UserName="py-bot", PolicyName="read")["PolicyDocument"]["Statement"][0]["Action"]
bot = boto3.session.Session(region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"]).client("glue", endpoint_url=ENDPOINT)
out["bot_databases"] = [d["Name"] for d in bot.get_databases()["DatabaseList"]]
try:
    bot.create_database(DatabaseInput={"Name": "nope"})
    out["bot_create"] = "allowed"
except ClientError as e:
    out["bot_create"] = e.response["Error"]["Code"]
try:
    boto3.session.Session(region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"]).client("iam", endpoint_url=ENDPOINT).list_users()
    out["bot_iam"] = "allowed"
except ClientError as e:
    out["bot_iam"] = e.response["Error"]["Code"]
iam.update_access_key(UserName="py-bot", AccessKeyId=key["AccessKeyId"], Status="Inactive")
try:
    bot.get_databases()
    out["inactive"] = "allowed"
except ClientError as e:
    out["inactive"] = e.response["Error"]["Code"]
out["users"] = [u["UserName"] for u in iam.list_users()["Users"]]
iam.delete_user_policy(UserName="py-bot", PolicyName="read")
iam.delete_access_key(UserName="py-bot", AccessKeyId=key["AccessKeyId"])
iam.delete_user(UserName="py-bot")

# CloudWatch: botocore sends it in AWS JSON 1.0 (or RPC v2 CBOR, by version).
cw = session.client("cloudwatch", endpoint_url=ENDPOINT)
out["cw_protocol"] = getattr(cw.meta.service_model, "resolved_protocol", cw.meta.service_model.protocol)
cw.put_metric_alarm(AlarmName="py-curate-failed", Namespace="Glue", MetricName="glue.driver.aggregate.numFailedTasks",
                    Dimensions=[{"Name": "JobName", "Value": "curate"}], Statistic="Sum", Period=300, EvaluationPeriods=1,
                    Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold")
alarm = cw.describe_alarms(AlarmNames=["py-curate-failed"])["MetricAlarms"][0]
out["cw_alarm"] = [alarm["AlarmName"], alarm["Dimensions"][0]["Value"], alarm["Threshold"], alarm["Period"],
                   hasattr(alarm["StateUpdatedTimestamp"], "year")]
out["cw_metrics"] = [m["Dimensions"][0]["Value"] for m in cw.list_metrics(Namespace="Glue", MetricName="glue.driver.aggregate.numFailedTasks")["Metrics"]]
now = time.time()
points = cw.get_metric_statistics(Namespace="Glue", MetricName="glue.driver.aggregate.numFailedTasks",
                                  Dimensions=[{"Name": "JobName", "Value": "curate"}], StartTime=now - 3600, EndTime=now + 3600,
                                  Period=7200, Statistics=["SampleCount", "Sum"])["Datapoints"]
out["cw_points"] = [[p["SampleCount"], p["Sum"]] for p in points]
try:
    cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    out["cw_missing"] = "allowed"
except ClientError as e:
    out["cw_missing"] = e.response["Error"]["Code"]
cw.delete_alarms(AlarmNames=["py-curate-failed"])
out["cw_left"] = len(cw.describe_alarms()["MetricAlarms"])
print(json.dumps(out))
