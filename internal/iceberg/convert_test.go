package iceberg

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// writeParquet stores a Parquet file of (id bigint, name string) rows, as a
// Hive-style writer leaves it: without the partition columns.
func writeParquet(tb testing.TB, l *testLake, uri string, ids ...int64) catalog.DataFile {
	tb.Helper()
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	var rows []string
	for _, id := range ids {
		rows = append(rows, fmt.Sprintf(`{"id": %d, "name": "n%d"}`, id, id))
	}
	js := "["
	for i, r := range rows {
		if i > 0 {
			js += ","
		}
		js += r
	}
	at, err := array.TableFromJSON(memory.DefaultAllocator, sc, []string{js + "]"})
	mustNoErr(tb, err)
	defer at.Release()
	var buf bytes.Buffer
	mustNoErr(tb, pqarrow.WriteTable(at, &buf, 1024, nil, pqarrow.DefaultWriterProps()))
	mustNoErr(tb, NewIO(l.store).WithContext(context.Background()).WriteFile(uri, buf.Bytes()))
	return catalog.DataFile{URI: uri, Size: int64(buf.Len()), Rows: int64(len(ids))}
}

func hiveTable(name string, manifest bool) catalog.Table {
	t := catalog.Table{Database: "sales", Name: name, Location: "s3://lake/curated/" + name, Format: "parquet",
		Description:   "events by year",
		Columns:       []catalog.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "string"}},
		PartitionKeys: []catalog.Column{{Name: "year", Type: "int"}, {Name: "country", Type: "string"}},
		Properties:    map[string]string{catalog.PropertyClassification: "parquet"}}
	if manifest {
		t.Properties[catalog.PropertyManifest] = "true"
	}
	return t
}

// partitionsOf returns "year/country" of each planned file, sorted.
func partitionsOf(tb testing.TB, tbl *table.Table) []string {
	tb.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	mustNoErr(tb, err)
	var out []string
	for _, task := range tasks {
		p := task.File.Partition()
		out = append(out, fmt.Sprintf("%v/%v", p[1000], p[1001]))
	}
	slices.Sort(out)
	return out
}

func TestConvertManifestTable(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	mustNoErr(t, l.cat.CreateTable(ctx, hiveTable("events", true)))
	base := "s3://lake/curated/events/"
	f1 := writeParquet(t, l, base+"year=2024/country=fr/part-0.parquet", 1, 2)
	f1.Values = []string{"2024", "fr"}
	f2 := writeParquet(t, l, base+"year=2025/country=de/part-0.parquet", 3)
	f2.Values = []string{"2025", "de"}
	f3 := writeParquet(t, l, base+"year=2025/country=__HIVE_DEFAULT_PARTITION__/part-0.parquet", 4)
	f3.Values = []string{"2025", "__HIVE_DEFAULT_PARTITION__"}
	mustNoErr(t, l.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := l.cat.PublishFilesTx(ctx, tx, "sales", "events", []catalog.DataFile{f1, f2, f3}, catalog.Replace{})
		return err
	}))

	tbl, err := l.ice.ConvertToIceberg(ctx, "Sales", "Events")
	mustNoErr(t, err)
	row, err := l.cat.GetTable(ctx, "sales", "events")
	mustNoErr(t, err)
	if !IsIceberg(row) || MetadataLocation(row) != tbl.MetadataLocation() || len(row.PartitionKeys) != 0 ||
		row.HasManifest() || row.Location != "s3://lake/curated/events" || row.Description != "events by year" {
		t.Fatalf("row = %+v", row)
	}
	wantCols := []catalog.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "string"}, {Name: "year", Type: "int"}, {Name: "country", Type: "string"}}
	if !slices.Equal(row.Columns, wantCols) {
		t.Fatalf("columns = %+v", row.Columns)
	}
	if parts, err := l.cat.ListPartitions(ctx, "sales", "events"); err != nil || len(parts) != 0 {
		t.Fatalf("partitions left: %v %v", parts, err)
	}

	loaded, err := l.ice.LoadTable(ctx, table.Identifier{"sales", "events"})
	mustNoErr(t, err)
	if got := scanIDs(t, loaded); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("scan = %v", got)
	}
	if got := partitionsOf(t, loaded); !slices.Equal(got, []string{"2024/fr", "2025/<nil>", "2025/de"}) {
		t.Fatalf("partitions = %v", got)
	}
	spec := loaded.Spec()
	if spec.NumFields() != 2 || spec.Field(0).Name != "year" || spec.Field(0).Transform.String() != "identity" {
		t.Fatalf("spec = %v", spec)
	}
	if loaded.Properties()[table.DefaultNameMappingKey] == "" {
		t.Fatal("no name mapping")
	}
	snap := loaded.CurrentSnapshot()
	if snap == nil || snap.Summary.Properties["added-records"] != "4" {
		t.Fatalf("snapshot = %+v", snap)
	}
	// No file was rewritten: the data files are the table's own.
	for _, f := range []catalog.DataFile{f1, f2, f3} {
		info, err := l.store.Head(ctx, "lake", f.URI[len("s3://lake/"):])
		mustNoErr(t, err)
		if info.Size != f.Size {
			t.Fatalf("%s changed", f.URI)
		}
	}
	// It is an Iceberg table like any other now: append, filter.
	loaded = appendRows(t, loaded, `{"id": 5, "year": 2026, "country": "it"}`)
	if got := scanIDs(t, loaded); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("scan after append = %v", got)
	}

	if _, err := l.ice.ConvertToIceberg(ctx, "sales", "events"); !errors.Is(err, ErrCannotConvert) {
		t.Fatalf("second convert = %v", err)
	}
}

