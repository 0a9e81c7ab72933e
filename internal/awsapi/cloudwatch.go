package awsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// CloudWatch's alarms are tarn's alarms; its metrics are tarn's run
// figures, one sample per run (or query), under the names AWS gives them
// where AWS has one.

func alarmARN(n string) string { return "arn:aws:cloudwatch:*:*:alarm:" + n }

// metricsResource is what CloudWatch's metric actions are authorized on:
// metrics have no ARN in AWS either.
const metricsResource = "*"

// metricDef is a metric tarn serves and the alarm rule it maps to.
type metricDef struct {
	namespace, name, dim, unit string
	// rule is the alarm rule a PutMetricAlarm on the metric becomes;
	// counted rules fire on every bad run, thresholded ones above a value.
	rule      string
	threshold bool
}

var metricDefs = []metricDef{
	{"Glue", "glue.driver.aggregate.numFailedTasks", "JobName", "Count", alarms.RuleJobFailed, false},
	{"Glue", "glue.driver.aggregate.elapsedTime", "JobName", "Milliseconds", "", false},
	{"Glue", "tarn.job.rowsRejected", "JobName", "Count", alarms.RuleRowsRejected, true},
	{"Glue", "tarn.workflow.failedRuns", "WorkflowName", "Count", alarms.RuleWorkflowFailed, false},
	{"Glue", "tarn.crawler.failedRuns", "CrawlerName", "Count", alarms.RuleCrawlerFailed, false},
	{"Glue", "tarn.crawler.schemaChanges", "CrawlerName", "Count", alarms.RuleSchemaDrift, false},
	{"AWS/Athena", "ProcessedBytes", "WorkGroup", "Bytes", alarms.RuleDataScanned, true},
}

func findMetric(ns, name string) (metricDef, bool) {
	for _, m := range metricDefs {
		if m.namespace == ns && m.name == name {
			return m, true
		}
	}
	return metricDef{}, false
}

func metricList() string {
	var s []string
	for _, m := range metricDefs {
		s = append(s, m.namespace+"/"+m.name+" ("+m.dim+")")
	}
	return strings.Join(s, ", ")
}

// WebhooksFromEnv reads the named webhooks SNS topic ARNs map to:
// TARN_WEBHOOK_<NAME>=https://... serves arn:aws:sns:<region>:<account>:<name>
// (the name upper-cased, '-' and '.' as '_').
func WebhooksFromEnv() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if n, ok := strings.CutPrefix(k, "TARN_WEBHOOK_"); ok && n != "" && v != "" {
			out[n] = v
		}
	}
	return out
}

func webhookEnvName(topic string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, topic)
}

