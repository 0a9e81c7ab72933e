package alarms_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }
func newLake(t *testing.T, clk *clock) *lake.Lake {
	t.Helper()
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	cfg.Alarms.RetryDelay = 10 * time.Millisecond
	cfg.Workflow.Tick = 20 * time.Millisecond
	if clk != nil {
		cfg.Alarms.Now = clk.Now
	}
	l, err := lake.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	return l
}

// hook is a webhook receiver that fails its first failures requests.
type hook struct {
	mu       sync.Mutex
	failures int
	calls    int
	got      []alarms.Notification
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.calls <= h.failures {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var n alarms.Notification
	if err := json.Unmarshal(b, &n); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.got = append(h.got, n)
}

func (h *hook) notifications() []alarms.Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alarms.Notification(nil), h.got...)
}

func state(t *testing.T, l *lake.Lake, name string) alarms.Status {
	t.Helper()
	st, err := l.Alarms.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func runWorkflow(t *testing.T, l *lake.Lake, name string) workflow.Run {
	t.Helper()
	ctx := context.Background()
	r, err := l.Workflows.Start(ctx, name, workflow.StartOptions{Own: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err = l.Workflows.Execute(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWorkflowFailedWebhookRetried(t *testing.T) {
	ctx := context.Background()
	l := newLake(t, nil)
	h := &hook{failures: 2}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, w := range []workflow.Workflow{
		{Name: "bad", Steps: []workflow.Step{{Name: "s", SQL: "SELECT CAST('x' AS INTEGER)", Retries: 1, RetryDelay: workflow.Duration(10 * time.Millisecond)}}},
		{Name: "good", Steps: []workflow.Step{{Name: "s", SQL: "SELECT 1"}}},
	} {
		if err := l.Workflows.CreateWorkflow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Alarms.Create(ctx, alarms.Alarm{Name: "wf", Rule: alarms.RuleWorkflowFailed, Target: "*", Webhook: srv.URL}); err != nil {
		t.Fatal(err)
	}
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "wf"); st.State != alarms.StateInsufficient {
		t.Fatalf("before any run: %s", st.State)
	}
	if r := runWorkflow(t, l, "bad"); r.State != workflow.RunFailed {
		t.Fatalf("run %s", r.State)
	}
	l.Alarms.Evaluate(ctx)
	l.Alarms.Wait()
	st := state(t, l, "wf")
	if st.State != alarms.StateAlarm || !strings.Contains(st.Reason, "workflow bad run") || !strings.Contains(st.Reason, "Conversion Error") {
		t.Fatalf("after a failed run: %s %q", st.State, st.Reason)
	}
	got := h.notifications()
	if len(got) != 1 || got[0].State != "ALARM" || got[0].PreviousState != "INSUFFICIENT_DATA" || got[0].Alarm != "wf" || got[0].Rule != "workflow_failed" {
		t.Fatalf("webhook got %+v", got)
	}
	hist, err := l.Alarms.History(ctx, "wf", 0)
	if err != nil || len(hist) != 1 || hist[0].Notified != "webhook delivered (attempt 3)" {
		t.Fatalf("history %+v %v", hist, err)
	}
	// Evaluating again with nothing new: still ALARM, no second call.
	l.Alarms.Evaluate(ctx)
	l.Alarms.Wait()
	if n := len(h.notifications()); n != 1 {
		t.Fatalf("%d notifications after a quiet evaluation, want 1", n)
	}
	// A success clears it; a new failure notifies again.
	runWorkflow(t, l, "good")
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "wf"); st.State != alarms.StateOK {
		t.Fatalf("after a good run: %s %q", st.State, st.Reason)
	}
	runWorkflow(t, l, "bad")
	l.Alarms.Evaluate(ctx)
	l.Alarms.Wait()
	if got := h.notifications(); len(got) != 2 || got[1].PreviousState != "OK" {
		t.Fatalf("second failure: %+v", got)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	ctx := context.Background()
	l := newLake(t, nil)
	h := &hook{failures: 100}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "bad", Steps: []workflow.Step{{Name: "s", SQL: "SELECT nope"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Alarms.Create(ctx, alarms.Alarm{Name: "wf", Rule: alarms.RuleWorkflowFailed, Target: "bad", Webhook: srv.URL}); err != nil {
		t.Fatal(err)
	}
	runWorkflow(t, l, "bad")
	l.Alarms.Evaluate(ctx)
	l.Alarms.Wait()
	hist, _ := l.Alarms.History(ctx, "wf", 0)
	if len(hist) != 1 || !strings.HasPrefix(hist[0].Notified, "webhook failed after 5 attempts") || state(t, l, "wf").State != alarms.StateAlarm {
		t.Fatalf("history %+v", hist)
	}
}

func exec(t *testing.T, l *lake.Lake, sql string) query.Execution {
	t.Helper()
	ex, err := l.Query.Execute(context.Background(), query.Request{SQL: sql}, &query.Collect{})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return ex
}

func TestDataScannedAndFreshness(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	l := newLake(t, clk)
	if _, err := l.Store.Put(ctx, "lake", "raw/t/day=1/a.csv", strings.NewReader("id,name\n1,a\n2,b\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	exec(t, l, "CREATE DATABASE db")
	exec(t, l, `CREATE EXTERNAL TABLE db.t (id int, name string) PARTITIONED BY (day int) ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
		LOCATION 's3://lake/raw/t/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	exec(t, l, "ALTER TABLE db.t ADD PARTITION (day=1)")
	for _, a := range []alarms.Alarm{
		{Name: "scan", Rule: alarms.RuleDataScanned, Target: "primary", Threshold: 10},
		{Name: "fresh", Rule: alarms.RuleFreshness, Target: "db.t", MaxAge: workflow.Duration(time.Hour)},
	} {
		if err := l.Alarms.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if ex := exec(t, l, "SELECT count(*) FROM db.t"); ex.Stats.BytesScanned <= 10 {
		t.Fatalf("scanned %d bytes", ex.Stats.BytesScanned)
	}
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "scan"); st.State != alarms.StateAlarm || !strings.Contains(st.Reason, "threshold 10") {
		t.Fatalf("scan: %s %q", st.State, st.Reason)
	}
	if st := state(t, l, "fresh"); st.State != alarms.StateOK {
		t.Fatalf("fresh: %s %q", st.State, st.Reason)
	}
	exec(t, l, "SELECT 1")
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "scan"); st.State != alarms.StateOK {
		t.Fatalf("scan after a small query: %s %q", st.State, st.Reason)
	}
	clk.Advance(2 * time.Hour)
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "fresh"); st.State != alarms.StateAlarm || !strings.Contains(st.Reason, "no new data for 2h") {
		t.Fatalf("fresh after 2h: %s %q", st.State, st.Reason)
	}
	// A new partition makes it fresh again (its time is the real clock's;
	// move the alarm's clock back).
	clk.Advance(-2 * time.Hour)
	exec(t, l, "ALTER TABLE db.t ADD PARTITION (day=2)")
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "fresh"); st.State != alarms.StateOK {
		t.Fatalf("fresh after a new partition: %s %q", st.State, st.Reason)
	}
}

func TestSchemaDriftKeptUntilAccepted(t *testing.T) {
	ctx := context.Background()
	l := newLake(t, nil)
	put := func(key, body string) {
		if _, err := l.Store.Put(ctx, "lake", key, strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("raw/sales/a.csv", "id,amount\n1,2.5\n")
	if err := l.Crawlers.Create(ctx, crawler.Spec{Name: "c", Database: "db", Targets: []string{"s3://lake/raw/"}, SchemaChangePolicy: crawler.SchemaChangeLog}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Crawlers.Start(ctx, "c", crawler.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Alarms.Create(ctx, alarms.Alarm{Name: "drift", Rule: alarms.RuleSchemaDrift, Target: "c"}); err != nil {
		t.Fatal(err)
	}
	put("raw/sales/b.csv", "id,amount,region\n2,3.5,EU\n")
	if _, err := l.Crawlers.Start(ctx, "c", crawler.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	l.Alarms.Evaluate(ctx)
	st := state(t, l, "drift")
	if st.State != alarms.StateAlarm || !strings.Contains(st.Reason, "column_added region") || !strings.Contains(st.Reason, "--accept-drift") {
		t.Fatalf("drift: %s %q", st.State, st.Reason)
	}
	tbl, _ := l.Catalog.GetTable(ctx, "db", "sales")
	if len(tbl.Columns) != 2 {
		t.Fatalf("the log policy changed the table: %v", tbl.Columns)
	}
	if _, err := l.Crawlers.Start(ctx, "c", crawler.StartOptions{AcceptDrift: true}); err != nil {
		t.Fatal(err)
	}
	l.Alarms.Evaluate(ctx)
	if st := state(t, l, "drift"); st.State != alarms.StateOK {
		t.Fatalf("after accepting: %s %q", st.State, st.Reason)
	}
	tbl, _ = l.Catalog.GetTable(ctx, "db", "sales")
	if len(tbl.Columns) != 3 || tbl.Columns[2].Name != "region" {
		t.Fatalf("accepted drift not applied: %v", tbl.Columns)
	}
	if sp, _ := l.Crawlers.Get(ctx, "c"); sp.SchemaChangePolicy != crawler.SchemaChangeLog {
		t.Errorf("accepting changed the crawler's policy to %q", sp.SchemaChangePolicy)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		a    alarms.Alarm
		want string
	}{
		{alarms.Alarm{Name: "x", Rule: "cpu"}, "rule"},
		{alarms.Alarm{Name: "x", Rule: alarms.RuleFreshness, Target: "t", MaxAge: workflow.Duration(time.Hour)}, "database.table"},
		{alarms.Alarm{Name: "x", Rule: alarms.RuleFreshness, Target: "d.t"}, "max_age"},
		{alarms.Alarm{Name: "x", Rule: alarms.RuleJobFailed, Threshold: 3}, "threshold"},
		{alarms.Alarm{Name: "x", Rule: alarms.RuleJobFailed, Webhook: "ftp://x"}, "webhook"},
		{alarms.Alarm{Name: "", Rule: alarms.RuleJobFailed}, "name"},
	} {
		err := c.a.Validate()
		if !errors.Is(err, alarms.ErrInvalidSpec) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.a, err, c.want)
		}
	}
}

// A shutdown ends a webhook's back-off: Run returns once its context ends,
// without waiting out the retries, and the history says why delivery
// stopped.
func TestShutdownEndsWebhookRetries(t *testing.T) {
	ctx := context.Background()
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	cfg.Alarms.RetryDelay = time.Hour
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := &hook{failures: 100}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "bad", Steps: []workflow.Step{{Name: "s", SQL: "SELECT nope"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Alarms.Create(ctx, alarms.Alarm{Name: "wf", Rule: alarms.RuleWorkflowFailed, Target: "bad", Webhook: srv.URL}); err != nil {
		t.Fatal(err)
	}
	runWorkflow(t, l, "bad")
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Alarms.Run(rctx) }()
	// The first attempt has failed once the receiver has seen it; the
	// next would come an hour later.
	for deadline := time.Now().Add(30 * time.Second); ; {
		h.mu.Lock()
		calls := h.calls
		h.mu.Unlock()
		if calls >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook was never called")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	hist, _ := l.Alarms.History(ctx, "wf", 0)
	if len(hist) != 1 || !strings.Contains(hist[0].Notified, "webhook failed after 1 attempts") || !strings.Contains(hist[0].Notified, "shutting down") {
		t.Fatalf("history %+v", hist)
	}
}
