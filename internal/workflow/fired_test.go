package workflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// TestTriggerLastFired: a trigger's LastFired is when it last started a run,
// whichever way it fired (a schedule, new objects, a start by hand), and
// zero until it did; creating or enabling a schedule is no firing.
func TestTriggerLastFired(t *testing.T) {
	ctx := context.Background()
	created := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC)
	clk := &clock{t: created}
	l := openLake(t, clk)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", MaxConcurrentRuns: 10, Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []workflow.Trigger{
		{Name: "daily", Workflow: "w", Schedule: "cron(0 6 * * ? *)", Enabled: true},
		{Name: "on_new", Workflow: "w", Prefix: "s3://lake/in/", Enabled: true},
		{Name: "by_hand", Type: workflow.TriggerOnDemand, Workflow: "w", Enabled: true},
	} {
		if err := l.Workflows.CreateTrigger(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	lastFired := func() map[string]time.Time {
		t.Helper()
		ts, err := l.Workflows.TriggerStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]time.Time{}
		for _, s := range ts {
			out[s.Name] = s.LastFired
		}
		return out
	}
	l.Workflows.Tick(ctx)
	for name, at := range lastFired() {
		if !at.IsZero() {
			t.Errorf("trigger %s never fired but shows LastFired %s", name, at)
		}
	}
	if err := l.Workflows.SetTriggerEnabled(ctx, "daily", false); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.SetTriggerEnabled(ctx, "daily", true); err != nil {
		t.Fatal(err)
	}
	if at := lastFired()["daily"]; !at.IsZero() {
		t.Errorf("enabling a schedule again set LastFired to %s", at)
	}

	// The schedule fires at 06:00 (seen at 06:00:30).
	sixish := time.Date(2026, 3, 1, 6, 0, 30, 0, time.UTC)
	clk.Set(sixish)
	l.Workflows.Tick(ctx)
	got := lastFired()
	if !got["daily"].Equal(sixish) || !got["on_new"].IsZero() || !got["by_hand"].IsZero() {
		t.Errorf("after the schedule fired: %v", got)
	}
	// An object arrives: the event trigger fires.
	seven := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	clk.Set(seven)
	if _, _, err := l.Events.Record(ctx, put(t, l, "in/a.csv", "a\n1\n"), events.ViaS3); err != nil {
		t.Fatal(err)
	}
	l.Workflows.Tick(ctx)
	if got := lastFired(); !got["on_new"].Equal(seven) || !got["daily"].Equal(sixish) {
		t.Errorf("after the event trigger fired: %v", got)
	}
	// Started by hand.
	eight := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clk.Set(eight)
	if _, err := l.Workflows.FireTrigger(ctx, "by_hand", nil); err != nil {
		t.Fatal(err)
	}
	if got := lastFired(); !got["by_hand"].Equal(eight) || !got["on_new"].Equal(seven) {
		t.Errorf("after trigger start: %v", got)
	}
	// The schedule still counts from its due time, not from the firing:
	// the next is tomorrow 06:00.
	ts, err := l.Workflows.TriggerStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ts {
		if s.Name == "daily" && !s.NextFire.Equal(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)) {
			t.Errorf("next firing of daily: %s", s.NextFire)
		}
	}
	if n := len(listRuns(t, l, "w")); n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
}
