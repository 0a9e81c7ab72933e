package workflow_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// A job run by a workflow step names the workflow run as its OpenLineage
// parent, so `tarn catalog lineage` shows which workflow wrote the table.
func TestJobStepLineageNamesTheWorkflowRun(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	if err := l.Jobs.Create(ctx, jobs.Spec{Name: "numbers", SQL: "SELECT range AS n FROM range(4)",
		Target: "s3://lake/curated/numbers/", Table: "curated.numbers"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "nightly", Steps: []workflow.Step{{Name: "build", Job: "numbers"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "nightly", workflow.StartOptions{Own: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = l.Workflows.Execute(ctx, r.ID); err != nil || r.State != workflow.RunSucceeded {
		t.Fatalf("run %s %q %v", r.State, r.Error, err)
	}
	evs, err := l.Catalog.LineageEvents(ctx, catalog.TableDataset("curated", "numbers"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].EventType != catalog.LineageComplete {
		t.Fatalf("events = %+v", evs)
	}
	var parent struct {
		Run struct {
			RunID string `json:"runId"`
		} `json:"run"`
		Job struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"job"`
	}
	raw := evs[0].Run.Facets["parent"]
	if err := json.Unmarshal(raw, &parent); err != nil {
		t.Fatalf("parent facet %s: %v", raw, err)
	}
	if parent.Run.RunID != r.ID || parent.Job.Name != "workflow.nightly" || parent.Job.Namespace != catalog.LineageNamespace {
		t.Fatalf("parent facet = %s, want run %s of workflow.nightly", raw, r.ID)
	}
}
