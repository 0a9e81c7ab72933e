package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func lineageEvent(typ, job, run string, at time.Time, in []DatasetRef, out []DatasetRef, rows int64) LineageEvent {
	ev := LineageEvent{EventType: typ, EventTime: at, Producer: LineageProducer,
		Run: LineageRun{RunID: run}, Job: LineageJob{Namespace: LineageNamespace, Name: job, Facets: JobTypeFacet(LineageJobTypeJob)}}
	for _, d := range in {
		ev.Inputs = append(ev.Inputs, LineageDataset{Namespace: d.Namespace, Name: d.Name})
	}
	for _, d := range out {
		ds := LineageDataset{Namespace: d.Namespace, Name: d.Name}
		if rows >= 0 {
			ds.OutputFacets = OutputStatistics(rows, -1)
		}
		ev.Outputs = append(ev.Outputs, ds)
	}
	return ev
}

func TestLineageGraph(t *testing.T) {
	c := newTestCatalog(t)
	ctx := context.Background()
	raw := ObjectDataset("s3://lake/raw/orders/")
	orders := TableDataset("raw_db", "orders")
	daily := TableDataset("curated", "daily")
	report := WarehouseDataset("public", "report")
	rec := func(ev LineageEvent) {
		t.Helper()
		mustNoErr(t, c.RecordLineage(ctx, ev))
	}
	// crawler: prefix -> raw_db.orders
	rec(lineageEvent(LineageComplete, "crawler.orders", "c1", t0, []DatasetRef{raw}, []DatasetRef{orders}, -1))
	// job: START with inputs only, COMPLETE with the output and rows
	rec(lineageEvent(LineageStart, "job.daily", "j1", t0.Add(time.Minute), []DatasetRef{orders}, nil, -1))
	rec(lineageEvent(LineageComplete, "job.daily", "j1", t0.Add(2*time.Minute), nil, []DatasetRef{daily}, 42))
	// a failed run of another job names report but never completed
	rec(lineageEvent(LineageFail, "job.broken", "b1", t0.Add(3*time.Minute), []DatasetRef{TableDataset("other", "secret")}, []DatasetRef{daily}, -1))
	// a dbt model (Athena naming) from daily to the warehouse report
	ev := lineageEvent(LineageComplete, "proj.report", "m1", t0.Add(4*time.Minute), nil, []DatasetRef{report}, 7)
	ev.Job.Namespace = "dbt"
	ev.Inputs = []LineageDataset{{Namespace: "awsathena://athena.us-east-1.amazonaws.com", Name: "awsdatacatalog.Curated.Daily"}}
	rec(ev)

	g, err := c.TableLineage(ctx, "curated", "daily", LineageQuery{Events: 10})
	mustNoErr(t, err)
	var nodes []string
	for _, n := range g.Nodes {
		nodes = append(nodes, fmt.Sprintf("%d %s", n.Depth, n.Dataset))
	}
	want := []string{"-2 s3://lake/raw/orders", "-1 tarn://lake/raw_db.orders", "0 tarn://lake/curated.daily", "1 tarn://lake/warehouse.public.report"}
	if strings.Join(nodes, "|") != strings.Join(want, "|") {
		t.Fatalf("nodes = %q, want %q", nodes, want)
	}
	if len(g.Edges) != 3 {
		t.Fatalf("edges = %+v", g.Edges)
	}
	for _, e := range g.Edges {
		if e.Output == daily && (e.JobName != "job.daily" || e.RunID != "j1" || e.Rows != 42 || !e.EventTime.Equal(t0.Add(2*time.Minute))) {
			t.Errorf("edge into daily = %+v", e)
		}
		if e.Input == (TableDataset("other", "secret")) {
			t.Errorf("a failed run's edge is in the graph: %+v", e)
		}
	}
	root := g.Nodes[2]
	if root.Write == nil || root.Write.JobName != "job.daily" || root.Write.Rows != 42 || root.Write.JobType != LineageJobTypeJob {
		t.Fatalf("root write = %+v", root.Write)
	}
	if len(g.Events) != 3 || g.Events[0].Job.Name != "proj.report" || g.Events[1].EventType != LineageFail {
		t.Fatalf("events = %d, first %+v", len(g.Events), g.Events)
	}

	up, err := c.TableLineage(ctx, "curated", "daily", LineageQuery{Direction: Upstream, Depth: 1})
	mustNoErr(t, err)
	if len(up.Nodes) != 2 || up.Nodes[0].Dataset != orders {
		t.Fatalf("upstream depth 1 = %+v", up.Nodes)
	}
	down, err := c.Lineage(ctx, raw, LineageQuery{Direction: Downstream})
	mustNoErr(t, err)
	if len(down.Nodes) != 4 || down.Nodes[3].Dataset != report || down.Nodes[3].Depth != 3 {
		t.Fatalf("downstream of the prefix = %+v", down.Nodes)
	}

	// A caller who may not see raw_db.orders sees it hidden and nothing past it.
	hid, err := c.TableLineage(ctx, "curated", "daily", LineageQuery{Direction: Upstream,
		Visible: func(d DatasetRef) bool { return d != orders }})
	mustNoErr(t, err)
	if len(hid.Nodes) != 2 || !hid.Nodes[0].Hidden || hid.Nodes[0].Write != nil {
		t.Fatalf("hidden = %+v", hid.Nodes)
	}

	if _, err := c.TableLineage(ctx, "curated", "daily", LineageQuery{Direction: "sideways"}); !errors.Is(err, ErrInvalidLineage) {
		t.Fatalf("bad direction: %v", err)
	}
	if _, err := c.TableLineage(ctx, "curated", "daily", LineageQuery{Depth: MaxLineageDepth + 1}); !errors.Is(err, ErrInvalidLineage) {
		t.Fatalf("bad depth: %v", err)
	}
}

