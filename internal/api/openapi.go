package api

import "encoding/json"

// openAPI is the OpenAPI 3 document served at /api/openapi.json. Every
// operation is signed with AWS Signature V4 (any region, service
// "execute-api"), with the same access keys as the S3 endpoint.
var openAPI = func() []byte {
	op := func(summary string, params ...string) map[string]any {
		o := map[string]any{"summary": summary, "responses": map[string]any{
			"200": map[string]any{"description": "OK (JSON)"},
			"400": map[string]any{"description": "invalid request: {error: {code, message}}"},
			"403": map[string]any{"description": "AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId"},
			"404": map[string]any{"description": "not found"},
			"409": map[string]any{"description": "AlreadyExists, Conflict (a run in progress, a run that is not running)"},
		}}
		var ps []map[string]any
		for _, p := range params {
			in := "path"
			if p[0] == '?' {
				in, p = "query", p[1:]
			}
			ps = append(ps, map[string]any{"name": p, "in": in, "required": in == "path", "schema": map[string]string{"type": "string"}})
		}
		if len(ps) > 0 {
			o["parameters"] = ps
		}
		return o
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "tarn REST API", "version": "1"},
		"components": map[string]any{"securitySchemes": map[string]any{"sigv4": map[string]any{
			"type": "apiKey", "name": "Authorization", "in": "header", "description": "AWS Signature Version 4 (AWS4-HMAC-SHA256)"}}},
		"security": []map[string]any{{"sigv4": []string{}}},
		"paths": map[string]any{
			"/api/v1/queries": map[string]any{
				"post": op("Start a query execution: body {sql, database, workgroup, result_reuse_minutes}; returns {id}"),
				"get":  op("List recent query executions", "?limit"),
			},
			"/api/v1/queries/summary":                             map[string]any{"get": op("Data scanned and cost per access key and workgroup")},
			"/api/v1/queries/{id}":                                map[string]any{"get": op("A query execution: state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), reason, statistics; with ?wait=SECONDS (at most 20) answered once the query has ended or the wait is over", "id"), "delete": op("Cancel a query", "id")},
			"/api/v1/queries/{id}/results":                        map[string]any{"get": op("A page of a succeeded query's results", "id", "?next_token", "?max_results")},
			"/api/v1/queries/{id}/download":                       map[string]any{"get": op("A succeeded query's whole result as a file: format=csv (the stored CSV) or parquet (with the result's column types); Content-Disposition: attachment", "id", "?format")},
			"/api/v1/workgroups":                                  map[string]any{"get": op("List workgroups"), "post": op("Create a workgroup: body {name, description, result_location, bytes_scanned_cutoff, require_partition_filter, max_concurrent, query_timeout_seconds, max_result_rows}")},
			"/api/v1/workgroups/{name}":                           map[string]any{"get": op("A workgroup", "name"), "put": op("Change a workgroup in place: body as for create (athena:UpdateWorkGroup)", "name"), "delete": op("Delete a workgroup", "name")},
			"/api/v1/databases":                                   map[string]any{"get": op("List databases")},
			"/api/v1/databases/{db}/tables":                       map[string]any{"get": op("List a database's tables", "db")},
			"/api/v1/databases/{db}/tables/{table}":               map[string]any{"get": op("A table", "db", "table")},
			"/api/v1/databases/{db}/tables/{table}/partitions":    map[string]any{"get": op("A table's partitions", "db", "table")},
			"/api/v1/databases/{db}/tables/{table}/versions":      map[string]any{"get": op("A table's schema versions with typed changes", "db", "table")},
			"/api/v1/databases/{db}/tables/{table}/skipped-files": map[string]any{"get": op("Files under the table's location that its crawler could not read (left out of the table)", "db", "table")},
			"/api/v1/buckets":                                     map[string]any{"get": op("List buckets")},
			"/api/v1/buckets/{bucket}/objects":                    map[string]any{"get": op("List objects' metadata", "bucket", "?prefix", "?delimiter", "?continuation_token", "?max_keys")},
			"/api/v1/crawlers":                                    map[string]any{"get": op("List crawlers"), "post": op("Create a crawler: body {name, database, targets, exclusions, schema_change_policy, delete_behavior, recrawl_policy, description}")},
			"/api/v1/crawlers/{name}":                             map[string]any{"get": op("A crawler", "name"), "put": op("Change a crawler in place (glue:UpdateCrawler): the fields the body has (as for POST) replace the crawler's, the others stay", "name"), "delete": op("Delete a crawler (its tables stay)", "name")},
			"/api/v1/crawlers/{name}/start":                       map[string]any{"post": op("Start a crawl in the server: body {dry_run, accept_drift}; returns {crawler, state, id} with the run's id", "name")},
			"/api/v1/crawlers/{name}/stop":                        map[string]any{"post": op("Stop the crawler's running crawl (glue:StopCrawler); the run ends CANCELLED", "name")},
			"/api/v1/crawler-runs/{id}":                           map[string]any{"get": op("A crawler run, with {progress} while it runs in this server", "id")},
			"/api/v1/crawlers/{name}/runs":                        map[string]any{"get": op("A crawler's runs, newest first", "name")},
			"/api/v1/jobs":                                        map[string]any{"get": op("List jobs"), "post": op("Create a job (its SQL is checked against the catalog): body as GET /api/v1/jobs/{name}; timeout in nanoseconds or as \"2h\"")},
			"/api/v1/jobs/{name}":                                 map[string]any{"get": op("A job", "name"), "put": op("Change a job in place (glue:UpdateJob), keeping its runs and bookmarks: the fields the body has (as for POST) replace the job's, the others stay; the SQL is checked as at create", "name"), "delete": op("Delete a job, its runs and bookmark (its output stays)", "name")},
			"/api/v1/jobs/{name}/start":                           map[string]any{"post": op("Start a job run in the server: body {args}; returns {job, state, id} with the first attempt's run id", "name")},
			"/api/v1/jobs/{name}/reset-bookmark":                  map[string]any{"post": op("Forget the files a job processed; returns {job, files_forgotten}", "name")},
			"/api/v1/jobs/{name}/runs":                            map[string]any{"get": op("A job's runs, newest first", "name")},
			"/api/v1/job-runs/{id}":                               map[string]any{"get": op("A job run with its statistics and log; while it runs in this server also {progress}; a failed attempt names the next one (next_attempt) or says one may follow (retrying)", "id")},
			"/api/v1/job-runs/{id}/log":                           map[string]any{"get": op("A job run's log so far: {id, job, state, log}", "id")},
			"/api/v1/job-runs/{id}/stop":                          map[string]any{"post": op("Stop a job run", "id")},
			"/api/v1/keys":                                        map[string]any{"get": op("List access keys without secrets (iam:ListAccessKeys)"), "post": op("Create an access key: body {name, policy} (IAM document); the answer has the secret, once (iam:CreateAccessKey)")},
			"/api/v1/keys/{id}":                                   map[string]any{"delete": op("Delete an access key (iam:DeleteAccessKey)", "id")},
			"/api/v1/lineage": map[string]any{
				"post": op("Record an OpenLineage RunEvent (body as openlineage-python and dbt-ol send it: eventType, eventTime, run {runId, facets}, job {namespace, name, facets}, inputs, outputs); tarn:PutLineage on each output, read access to each input; returns {runId, eventType}"),
				"get":  op("The lineage graph around a catalog table: {root, direction, depth, nodes [{dataset, depth, hidden, write}], edges [{input, output, job_namespace, job_name, run_id, event_time, rows}], events}; glue:GetTable on it; datasets the key may not read are hidden", "?table", "?direction", "?depth", "?events")},
			"/api/v1/workflows": map[string]any{"get": op("List workflows (glue:ListWorkflows)"),
				"post": op("Create a workflow: body {name, description, max_concurrent_runs, max_parallel_steps, properties, steps: [{name, crawler | job + args | sql + database + workgroup, depends_on, condition, retries, retry_delay, backoff_rate, timeout}]}")},
			"/api/v1/workflows/{name}":        map[string]any{"get": op("A workflow", "name"), "put": op("Replace a workflow's definition (runs keep theirs)", "name"), "delete": op("Delete a workflow no trigger starts", "name")},
			"/api/v1/workflows/{name}/start":  map[string]any{"post": op("Queue a run: body {properties}; the server's scheduler executes it; returns the run", "name")},
			"/api/v1/workflows/{name}/runs":   map[string]any{"get": op("A workflow's runs with their steps, newest first", "name", "?limit")},
			"/api/v1/workflow-runs":           map[string]any{"get": op("The runs of every workflow the key may read runs of, newest first (?limit=, default 100)")},
			"/api/v1/workflow-runs/{id}":      map[string]any{"get": op("A workflow run: state (QUEUED, RUNNING, SUCCEEDED, FAILED, STOPPED), properties, steps", "id")},
			"/api/v1/workflow-runs/{id}/stop": map[string]any{"post": op("Stop a workflow run", "id")},
			"/api/v1/triggers": map[string]any{"get": op("List triggers with last and next firing"),
				"post": op("Create a trigger: body {name, type (SCHEDULED, EVENT, ON_DEMAND), workflow | job | crawler, properties, schedule, timezone, prefix, suffix, batch_size, batch_window, poll, enabled}")},
			"/api/v1/triggers/{name}":         map[string]any{"get": op("A trigger with its scheduling state", "name"), "put": op("Replace a trigger's definition", "name"), "delete": op("Delete a trigger", "name")},
			"/api/v1/triggers/{name}/start":   map[string]any{"post": op("Fire a trigger now: body {properties}; returns the run (glue:StartTrigger)", "name")},
			"/api/v1/triggers/{name}/enable":  map[string]any{"post": op("Enable a trigger", "name")},
			"/api/v1/triggers/{name}/disable": map[string]any{"post": op("Disable a trigger", "name")},
			"/api/v1/events":                  map[string]any{"get": op("The ingestion ledger, newest first, with the runs each event started (tarn:ListEvents)", "?prefix", "?after", "?limit")},
			"/api/v1/events/replay":           map[string]any{"post": op("Deliver events to a trigger again: body {trigger, ids} (tarn:ReplayEvents)")},
			"/api/v1/alarms": map[string]any{"get": op("List alarms with their state (cloudwatch:DescribeAlarms)"),
				"post": op("Create an alarm: body {name, description, rule, target, threshold, max_age, webhook} (cloudwatch:PutMetricAlarm)")},
			"/api/v1/alarms/{name}":         map[string]any{"get": op("An alarm with its state", "name"), "put": op("Replace an alarm's definition", "name"), "delete": op("Delete an alarm", "name")},
			"/api/v1/alarms/{name}/history": map[string]any{"get": op("An alarm's transitions and notifications, newest first", "name", "?limit")},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}()