func TestConvertListedTableAndRefusals(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	// A crawled table without a manifest: its files are found below its
	// partitions; hidden files are left out.
	mustNoErr(t, l.cat.CreateTable(ctx, hiveTable("crawled", false)))
	base := "s3://lake/curated/crawled/"
	writeParquet(t, l, base+"year=2024/country=fr/a.parquet", 1)
	writeParquet(t, l, base+"year=2024/country=fr/b.parquet", 2)
	mustNoErr(t, NewIO(l.store).WithContext(ctx).WriteFile(base+"year=2024/country=fr/_SUCCESS", nil))
	mustNoErr(t, NewIO(l.store).WithContext(ctx).WriteFile(base+"year=2024/country=fr/_staging/run1/x.parquet", []byte("junk")))
	writeParquet(t, l, base+"year=2024/country=es/c.parquet", 3)
	writeParquet(t, l, base+"year=2024/country=xx/unregistered.parquet", 99) // not a partition
	_, err := l.cat.AddPartitions(ctx, "sales", "crawled", []catalog.Partition{
		{Values: []string{"2024", "fr"}}, {Values: []string{"2024", "es"}, Location: base + "year=2024/country=es/"},
		{Values: []string{"2023", "fr"}}}, false) // an empty one
	mustNoErr(t, err)
	tbl, err := l.ice.ConvertToIceberg(ctx, "sales", "crawled")
	mustNoErr(t, err)
	if got := scanIDs(t, tbl); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("scan = %v", got)
	}

	// A file outside the table's location is refused, and nothing changes.
	mustNoErr(t, l.cat.CreateTable(ctx, hiveTable("leaky", true)))
	inside := writeParquet(t, l, "s3://lake/curated/leaky/year=2024/country=fr/a.parquet", 1)
	inside.Values = []string{"2024", "fr"}
	outside := writeParquet(t, l, "s3://lake/secret/a.parquet", 7)
	outside.Values = []string{"2024", "fr"}
	mustNoErr(t, l.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := l.cat.PublishFilesTx(ctx, tx, "sales", "leaky", []catalog.DataFile{inside, outside}, catalog.Replace{})
		return err
	}))
	if _, err := l.ice.ConvertToIceberg(ctx, "sales", "leaky"); !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("convert with a file outside = %v", err)
	}
	row, err := l.cat.GetTable(ctx, "sales", "leaky")
	mustNoErr(t, err)
	if IsIceberg(row) || len(row.PartitionKeys) != 2 {
		t.Fatalf("refused conversion changed the table: %+v", row)
	}
	// CSV tables and unknown tables are refused.
	mustNoErr(t, l.cat.CreateTable(ctx, catalog.Table{Database: "sales", Name: "csv", Location: "s3://lake/raw/csv",
		Format: "csv", Columns: []catalog.Column{{Name: "a", Type: "int"}}}))
	if _, err := l.ice.ConvertToIceberg(ctx, "sales", "csv"); !errors.Is(err, ErrCannotConvert) {
		t.Fatalf("convert csv = %v", err)
	}
	if _, err := l.ice.ConvertToIceberg(ctx, "sales", "nope"); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("convert missing = %v", err)
	}
}