func TestLineageLatestWrite(t *testing.T) {
	c := newTestCatalog(t)
	ctx := context.Background()
	d := TableDataset("db", "t")
	mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageComplete, "job.a", "r2", t0.Add(time.Hour), nil, []DatasetRef{d}, 2)))
	// An older event that arrives late does not replace the newer write.
	mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageComplete, "job.b", "r1", t0, nil, []DatasetRef{d}, 1)))
	// A START does not count as a write.
	mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageStart, "job.c", "r3", t0.Add(2*time.Hour), nil, []DatasetRef{d}, 3)))
	w, ok, err := c.LatestWrite(ctx, DatasetRef{Namespace: "arn:aws:glue:us-east-1:123:catalog", Name: "table/DB/T"})
	mustNoErr(t, err)
	if !ok || w.JobName != "job.a" || w.RunID != "r2" || w.Rows != 2 {
		t.Fatalf("latest = %+v %v", w, ok)
	}
	if _, ok, _ := c.LatestWrite(ctx, TableDataset("db", "none")); ok {
		t.Fatal("a dataset never written has a latest write")
	}
}

func TestLineageRetention(t *testing.T) {
	c := newTestCatalog(t)
	c.SetLineageRetention(LineageRetention{PerJob: 3, Total: 10})
	ctx := context.Background()
	count := func() (n int) {
		t.Helper()
		mustNoErr(t, c.db.SQL().QueryRow(`SELECT COUNT(*) FROM catalog_lineage_events`).Scan(&n))
		return n
	}
	keep := TableDataset("db", "kept")
	mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageComplete, "job.once", "k", t0, nil, []DatasetRef{keep}, 1)))
	for i := range 8 {
		mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageComplete, "job.busy", fmt.Sprint("r", i), t0.Add(time.Duration(i)*time.Minute),
			[]DatasetRef{TableDataset("db", fmt.Sprint("in", i))}, []DatasetRef{TableDataset("db", "out")}, int64(i))))
	}
	// job.busy keeps its last 3 events (the latest writer of db.out among
	// them), job.once its one.
	if n := count(); n != 4 {
		t.Fatalf("%d events kept, want 4", n)
	}
	var orphans int
	mustNoErr(t, c.db.SQL().QueryRow(`SELECT COUNT(*) FROM catalog_lineage_datasets WHERE event_id NOT IN (SELECT id FROM catalog_lineage_events)`).Scan(&orphans))
	if orphans != 0 {
		t.Fatalf("%d dataset rows of pruned events", orphans)
	}
	g, err := c.TableLineage(ctx, "db", "out", LineageQuery{Direction: Upstream})
	mustNoErr(t, err)
	if len(g.Edges) != 3 {
		t.Fatalf("edges after pruning = %+v", g.Edges)
	}
	// The total bounds the store whatever the jobs.
	for i := range 30 {
		mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageComplete, fmt.Sprint("job.n", i), "r", t0, nil, []DatasetRef{TableDataset("db", fmt.Sprint("o", i))}, 1)))
	}
	if n := count(); n > 10 {
		t.Fatalf("%d events kept, total is 10", n)
	}
	if _, ok, _ := c.LatestWrite(ctx, keep); ok {
		t.Fatal("the latest write of a pruned event is still there")
	}
}

