package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// icebergLake is an engine with tarn's Iceberg catalog over the same store
// and metadata, and a database "db" in bucket "lake".
func icebergLake(t *testing.T) (*engine.Engine, *iceberg.Catalog, *catalog.Catalog) {
	e, ic, cat, _ := icebergLakeHome(t)
	return e, ic, cat
}

func icebergLakeHome(t *testing.T) (*engine.Engine, *iceberg.Catalog, *catalog.Catalog, string) {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(home, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := catalog.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	ic, err := iceberg.New(iceberg.DefaultConfig(), cat, db, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := ic.CreateNamespace(ctx, table.Identifier{"db"}, nil); err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig(home)
	cfg.Sessions = 2
	e, err := engine.New(ctx, cfg, store, cat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, ic, cat, home
}

var peopleSchema = ice.NewSchema(0,
	ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.Int64, Required: true},
	ice.NestedField{ID: 2, Name: "name", Type: ice.PrimitiveTypes.String},
)

func appendPeople(t *testing.T, tbl *table.Table, ids []int64, names []string) *table.Table {
	t.Helper()
	ctx := context.Background()
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range ids {
		b.Field(0).(*array.Int64Builder).Append(ids[i])
		b.Field(1).(*array.StringBuilder).Append(names[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	at := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	defer at.Release()
	tx := tbl.NewTransaction()
	if err := tx.AppendTable(ctx, at, 1024, nil); err != nil {
		t.Fatal(err)
	}
	out, err := tx.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func query(t *testing.T, e *engine.Engine, q string) ([]string, *engine.Bound, error) {
	t.Helper()
	ctx := context.Background()
	s, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	b, err := s.Bind(ctx, q, "db")
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.Conn().QueryContext(ctx, b.SQL)
	if err != nil {
		return nil, b, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, fmt.Sprint(v))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out, b, rows.Err()
}

func TestIcebergRead(t *testing.T) {
	e, ic, _ := icebergLake(t)
	ctx := context.Background()
	tbl, err := ic.CreateTable(ctx, table.Identifier{"db", "people"}, peopleSchema)
	if err != nil {
		t.Fatal(err)
	}
	// An empty table reads as no rows, with its columns.
	got, _, err := query(t, e, "SELECT count(*) FROM people")
	if err != nil || strings.Join(got, ",") != "0" {
		t.Fatalf("empty table: %v %v", got, err)
	}
	tbl = appendPeople(t, tbl, []int64{1, 2}, []string{"ann", "bob"})
	first := tbl.CurrentSnapshot().SnapshotID
	tbl = appendPeople(t, tbl, []int64{3}, []string{"cid"})

	want := func(q, w string) {
		t.Helper()
		got, _, err := query(t, e, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if g := strings.Join(got, ","); g != w {
			t.Fatalf("%s:\n got %s\nwant %s", q, g, w)
		}
	}
	want("SELECT id, name FROM db.people ORDER BY id", "1|ann,2|bob,3|cid")
	want(fmt.Sprintf("SELECT id FROM db.people FOR VERSION AS OF %d p ORDER BY p.id", first), "1,2")
	want(fmt.Sprintf("SELECT a.id, b.id FROM people FOR VERSION AS OF %d a RIGHT JOIN people b ON a.id = b.id ORDER BY b.id", first), "1|1,2|2,<nil>|3")
	want("SELECT count(*) FROM people FOR TIMESTAMP AS OF current_timestamp", "3")
	want("SELECT count(*), sum(added_data_files_count) FROM \"people$manifests\"", "2|2")
	want("SELECT count(*) FROM \"db\".\"people$snapshots\"", "2")
	want("SELECT operation FROM \"people$snapshots\" ORDER BY committed_at LIMIT 1", "append")
	want("SELECT sum(record_count) FROM \"people$files\"", "3")

	// Schema evolution: a renamed column reads the old files by field id, an
	// added one is NULL in them.
	tx := tbl.NewTransaction()
	upd := tx.UpdateSchema(true, false)
	upd.RenameColumn([]string{"name"}, "full_name")
	upd.AddColumn([]string{"age"}, ice.PrimitiveTypes.Int32, "", false, nil)
	if err := upd.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want("SELECT id, full_name, age FROM people ORDER BY id", "1|ann|<nil>,2|bob|<nil>,3|cid|<nil>")
	// The old snapshot reads with its own schema.
	want(fmt.Sprintf("SELECT name FROM people FOR VERSION AS OF %d ORDER BY 1", first), "ann,bob")

	// Errors a user can act on.
	for q, msg := range map[string]string{
		"SELECT * FROM people FOR VERSION AS OF 42":                       "has no snapshot 42",
		"SELECT * FROM people FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01'": "no snapshot at or before",
		"SELECT * FROM people FOR VERSION AS OF (SELECT 1)":               "takes a constant",
		"SELECT * FROM \"people$nope\"":                                   "no metadata table $nope",
		"SELECT * FROM people FOR VERSION AS OF NULL":                     "is NULL",
	} {
		if _, _, err := query(t, e, q); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want %q", q, err, msg)
		}
	}
}

// TestIcebergReadRefusesFilesOutsideLocation: a commit (say through the REST
// catalog) may name any data file; the binder reads only files under the
// table's location, which is what the reader's rights were checked on.
func TestIcebergReadRefusesFilesOutsideLocation(t *testing.T) {
	e, ic, _ := icebergLake(t)
	ctx := context.Background()
	other, err := ic.CreateTable(ctx, table.Identifier{"db", "secret"}, peopleSchema)
	if err != nil {
		t.Fatal(err)
	}
	other = appendPeople(t, other, []int64{7}, []string{"hidden"})
	tbl, err := ic.CreateTable(ctx, table.Identifier{"db", "open"}, peopleSchema)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := other.Scan().PlanFiles(ctx)
	if err != nil || len(tasks) == 0 {
		t.Fatal(tasks, err)
	}
	var files []ice.DataFile
	for _, task := range tasks {
		files = append(files, task.File)
	}
	tx := tbl.NewTransaction()
	err = tx.AddDataFiles(ctx, files, nil)
	if err == nil {
		_, err = tx.Commit(ctx)
	}
	if err != nil {
		// Refused at the commit: as good, as long as it is this refusal.
		if !strings.Contains(err.Error(), "outside") {
			t.Fatalf("commit failed for another reason: %v", err)
		}
		return
	}
	if _, _, err := query(t, e, "SELECT * FROM open"); err == nil || !strings.Contains(err.Error(), "outside its location") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

// TestIcebergReadDeletes reads tables with the delete files other engines
// write (merge-on-read): position deletes and equality deletes, written here
// by iceberg-go as Spark or Flink would.
func TestIcebergReadDeletes(t *testing.T) {
	e, ic, _ := icebergLake(t)
	ctx := context.Background()
	tbl, err := ic.CreateTable(ctx, table.Identifier{"db", "mor"}, peopleSchema,
		icecat.WithProperties(ice.Properties{table.WriteDeleteModeKey: table.WriteModeMergeOnRead}))
	if err != nil {
		t.Fatal(err)
	}
	tbl = appendPeople(t, tbl, []int64{1, 2, 3, 4}, []string{"a", "b", "c", "d"})
	tbl = appendPeople(t, tbl, []int64{5, 6}, []string{"e", "f"})

	// Position deletes: rows 2 and 5.
	tbl, err = tbl.Delete(ctx, ice.IsIn(ice.Reference("id"), int64(2), int64(5)), nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for _, task := range tasks {
		pos += len(task.DeleteFiles)
	}
	if pos == 0 {
		t.Fatal("iceberg-go wrote no position delete files; the test reads none")
	}
	got, _, err := query(t, e, "SELECT id FROM mor ORDER BY id")
	if err != nil || strings.Join(got, ",") != "1,3,4,6" {
		t.Fatalf("after position deletes: %v %v", got, err)
	}

	// Equality deletes: every row with id 3 or 6, in data files written
	// before the delete file (later rows with those ids stay).
	sc, err := table.SchemaToArrowSchema(ice.NewSchema(0, peopleSchema.Field(0)), nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{3, 6}, nil)
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	tx := tbl.NewTransaction()
	if err := tx.CommitEqualityDeletes(ctx, []int{1}, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }, nil); err != nil {
		t.Fatal(err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tbl = appendPeople(t, tbl, []int64{3}, []string{"c again"})
	got, _, err = query(t, e, "SELECT id, name FROM mor ORDER BY id")
	if err != nil || strings.Join(got, ",") != "1|a,3|c again,4|d" {
		t.Fatalf("after equality deletes: %v %v", got, err)
	}
	// The same through iceberg-go's own reader, so both agree.
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	if at.NumRows() != 3 {
		t.Fatalf("iceberg-go reads %d rows, tarn 3", at.NumRows())
	}
}

// BenchmarkIcebergBind binds a query over a table of many small commits
// (a file each), with the snapshot's plan cached after the first bind.
func BenchmarkIcebergBind(b *testing.B) {
	t := &testing.T{}
	e, ic, _ := icebergLake(t)
	ctx := context.Background()
	tbl, err := ic.CreateTable(ctx, table.Identifier{"db", "many"}, peopleSchema)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		tbl = appendPeople(t, tbl, []int64{int64(i)}, []string{"x"})
	}
	s, err := e.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Release()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Bind(ctx, "SELECT count(*) FROM many", "db"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIcebergReadConverted reads a Hive-style Parquet table converted in
// place: its files have no field ids (read by the name mapping) and lack
// the partition keys (filled from the files' partition values).
func TestIcebergReadConverted(t *testing.T) {
	e, ic, cat, home := icebergLakeHome(t)
	ctx := context.Background()
	tbl := catalog.Table{Database: "db", Name: "events", Location: "s3://lake/curated/events", Format: "parquet",
		Columns:       []catalog.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "string"}},
		PartitionKeys: []catalog.Column{{Name: "year", Type: "int"}, {Name: "country", Type: "string"}},
		Properties:    map[string]string{catalog.PropertyClassification: "parquet"}}
	if err := cat.CreateTable(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	write := func(key, sel string) {
		t.Helper()
		local := filepath.Join(home, "objects", "lake", "curated", "events", filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet)", sel, local)); err != nil {
			t.Fatal(err)
		}
	}
	write("year=2024/country=fr/a.parquet", "SELECT 1::BIGINT AS id, 'ann' AS name UNION ALL SELECT 2, 'bob'")
	write("year=2025/country=de/b.parquet", "SELECT 3::BIGINT AS id, 'cid' AS name")
	if _, err := cat.AddPartitions(ctx, "db", "events", []catalog.Partition{{Values: []string{"2024", "fr"}}, {Values: []string{"2025", "de"}}}, false); err != nil {
		t.Fatal(err)
	}
	before, _, err := query(t, e, "SELECT id, name, year, country FROM events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.ConvertToIceberg(ctx, "db", "events"); err != nil {
		t.Fatal(err)
	}
	after, _, err := query(t, e, "SELECT id, name, year, country FROM events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(after, ",") != "1|ann|2024|fr,2|bob|2024|fr,3|cid|2025|de" || strings.Join(before, ",") != strings.Join(after, ",") {
		t.Fatalf("before %v, after %v", before, after)
	}
}
