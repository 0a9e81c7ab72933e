package query_test

import (
	"context"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/query"
)

// CTAS, INSERT INTO and UNLOAD record what they read and wrote.
func TestWritesRecordLineage(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS lin")
	mustRun(t, l.Query, "CREATE TABLE lin.a WITH (external_location = 's3://lake/lin/a/') AS SELECT 1 AS x")
	mustRun(t, l.Query, "CREATE TABLE lin.b WITH (external_location = 's3://lake/lin/b/') AS SELECT x FROM lin.a")
	_, ins := mustRun(t, l.Query, "INSERT INTO lin.b SELECT x + 1 FROM lin.a UNION ALL SELECT x FROM lin.b")
	mustRun(t, l.Query, "UNLOAD (SELECT x FROM lin.b) TO 's3://lake/out/b/' WITH (format = 'PARQUET')")

	g, err := l.Catalog.TableLineage(ctx, "lin", "b", catalog.LineageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range g.Nodes {
		names = append(names, n.Dataset.String())
	}
	if len(g.Nodes) != 3 || g.Nodes[0].Dataset != catalog.TableDataset("lin", "a") || g.Nodes[2].Dataset != (catalog.DatasetRef{Namespace: "s3://lake", Name: "out/b"}) {
		t.Fatalf("nodes = %q", names)
	}
	w := g.Nodes[1].Write
	if w == nil || w.RunID != ins.ID || w.Rows != 2 || w.JobName != query.LineageJobName("") || w.JobType != catalog.LineageJobTypeQuery {
		t.Fatalf("latest write of lin.b = %+v (insert %s)", w, ins.ID)
	}
	for _, e := range g.Edges {
		if e.Input == e.Output {
			t.Errorf("a self edge: %+v", e)
		}
	}
	// lin.a came from no table: a CTAS of constants has no inputs.
	up, err := l.Catalog.TableLineage(ctx, "lin", "a", catalog.LineageQuery{Direction: catalog.Upstream})
	if err != nil || len(up.Nodes) != 1 || up.Nodes[0].Write == nil || up.Nodes[0].Write.Rows != 1 {
		t.Fatalf("lin.a: %+v %v", up.Nodes, err)
	}
}

// CTAS, INSERT INTO and MERGE of Iceberg tables record their source
// tables; a MERGE's target is not its own input.
func TestIcebergMergeRecordsLineage(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS lin")
	mustRun(t, l.Query, "CREATE TABLE lin.changes WITH (external_location = 's3://lake/lin/changes/') AS SELECT 1 AS id, 'b' AS v UNION ALL SELECT 3, 'c'")
	mustRun(t, l.Query, `CREATE TABLE lin.ice (id int, v string) LOCATION 's3://lake/ice/lin/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	mustRun(t, l.Query, "INSERT INTO lin.ice VALUES (1, 'a'), (2, 'x')")
	mustRun(t, l.Query, "CREATE TABLE lin.ice2 WITH (table_type = 'ICEBERG', location = 's3://lake/ice/lin2/') AS SELECT id, v FROM lin.changes")
	_, ins := mustRun(t, l.Query, "INSERT INTO lin.ice2 SELECT id + 10, v FROM lin.changes")
	g2, err := l.Catalog.TableLineage(ctx, "lin", "ice2", catalog.LineageQuery{Direction: catalog.Upstream})
	if err != nil || len(g2.Nodes) != 2 || g2.Nodes[0].Dataset != catalog.TableDataset("lin", "changes") || g2.Nodes[1].Write == nil || g2.Nodes[1].Write.RunID != ins.ID || g2.Nodes[1].Write.Rows != 2 {
		t.Fatalf("Iceberg CTAS and INSERT: %+v %v", g2.Nodes, err)
	}
	_, m := mustRun(t, l.Query, `MERGE INTO lin.ice t USING lin.changes c ON t.id = c.id
		WHEN MATCHED THEN UPDATE SET v = c.v WHEN NOT MATCHED THEN INSERT VALUES (c.id, c.v)`)
	g, err := l.Catalog.TableLineage(ctx, "lin", "ice", catalog.LineageQuery{Direction: catalog.Upstream})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Dataset != catalog.TableDataset("lin", "changes") {
		t.Fatalf("nodes = %+v", g.Nodes)
	}
	if w := g.Nodes[1].Write; w == nil || w.RunID != m.ID || w.Rows != 2 {
		t.Fatalf("write = %+v, merge %s", w, m.ID)
	}
}