func TestLineageValidation(t *testing.T) {
	c := newTestCatalog(t)
	ctx := context.Background()
	good := func() LineageEvent {
		return lineageEvent(LineageComplete, "job.x", "r", t0, []DatasetRef{TableDataset("a", "b")}, []DatasetRef{TableDataset("a", "c")}, 1)
	}
	for name, mod := range map[string]func(*LineageEvent){
		"type":          func(e *LineageEvent) { e.EventType = "DONE" },
		"time":          func(e *LineageEvent) { e.EventTime = time.Time{} },
		"run id":        func(e *LineageEvent) { e.Run.RunID = "" },
		"long run id":   func(e *LineageEvent) { e.Run.RunID = strings.Repeat("r", 300) },
		"job namespace": func(e *LineageEvent) { e.Job.Namespace = "" },
		"job name":      func(e *LineageEvent) { e.Job.Name = "a\x00b" },
		"dataset name":  func(e *LineageEvent) { e.Outputs[0].Name = "" },
		"bad utf8":      func(e *LineageEvent) { e.Inputs[0].Namespace = "\xff" },
		"many datasets": func(e *LineageEvent) {
			for i := range MaxLineageDatasets {
				e.Inputs = append(e.Inputs, LineageDataset{Namespace: "n", Name: fmt.Sprint(i)})
			}
		},
		"huge facets": func(e *LineageEvent) {
			big, _ := json.Marshal(strings.Repeat("x", MaxLineageEventSize))
			e.Run.Facets = Facets{"big": big}
		},
	} {
		ev := good()
		mod(&ev)
		if err := c.RecordLineage(ctx, ev); !errors.Is(err, ErrInvalidLineage) {
			t.Errorf("%s: err = %v, want ErrInvalidLineage", name, err)
		}
	}
	// An empty type is OTHER; a repeated dataset is kept once.
	ev := good()
	ev.EventType = ""
	ev.Inputs = append(ev.Inputs, LineageDataset{Namespace: LineageNamespace, Name: "A.B"})
	mustNoErr(t, c.RecordLineage(ctx, ev))
	evs, err := c.LineageEvents(ctx, TableDataset("a", "b"), 5)
	mustNoErr(t, err)
	if len(evs) != 1 || evs[0].EventType != LineageOther || len(evs[0].Inputs) != 1 {
		t.Fatalf("events = %+v", evs)
	}
}

func TestDatasetRefs(t *testing.T) {
	if db, tb, ok := TableDataset("Raw", "Orders").CatalogTable(); !ok || db != "raw" || tb != "orders" {
		t.Fatal(db, tb, ok)
	}
	if _, _, ok := WarehouseDataset("public", "r").CatalogTable(); ok {
		t.Fatal("a warehouse table is a catalog table")
	}
	if s, tb, ok := WarehouseDataset("Public", "R").WarehouseTable(); !ok || s != "public" || tb != "r" {
		t.Fatal(s, tb, ok)
	}
	if db, tb, ok := (DatasetRef{Namespace: LineageNamespace, Name: "warehouse.t"}).CatalogTable(); !ok || db != "warehouse" || tb != "t" {
		t.Fatal("the catalog database named warehouse", db, tb, ok)
	}
	if got := ObjectDataset("s3://b/raw/x/"); got != (DatasetRef{Namespace: "s3://b", Name: "raw/x"}) {
		t.Fatal(got)
	}
	if got := ObjectDataset("s3://b"); got != (DatasetRef{Namespace: "s3://b", Name: "/"}) {
		t.Fatal(got)
	}
}

// An event posted from outside with another's run id and job is not paired
// with that run's events: it cannot add inputs to a table it did not write.
func TestLineageSourcesDoNotMix(t *testing.T) {
	c := newTestCatalog(t)
	ctx := context.Background()
	out, in, forged := TableDataset("db", "out"), TableDataset("db", "in"), TableDataset("db", "forged")
	mustNoErr(t, c.RecordLineage(ctx, lineageEvent(LineageComplete, "job.x", "r1", t0, []DatasetRef{in}, []DatasetRef{out}, 1)))
	mustNoErr(t, c.RecordExternalLineage(ctx, "key:EVIL", lineageEvent(LineageStart, "job.x", "r1", t0, []DatasetRef{forged}, nil, -1)))
	mustNoErr(t, c.RecordExternalLineage(ctx, "key:EVIL", lineageEvent(LineageComplete, "job.x", "r1", t0, []DatasetRef{forged}, nil, -1)))
	g, err := c.Lineage(ctx, out, LineageQuery{Direction: Upstream})
	mustNoErr(t, err)
	if len(g.Nodes) != 2 || g.Nodes[0].Dataset != in {
		t.Fatalf("nodes = %+v", g.Nodes)
	}
	if err := c.RecordExternalLineage(ctx, "", lineageEvent(LineageComplete, "j", "r", t0, nil, nil, -1)); err == nil {
		t.Fatal("an external event without a source was recorded")
	}
}

// An event that cannot be recorded in a writer's transaction leaves the
// transaction as it was: the write still commits.
func TestRecordLineageTxFailureKeepsTheWrite(t *testing.T) {
	c := newTestCatalog(t)
	ctx := context.Background()
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	err := c.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := c.CreateTableTx(ctx, tx, salesTable()); err != nil {
			return err
		}
		bad := lineageEvent(LineageComplete, "job.x", "r", t0, nil, []DatasetRef{TableDataset("sales", "orders")}, 1)
		bad.Run.RunID = ""
		if err := c.RecordLineageTx(ctx, tx, bad); !errors.Is(err, ErrInvalidLineage) {
			t.Errorf("bad event: %v", err)
		}
		return c.RecordLineageTx(ctx, tx, lineageEvent(LineageComplete, "job.x", "r", t0, nil, []DatasetRef{TableDataset("sales", "orders")}, 1))
	})
	mustNoErr(t, err)
	if _, err := c.GetTable(ctx, salesTable().Database, salesTable().Name); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.LatestWrite(ctx, TableDataset("sales", "orders")); !ok {
		t.Fatal("the good event was not recorded")
	}
}
