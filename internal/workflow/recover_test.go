package workflow_test

import (
	"context"
	"os"
	"testing"

	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// TestRecoverTakesOverOrphans: a run left RUNNING by a process that died
// is taken over by this one, its running step becoming RETRYING; runs of a
// live process on another host, and queued runs nobody took, are left.
func TestRecoverTakesOverOrphans(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	w := workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}
	if err := l.Workflows.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	start := func() string {
		t.Helper()
		r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	host, _ := os.Hostname()
	dead, remote := host+":999999999:1", "elsewhere.example:1:1"
	orphan, live, queued := start(), start(), start()
	db := l.Meta.SQL()
	for id, owner := range map[string]string{orphan: dead, live: remote} {
		if _, err := db.Exec(`UPDATE workflow_runs SET state = ?, owner = ? WHERE id = ?`, workflow.RunRunning, owner, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE workflow_steps SET state = ?, attempt = 1 WHERE run_id = ?`, workflow.StepRunning, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Workflows.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ owner, step string }{
		orphan: {runs.Owner(), workflow.StepRetrying},
		live:   {remote, workflow.StepRunning},
		queued: {"", ""},
	}
	for id, w := range want {
		var owner string
		if err := db.QueryRow(`SELECT owner FROM workflow_runs WHERE id = ?`, id).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if owner != w.owner {
			t.Errorf("run %s owner %q, want %q", id, owner, w.owner)
		}
		r, err := l.Workflows.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.step != "" && (len(r.Steps) != 1 || r.Steps[0].State != w.step) {
			t.Errorf("run %s steps %+v, want the step %s", id, r.Steps, w.step)
		}
	}
}
