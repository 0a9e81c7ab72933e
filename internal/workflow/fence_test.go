package workflow_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// A scheduler whose fence fails (a server that lost the leader lease)
// fires no trigger and takes no run: the event stays for the leader,
// which starts exactly one run for it. Released runs are taken over.
func TestFenceStopsSchedulerOfNonLeader(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	var leader atomic.Bool
	l.Workflows.Fence = func(context.Context, *sql.Tx) error {
		if !leader.Load() {
			return errors.New("not the leader")
		}
		return nil
	}
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "ingest", MaxConcurrentRuns: 5,
		Steps: []workflow.Step{{Name: "count", SQL: "SELECT ${object_count} AS n"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "on_csv", Workflow: "ingest", Prefix: "s3://lake/in/", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Events.Record(ctx, put(t, l, "in/a.csv", "a\n1\n"), events.ViaS3); err != nil {
		t.Fatal(err)
	}
	manual, err := l.Workflows.Start(ctx, "ingest", workflow.StartOptions{Properties: map[string]string{"object_count": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l.Workflows.Tick(ctx)
	}
	rs, err := l.Workflows.Runs(ctx, "ingest", 10)
	if err != nil || len(rs) != 1 || rs[0].State != workflow.RunQueued {
		t.Fatalf("runs while fenced: %+v %v", rs, err)
	}
	leader.Store(true)
	stop := startScheduler(t, l)
	if r := waitRun(t, l, manual.ID); r.State != workflow.RunSucceeded {
		t.Fatalf("manual run: %+v", r)
	}
	var fired workflow.Run
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the trigger never fired")
		}
		rs, err = l.Workflows.Runs(ctx, "ingest", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 2 {
			for _, r := range rs {
				if r.Trigger == "on_csv" {
					fired = r
				}
			}
			break
		}
	}
	if r := waitRun(t, l, fired.ID); r.State != workflow.RunSucceeded || r.Properties["object_count"] != "1" {
		t.Fatalf("fired run: %+v", r)
	}
	stop()

	// A run this process released (it stopped leading) keeps its state
	// and is taken over by the next scheduler.
	r, err := l.Workflows.Start(ctx, "ingest", workflow.StartOptions{Properties: map[string]string{"object_count": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	db := l.Meta.SQL()
	if _, err := db.Exec(`UPDATE workflow_runs SET state = ?, owner = ? WHERE id = ?`, workflow.RunRunning, runs.Owner(), r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE workflow_steps SET state = ?, attempt = 1 WHERE run_id = ?`, workflow.StepRetrying, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := db.QueryRow(`SELECT owner FROM workflow_runs WHERE id = ?`, r.ID).Scan(&owner); err != nil || owner != "" {
		t.Fatalf("released run's owner %q %v", owner, err)
	}
	leader.Store(false)
	l.Workflows.Tick(ctx)
	if err := db.QueryRow(`SELECT owner FROM workflow_runs WHERE id = ?`, r.ID).Scan(&owner); err != nil || owner != "" {
		t.Fatalf("a fenced scheduler took the released run: %q %v", owner, err)
	}
	leader.Store(true)
	startScheduler(t, l)
	if got := waitRun(t, l, r.ID); got.State != workflow.RunSucceeded || got.Steps[0].Attempt != 2 {
		t.Fatalf("taken-over run: %+v", got)
	}
}