// cwAlarm is PutMetricAlarm's definition, kept with the tarn alarm.
type cwAlarm struct {
	Namespace          string            `json:"namespace"`
	MetricName         string            `json:"metric_name"`
	Dimensions         [][2]string       `json:"dimensions,omitempty"`
	Statistic          string            `json:"statistic,omitempty"`
	Period             int               `json:"period,omitempty"`
	EvaluationPeriods  int               `json:"evaluation_periods,omitempty"`
	DatapointsToAlarm  int               `json:"datapoints_to_alarm,omitempty"`
	Threshold          float64           `json:"threshold"`
	ComparisonOperator string            `json:"comparison_operator"`
	TreatMissingData   string            `json:"treat_missing_data,omitempty"`
	AlarmActions       []string          `json:"alarm_actions,omitempty"`
	ActionsEnabled     bool              `json:"actions_enabled"`
	Unit               string            `json:"unit,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
}

func (s *Server) cloudWatchOps() {
	q := func(name string, fn func(ctx context.Context, c *call, f form) (*xnode, error)) {
		s.query("monitoring", name, fn)
	}
	q("PutMetricAlarm", s.putMetricAlarm)
	q("DescribeAlarms", s.describeAlarms)
	q("DeleteAlarms", s.deleteAlarms)
	q("SetAlarmState", s.setAlarmState)
	q("DescribeAlarmHistory", s.describeAlarmHistory)
	q("ListMetrics", s.listMetrics)
	q("GetMetricStatistics", s.getMetricStatistics)
	q("GetMetricData", s.getMetricData)
	q("ListTagsForResource", s.listAlarmTags)
	q("TagResource", s.tagAlarm)
	q("UntagResource", s.untagAlarm)
}

func (s *Server) alarmsSvc() (*alarms.Service, error) {
	if s.d.Alarms == nil {
		return nil, qerr("InvalidAction", "this server evaluates no alarms")
	}
	return s.d.Alarms, nil
}

func alarmName(f form, k string) (string, error) {
	n := f.str(k)
	if n == "" {
		return "", missing(k)
	}
	if len(n) > 255 || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", qerr("InvalidParameterValue", "%s %q must be 1-255 printable characters", k, truncate(n, 80))
	}
	return n, nil
}

func (s *Server) putMetricAlarm(ctx context.Context, c *call, f form) (*xnode, error) {
	al, err := s.alarmsSvc()
	if err != nil {
		return nil, err
	}
	name, err := alarmName(f, "AlarmName")
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("cloudwatch:PutMetricAlarm", alarmARN(name)); err != nil {
		return nil, err
	}
	cw := cwAlarm{Namespace: f.str("Namespace"), MetricName: f.str("MetricName"), Statistic: f.str("Statistic"),
		ComparisonOperator: f.str("ComparisonOperator"), TreatMissingData: f.str("TreatMissingData"), Unit: f.str("Unit"),
		AlarmActions: f.list("AlarmActions"), ActionsEnabled: f.str("ActionsEnabled") != "false"}
	if f.count("Metrics") > 0 {
		return nil, qerr("InvalidParameterValue", "alarms on metric math (Metrics) are not supported; give Namespace, MetricName and Dimensions")
	}
	for _, k := range []string{"Namespace", "MetricName", "ComparisonOperator", "EvaluationPeriods"} {
		if f.str(k) == "" {
			return nil, missing(k)
		}
	}
	var ok bool
	if cw.Threshold, ok, err = f.float("Threshold"); err != nil {
		return nil, err
	} else if !ok {
		return nil, missing("Threshold")
	}
	for _, p := range []struct {
		k string
		v *int
	}{{"Period", &cw.Period}, {"EvaluationPeriods", &cw.EvaluationPeriods}, {"DatapointsToAlarm", &cw.DatapointsToAlarm}} {
		if *p.v, _, err = f.integer(p.k); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= f.count("Dimensions"); i++ {
		p := "Dimensions.member." + strconv.Itoa(i) + "."
		cw.Dimensions = append(cw.Dimensions, [2]string{f.str(p + "Name"), f.str(p + "Value")})
	}
	if len(f.list("OKActions")) > 0 || len(f.list("InsufficientDataActions")) > 0 {
		return nil, qerr("InvalidParameterValue", "tarn alarms act only on entering ALARM (and on each new failure in it): OKActions and InsufficientDataActions are not supported")
	}
	m, found := findMetric(cw.Namespace, cw.MetricName)
	if !found || m.rule == "" {
		return nil, qerr("InvalidParameterValue", "tarn cannot alarm on %s/%s; the metrics it alarms on are %s", truncate(cw.Namespace, 40), truncate(cw.MetricName, 80), metricList())
	}
	a := alarms.Alarm{Name: name, Description: f.str("AlarmDescription"), Rule: m.rule, Target: "*"}
	for _, d := range cw.Dimensions {
		switch d[0] {
		case m.dim:
			a.Target = d[1]
		case "JobRunId", "Type", "QueryState", "QueryType":
			// Glue's and Athena's further dimensions: tarn's sample is
			// one per run, whatever they say.
		default:
			return nil, qerr("InvalidParameterValue", "metric %s has dimension %s, not %q", m.name, m.dim, truncate(d[0], 40))
		}
	}
	t, op := cw.Threshold, cw.ComparisonOperator
	if m.threshold {
		switch op {
		case "GreaterThanThreshold":
			a.Threshold = int64(math.Floor(t))
		case "GreaterThanOrEqualToThreshold":
			a.Threshold = int64(math.Ceil(t)) - 1
		default:
			return nil, qerr("InvalidParameterValue", "ComparisonOperator %q: tarn alarms on %s fire above a threshold (GreaterThanThreshold or GreaterThanOrEqualToThreshold)", truncate(op, 40), m.name)
		}
		if a.Threshold < 0 {
			a.Threshold = 0
		}
	} else if !(op == "GreaterThanOrEqualToThreshold" && t > 0 && t <= 1 || op == "GreaterThanThreshold" && t >= 0 && t < 1) {
		return nil, qerr("InvalidParameterValue", "tarn's alarm on %s fires on every failed run: use --comparison-operator GreaterThanOrEqualToThreshold --threshold 1", m.name)
	}
	if len(cw.AlarmActions) > 1 {
		return nil, qerr("InvalidParameterValue", "a tarn alarm has one action (a webhook); give one AlarmActions entry")
	}
	for _, act := range cw.AlarmActions {
		hook, err := s.webhook(act)
		if err != nil {
			return nil, err
		}
		if cw.ActionsEnabled {
			a.Webhook = hook
		}
	}
	cw.Tags = tagsOf(f, "Tags")
	old, err := al.Get(ctx, name)
	if err == nil {
		if cw.Tags == nil {
			// PutMetricAlarm keeps the tags of an alarm it replaces.
			cw.Tags = cwOf(old.Alarm).Tags
		}
		a.CloudWatch, _ = json.Marshal(cw)
		return nil, al.Update(ctx, a)
	}
	a.CloudWatch, _ = json.Marshal(cw)
	return nil, al.Create(ctx, a)
}

// webhook resolves an alarm action: an http(s) URL is a webhook; an SNS
// topic ARN names one (WebhooksFromEnv).
func (s *Server) webhook(action string) (string, error) {
	if strings.HasPrefix(action, "http://") || strings.HasPrefix(action, "https://") {
		return action, nil
	}
	parts := strings.Split(action, ":")
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "sns" && parts[5] != "" {
		env := webhookEnvName(parts[5])
		if u, ok := s.cfg.Webhooks[env]; ok {
			return u, nil
		}
		return "", qerr("InvalidParameterValue", "SNS topic %q has no webhook: start tarn serve with TARN_WEBHOOK_%s=https://... (see docs/aws.md)", truncate(action, 200), env)
	}
	return "", qerr("InvalidParameterValue", "alarm action %q is neither an SNS topic ARN (arn:aws:sns:region:account:topic) nor an http(s) webhook URL", truncate(action, 200))
}

// cwOf is an alarm's CloudWatch definition: the one it was made with, or
// one read from its tarn rule.
func cwOf(a alarms.Alarm) cwAlarm {
	var cw cwAlarm
	if len(a.CloudWatch) > 0 && json.Unmarshal(a.CloudWatch, &cw) == nil {
		return cw
	}
	cw = cwAlarm{Namespace: "tarn", MetricName: a.Rule, ComparisonOperator: "GreaterThanThreshold", Threshold: float64(a.Threshold),
		EvaluationPeriods: 1, Period: 60, Statistic: "Sum", ActionsEnabled: true}
	for _, m := range metricDefs {
		if m.rule == a.Rule {
			cw.Namespace, cw.MetricName = m.namespace, m.name
			if a.Target != "*" {
				cw.Dimensions = [][2]string{{m.dim, a.Target}}
			}
		}
	}
	if a.Webhook != "" {
		cw.AlarmActions = []string{a.Webhook}
	}
	return cw
}

func alarmOut(st alarms.Status) *xnode {
	cw := cwOf(st.Alarm)
	var dims []*xnode
	for _, d := range cw.Dimensions {
		dims = append(dims, x("member", xt("Name", d[0]), xt("Value", d[1])))
	}
	n := x("member", xt("AlarmName", st.Name), xt("AlarmArn", alarmARN(st.Name)), xt("AlarmDescription", st.Description),
		xtime("AlarmConfigurationUpdatedTimestamp", st.UpdatedAt), xbool("ActionsEnabled", cw.ActionsEnabled),
		xstrings("OKActions", nil), xstrings("AlarmActions", cw.AlarmActions), xstrings("InsufficientDataActions", nil),
		xt("StateValue", st.State), xt("StateReason", st.Reason), xtime("StateUpdatedTimestamp", st.StateChangedAt),
		xt("MetricName", cw.MetricName), xt("Namespace", cw.Namespace), xlist("Dimensions", dims),
		xint("EvaluationPeriods", max(cw.EvaluationPeriods, 1)), xfloat("Threshold", cw.Threshold), xt("ComparisonOperator", cw.ComparisonOperator))
	if cw.Statistic != "" {
		n.add(xt("Statistic", cw.Statistic))
	}
	if cw.Period > 0 {
		n.add(xint("Period", cw.Period))
	}
	if cw.DatapointsToAlarm > 0 {
		n.add(xint("DatapointsToAlarm", cw.DatapointsToAlarm))
	}
	if cw.TreatMissingData != "" {
		n.add(xt("TreatMissingData", cw.TreatMissingData))
	}
	return n
}

// visibleAlarms are the alarms the key may read with action: all with the
// action on every alarm, else those it may read one by one.
func (s *Server) visibleAlarms(ctx context.Context, c *call, action string) ([]alarms.Status, error) {
	al, err := s.alarmsSvc()
	if err != nil {
		return nil, err
	}
	all := c.p.Authorize(action, alarmARN("*"))
	list, err := al.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []alarms.Status
	for _, st := range list {
		if all == nil || c.p.Authorize(action, alarmARN(st.Name)) == nil {
			out = append(out, st)
		}
	}
	if all != nil && len(out) == 0 {
		return nil, all
	}
	return out, nil
}

// qpage pages n items by offset tokens, with the query protocol's errors.
func qpage(n int, token string, maxRecords, limit int) (int, int, string, error) {
	if maxRecords < 0 || maxRecords > limit {
		return 0, 0, "", qerr("InvalidParameterValue", "MaxRecords must be between 1 and %d", limit)
	}
	if maxRecords == 0 {
		maxRecords = limit
	}
	start := 0
	if token != "" {
		var err error
		if start, err = strconv.Atoi(token); err != nil || start < 0 || start > n {
			return 0, 0, "", qerr("InvalidNextToken", "NextToken %q is not one this server issued; start again without it", truncate(token, 40))
		}
	}
	end := min(start+maxRecords, n)
	next := ""
	if end < n {
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

func (s *Server) describeAlarms(ctx context.Context, c *call, f form) (*xnode, error) {
	list, err := s.visibleAlarms(ctx, c, "cloudwatch:DescribeAlarms")
	if err != nil {
		return nil, err
	}
	names := f.list("AlarmNames")
	prefix, state := f.str("AlarmNamePrefix"), f.str("StateValue")
	if len(names) > 0 && prefix != "" {
		return nil, qerr("InvalidParameterCombination", "give AlarmNames or AlarmNamePrefix, not both")
	}
	var picked []alarms.Status
	for _, st := range list {
		if len(names) > 0 && !contains(names, st.Name) || !strings.HasPrefix(st.Name, prefix) || state != "" && st.State != state {
			continue
		}
		picked = append(picked, st)
	}
	maxRecords, _, err := f.integer("MaxRecords")
	if err != nil {
		return nil, err
	}
	start, end, next, err := qpage(len(picked), f.str("NextToken"), maxRecords, 100)
	if err != nil {
		return nil, err
	}
	var items []*xnode
	for _, st := range picked[start:end] {
		items = append(items, alarmOut(st))
	}
	out := x("", xlist("MetricAlarms", items), xlist("CompositeAlarms", nil))
	if next != "" {
		out.add(xt("NextToken", next))
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) deleteAlarms(ctx context.Context, c *call, f form) (*xnode, error) {
	al, err := s.alarmsSvc()
	if err != nil {
		return nil, err
	}
	names := f.list("AlarmNames")
	if len(names) == 0 {
		return nil, missing("AlarmNames")
	}
	for _, n := range names {
		if err := c.p.Authorize("cloudwatch:DeleteAlarms", alarmARN(n)); err != nil {
			return nil, err
		}
	}
	// CloudWatch deletes none when one is missing.
	for _, n := range names {
		if _, err := al.Get(ctx, n); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if err := al.Delete(ctx, n); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (s *Server) setAlarmState(ctx context.Context, c *call, f form) (*xnode, error) {
	al, err := s.alarmsSvc()
	if err != nil {
		return nil, err
	}
	name, err := alarmName(f, "AlarmName")
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("cloudwatch:SetAlarmState", alarmARN(name)); err != nil {
		return nil, err
	}
	state, reason := f.str("StateValue"), f.str("StateReason")
	if state == "" {
		return nil, missing("StateValue")
	}
	if reason == "" {
		return nil, missing("StateReason")
	}
	return nil, al.SetState(ctx, name, state, reason)
}

func (s *Server) describeAlarmHistory(ctx context.Context, c *call, f form) (*xnode, error) {
	al, err := s.alarmsSvc()
	if err != nil {
		return nil, err
	}
	var list []alarms.Status
	if n := f.str("AlarmName"); n != "" {
		if err := c.p.Authorize("cloudwatch:DescribeAlarmHistory", alarmARN(n)); err != nil {
			return nil, err
		}
		st, err := al.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		list = []alarms.Status{st}
	} else if list, err = s.visibleAlarms(ctx, c, "cloudwatch:DescribeAlarmHistory"); err != nil {
		return nil, err
	}
	from, _, err := f.time("StartDate")
	if err != nil {
		return nil, err
	}
	to, hasTo, err := f.time("EndDate")
	if err != nil {
		return nil, err
	}
	kind := f.str("HistoryItemType")
	type item struct {
		alarm string
		t     alarms.Transition
	}
	var items []item
	for _, st := range list {
		hist, err := al.History(ctx, st.Name, 10000)
		if err != nil {
			return nil, err
		}
		for _, h := range hist {
			if h.At.Before(from) || hasTo && h.At.After(to) {
				continue
			}
			items = append(items, item{st.Name, h})
		}
	}
	if kind != "" && kind != "StateUpdate" && kind != "Action" {
		return nil, qerr("InvalidParameterValue", "HistoryItemType %q: tarn records StateUpdate and Action items", truncate(kind, 40))
	}
	sort.SliceStable(items, func(i, j int) bool {
		if f.str("ScanBy") == "TimestampAscending" {
			return items[i].t.At.Before(items[j].t.At)
		}
		return items[i].t.At.After(items[j].t.At)
	})
	var nodes []*xnode
	for _, it := range items {
		data, _ := json.Marshal(map[string]any{"version": "1.0", "oldState": map[string]string{"stateValue": it.t.OldState},
			"newState": map[string]string{"stateValue": it.t.NewState, "stateReason": it.t.Reason}})
		if kind == "" || kind == "StateUpdate" {
			nodes = append(nodes, x("member", xt("AlarmName", it.alarm), xt("AlarmType", "MetricAlarm"), xtime("Timestamp", it.t.At),
				xt("HistoryItemType", "StateUpdate"), xt("HistorySummary", fmt.Sprintf("Alarm updated from %s to %s", it.t.OldState, it.t.NewState)),
				xt("HistoryData", string(data))))
		}
		if it.t.Notified != "" && (kind == "" || kind == "Action") {
			nodes = append(nodes, x("member", xt("AlarmName", it.alarm), xt("AlarmType", "MetricAlarm"), xtime("Timestamp", it.t.At),
				xt("HistoryItemType", "Action"), xt("HistorySummary", "Action: "+it.t.Notified), xt("HistoryData", string(data))))
		}
	}
	maxRecords, _, err := f.integer("MaxRecords")
	if err != nil {
		return nil, err
	}
	start, end, next, err := qpage(len(nodes), f.str("NextToken"), maxRecords, 100)
	if err != nil {
		return nil, err
	}
	out := x("", xlist("AlarmHistoryItems", nodes[start:end]))
	if next != "" {
		out.add(xt("NextToken", next))
	}
	return out, nil
}

// Metrics.

type sample struct {
	at time.Time
	v  float64
}

// dimValues lists the values of a metric's dimension (job names, ...).
func (s *Server) dimValues(ctx context.Context, m metricDef) ([]string, error) {
	var out []string
	switch m.dim {
	case "JobName":
		specs, err := s.d.Jobs.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, sp := range specs {
			out = append(out, sp.Name)
		}
	case "CrawlerName":
		specs, err := s.d.Crawlers.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, sp := range specs {
			out = append(out, sp.Name)
		}
	case "WorkflowName":
		if s.d.Workflows == nil {
			return nil, nil
		}
		ws, err := s.d.Workflows.ListWorkflows(ctx)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			out = append(out, w.Name)
		}
	case "WorkGroup":
		wgs, err := s.d.Queries.Workgroups(ctx)
		if err != nil {
			return nil, err
		}
		for _, w := range wgs {
			out = append(out, w.Name)
		}
	}
	return out, nil
}

// samples are a metric's values for one dimension value (a job, ...):
// one per run that ended (or query), at its end.
func (s *Server) samples(ctx context.Context, m metricDef, v string) ([]sample, error) {
	var out []sample
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	switch m.dim {
	case "JobName":
		runs, err := s.d.Jobs.Runs(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if r.EndedAt.IsZero() {
				continue
			}
			var val float64
			switch m.name {
			case "glue.driver.aggregate.numFailedTasks":
				val = b(r.State == jobs.StateFailed || r.State == jobs.StateTimeout)
			case "glue.driver.aggregate.elapsedTime":
				val = float64(r.EndedAt.Sub(r.StartedAt).Milliseconds())
			default:
				val = float64(r.Stats.RowsRejected)
			}
			out = append(out, sample{r.EndedAt, val})
		}
	case "CrawlerName":
		runs, err := s.d.Crawlers.Runs(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if r.EndedAt.IsZero() {
				continue
			}
			if m.name == "tarn.crawler.failedRuns" {
				out = append(out, sample{r.EndedAt, b(r.State == crawler.StateFailed)})
			} else {
				n := 0
				for _, t := range r.Tables {
					n += len(t.Changes)
				}
				out = append(out, sample{r.EndedAt, float64(n)})
			}
		}
	case "WorkflowName":
		if s.d.Workflows == nil {
			return nil, nil
		}
		runs, err := s.d.Workflows.Runs(ctx, v, 10000)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if !r.EndedAt.IsZero() {
				out = append(out, sample{r.EndedAt, b(r.State == workflow.RunFailed)})
			}
		}
	case "WorkGroup":
		hist, err := s.d.Queries.History(ctx, 100000)
		if err != nil {
			return nil, err
		}
		for _, e := range hist {
			if e.Workgroup == v && !e.EndedAt.IsZero() {
				out = append(out, sample{e.EndedAt, float64(e.Stats.BytesScanned)})
			}
		}
	}
	return out, nil
}

func (s *Server) listMetrics(ctx context.Context, c *call, f form) (*xnode, error) {
	if err := c.p.Authorize("cloudwatch:ListMetrics", metricsResource); err != nil {
		return nil, err
	}
	ns, name := f.str("Namespace"), f.str("MetricName")
	filter := map[string]string{}
	for i := 1; i <= f.count("Dimensions"); i++ {
		p := "Dimensions.member." + strconv.Itoa(i) + "."
		filter[f.str(p+"Name")] = f.str(p + "Value")
	}
	var items []*xnode
	for _, m := range metricDefs {
		if ns != "" && m.namespace != ns || name != "" && m.name != name {
			continue
		}
		if _, other := filter[m.dim]; len(filter) > 0 && (!other || len(filter) > 1) {
			continue
		}
		vals, err := s.dimValues(ctx, m)
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			if want, ok := filter[m.dim]; ok && want != "" && want != v {
				continue
			}
			items = append(items, x("member", xt("Namespace", m.namespace), xt("MetricName", m.name),
				xlist("Dimensions", []*xnode{x("member", xt("Name", m.dim), xt("Value", v))})))
		}
	}
	start, end, next, err := qpage(len(items), f.str("NextToken"), 0, 500)
	if err != nil {
		return nil, err
	}
	out := x("", xlist("Metrics", items[start:end]))
	if next != "" {
		out.add(xt("NextToken", next))
	}
	return out, nil
}

// metricSeries reads the samples of one metric for its dimensions.
func (s *Server) metricSeries(ctx context.Context, ns, name string, dims [][2]string) (metricDef, []sample, error) {
	m, ok := findMetric(ns, name)
	if !ok {
		return m, nil, qerr("InvalidParameterValue", "tarn has no metric %s/%s; ListMetrics lists them: %s", truncate(ns, 40), truncate(name, 80), metricList())
	}
	value := ""
	for _, d := range dims {
		if d[0] == m.dim {
			value = d[1]
		}
	}
	if value == "" {
		return m, nil, qerr("InvalidParameterValue", "metric %s needs the dimension %s", m.name, m.dim)
	}
	ss, err := s.samples(ctx, m, value)
	return m, ss, err
}

type bucket struct {
	at                    time.Time
	n                     int
	sum, minimum, maximum float64
}

// buckets aggregates samples in [from, to) by period.
func buckets(ss []sample, from, to time.Time, period time.Duration) []bucket {
	by := map[int64]*bucket{}
	for _, x := range ss {
		if x.at.Before(from) || !x.at.Before(to) {
			continue
		}
		i := int64(x.at.Sub(from) / period)
		b := by[i]
		if b == nil {
			b = &bucket{at: from.Add(time.Duration(i) * period), minimum: x.v, maximum: x.v}
			by[i] = b
		}
		b.n++
		b.sum += x.v
		b.minimum, b.maximum = math.Min(b.minimum, x.v), math.Max(b.maximum, x.v)
	}
	out := make([]bucket, 0, len(by))
	for _, b := range by {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

func stat(b bucket, name string) (float64, bool) {
	switch name {
	case "Sum":
		return b.sum, true
	case "SampleCount":
		return float64(b.n), true
	case "Average":
		return b.sum / float64(b.n), true
	case "Maximum":
		return b.maximum, true
	case "Minimum":
		return b.minimum, true
	}
	return 0, false
}

func timeRange(f form) (time.Time, time.Time, error) {
	from, ok, err := f.time("StartTime")
	if err != nil {
		return from, from, err
	}
	if !ok {
		return from, from, missing("StartTime")
	}
	to, ok, err := f.time("EndTime")
	if err != nil {
		return from, to, err
	}
	if !ok {
		return from, to, missing("EndTime")
	}
	if !to.After(from) {
		return from, to, qerr("InvalidParameterValue", "EndTime must be after StartTime")
	}
	return from, to, nil
}

func period(f form, k string) (time.Duration, error) {
	p, ok, err := f.integer(k)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, missing(k)
	}
	if p < 1 || p > 86400*455 {
		return 0, qerr("InvalidParameterValue", "%s must be a number of seconds of at least 1", k)
	}
	return time.Duration(p) * time.Second, nil
}

func (s *Server) getMetricStatistics(ctx context.Context, c *call, f form) (*xnode, error) {
	if err := c.p.Authorize("cloudwatch:GetMetricStatistics", metricsResource); err != nil {
		return nil, err
	}
	from, to, err := timeRange(f)
	if err != nil {
		return nil, err
	}
	per, err := period(f, "Period")
	if err != nil {
		return nil, err
	}
	stats := f.list("Statistics")
	if len(stats) == 0 {
		return nil, missing("Statistics")
	}
	if f.count("ExtendedStatistics") > 0 || len(f.list("ExtendedStatistics")) > 0 {
		return nil, qerr("InvalidParameterValue", "percentiles (ExtendedStatistics) are not supported; use Sum, SampleCount, Average, Minimum or Maximum")
	}
	var dims [][2]string
	for i := 1; i <= f.count("Dimensions"); i++ {
		p := "Dimensions.member." + strconv.Itoa(i) + "."
		dims = append(dims, [2]string{f.str(p + "Name"), f.str(p + "Value")})
	}
	m, ss, err := s.metricSeries(ctx, f.str("Namespace"), f.str("MetricName"), dims)
	if err != nil {
		return nil, err
	}
	var points []*xnode
	for _, b := range buckets(ss, from, to, per) {
		p := x("member", xtime("Timestamp", b.at))
		for _, st := range stats {
			v, ok := stat(b, st)
			if !ok {
				return nil, qerr("InvalidParameterValue", "statistic %q is not Sum, SampleCount, Average, Minimum or Maximum", truncate(st, 40))
			}
			p.add(xfloat(st, v))
		}
		p.add(xt("Unit", m.unit))
		points = append(points, p)
	}
	return x("", xt("Label", m.name), xlist("Datapoints", points)), nil
}

func (s *Server) getMetricData(ctx context.Context, c *call, f form) (*xnode, error) {
	if err := c.p.Authorize("cloudwatch:GetMetricData", metricsResource); err != nil {
		return nil, err
	}
	from, to, err := timeRange(f)
	if err != nil {
		return nil, err
	}
	n := f.count("MetricDataQueries")
	if n == 0 {
		return nil, missing("MetricDataQueries")
	}
	if n > 500 {
		return nil, qerr("InvalidParameterValue", "at most 500 MetricDataQueries")
	}
	desc := f.str("ScanBy") != "TimestampAscending"
	var results []*xnode
	for i := 1; i <= n; i++ {
		p := "MetricDataQueries.member." + strconv.Itoa(i) + "."
		id := f.str(p + "Id")
		if id == "" {
			return nil, missing(p + "Id")
		}
		if f.str(p+"Expression") != "" {
			return nil, qerr("InvalidParameterValue", "query %s: metric math (Expression) is not supported; give MetricStat", truncate(id, 40))
		}
		if f.str(p+"ReturnData") == "false" {
			continue
		}
		mp := p + "MetricStat.Metric."
		var dims [][2]string
		for j := 1; j <= f.count(mp+"Dimensions"); j++ {
			d := mp + "Dimensions.member." + strconv.Itoa(j) + "."
			dims = append(dims, [2]string{f.str(d + "Name"), f.str(d + "Value")})
		}
		m, ss, err := s.metricSeries(ctx, f.str(mp+"Namespace"), f.str(mp+"MetricName"), dims)
		if err != nil {
			return nil, err
		}
		per, err := period(f, p+"MetricStat.Period")
		if err != nil {
			return nil, err
		}
		st := f.str(p + "MetricStat.Stat")
		bs := buckets(ss, from, to, per)
		if desc {
			sort.Slice(bs, func(i, j int) bool { return bs[i].at.After(bs[j].at) })
		}
		var ts, vs []*xnode
		for _, b := range bs {
			v, ok := stat(b, st)
			if !ok {
				return nil, qerr("InvalidParameterValue", "query %s: Stat %q is not Sum, SampleCount, Average, Minimum or Maximum", truncate(id, 40), truncate(st, 40))
			}
			ts = append(ts, xtime("member", b.at))
			vs = append(vs, xfloat("member", v))
		}
		label := f.str(p + "Label")
		if label == "" {
			label = m.name
		}
		results = append(results, x("member", xt("Id", id), xt("Label", label), xlist("Timestamps", ts), xlist("Values", vs),
			xt("StatusCode", "Complete")))
	}
	return x("", xlist("MetricDataResults", results), xlist("Messages", nil)), nil
}

func tagsOf(f form, prefix string) map[string]string {
	var out map[string]string
	for i := 1; i <= f.count(prefix); i++ {
		p := prefix + ".member." + strconv.Itoa(i) + "."
		if out == nil {
			out = map[string]string{}
		}
		out[f.str(p+"Key")] = f.str(p + "Value")
	}
	return out
}

// taggedAlarm reads the alarm a tagging call names by ARN.
func (s *Server) taggedAlarm(ctx context.Context, c *call, f form, action string) (alarms.Status, error) {
	al, err := s.alarmsSvc()
	if err != nil {
		return alarms.Status{}, err
	}
	arn := f.str("ResourceARN")
	if arn == "" {
		return alarms.Status{}, missing("ResourceARN")
	}
	i := strings.Index(arn, ":alarm:")
	if !strings.HasPrefix(arn, "arn:aws:cloudwatch:") || i < 0 {
		return alarms.Status{}, qerr("InvalidParameterValue", "ResourceARN %q is not an alarm's ARN (arn:aws:cloudwatch:region:account:alarm:name)", truncate(arn, 200))
	}
	name := arn[i+len(":alarm:"):]
	if err := c.p.Authorize(action, alarmARN(name)); err != nil {
		return alarms.Status{}, err
	}
	return al.Get(ctx, name)
}

func (s *Server) listAlarmTags(ctx context.Context, c *call, f form) (*xnode, error) {
	st, err := s.taggedAlarm(ctx, c, f, "cloudwatch:ListTagsForResource")
	if err != nil {
		return nil, err
	}
	tags := cwOf(st.Alarm).Tags
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var items []*xnode
	for _, k := range keys {
		items = append(items, x("member", xt("Key", k), xt("Value", tags[k])))
	}
	return x("", xlist("Tags", items)), nil
}

func (s *Server) retag(ctx context.Context, st alarms.Status, change func(map[string]string)) error {
	cw := cwOf(st.Alarm)
	if cw.Tags == nil {
		cw.Tags = map[string]string{}
	}
	change(cw.Tags)
	st.Alarm.CloudWatch, _ = json.Marshal(cw)
	return s.d.Alarms.Update(ctx, st.Alarm)
}

func (s *Server) tagAlarm(ctx context.Context, c *call, f form) (*xnode, error) {
	st, err := s.taggedAlarm(ctx, c, f, "cloudwatch:TagResource")
	if err != nil {
		return nil, err
	}
	tags := tagsOf(f, "Tags")
	if len(tags) == 0 {
		return nil, missing("Tags")
	}
	// TagResource has an (empty) result, which the SDKs look for.
	return x(""), s.retag(ctx, st, func(m map[string]string) {
		for k, v := range tags {
			m[k] = v
		}
	})
}

func (s *Server) untagAlarm(ctx context.Context, c *call, f form) (*xnode, error) {
	st, err := s.taggedAlarm(ctx, c, f, "cloudwatch:UntagResource")
	if err != nil {
		return nil, err
	}
	keys := f.list("TagKeys")
	if len(keys) == 0 {
		return nil, missing("TagKeys")
	}
	return x(""), s.retag(ctx, st, func(m map[string]string) {
		for _, k := range keys {
			delete(m, k)
		}
	})
}
