"""Emits a START and a COMPLETE event with openlineage-python's HTTP
transport to tarn's REST API, as dbt-ol and Airflow do. Arguments: the
API's base URL and a bearer token (tarn keys token ACCESS_KEY_ID)."""
import sys
import uuid
from datetime import datetime, timezone

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import job_type_job, output_statistics_output_dataset, sql_job
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

url, token = sys.argv[1], sys.argv[2]
client = OpenLineageClient(transport=HttpTransport(HttpConfig(
    url=url, endpoint="api/v1/lineage", auth=ApiKeyTokenProvider({"apiKey": token}))))
run = Run(runId=str(uuid.uuid4()))
job = Job(namespace="airflow", name="orders_dag.daily_report",
          facets={"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType="TASK"),
                  "sql": sql_job.SQLJobFacet(query="INSERT INTO curated.report SELECT * FROM curated.daily")})
producer = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
now = lambda: datetime.now(timezone.utc).isoformat()
client.emit(RunEvent(eventType=RunState.START, eventTime=now(), run=run, job=job, producer=producer,
                     inputs=[InputDataset(namespace="awsathena://athena.us-east-1.amazonaws.com", name="awsdatacatalog.curated.daily")]))
client.emit(RunEvent(eventType=RunState.COMPLETE, eventTime=now(), run=run, job=job, producer=producer,
                     outputs=[OutputDataset(namespace="tarn://lake", name="curated.report",
                                            outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=42, size=1234)})]))
print(run.runId)
