package awsapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/auth"
)

// cli runs Debian's aws CLI against the env's endpoint as key k; it
// returns stdout, and stderr with a non-nil error when the CLI failed.
func (e *env) cli(t *testing.T, k auth.Key, args ...string) (string, error) {
	t.Helper()
	awsPath := need(t, []string{"/usr/bin/aws"}, "the aws CLI")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\n"), 0o600)
	c := exec.Command(awsPath, append([]string{"--endpoint-url", e.url, "--output", "text"}, args...)...)
	c.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+k.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey, "AWS_CONFIG_FILE="+cfg,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_MAX_ATTEMPTS=1")
	var o, stderr bytes.Buffer
	c.Stdout, c.Stderr = &o, &stderr
	if err := c.Run(); err != nil {
		return strings.TrimSpace(o.String()), &cliError{stderr.String()}
	}
	return strings.TrimSpace(o.String()), nil
}

type cliError struct{ stderr string }

func (e *cliError) Error() string { return e.stderr }

func (e *env) mustCLI(t *testing.T, k auth.Key, args ...string) string {
	t.Helper()
	out, err := e.cli(t, k, args...)
	if err != nil {
		t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// refusedWith checks that the CLI failed with AWS error code.
func refusedWith(t *testing.T, what, code string, out string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "("+code+")") {
		t.Errorf("%s: %q %v, want %s", what, out, err, code)
	}
}

func TestCloudWatchAlarms(t *testing.T) {
	var mu sync.Mutex
	var hooks []alarms.Notification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n alarms.Notification
		_ = json.Unmarshal(b, &n)
		mu.Lock()
		hooks = append(hooks, n)
		mu.Unlock()
	}))
	defer hook.Close()
	// The SNS topic ops-alerts is this webhook.
	t.Setenv("TARN_WEBHOOK_OPS_ALERTS", hook.URL)
	e := newEnv(t, false)
	e.scheduler()
	ctx := context.Background()
	g := e.glue(e.admin)
	e.sqlJob(g, "broken", "SELECT CAST('not a number' AS INTEGER) AS n")
	e.sqlJob(g, "fine", "SELECT 1 AS n")
	a := e.admin

	// The guides' alarm.
	e.mustCLI(t, a, "cloudwatch", "put-metric-alarm", "--alarm-name", "broken-failed", "--alarm-description", "the job failed",
		"--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks", "--dimensions", "Name=JobName,Value=broken",
		"--statistic", "Sum", "--period", "300", "--evaluation-periods", "1", "--threshold", "1",
		"--comparison-operator", "GreaterThanOrEqualToThreshold", "--alarm-actions", "arn:aws:sns:us-east-1:123456789012:ops-alerts")
	e.mustCLI(t, a, "cloudwatch", "put-metric-alarm", "--alarm-name", "fine-failed", "--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks",
		"--dimensions", "Name=JobName,Value=fine", "--statistic", "Sum", "--period", "300", "--evaluation-periods", "1", "--threshold", "1",
		"--comparison-operator", "GreaterThanOrEqualToThreshold")
	if st, err := e.l.Alarms.Get(ctx, "broken-failed"); err != nil || st.Rule != alarms.RuleJobFailed || st.Target != "broken" || st.Webhook != hook.URL {
		t.Fatalf("tarn alarm: %+v %v", st, err)
	}
	got := e.mustCLI(t, a, "cloudwatch", "describe-alarms", "--alarm-names", "broken-failed",
		"--query", "MetricAlarms[0].[StateValue,Namespace,MetricName,Dimensions[0].Value,AlarmActions[0],Threshold,ComparisonOperator,Period]")
	if got != "INSUFFICIENT_DATA\tGlue\tglue.driver.aggregate.numFailedTasks\tbroken\tarn:aws:sns:us-east-1:123456789012:ops-alerts\t1.0\tGreaterThanOrEqualToThreshold\t300" {
		t.Errorf("describe-alarms: %q", got)
	}

	// Tags, as Terraform reads them after creating an alarm.
	arn := "arn:aws:cloudwatch:us-east-1:123456789012:alarm:broken-failed"
	e.mustCLI(t, a, "cloudwatch", "tag-resource", "--resource-arn", arn, "--tags", "Key=team,Value=data", "Key=tier,Value=1")
	e.mustCLI(t, a, "cloudwatch", "untag-resource", "--resource-arn", arn, "--tag-keys", "tier")
	if got := e.mustCLI(t, a, "cloudwatch", "list-tags-for-resource", "--resource-arn", arn, "--query", "Tags[].[Key,Value]"); got != "team\tdata" {
		t.Errorf("tags: %q", got)
	}
	out, err := e.cli(t, a, "cloudwatch", "list-tags-for-resource", "--resource-arn", "arn:aws:sns:us-east-1:1:topic")
	refusedWith(t, "tags of a topic", "InvalidParameterValue", out, err)

	// Both jobs run; the broken one fails and its alarm fires.
	for _, j := range []string{"broken", "fine"} {
		id, err := g.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String(j)})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			out, err := g.GetJobRun(ctx, &glue.GetJobRunInput{JobName: aws.String(j), RunId: id.JobRunId})
			if err != nil {
				t.Fatal(err)
			}
			if s := out.JobRun.JobRunState; s != gluetypes.JobRunStateStarting && s != gluetypes.JobRunStateRunning {
				break
			}
			if i == 6000 {
				t.Fatal("job run never ended")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	e.l.Alarms.Evaluate(ctx)
	e.l.Alarms.Wait()
	if got := e.mustCLI(t, a, "cloudwatch", "describe-alarms", "--query", "MetricAlarms[].[AlarmName,StateValue]"); got != "broken-failed\tALARM\nfine-failed\tOK" {
		t.Errorf("states after the runs: %q", got)
	}
	mu.Lock()
	if len(hooks) != 1 || hooks[0].Alarm != "broken-failed" || hooks[0].State != "ALARM" || !strings.Contains(hooks[0].Reason, "broken") {
		t.Errorf("webhook calls: %+v", hooks)
	}
	mu.Unlock()
	if got := e.mustCLI(t, a, "cloudwatch", "describe-alarms", "--state-value", "ALARM", "--query", "MetricAlarms[].AlarmName"); got != "broken-failed" {
		t.Errorf("alarms in ALARM: %q", got)
	}
	hist := e.mustCLI(t, a, "cloudwatch", "describe-alarm-history", "--alarm-name", "broken-failed", "--query", "AlarmHistoryItems[].[HistoryItemType,HistorySummary]")
	if !strings.Contains(hist, "StateUpdate\tAlarm updated from INSUFFICIENT_DATA to ALARM") || !strings.Contains(hist, "Action\tAction: webhook delivered") {
		t.Errorf("history: %q", hist)
	}
	e.mustCLI(t, a, "cloudwatch", "set-alarm-state", "--alarm-name", "broken-failed", "--state-value", "OK", "--state-reason", "fixed by hand")
	if got := e.mustCLI(t, a, "cloudwatch", "describe-alarms", "--alarm-names", "broken-failed", "--query", "MetricAlarms[0].[StateValue,StateReason]"); got != "OK\tfixed by hand" {
		t.Errorf("after set-alarm-state: %q", got)
	}

	// Metrics: one sample per run.
	if got := e.mustCLI(t, a, "cloudwatch", "list-metrics", "--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks",
		"--query", "Metrics[].Dimensions[0].Value"); got != "broken\tfine" {
		t.Errorf("list-metrics: %q", got)
	}
	from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := e.mustCLI(t, a, "cloudwatch", "get-metric-statistics", "--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks",
		"--dimensions", "Name=JobName,Value=broken", "--start-time", from, "--end-time", to, "--period", "7200", "--statistics", "Sum", "SampleCount",
		"--query", "Datapoints[0].[Sum,SampleCount,Unit]"); got != "1.0\t1.0\tCount" {
		t.Errorf("get-metric-statistics: %q", got)
	}
	q := `[{"Id": "f", "MetricStat": {"Metric": {"Namespace": "Glue", "MetricName": "glue.driver.aggregate.numFailedTasks",
		"Dimensions": [{"Name": "JobName", "Value": "fine"}]}, "Period": 7200, "Stat": "Sum"}}]`
	if got := e.mustCLI(t, a, "cloudwatch", "get-metric-data", "--metric-data-queries", q, "--start-time", from, "--end-time", to,
		"--query", "MetricDataResults[0].[Id,StatusCode,Values[0]]"); got != "f\tComplete\t0.0" {
		t.Errorf("get-metric-data: %q", got)
	}

	// Refusals, in CloudWatch's words.
	out, err = e.cli(t, a, "cloudwatch", "put-metric-alarm", "--alarm-name", "x", "--namespace", "AWS/EC2", "--metric-name", "CPUUtilization",
		"--threshold", "1", "--comparison-operator", "GreaterThanThreshold", "--evaluation-periods", "1", "--period", "60", "--statistic", "Average")
	refusedWith(t, "an EC2 metric", "InvalidParameterValue", out, err)
	out, err = e.cli(t, a, "cloudwatch", "put-metric-alarm", "--alarm-name", "x", "--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks",
		"--threshold", "1", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1", "--alarm-actions", "arn:aws:sns:us-east-1:1:nobody")
	refusedWith(t, "an SNS topic without webhook", "InvalidParameterValue", out, err)
	if err == nil || !strings.Contains(err.Error(), "TARN_WEBHOOK_NOBODY") {
		t.Errorf("the refusal should say how to name a webhook: %v", err)
	}
	out, err = e.cli(t, a, "cloudwatch", "delete-alarms", "--alarm-names", "fine-failed", "nope")
	refusedWith(t, "delete a missing alarm", "ResourceNotFound", out, err)
	if _, err := e.l.Alarms.Get(ctx, "fine-failed"); err != nil {
		t.Errorf("a failed DeleteAlarms deleted some: %v", err)
	}

	// Policies: a read-only key and a key scoped to team-* alarms.
	ro := e.key("cw-reader", `{"Statement":[{"Effect":"Allow","Action":["cloudwatch:Describe*","cloudwatch:List*","cloudwatch:Get*"],"Resource":"*"}]}`)
	team := e.key("cw-team", `{"Statement":[{"Effect":"Allow","Action":"cloudwatch:*","Resource":"arn:aws:cloudwatch:*:*:alarm:team-*"}]}`)
	put := func(k auth.Key, name string) (string, error) {
		return e.cli(t, k, "cloudwatch", "put-metric-alarm", "--alarm-name", name, "--namespace", "Glue", "--metric-name", "glue.driver.aggregate.numFailedTasks",
			"--dimensions", "Name=JobName,Value=fine", "--threshold", "1", "--comparison-operator", "GreaterThanOrEqualToThreshold", "--evaluation-periods", "1")
	}
	out, err = put(ro, "team-ro")
	refusedWith(t, "read-only put-metric-alarm", "AccessDenied", out, err)
	out, err = e.cli(t, ro, "cloudwatch", "set-alarm-state", "--alarm-name", "broken-failed", "--state-value", "ALARM", "--state-reason", "x")
	refusedWith(t, "read-only set-alarm-state", "AccessDenied", out, err)
	if got := e.mustCLI(t, ro, "cloudwatch", "describe-alarms", "--query", "length(MetricAlarms)"); got != "2" {
		t.Errorf("read-only describe-alarms: %q", got)
	}
	if _, err := put(team, "team-fine"); err != nil {
		t.Fatal(err)
	}
	out, err = put(team, "broken-failed")
	refusedWith(t, "scoped key overwriting another's alarm", "AccessDenied", out, err)
	out, err = e.cli(t, team, "cloudwatch", "delete-alarms", "--alarm-names", "broken-failed")
	refusedWith(t, "scoped key deleting another's alarm", "AccessDenied", out, err)
	out, err = e.cli(t, team, "cloudwatch", "tag-resource", "--resource-arn", arn, "--tags", "Key=owner,Value=team")
	refusedWith(t, "scoped key tagging another's alarm", "AccessDenied", out, err)
	if got := e.mustCLI(t, team, "cloudwatch", "describe-alarms", "--query", "MetricAlarms[].AlarmName"); got != "team-fine" {
		t.Errorf("scoped describe-alarms: %q", got)
	}
	out, err = e.cli(t, team, "cloudwatch", "list-metrics")
	refusedWith(t, "scoped key listing metrics", "AccessDenied", out, err)

	e.mustCLI(t, a, "cloudwatch", "delete-alarms", "--alarm-names", "fine-failed", "team-fine")
	if got := e.mustCLI(t, a, "cloudwatch", "describe-alarms", "--query", "MetricAlarms[].AlarmName"); got != "broken-failed" {
		t.Errorf("after delete-alarms: %q", got)
	}
}

// TestCloudWatchCBOR speaks RPC v2 CBOR, as the newest SDKs do.
func TestCloudWatchCBOR(t *testing.T) {
	e := newEnv(t, false)
	g := e.glue(e.admin)
	e.sqlJob(g, "j", "SELECT 1 AS n")
	call := func(k auth.Key, op string, in cbor.Map) (int, http.Header, cbor.Value) {
		t.Helper()
		body := cbor.Encode(in)
		req, _ := http.NewRequest("POST", e.url+"/service/GraniteServiceVersion20100801/operation/"+op, bytes.NewReader(body))
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", "application/cbor")
		req.Header.Set("Accept", "application/cbor")
		h := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey},
			req, hex.EncodeToString(h[:]), "monitoring", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		v, err := cbor.Decode(b)
		if err != nil {
			t.Fatalf("%s answered %d with no CBOR: %q", op, resp.StatusCode, b)
		}
		return resp.StatusCode, resp.Header, v
	}
	status, _, _ := call(e.admin, "PutMetricAlarm", cbor.Map{"AlarmName": cbor.String("j-failed"), "Namespace": cbor.String("Glue"),
		"MetricName": cbor.String("glue.driver.aggregate.numFailedTasks"), "Dimensions": cbor.List{cbor.Map{"Name": cbor.String("JobName"), "Value": cbor.String("j")}},
		"Threshold": cbor.Float64(1), "ComparisonOperator": cbor.String("GreaterThanOrEqualToThreshold"), "EvaluationPeriods": cbor.Uint(1), "Period": cbor.Uint(60)})
	if status != 200 {
		t.Fatalf("PutMetricAlarm: %d", status)
	}
	if st, err := e.l.Alarms.Get(context.Background(), "j-failed"); err != nil || st.Target != "j" || st.Rule != alarms.RuleJobFailed {
		t.Fatalf("alarm: %+v %v", st, err)
	}
	status, _, v := call(e.admin, "DescribeAlarms", cbor.Map{"AlarmNames": cbor.List{cbor.String("j-failed")}})
	m, _ := v.(cbor.Map)
	list, _ := m["MetricAlarms"].(cbor.List)
	if status != 200 || len(list) != 1 {
		t.Fatalf("DescribeAlarms: %d %#v", status, v)
	}
	a := list[0].(cbor.Map)
	if a["AlarmName"] != cbor.String("j-failed") || a["Period"] != cbor.Uint(60) || a["ActionsEnabled"] != cbor.Bool(true) {
		t.Errorf("alarm: %#v", a)
	}
	if tag, ok := a["StateUpdatedTimestamp"].(*cbor.Tag); !ok || tag.ID != 1 {
		t.Errorf("timestamp: %#v", a["StateUpdatedTimestamp"])
	}
	status, hdr, v := call(e.admin, "SetAlarmState", cbor.Map{"AlarmName": cbor.String("nope"), "StateValue": cbor.String("OK"), "StateReason": cbor.String("x")})
	if status != 404 || hdr.Get("X-Amzn-Query-Error") != "ResourceNotFound;Sender" || v.(cbor.Map)["__type"] != cbor.String("com.amazonaws.cloudwatch#ResourceNotFound") {
		t.Errorf("missing alarm: %d %v %#v", status, hdr, v)
	}
	ro := e.key("ro", `{"Statement":[{"Effect":"Allow","Action":"cloudwatch:Describe*","Resource":"*"}]}`)
	if status, hdr, _ := call(ro, "DeleteAlarms", cbor.Map{"AlarmNames": cbor.List{cbor.String("j-failed")}}); status != 403 || hdr.Get("X-Amzn-Query-Error") != "AccessDenied;Sender" {
		t.Errorf("read-only DeleteAlarms: %d %v", status, hdr)
	}
	if status, hdr, _ := call(e.admin, "PutDashboard", cbor.Map{}); status != 400 || !strings.HasPrefix(hdr.Get("X-Amzn-Query-Error"), "UnknownOperationException") {
		t.Errorf("unknown operation: %d %v", status, hdr)
	}
}
