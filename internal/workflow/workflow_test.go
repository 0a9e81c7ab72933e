package workflow_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// clock is a controllable scheduler clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openLake(t *testing.T, clk *clock) *lake.Lake {
	t.Helper()
	ctx := context.Background()
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	cfg.Workflow.Tick = 20 * time.Millisecond
	if clk != nil {
		cfg.Workflow.Now = clk.Now
	}
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	return l
}

// startScheduler runs the scheduler until the test ends.
// startScheduler runs the scheduler until the test ends or the returned
// stop is called.
func startScheduler(t *testing.T, l *lake.Lake) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Workflows.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func waitRun(t *testing.T, l *lake.Lake, id string) workflow.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := l.Workflows.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != workflow.RunQueued && r.State != workflow.RunRunning {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s did not end", id)
	return workflow.Run{}
}

func stepStates(r workflow.Run) map[string]string {
	m := map[string]string{}
	for _, s := range r.Steps {
		m[s.Name] = s.State
	}
	return m
}

func TestValidate(t *testing.T) {
	sql := func(name string, deps ...string) workflow.Step {
		return workflow.Step{Name: name, SQL: "SELECT 1", DependsOn: deps}
	}
	cases := []struct {
		name string
		w    workflow.Workflow
		want string // "" = valid
	}{
		{"ok", workflow.Workflow{Name: "w", Steps: []workflow.Step{sql("a"), sql("b", "a")}}, ""},
		{"bad name", workflow.Workflow{Name: "a b", Steps: []workflow.Step{sql("a")}}, "name"},
		{"no steps", workflow.Workflow{Name: "w"}, "steps: a workflow needs at least one step"},
		{"two kinds", workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1", Job: "j"}}}, "exactly one of crawler, job and sql"},
		{"dup", workflow.Workflow{Name: "w", Steps: []workflow.Step{sql("a"), sql("a")}}, `step "a" is defined twice`},
		{"unknown dep", workflow.Workflow{Name: "w", Steps: []workflow.Step{sql("a", "zz")}}, `steps[0].depends_on: no step named "zz"`},
		{"cycle", workflow.Workflow{Name: "w", Steps: []workflow.Step{sql("a", "c"), sql("b", "a"), sql("c", "b")}}, "cycle: a -> c -> b -> a"},
		{"condition", workflow.Workflow{Name: "w", Steps: []workflow.Step{sql("a"), {Name: "b", SQL: "SELECT 1", DependsOn: []string{"a"}, Condition: "sometimes"}}}, "steps[1].condition"},
		{"condition without deps", workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "b", SQL: "SELECT 1", Condition: "any_failed"}}}, "needs depends_on"},
		{"args on sql", workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "b", SQL: "SELECT 1", Args: map[string]string{"x": "1"}}}}, "only job steps take arguments"},
	}
	for _, c := range cases {
		err := c.w.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, workflow.ErrInvalidSpec) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an ErrInvalidSpec with %q", c.name, err, c.want)
		}
	}
}

