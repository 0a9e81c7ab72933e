package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// LineageJobName is the OpenLineage job name of a tarn job's runs (in
// namespace catalog.LineageNamespace).
func LineageJobName(job string) string { return "job." + job }

// lineageOutput is the dataset a job writes: its catalog table, Iceberg
// table, warehouse table, or else the prefix of its files.
func lineageOutput(spec Spec) catalog.DatasetRef {
	if db, name, ok := spec.icebergTarget(); ok {
		return catalog.TableDataset(db, name)
	}
	if t, ok := spec.warehouseTarget(); ok {
		return catalog.WarehouseDataset(t.Schema, t.Name)
	}
	if db, name, ok := strings.Cut(spec.Table, "."); ok {
		return catalog.TableDataset(db, name)
	}
	return catalog.ObjectDataset(spec.Target)
}

// recordLineage records a finished run as an OpenLineage event: COMPLETE
// with the rows it wrote, in tx, the transaction that publishes the run (so
// a run is never seen succeeded without its lineage), or FAIL, with tx nil.
// inputs are the catalog tables the run read (nil if it failed before
// binding its SQL). Lineage is a record of what happened, not part of the
// publish: a failure to record it is logged and does not fail the run.
func (s *Service) recordLineage(ctx context.Context, tx *sql.Tx, spec Spec, run Run, inputs []catalog.DatasetRef, parent *LineageParent) {
	ev := catalog.LineageEvent{
		EventType: catalog.LineageComplete,
		EventTime: run.EndedAt,
		Producer:  catalog.LineageProducer,
		SchemaURL: catalog.LineageSchemaURL,
		Run:       catalog.LineageRun{RunID: run.ID, Facets: catalog.Facets{}},
		Job:       catalog.LineageJob{Namespace: catalog.LineageNamespace, Name: LineageJobName(spec.Name), Facets: catalog.JobTypeFacet(catalog.LineageJobTypeJob)},
	}
	if run.State != StateSucceeded {
		ev.EventType = catalog.LineageFail
		msg, _ := json.Marshal(map[string]string{"_producer": catalog.LineageProducer,
			"_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
			"message":    run.Error, "programmingLanguage": "SQL"})
		ev.Run.Facets["errorMessage"] = msg
	}
	if parent != nil && parent.RunID != "" {
		for k, v := range catalog.ParentRunFacet(parent.RunID, parent.Namespace, parent.Name) {
			ev.Run.Facets[k] = v
		}
	}
	sqlFacet, _ := json.Marshal(map[string]string{"_producer": catalog.LineageProducer,
		"_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SQLJobFacet.json", "query": spec.SQL})
	ev.Job.Facets["sql"] = sqlFacet
	tarnRun, _ := json.Marshal(map[string]any{"_producer": catalog.LineageProducer,
		"_schemaURL": catalog.LineageProducer + "/blob/main/docs/lineage.md#tarn_run",
		"state":      run.State, "attempt": run.Attempt, "startedAt": run.StartedAt,
		"rowsRead": run.Stats.RowsRead, "rowsRejected": run.Stats.RowsRejected, "bytesRead": run.Stats.BytesRead})
	ev.Run.Facets["tarn_run"] = tarnRun
	for _, in := range inputs {
		ev.Inputs = append(ev.Inputs, catalog.LineageDataset{Namespace: in.Namespace, Name: in.Name})
	}
	out := catalog.LineageDataset{Namespace: lineageOutput(spec).Namespace, Name: lineageOutput(spec).Name}
	if run.State == StateSucceeded {
		out.OutputFacets = catalog.OutputStatistics(run.Stats.RowsWritten, run.Stats.BytesWritten)
	}
	ev.Outputs = []catalog.LineageDataset{out}
	record := func() error { return s.cat.RecordLineage(ctx, ev) }
	if tx != nil {
		record = func() error { return s.cat.RecordLineageTx(ctx, tx, ev) }
	}
	if err := record(); err != nil {
		slog.Warn("jobs: cannot record lineage", "job", spec.Name, "run", run.ID, "error", err)
	}
}

// LineageParent is the run a job run is part of (a workflow run), recorded
// in the run's OpenLineage parent facet.
type LineageParent struct {
	RunID     string // the parent's run id
	Namespace string // the parent job's OpenLineage namespace
	Name      string // the parent job's OpenLineage name
}
