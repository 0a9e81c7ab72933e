package crawler

import (
	"testing"

	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/iceberg"
)

// TestCrawlerLeavesIcebergTablesAlone: a crawl over a prefix that holds
// Iceberg tables (tarn's own, or folders another engine wrote with their
// metadata/) creates no Hive table over their files and changes no Iceberg
// table, while the plain folders beside them are crawled as usual.
func TestCrawlerLeavesIcebergTablesAlone(t *testing.T) {
	e := newEnv(t)
	ic, err := iceberg.New(iceberg.DefaultConfig(), e.cat, e.db, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := ic.CreateNamespace(e.ctx, table.Identifier{"raw"}, nil); err != nil {
		t.Fatal(err)
	}
	sc := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.Int64, Required: true})
	tbl, err := ic.CreateTable(e.ctx, table.Identifier{"raw", "ice"}, sc, icecat.WithLocation("s3://lake/raw/ice"))
	if err != nil {
		t.Fatal(err)
	}
	before := iceberg.MetadataLocation(e.table("ice"))
	if before == "" || before != tbl.MetadataLocation() {
		t.Fatalf("metadata location %q", before)
	}
	// A data file under it, and a table another engine left without a
	// catalog entry (its metadata/ says what it is).
	e.putString("raw/ice/data/00000-x.json", `{"id": 1}`+"\n")
	e.putString("raw/foreign/metadata/00001-abc.metadata.json", `{"format-version": 2}`)
	e.putString("raw/foreign/data/part.json", `{"id": 2}`+"\n")
	e.putString("raw/plain/a.json", `{"id": 3}`+"\n")

	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if r.FilesScanned != 1 {
		t.Errorf("scanned %d files, want only raw/plain/a.json", r.FilesScanned)
	}
	if got := e.table("plain"); got.Location != "s3://lake/raw/plain/" {
		t.Errorf("plain: %+v", got)
	}
	after := e.table("ice")
	if !iceberg.IsIceberg(after) || iceberg.MetadataLocation(after) != before || len(after.PartitionKeys) != 0 {
		t.Errorf("the crawl changed the Iceberg table: %+v", after)
	}
	for _, name := range []string{"foreign", "data", "metadata"} {
		if _, err := e.cat.GetTable(e.ctx, "raw", name); err == nil {
			t.Errorf("a table %q was made from an Iceberg table's files", name)
		}
	}
}
