package dbt

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// LineageJobName is the OpenLineage job name of a dbt node's runs (in
// namespace catalog.LineageNamespace): "dbt." and its unique id, e.g.
// dbt.model.tarn_example.daily_orders.
func LineageJobName(uniqueID string) string { return "dbt." + uniqueID }

// recordLineage records one OpenLineage event per model, seed and snapshot
// that ran: COMPLETE with its inputs (sources: the lake tables of external
// schemas, or warehouse tables; refs: warehouse tables) and its relation as
// output (by its real name with write-audit-publish), FAIL for one that
// failed. staging maps staging schemas to the real ones; publishedOK is false when
// a write-audit-publish run published nothing: its models are then FAIL,
// since readers never saw their output. Lineage is a record, not part of
// the run: a failure to record it is logged.
func (r *Runner) recordLineage(ctx context.Context, req Request, arts Artifacts, nodes []Node, staging map[string]string, publishedOK bool) {
	if r.warehouse == nil || r.warehouse.Catalog() == nil {
		return
	}
	cat := r.warehouse.Catalog()
	ctx = context.WithoutCancel(ctx)
	external, err := r.warehouse.ExternalSchemas(ctx)
	if err != nil {
		slog.Warn("dbt: cannot record lineage", "run", req.RunID, "error", err)
		return
	}
	wap := req.Step.Publish == PublishOnTestsPass
	real := func(schema string) string {
		if p, ok := staging[strings.ToLower(schema)]; ok {
			return p
		}
		return schema
	}
	dataset := func(schema, name string, source bool) catalog.LineageDataset {
		if db, ok := external[strings.ToLower(schema)]; ok && source {
			d := catalog.TableDataset(db, name)
			return catalog.LineageDataset{Namespace: d.Namespace, Name: d.Name}
		}
		d := catalog.WarehouseDataset(real(schema), name)
		return catalog.LineageDataset{Namespace: d.Namespace, Name: d.Name}
	}
	now := time.Now().UTC()
	for _, n := range nodes {
		switch n.ResourceType {
		case "model", "seed", "snapshot":
		default:
			continue
		}
		if n.Status == "skipped" {
			continue
		}
		schema, name, ok := arts.Relation(n.UniqueID)
		if !ok {
			continue
		}
		ev := catalog.LineageEvent{
			EventType: catalog.LineageComplete,
			EventTime: now,
			Producer:  catalog.LineageProducer,
			SchemaURL: catalog.LineageSchemaURL,
			Run:       catalog.LineageRun{RunID: req.RunID + "/" + req.StepName + "/" + n.UniqueID, Facets: catalog.Facets{}},
			Job:       catalog.LineageJob{Namespace: catalog.LineageNamespace, Name: LineageJobName(n.UniqueID), Facets: catalog.JobTypeFacet(catalog.LineageJobTypeModel)},
		}
		if req.RunID != "" && req.Workflow != "" {
			for k, v := range catalog.ParentRunFacet(req.RunID, catalog.LineageNamespace, "workflow."+req.Workflow) {
				ev.Run.Facets[k] = v
			}
		}
		failed := n.Status != "success" || (wap && !publishedOK)
		if failed {
			ev.EventType = catalog.LineageFail
			msg := n.Message
			if n.Status == "success" {
				msg = "built in staging; not published: a test failed"
			}
			b, _ := json.Marshal(map[string]string{"_producer": catalog.LineageProducer,
				"_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
				"message":    msg, "programmingLanguage": "SQL"})
			ev.Run.Facets["errorMessage"] = b
		}
		if c := arts.Compiled(n.UniqueID); c != "" {
			b, _ := json.Marshal(map[string]string{"_producer": catalog.LineageProducer,
				"_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SQLJobFacet.json", "query": c})
			ev.Job.Facets["sql"] = b
		}
		sources, refs := arts.Inputs(n.UniqueID)
		for _, s := range sources {
			sch, t, _ := strings.Cut(s, ".")
			ev.Inputs = append(ev.Inputs, dataset(sch, t, true))
		}
		for _, s := range refs {
			sch, t, _ := strings.Cut(s, ".")
			ev.Inputs = append(ev.Inputs, dataset(sch, t, false))
		}
		out := dataset(schema, name, false)
		if !failed {
			out.OutputFacets = catalog.OutputStatistics(n.RowsAffected, -1)
		}
		ev.Outputs = []catalog.LineageDataset{out}
		if err := cat.RecordLineage(ctx, ev); err != nil {
			slog.Warn("dbt: cannot record lineage", "run", req.RunID, "node", n.UniqueID, "error", err)
		}
	}
}
