package awsapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

var (
	buildOnce sync.Once
	tarnBin   string
	buildErr  error
)

// buildTarn builds the real binary once for the process-level tests.
func buildTarn(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tarn-awsapi-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		tarnBin = filepath.Join(dir, "tarn")
		out, err := exec.Command("go", "build", "-o", tarnBin, "github.com/tarn-lake/tarn/cmd/tarn").CombinedOutput()
		if err != nil {
			buildErr = err
			tarnBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("cannot build tarn: %v\n%s", buildErr, tarnBin)
	}
	return tarnBin
}

// need returns a client's path, skipping the test where it is not
// installed (failing in CI, which installs it).
func need(t *testing.T, paths []string, what string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (.ci/run installs it)", what)
	}
	t.Skipf("%s is not installed", what)
	return ""
}

const (
	procKey    = "TKAWSAPIPROC00000001"
	procSecret = "awsapiprocsecretawsapiprocsecretawsapi01"
)

// serve starts tarn serve on 127.0.0.1 and returns its S3 endpoint.
func serve(t *testing.T, data string) string {
	t.Helper()
	cmd := exec.Command(buildTarn(t), "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+procKey, "TARN_SECRET_ACCESS_KEY="+procSecret)
	cmd.Env = append(cmd.Env, metatest.Env(t)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	seen, buf := "", make([]byte, 4096)
	for !strings.Contains(seen, "REST API on ") {
		n, err := stdout.Read(buf)
		seen += string(buf[:n])
		if err != nil {
			t.Fatalf("tarn serve ended: %q %s", seen, stderr.String())
		}
	}
	go func() { // keep the pipe drained
		for {
			if _, err := stdout.Read(buf); err != nil {
				return
			}
		}
	}()
	i := strings.Index(seen, "S3 endpoint on ")
	rest := seen[i+len("S3 endpoint on "):]
	return rest[:strings.IndexAny(rest, " \n")]
}

// TestProcessClients runs the guides' aws CLI commands and boto3 code
// against a real tarn serve.
func TestProcessClients(t *testing.T) {
	awsPath := ""
	if p, err := exec.LookPath("aws"); err == nil {
		awsPath = need(t, []string{"/usr/bin/aws", p}, "the aws CLI")
	} else {
		awsPath = need(t, []string{"/usr/bin/aws"}, "the aws CLI")
	}
	dir := t.TempDir()
	endpoint := serve(t, filepath.Join(dir, "lake"))
	cfg := filepath.Join(dir, "aws-config")
	os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\n"), 0o600)
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+procKey, "AWS_SECRET_ACCESS_KEY="+procSecret, "AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_DEFAULT_REGION=us-east-1")
	aws := func(args ...string) string {
		t.Helper()
		c := exec.Command(awsPath, append([]string{"--endpoint-url", endpoint, "--output", "text"}, args...)...)
		c.Env = env
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		if err := c.Run(); err != nil {
			t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, o.String(), e.String())
		}
		return strings.TrimSpace(o.String())
	}
	poll := func(want func(string) bool, args ...string) string {
		t.Helper()
		for i := 0; i < 600; i++ {
			if s := aws(args...); want(s) {
				return s
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("aws %s never reached the state wanted", strings.Join(args, " "))
		return ""
	}
	csv := filepath.Join(dir, "sales.csv")
	os.WriteFile(csv, []byte("id,region,amount\n1,east,10.5\n2,west,3\n3,east,7\n"), 0o644)
	script := filepath.Join(dir, "job.sql")
	os.WriteFile(script, []byte("SELECT region, sum(amount) AS total, ${source_path} AS source FROM guide.sales GROUP BY region"), 0o644)
	aws("s3", "mb", "s3://lake")
	aws("s3", "cp", csv, "s3://lake/raw/sales/sales.csv")
	aws("s3", "cp", script, "s3://lake/scripts/job.sql")

	aws("glue", "create-database", "--database-input", `{"Name": "guide", "Description": "the guide's"}`)
	aws("glue", "create-crawler", "--name", "raw", "--role", "arn:aws:iam::123456789012:role/glue", "--database-name", "guide",
		"--targets", `{"S3Targets": [{"Path": "s3://lake/raw/"}]}`)
	aws("glue", "start-crawler", "--name", "raw")
	poll(func(s string) bool { return s == "READY" }, "glue", "get-crawler", "--name", "raw", "--query", "Crawler.State")
	if got := aws("glue", "get-crawler", "--name", "raw", "--query", "Crawler.LastCrawl.Status"); got != "SUCCEEDED" {
		t.Fatalf("last crawl: %s", got)
	}
	if got := aws("glue", "get-table", "--database-name", "guide", "--name", "sales", "--query", "Table.StorageDescriptor.Columns[].Name"); got != "id\tregion\tamount" {
		t.Errorf("crawled columns: %q", got)
	}

	qid := aws("athena", "start-query-execution", "--query-string", "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region",
		"--query-execution-context", "Database=guide", "--result-configuration", "OutputLocation=s3://lake/athena-results/", "--query", "QueryExecutionId")
	poll(func(s string) bool { return s == "SUCCEEDED" || s == "FAILED" }, "athena", "get-query-execution", "--query-execution-id", qid, "--query", "QueryExecution.Status.State")
	if got := aws("athena", "get-query-results", "--query-execution-id", qid, "--query", "ResultSet.Rows[].Data[].VarCharValue"); got != "region\ttotal\teast\t17.5\twest\t3" {
		t.Errorf("results: %q", got)
	}
	// The result sits where Athena puts it.
	if got := aws("s3", "ls", "s3://lake/athena-results/"); !strings.Contains(got, qid+".csv.metadata") || !strings.Contains(got, qid+".csv") {
		t.Errorf("result objects: %s", got)
	}

	aws("glue", "create-job", "--name", "curate", "--role", "arn:aws:iam::123456789012:role/glue",
		"--command", "Name=glueetl,ScriptLocation=s3://lake/scripts/job.sql", "--default-arguments", `{"--target_path": "s3://lake/curated/sales/", "--source_path": "none"}`)
	runID := aws("glue", "start-job-run", "--job-name", "curate", "--arguments", `{"--source_path": "s3://lake/raw/sales/sales.csv"}`, "--query", "JobRunId")
	poll(func(s string) bool { return s == "SUCCEEDED" || s == "FAILED" }, "glue", "get-job-run", "--job-name", "curate", "--run-id", runID, "--query", "JobRun.JobRunState")
	if got := aws("glue", "get-job-runs", "--job-name", "curate", "--query", "JobRuns[0].[Id,JobRunState]"); got != runID+"\tSUCCEEDED" {
		t.Errorf("job runs: %q", got)
	}

	// The guides' workflow: the job, then a crawl of what it wrote.
	aws("glue", "create-workflow", "--name", "guide-flow", "--default-run-properties", `{"source_path": "s3://lake/raw/sales/"}`)
	aws("glue", "create-trigger", "--name", "guide-start", "--workflow-name", "guide-flow", "--type", "ON_DEMAND",
		"--actions", `[{"JobName": "curate", "Arguments": {"--source_path": "${source_path}"}}]`)
	aws("glue", "create-trigger", "--name", "guide-after", "--workflow-name", "guide-flow", "--type", "CONDITIONAL", "--start-on-creation",
		"--predicate", `{"Logical": "AND", "Conditions": [{"LogicalOperator": "EQUALS", "JobName": "curate", "State": "SUCCEEDED"}]}`, "--actions", "CrawlerName=raw")
	if got := aws("glue", "get-trigger", "--name", "guide-after", "--query", "Trigger.[Type,State,Predicate.Conditions[0].JobName,Actions[0].CrawlerName]"); got != "CONDITIONAL\tACTIVATED\tcurate\traw" {
		t.Errorf("get-trigger: %q", got)
	}
	// The same workflow, as tarn's own CLI shows it.
	cli := exec.Command(buildTarn(t), "--data", filepath.Join(dir, "lake"), "workflow", "get", "guide-flow")
	cli.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+procKey, "TARN_SECRET_ACCESS_KEY="+procSecret)
	if shown, err := cli.CombinedOutput(); err != nil || !strings.Contains(string(shown), "job curate") ||
		!regexp.MustCompile(`raw +\| crawler raw +\| all_succeeded\(curate\)`).Match(shown) {
		t.Errorf("tarn workflow get guide-flow: %v\n%q", err, shown)
	}
	wfRun := aws("glue", "start-workflow-run", "--name", "guide-flow", "--query", "RunId")
	poll(func(s string) bool { return s == "COMPLETED" || s == "STOPPED" }, "glue", "get-workflow-run", "--name", "guide-flow", "--run-id", wfRun, "--query", "Run.Status")
	if got := aws("glue", "get-workflow-run", "--name", "guide-flow", "--run-id", wfRun, "--query", "Run.Statistics.[TotalActions,SucceededActions,FailedActions]"); got != "2\t2\t0" {
		t.Errorf("workflow run statistics: %q", got)
	}
	if got := aws("glue", "get-workflow-run-properties", "--name", "guide-flow", "--run-id", wfRun, "--query", "RunProperties.source_path"); got != "s3://lake/raw/sales/" {
		t.Errorf("run properties: %q", got)
	}
	if got := aws("glue", "list-workflows", "--query", "Workflows"); got != "guide-flow" {
		t.Errorf("list-workflows: %q", got)
	}
	aws("glue", "delete-trigger", "--name", "guide-after")
	aws("glue", "delete-trigger", "--name", "guide-start")
	aws("glue", "delete-workflow", "--name", "guide-flow")

	// The guides' alarm fires when its job fails, evaluated by tarn serve.
	broken := filepath.Join(dir, "broken.sql")
	os.WriteFile(broken, []byte("SELECT CAST('not a number' AS INTEGER) AS n"), 0o644)
	aws("s3", "cp", broken, "s3://lake/scripts/broken.sql")
	aws("glue", "create-job", "--name", "broken", "--role", "arn:aws:iam::123456789012:role/glue",
		"--command", "Name=glueetl,ScriptLocation=s3://lake/scripts/broken.sql", "--default-arguments", `{"--target_path": "s3://lake/curated/broken/"}`)
	aws("cloudwatch", "put-metric-alarm", "--alarm-name", "broken-failed", "--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks",
		"--dimensions", "Name=JobName,Value=broken", "--statistic", "Sum", "--period", "300", "--evaluation-periods", "1", "--threshold", "1",
		"--comparison-operator", "GreaterThanOrEqualToThreshold")
	aws("glue", "start-job-run", "--job-name", "broken")
	alarmStart := time.Now()
	poll(func(s string) bool { return s == "ALARM" }, "cloudwatch", "describe-alarms", "--alarm-names", "broken-failed", "--query", "MetricAlarms[0].StateValue")
	t.Logf("the alarm fired %v after the job started", time.Since(alarmStart).Round(time.Second))
	aws("cloudwatch", "delete-alarms", "--alarm-names", "broken-failed")

	// A wrong secret is refused in AWS's words.
	c := exec.Command(awsPath, "--endpoint-url", endpoint, "glue", "get-databases")
	c.Env = append(env, "AWS_SECRET_ACCESS_KEY=wrongwrongwrongwrongwrongwrongwrongwrong")
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), "InvalidSignatureException") {
		t.Errorf("wrong secret: %v %s", err, out)
	}

	// The guides' boto3 code, from the virtualenv .ci/run makes.
	python := need(t, []string{"../../.venv/bin/python"}, "the .venv with boto3")
	py := exec.Command(python, "testdata/guide.py")
	py.Env = append(env, "TARN_ENDPOINT="+endpoint)
	var o, e bytes.Buffer
	py.Stdout, py.Stderr = &o, &e
	if err := py.Run(); err != nil {
		t.Fatalf("guide.py: %v\n%s", err, e.String())
	}
	var got struct {
		Rows     [][]string        `json:"rows"`
		JobState string            `json:"job_state"`
		JobError string            `json:"job_error"`
		JobArgs  map[string]string `json:"job_args"`
		Missing  string            `json:"missing"`
		PyDesc   [][]string        `json:"pyathena_description"`
		PyRows   [][]any           `json:"pyathena_rows"`
		Wrangler []map[string]any  `json:"wrangler"`
		WrCSV    []map[string]any  `json:"wrangler_csv"`
		WrTables []string          `json:"wrangler_tables"`
		WrDBs    []string          `json:"wrangler_databases"`
	}
	if err := json.Unmarshal(o.Bytes(), &got); err != nil {
		t.Fatalf("guide.py output %q: %v", o.String(), err)
	}
	if len(got.Rows) != 3 || strings.Join(got.Rows[0], ",") != "region,n" || strings.Join(got.Rows[1], ",") != "east,2" {
		t.Errorf("run_athena_query: %v", got.Rows)
	}
	if got.JobState != "SUCCEEDED" || got.JobArgs["--source_path"] != "s3://lake/raw/sales/sales.csv" {
		t.Errorf("handler's job run: %s %s %v", got.JobState, got.JobError, got.JobArgs)
	}
	if fmt.Sprint(got.PyDesc) != "[[region varchar] [n bigint]]" || fmt.Sprint(got.PyRows) != "[[east 2]]" {
		t.Errorf("PyAthena: %v %v", got.PyDesc, got.PyRows)
	}
	if fmt.Sprint(got.Wrangler) != "[map[n:2 region:east] map[n:1 region:west]]" || fmt.Sprint(got.WrCSV) != fmt.Sprint(got.Wrangler) || fmt.Sprint(got.WrDBs) != "[guide]" {
		t.Errorf("awswrangler: CTAS %v, CSV %v, databases %v", got.Wrangler, got.WrCSV, got.WrDBs)
	}
	// The CTAS approach's temporary table is dropped after the read.
	for _, tb := range got.WrTables {
		if strings.HasPrefix(tb, "temp_table_") {
			t.Errorf("awswrangler left its temporary table: %v", got.WrTables)
		}
	}
	if got.Missing != "EntityNotFoundException" {
		t.Errorf("missing table: %s", got.Missing)
	}

	// Glue workflows and IAM from boto3.
	py = exec.Command(python, "testdata/flows.py")
	py.Env = append(env, "TARN_ENDPOINT="+endpoint)
	o.Reset()
	e.Reset()
	py.Stdout, py.Stderr = &o, &e
	if err := py.Run(); err != nil {
		t.Fatalf("flows.py: %v\n%s", err, e.String())
	}
	var flows struct {
		Status     string   `json:"workflow_status"`
		Succeeded  int      `json:"workflow_succeeded"`
		Datetime   bool     `json:"started_on_is_datetime"`
		GraphTypes []string `json:"graph_types"`
		Triggers   []string `json:"triggers"`
		Policy     string   `json:"policy"`
		BotDBs     []string `json:"bot_databases"`
		BotCreate  string   `json:"bot_create"`
		BotIAM     string   `json:"bot_iam"`
		Inactive   string   `json:"inactive"`
		Users      []string `json:"users"`
		CWProto    string   `json:"cw_protocol"`
		CWAlarm    []any    `json:"cw_alarm"`
		CWMetrics  []string `json:"cw_metrics"`
		CWPoints   [][]any  `json:"cw_points"`
		CWMissing  string   `json:"cw_missing"`
		CWLeft     int      `json:"cw_left"`
	}
	if err := json.Unmarshal(o.Bytes(), &flows); err != nil {
		t.Fatalf("flows.py output %q: %v", o.String(), err)
	}
	if flows.Status != "COMPLETED" || flows.Succeeded != 1 || !flows.Datetime || fmt.Sprint(flows.GraphTypes) != "[JOB TRIGGER]" || fmt.Sprint(flows.Triggers) != "[py-start]" {
		t.Errorf("boto3 workflow: %+v", flows)
	}
	if flows.Policy != "glue:GetDatabases" || fmt.Sprint(flows.BotDBs) != "[guide]" || flows.BotCreate != "AccessDeniedException" ||
		flows.BotIAM != "AccessDenied" || flows.Inactive != "UnrecognizedClientException" || fmt.Sprint(flows.Users) != "[py-bot]" {
		t.Errorf("boto3 IAM: %+v", flows)
	}
	// The guide's job ran twice (by the CLI and the workflow runs), never failing.
	if fmt.Sprint(flows.CWAlarm) != "[py-curate-failed curate 1 300 true]" || fmt.Sprint(flows.CWMetrics) != "[broken curate]" ||
		len(flows.CWPoints) != 1 || fmt.Sprint(flows.CWPoints[0][1]) != "0" || flows.CWMissing != "ResourceNotFound" || flows.CWLeft != 0 {
		t.Errorf("boto3 CloudWatch (%s): %+v", flows.CWProto, flows)
	}
}