func TestSchedules(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		expr, tz, after, want string
	}{
		{"0 6 * * *", "", "2026-03-01T05:00:00Z", "2026-03-01T06:00:00Z"},
		{"cron(0 6 * * ? *)", "", "2026-03-01T06:00:00Z", "2026-03-02T06:00:00Z"},
		// AWS day of week 2 is Monday; 2026-03-01 is a Sunday.
		{"cron(30 8 ? * 2 *)", "", "2026-03-01T00:00:00Z", "2026-03-02T08:30:00Z"},
		{"cron(0 12 ? * MON-FRI *)", "", "2026-02-28T13:00:00Z", "2026-03-02T12:00:00Z"},
		{"cron(0 0 1 1 ? 2028)", "", "2026-03-01T00:00:00Z", "2028-01-01T00:00:00Z"},
		{"0 6 * * *", "Europe/Paris", "2026-07-01T00:00:00Z", "2026-07-01T04:00:00Z"},
		{"rate(1 hour)", "", "2026-03-01T05:30:00Z", "2026-03-01T06:00:00Z"},
		{"rate(15 minutes)", "", "2026-03-01T00:07:00Z", "2026-03-01T00:15:00Z"},
	}
	anchor := at("2026-01-01T00:00:00Z")
	for _, c := range cases {
		s, err := workflow.ParseSchedule(c.expr, c.tz)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := s.Next(at(c.after), anchor); !got.Equal(at(c.want)) {
			t.Errorf("%s (%s) after %s: next %s, want %s", c.expr, c.tz, c.after, got.Format(time.RFC3339), c.want)
		}
	}
	for _, bad := range []struct{ expr, tz, want string }{
		{"0 6 * *", "", "5 cron fields"},
		{"cron(0 6 * * * *)", "", "'?' in exactly one"},
		{"cron(0 6 L * ? *)", "", "L, W and #"},
		{"cron(0 6 ? * 8 *)", "", "8 is not a day"},
		{"rate(1 hours)", "", "rate(1 hour)"},
		{"rate(0 minutes)", "", "positive"},
		{"0 6 * * *", "Mars/Olympus", "unknown time zone"},
		{"61 * * * *", "", "invalid schedule"},
	} {
		_, err := workflow.ParseSchedule(bad.expr, bad.tz)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: got %v, want %q", bad.expr, err, bad.want)
		}
	}
	// A scheduler down for three days fires once, for the latest time.
	s, _ := workflow.ParseSchedule("0 6 * * *", "")
	if got := s.LastDue(at("2026-03-01T06:00:00Z"), at("2026-03-04T07:00:00Z"), anchor); !got.Equal(at("2026-03-04T06:00:00Z")) {
		t.Errorf("LastDue = %s", got)
	}
	if got := s.LastDue(at("2026-03-01T06:00:00Z"), at("2026-03-02T05:59:00Z"), anchor); !got.IsZero() {
		t.Errorf("LastDue before the next time = %s, want none", got)
	}
}

