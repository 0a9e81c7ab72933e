package jobs_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/jobs"
)

// A job run records its sources, its target and the rows it wrote; a failed
// run records a FAIL that does not count as a write.
func TestJobRecordsLineage(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n3,0.5,North,2025-02-01\n")
	e.sql("CREATE DATABASE ref")
	e.sql(`CREATE EXTERNAL TABLE ref.regions (region string, manager string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/regions/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	e.put("raw/regions/r.csv", "region,manager\nNorth,ann\nSouth,bob\n")
	e.create(jobs.Spec{Name: "curate", SQL: `SELECT s.id, s.amount, r.manager FROM raw_db.sales s JOIN ref.regions r USING (region) WHERE s.amount >= 1`,
		Target: "s3://lake/curated/sales/", Table: "curated.sales"})
	run := e.start("curate", nil)

	g, err := e.l.Catalog.TableLineage(e.ctx, "curated", "sales", catalog.LineageQuery{Direction: catalog.Upstream, Events: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 3 || g.Nodes[0].Dataset != catalog.TableDataset("raw_db", "sales") || g.Nodes[1].Dataset != catalog.TableDataset("ref", "regions") {
		t.Fatalf("nodes = %+v", g.Nodes)
	}
	w := g.Nodes[2].Write
	if w == nil || w.JobName != jobs.LineageJobName("curate") || w.RunID != run.ID || w.Rows != 2 || w.JobType != catalog.LineageJobTypeJob || w.EventTime.Before(run.StartedAt) || w.EventTime.After(run.EndedAt) {
		t.Fatalf("write = %+v, run %+v", w, run)
	}
	if len(g.Events) != 1 || g.Events[0].EventType != catalog.LineageComplete || len(g.Events[0].Inputs) != 2 {
		t.Fatalf("events = %+v", g.Events)
	}
	var sqlFacet struct{ Query string }
	if err := json.Unmarshal(g.Events[0].Job.Facets["sql"], &sqlFacet); err != nil || sqlFacet.Query == "" {
		t.Fatalf("sql facet: %s %v", g.Events[0].Job.Facets["sql"], err)
	}

	// A run that fails (a source table dropped) records FAIL; the latest
	// write is still the run that succeeded.
	e.sql("DROP TABLE ref.regions")
	if _, err := e.l.Jobs.Start(e.ctx, "curate", jobs.StartOptions{Lineage: &jobs.LineageParent{RunID: "wr-1", Namespace: catalog.LineageNamespace, Name: "workflow.w"}}); !errors.Is(err, jobs.ErrRunFailed) {
		t.Fatalf("run without its source: %v", err)
	}
	evs, err := e.l.Catalog.LineageEvents(e.ctx, catalog.TableDataset("curated", "sales"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].EventType != catalog.LineageFail || evs[0].Run.Facets["errorMessage"] == nil || evs[0].Run.Facets["parent"] == nil {
		t.Fatalf("events after a failed run = %+v", evs)
	}
	lw, ok, err := e.l.Catalog.LatestWrite(e.ctx, catalog.TableDataset("curated", "sales"))
	if err != nil || !ok || lw.RunID != run.ID {
		t.Fatalf("latest write = %+v %v %v", lw, ok, err)
	}
}

// A job that writes files without a table records its target prefix.
func TestJobLineageToPrefix(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n")
	e.create(jobs.Spec{Name: "export", SQL: `SELECT id FROM raw_db.sales`, Target: "s3://lake/exports/ids/"})
	run := e.start("export", nil)
	g, err := e.l.Catalog.TableLineage(e.ctx, "raw_db", "sales", catalog.LineageQuery{Direction: catalog.Downstream})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 || g.Nodes[1].Dataset != (catalog.DatasetRef{Namespace: "s3://lake", Name: "exports/ids"}) || g.Nodes[1].Write.RunID != run.ID || g.Nodes[1].Write.Rows != 1 {
		t.Fatalf("nodes = %+v", g.Nodes)
	}
}