func TestDAGConditionsRetriesAndParallelSteps(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	startScheduler(t, l)
	w := workflow.Workflow{Name: "dag", MaxParallelSteps: 2, Steps: []workflow.Step{
		{Name: "a", SQL: "SELECT 1"},
		{Name: "b", SQL: "SELECT 2", DependsOn: []string{"a"}},
		{Name: "c", SQL: "SELECT 3", DependsOn: []string{"a"}},
		// Fails every time: retried twice with backoff, then FAILED.
		{Name: "bad", SQL: "SELECT CAST('x${suffix}' AS INTEGER)", DependsOn: []string{"b", "c"}, Retries: 2, RetryDelay: workflow.Duration(50 * time.Millisecond)},
		{Name: "after_bad", SQL: "SELECT 4", DependsOn: []string{"bad"}},
		{Name: "cleanup", SQL: "SELECT 5", DependsOn: []string{"bad"}, Condition: workflow.CondAllDone},
		{Name: "any_ok", SQL: "SELECT 6", DependsOn: []string{"bad", "b"}, Condition: workflow.CondAnySucceeded},
	}}
	if err := l.Workflows.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "dag", workflow.StartOptions{Properties: map[string]string{"suffix": "yz"}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitRun(t, l, r.ID)
	if r.State != workflow.RunFailed || !strings.Contains(r.Error, "step bad failed") || !strings.Contains(r.Error, "xyz") {
		t.Fatalf("run = %s %q, want FAILED naming step bad and its error", r.State, r.Error)
	}
	want := map[string]string{"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED", "bad": "FAILED", "after_bad": "SKIPPED", "cleanup": "SUCCEEDED", "any_ok": "SUCCEEDED"}
	if got := stepStates(r); !equalMaps(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
	for _, st := range r.Steps {
		if st.Name == "bad" && st.Attempt != 3 {
			t.Errorf("bad ran %d attempts, want 3 (1 + 2 retries)", st.Attempt)
		}
		if st.Name == "a" && st.ChildID == "" {
			t.Errorf("step a has no query execution id")
		}
		if st.Name == "bad" && st.EndedAt.Sub(st.StartedAt) < 0 {
			t.Errorf("bad: ended before it started")
		}
	}
	// The query history holds the step's executions.
	hist, err := l.Query.History(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	fails := 0
	for _, ex := range hist {
		if strings.Contains(ex.SQL, "xyz") {
			fails++
		}
	}
	if fails != 3 {
		t.Errorf("history has %d executions of the failing step, want 3", fails)
	}
}

func TestCatchMakesRunSucceed(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	startScheduler(t, l)
	w := workflow.Workflow{Name: "caught", Steps: []workflow.Step{
		{Name: "bad", SQL: "SELECT nope"},
		{Name: "handler", SQL: "SELECT 1", DependsOn: []string{"bad"}, Condition: workflow.CondAnyFailed},
	}}
	if err := l.Workflows.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "caught", workflow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r = waitRun(t, l, r.ID); r.State != workflow.RunSucceeded {
		t.Fatalf("run = %s %q, want SUCCEEDED (failure caught by handler)", r.State, r.Error)
	}
}

func TestUnknownPropertyFailsStep(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "a", SQL: "SELECT '${nope}'"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{Own: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err = l.Workflows.Execute(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != workflow.RunFailed || !strings.Contains(r.Error, "unknown run property nope") {
		t.Fatalf("run = %s %q", r.State, r.Error)
	}
}

func put(t *testing.T, l *lake.Lake, key, body string) storage.ObjectInfo {
	t.Helper()
	info, err := l.Store.Put(context.Background(), "lake", key, strings.NewReader(body), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestEventTriggerBatchesAndExactlyOnce(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	// An object from before the trigger existed never fires it.
	old := put(t, l, "raw/in/old.csv", "a\n1\n")
	if _, _, err := l.Events.Record(ctx, old, events.ViaS3); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "ingest", MaxConcurrentRuns: 5,
		Steps: []workflow.Step{{Name: "count", SQL: "SELECT ${object_count} AS n, '${objects}' AS objs"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "on_csv", Workflow: "ingest", Prefix: "s3://lake/raw/in/", Suffix: ".csv",
		BatchSize: 2, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var infos []storage.ObjectInfo
	for i, k := range []string{"raw/in/a.csv", "raw/in/b.csv", "raw/in/skip.txt", "raw/other/c.csv", "raw/in/d.csv", "raw/in/e.csv"} {
		infos = append(infos, put(t, l, k, strings.Repeat("x", i+1)))
		if _, _, err := l.Events.Record(ctx, infos[i], events.ViaS3); err != nil {
			t.Fatal(err)
		}
	}
	// The same object version again (a client retry, a poll) is no event.
	if _, isNew, err := l.Events.Record(ctx, infos[0], events.ViaPoll); err != nil || isNew {
		t.Fatalf("second record of the same version: new=%v err=%v", isNew, err)
	}
	// 4 matching objects, batches of 2: exactly 2 runs. (With the scheduler
	// running while they arrive, the window of 0 would send each at once.)
	stop := startScheduler(t, l)
	runs := waitRuns(t, l, "ingest", 2)
	seen := map[string]int{}
	for _, r := range runs {
		if r.Properties["object_count"] != "2" || r.Trigger != "on_csv" {
			t.Errorf("run %s: properties %v", r.ID, r.Properties)
		}
		for _, o := range strings.Split(r.Properties["objects"], ",") {
			seen[o]++
		}
	}
	for _, k := range []string{"s3://lake/raw/in/a.csv", "s3://lake/raw/in/b.csv", "s3://lake/raw/in/d.csv", "s3://lake/raw/in/e.csv"} {
		if seen[k] != 1 {
			t.Errorf("%s delivered %d times, want 1 (%v)", k, seen[k], seen)
		}
	}
	// With the scheduler stopped, a round of scheduling run here is the
	// next one it would have done: it must deliver nothing again.
	stop()
	l.Workflows.Tick(ctx)
	if runs := listRuns(t, l, "ingest"); len(runs) != 2 {
		t.Fatalf("%d runs after another round of scheduling, want 2", len(runs))
	}
	startScheduler(t, l)
	// The ledger shows the deliveries; replay re-drives one event.
	evs, err := l.Events.List(ctx, events.ListOptions{Prefix: storage.URI{Bucket: "lake", Key: "raw/in/a.csv"}})
	if err != nil || len(evs) != 1 || len(evs[0].Deliveries) != 1 || evs[0].Deliveries[0].Trigger != "on_csv" {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	if err := l.Events.Replay(ctx, "on_csv", []int64{evs[0].ID}); err != nil {
		t.Fatal(err)
	}
	// A replayed single event waits for the batch (size 2) ... the window is 0,
	// so it goes at once.
	runs = waitRuns(t, l, "ingest", 3)
	if runs[0].Properties["objects"] != "s3://lake/raw/in/a.csv" {
		t.Errorf("replayed run objects = %q", runs[0].Properties["objects"])
	}
	if err := l.Events.Replay(ctx, "on_csv", []int64{999999}); !errors.Is(err, events.ErrNoSuchEvent) {
		t.Errorf("replay of a missing event: %v", err)
	}
}

func TestEventBatchWindow(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "t", Workflow: "w", Prefix: "s3://lake/in/", BatchSize: 100,
		BatchWindow: workflow.Duration(400 * time.Millisecond), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, l)
	start := time.Now()
	for _, k := range []string{"in/1", "in/2", "in/3"} {
		if _, _, err := l.Events.Record(ctx, put(t, l, k, k), events.ViaS3); err != nil {
			t.Fatal(err)
		}
	}
	runs := waitRuns(t, l, "w", 1)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("run started after %s, before the 400ms window", d)
	}
	if runs[0].Properties["object_count"] != "3" {
		t.Errorf("batch = %v, want the 3 objects in one run", runs[0].Properties)
	}
}

func TestMultipartChecksumIsContent(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	body := strings.Repeat("data", 1000)
	info := put(t, l, "in/big", body)
	// The same content uploaded in parts of two sizes: two multipart ETags,
	// one content, so one event.
	info.ETag = "0123456789abcdef0123456789abcdef-3"
	a, isNew, err := l.Events.Record(ctx, info, events.ViaS3)
	if err != nil || !isNew || !strings.HasPrefix(a.Checksum, "sha256:") {
		t.Fatalf("first: %+v new=%v err=%v", a, isNew, err)
	}
	info.ETag = "fedcba9876543210fedcba9876543210-5"
	if _, isNew, err := l.Events.Record(ctx, info, events.ViaS3); err != nil || isNew {
		t.Fatalf("same content, other part size: new=%v err=%v", isNew, err)
	}
	// New content under the same key (unversioned bucket) is a new event.
	info = put(t, l, "in/big", body+"!")
	if _, isNew, err := l.Events.Record(ctx, info, events.ViaS3); err != nil || !isNew {
		t.Fatalf("new content: new=%v err=%v", isNew, err)
	}
}

func TestScheduledTriggerOnControlledClock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 1, 5, 59, 0, 0, time.UTC)}
	l := openLake(t, clk)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "daily", Steps: []workflow.Step{{Name: "a", SQL: "SELECT '${scheduled_time}'"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "six", Workflow: "daily", Schedule: "cron(0 6 * * ? *)", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	l.Workflows.Tick(ctx)
	if n := len(listRuns(t, l, "daily")); n != 0 {
		t.Fatalf("%d runs before 06:00", n)
	}
	clk.Set(time.Date(2026, 3, 1, 6, 0, 1, 0, time.UTC))
	l.Workflows.Tick(ctx)
	l.Workflows.Tick(ctx)
	runs := listRuns(t, l, "daily")
	if len(runs) != 1 || runs[0].Properties["scheduled_time"] != "2026-03-01T06:00:00Z" {
		t.Fatalf("runs = %+v, want one for 06:00", runs)
	}
	// Down for three days: one catch-up run, for the latest missed time.
	clk.Set(time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	l.Workflows.Tick(ctx)
	l.Workflows.Tick(ctx)
	runs = listRuns(t, l, "daily")
	if len(runs) != 2 || runs[0].Properties["scheduled_time"] != "2026-03-04T06:00:00Z" {
		t.Fatalf("after downtime: %d runs, newest %v; want 2, the newest for 2026-03-04T06:00", len(runs), runs[0].Properties)
	}
	// Disabled, it does not fire; enabled again, it does not fire for the
	// days it was off.
	if err := l.Workflows.SetTriggerEnabled(ctx, "six", false); err != nil {
		t.Fatal(err)
	}
	clk.Set(time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC))
	l.Workflows.Tick(ctx)
	if err := l.Workflows.SetTriggerEnabled(ctx, "six", true); err != nil {
		t.Fatal(err)
	}
	l.Workflows.Tick(ctx)
	if n := len(listRuns(t, l, "daily")); n != 2 {
		t.Fatalf("%d runs after disable/enable, want still 2", n)
	}
}

func TestRecoverInterruptedStep(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{
		{Name: "a", SQL: "SELECT 1"}, {Name: "b", SQL: "SELECT 2", DependsOn: []string{"a"}}}}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What a process that died in step a leaves behind.
	host, _ := os.Hostname()
	dead := host + ":999999999:1"
	db := l.Meta.SQL()
	mustExec(t)(db.ExecContext(ctx, `UPDATE workflow_runs SET state = 'RUNNING', owner = ?, started_at = ? WHERE id = ?`, dead, meta.Now(), r.ID))
	mustExec(t)(db.ExecContext(ctx, `UPDATE workflow_steps SET state = 'RUNNING', attempt = 1 WHERE run_id = ? AND step = 'a'`, r.ID))
	startScheduler(t, l)
	r = waitRun(t, l, r.ID)
	if r.State != workflow.RunSucceeded {
		t.Fatalf("recovered run = %s %q", r.State, r.Error)
	}
	if r.Steps[0].Attempt != 2 {
		t.Errorf("step a attempts = %d, want 2 (the interrupted one and the retry)", r.Steps[0].Attempt)
	}
}

func TestQueuedRunsWaitForConcurrency(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	startScheduler(t, l)
	var prevEnd time.Time
	for _, id := range ids {
		r := waitRun(t, l, id)
		if r.State != workflow.RunSucceeded {
			t.Fatalf("%s: %s", id, r.State)
		}
		// max_concurrent_runs 1: each run starts after the previous ended.
		if r.StartedAt.Before(prevEnd) {
			t.Errorf("run %s started at %s, before the previous ended at %s", id, r.StartedAt, prevEnd)
		}
		prevEnd = r.EndedAt
	}
}

func TestStopRun(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{
		{Name: "slow", SQL: "SELECT count(*) FROM range(3000000000)"}, {Name: "next", SQL: "SELECT 1", DependsOn: []string{"slow"}}}}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, l)
	r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		got, _ := l.Workflows.GetRun(ctx, r.ID)
		if got.Steps[0].State == workflow.StepRunning {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Workflows.Stop(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	r = waitRun(t, l, r.ID)
	if r.State != workflow.RunStopped || stepStates(r)["slow"] != workflow.StepStopped || stepStates(r)["next"] != workflow.StepStopped {
		t.Fatalf("stopped run = %s %v", r.State, stepStates(r))
	}
	if err := l.Workflows.Stop(ctx, r.ID); !errors.Is(err, workflow.ErrRunNotActive) {
		t.Errorf("second stop: %v", err)
	}
}

func mustExec(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func listRuns(t *testing.T, l *lake.Lake, w string) []workflow.Run {
	t.Helper()
	runs, err := l.Workflows.Runs(context.Background(), w, 0)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// waitRuns waits for n ended runs of a workflow (newest first).
func waitRuns(t *testing.T, l *lake.Lake, w string, n int) []workflow.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		runs := listRuns(t, l, w)
		ended := 0
		for _, r := range runs {
			if r.State == workflow.RunSucceeded || r.State == workflow.RunFailed {
				ended++
			}
		}
		if len(runs) > n {
			t.Fatalf("%d runs of %s, want %d", len(runs), w, n)
		}
		if ended == n {
			return runs
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d runs of %s ended", n, w)
	return nil
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestStepOutputsReachLaterSteps(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{
		{Name: "a", SQL: "SELECT 42 AS n, 'eu' AS region FROM range(3)"},
		{Name: "b", SQL: "SELECT ${a.n} + 1 AS m, '${a.region}' AS r", DependsOn: []string{"a"}},
	}}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{Own: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = l.Workflows.Execute(ctx, r.ID); err != nil || r.State != workflow.RunSucceeded {
		t.Fatalf("run %s %q %v", r.State, r.Error, err)
	}
	for k, want := range map[string]string{"a.n": "42", "a.rows": "3", "b.m": "43", "b.r": "eu"} {
		if r.Properties[k] != want {
			t.Errorf("property %s = %q, want %q (all: %v)", k, r.Properties[k], want, r.Properties)
		}
	}
}

func TestTriggersOfACrawler(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Crawlers.Create(ctx, crawler.Spec{Name: "raw", Database: "db", Targets: []string{"s3://lake/raw/"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "on_raw", Crawler: "raw", Prefix: "s3://lake/raw/", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "by_hand", Type: "on_demand", Crawler: "raw", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, l)
	if _, _, err := l.Events.Record(ctx, put(t, l, "raw/sales/a.csv", "id,amount\n1,2.5\n"), events.ViaS3); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, l, "crawler:raw", 1)
	if runs[0].State != workflow.RunSucceeded || runs[0].Trigger != "on_raw" || runs[0].Properties["raw.tables_created"] != "sales" {
		t.Fatalf("event run = %+v", runs[0])
	}
	tbl, err := l.Catalog.GetTable(ctx, "db", "sales")
	if err != nil || len(tbl.Columns) != 2 {
		t.Fatalf("crawled table: %+v %v", tbl, err)
	}
	r, err := l.Workflows.FireTrigger(ctx, "by_hand", map[string]string{"why": "test"})
	if err != nil {
		t.Fatal(err)
	}
	if r = waitRun(t, l, r.ID); r.State != workflow.RunSucceeded || r.Properties["why"] != "test" || r.Trigger != "by_hand" {
		t.Fatalf("fired run = %+v", r)
	}
	if _, err := l.Workflows.FireTrigger(ctx, "nope", nil); !errors.Is(err, workflow.ErrNoSuchTrigger) {
		t.Errorf("firing a missing trigger: %v", err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "bad", Crawler: "missing", Enabled: true}); !errors.Is(err, workflow.ErrInvalidSpec) {
		t.Errorf("trigger of a missing crawler: %v", err)
	}
}

func TestLastDueAfterLongDowntime(t *testing.T) {
	s, err := workflow.ParseSchedule("* * * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 3, 1, 12, 30, 30, 0, time.UTC)
	if got := s.LastDue(after, now, after); !got.Equal(time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)) {
		t.Fatalf("LastDue after two years of a per-minute schedule = %s", got)
	}
}
