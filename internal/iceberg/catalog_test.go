package iceberg

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

type testLake struct {
	ice   *Catalog
	cat   *catalog.Catalog
	db    *meta.DB
	store *fs.Store
}

// newTestLake opens a real SQLite metadata database, tarn's catalog and a
// filesystem store in a temp folder, with the database "sales".
func newTestLake(tb testing.TB) *testLake {
	tb.Helper()
	ctx := context.Background()
	db, err := meta.Open(ctx, metatest.Config(tb, filepath.Join(tb.TempDir(), "meta.db")))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	cat, err := catalog.New(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	st := newTestStore(tb)
	c, err := New(DefaultConfig(), cat, db, st)
	if err != nil {
		tb.Fatal(err)
	}
	mustNoErr(tb, cat.CreateDatabase(ctx, catalog.Database{Name: "sales"}, false))
	return &testLake{ice: c, cat: cat, db: db, store: st}
}

var ordersSchema = ice.NewSchema(0,
	ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.Int64, Required: true, Doc: "the key"},
	ice.NestedField{ID: 2, Name: "customer", Type: ice.PrimitiveTypes.String},
	ice.NestedField{ID: 3, Name: "amount", Type: ice.DecimalTypeOf(10, 2)},
	ice.NestedField{ID: 4, Name: "at", Type: ice.PrimitiveTypes.TimestampTz},
	ice.NestedField{ID: 5, Name: "tags", Type: &ice.ListType{ElementID: 6, Element: ice.PrimitiveTypes.String}},
)

var ordersIdent = table.Identifier{"sales", "orders"}

// arrowRows builds an Arrow table of (id, customer) rows in the table's
// schema.
func arrowRows(tb testing.TB, tbl *table.Table, rows ...string) arrow.Table {
	tb.Helper()
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	mustNoErr(tb, err)
	at, err := array.TableFromJSON(memory.DefaultAllocator, sc, []string{"[" + strings.Join(rows, ",") + "]"})
	mustNoErr(tb, err)
	tb.Cleanup(at.Release)
	return at
}

func appendRows(tb testing.TB, tbl *table.Table, rows ...string) *table.Table {
	tb.Helper()
	ctx := context.Background()
	tx := tbl.NewTransaction()
	mustNoErr(tb, tx.AppendTable(ctx, arrowRows(tb, tbl, rows...), 1000, nil))
	out, err := tx.Commit(ctx)
	mustNoErr(tb, err)
	return out
}

// scanIDs reads the table back with iceberg-go's scanner and returns the
// ids, sorted.
func scanIDs(tb testing.TB, tbl *table.Table, opts ...table.ScanOption) []int64 {
	tb.Helper()
	at, err := tbl.Scan(opts...).ToArrowTable(context.Background())
	mustNoErr(tb, err)
	defer at.Release()
	var ids []int64
	idx := at.Schema().FieldIndices("id")[0]
	for _, ch := range at.Column(idx).Data().Chunks() {
		ids = append(ids, ch.(*array.Int64).Int64Values()...)
	}
	slices.Sort(ids)
	return ids
}

var metadataNameRE = regexp.MustCompile(`^s3://lake/warehouse/sales/orders/metadata/(\d{5})-[0-9a-f-]{36}\.metadata\.json$`)

func TestCreateAppendScan(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	tbl, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema,
		icecat.WithProperties(ice.Properties{"comment": "all orders"}))
	mustNoErr(t, err)
	if tbl.Metadata().Version() != 2 || tbl.Location() != "s3://lake/warehouse/sales/orders" {
		t.Fatalf("created v%d at %s", tbl.Metadata().Version(), tbl.Location())
	}
	if m := metadataNameRE.FindStringSubmatch(tbl.MetadataLocation()); m == nil || m[1] != "00000" {
		t.Fatalf("metadata location %q", tbl.MetadataLocation())
	}

	// The catalog row, as Glue shows an Iceberg table.
	row, err := l.cat.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if !IsIceberg(row) || MetadataLocation(row) != tbl.MetadataLocation() || row.Properties[PropertyTableType] != "ICEBERG" ||
		row.TableType != catalog.TableTypeExternal || row.Format != catalog.FormatParquet || row.Location != tbl.Location() ||
		len(row.PartitionKeys) != 0 || row.Description != "all orders" {
		t.Fatalf("row = %+v", row)
	}
	wantCols := []catalog.Column{{Name: "id", Type: "bigint", Comment: "the key"}, {Name: "customer", Type: "string"},
		{Name: "amount", Type: "decimal(10,2)"}, {Name: "at", Type: "timestamp"}, {Name: "tags", Type: "array<string>"}}
	if !slices.Equal(row.Columns, wantCols) {
		t.Fatalf("columns = %+v", row.Columns)
	}

	tbl = appendRows(t, tbl, `{"id": 1, "customer": "ann", "amount": "12.50", "tags": ["a"]}`, `{"id": 2, "customer": "bob"}`)
	tbl = appendRows(t, tbl, `{"id": 3, "customer": "cy"}`)
	if m := metadataNameRE.FindStringSubmatch(tbl.MetadataLocation()); m == nil || m[1] != "00002" {
		t.Fatalf("metadata location after 2 commits %q", tbl.MetadataLocation())
	}

	// A fresh load sees both snapshots, through the catalog row.
	loaded, err := l.ice.LoadTable(ctx, table.Identifier{"SALES", "Orders"})
	mustNoErr(t, err)
	if loaded.MetadataLocation() != tbl.MetadataLocation() || len(loaded.Metadata().Snapshots()) != 2 {
		t.Fatalf("loaded %s with %d snapshots", loaded.MetadataLocation(), len(loaded.Metadata().Snapshots()))
	}
	if got := scanIDs(t, loaded); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("scan = %v", got)
	}
	first := loaded.Metadata().Snapshots()[0].SnapshotID
	if got := scanIDs(t, loaded, table.WithSnapshotID(first)); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("scan of the first snapshot = %v", got)
	}
	row, err = l.cat.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if MetadataLocation(row) != tbl.MetadataLocation() || row.Properties[PropertyPreviousMetadataLocation] == "" {
		t.Fatalf("row after commits = %v", row.Properties)
	}
	// Data files are below the table's location.
	files := 0
	mustNoErr(t, NewIO(l.store).WithContext(ctx).WalkDir(tbl.Location()+"/data", func(p string, d iofs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return err
	}))
	if files != 2 {
		t.Fatalf("%d data files", files)
	}

	// Schema evolution updates the columns mirror in the commit.
	tx := loaded.NewTransaction()
	mustNoErr(t, tx.UpdateSchema(true, false).AddColumn([]string{"note"}, ice.PrimitiveTypes.String, "", false, nil).Commit())
	_, err = tx.Commit(ctx)
	mustNoErr(t, err)
	row, err = l.cat.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if len(row.Columns) != 6 || row.Columns[5] != (catalog.Column{Name: "note", Type: "string"}) {
		t.Fatalf("columns after evolution = %+v", row.Columns)
	}
	vs, err := l.cat.SchemaVersions(ctx, "sales", "orders")
	mustNoErr(t, err)
	if len(vs) != 2 || vs[1].Changes[0].Kind != catalog.ChangeColumnAdded {
		t.Fatalf("schema versions = %+v", vs)
	}
}

func TestConcurrentCommitsOneWins(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	tbl, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	tbl = appendRows(t, tbl, `{"id": 1}`)

	// Two writers stage from the same base; their CommitTable calls race.
	stage := func(id int) (reqs []table.Requirement, ups []table.Update) {
		tx := tbl.NewTransaction()
		mustNoErr(t, tx.AppendTable(ctx, arrowRows(t, tbl, `{"id": `+string(rune('0'+id))+`}`), 100, nil))
		// What Transaction.Commit sends: the requirements and updates.
		tc, err := tx.TableCommit()
		mustNoErr(t, err)
		return tc.Requirements, tc.Updates
	}
	r1, u1 := stage(2)
	r2, u2 := stage(3)
	type result struct {
		loc string
		err error
	}
	results := make(chan result, 2)
	for _, c := range [][2]any{{r1, u1}, {r2, u2}} {
		go func() {
			_, loc, err := l.ice.CommitTable(ctx, ordersIdent, c[0].([]table.Requirement), c[1].([]table.Update))
			results <- result{loc, err}
		}()
	}
	var won, lost int
	var lostErr error
	for range 2 {
		r := <-results
		switch {
		case r.err == nil:
			won++
		case errors.Is(r.err, table.ErrCommitFailed):
			lost++
			lostErr = r.err
		default:
			t.Fatalf("commit: %v", r.err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("won %d, lost %d", won, lost)
	}
	if !errors.Is(lostErr, ErrRequirementFailed) && !strings.Contains(lostErr.Error(), "changed concurrently") {
		t.Fatalf("lost with %v", lostErr)
	}
	// The loser's metadata file was removed: only versions 0, 1, 2 remain.
	var metas []string
	mustNoErr(t, NewIO(l.store).WithContext(ctx).WalkDir(tbl.Location()+"/metadata", func(p string, d iofs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".metadata.json") {
			metas = append(metas, p[strings.LastIndex(p, "/")+1:][:5])
		}
		return err
	}))
	slices.Sort(metas)
	if !slices.Equal(metas, []string{"00000", "00001", "00002"}) {
		t.Fatalf("metadata files = %v", metas)
	}
	loaded, err := l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	if got := scanIDs(t, loaded); len(got) != 2 || got[0] != 1 {
		t.Fatalf("after the race: %v", got)
	}

	// Through iceberg-go's transactions (no retries by default), the second
	// of two transactions from one base fails cleanly: nothing is lost.
	a, b := loaded.NewTransaction(), loaded.NewTransaction()
	mustNoErr(t, a.AppendTable(ctx, arrowRows(t, loaded, `{"id": 10}`), 100, nil))
	mustNoErr(t, b.AppendTable(ctx, arrowRows(t, loaded, `{"id": 11}`), 100, nil))
	_, err = a.Commit(ctx)
	mustNoErr(t, err)
	if _, err = b.Commit(ctx); !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("second commit without retries = %v", err)
	}
	loaded, err = l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	if got := scanIDs(t, loaded); len(got) != 3 || got[2] != 10 {
		t.Fatalf("after a refused commit: %v", got)
	}

	// With retries on, the loser refreshes and replays: both are kept.
	tx := loaded.NewTransaction()
	mustNoErr(t, tx.SetProperties(ice.Properties{table.CommitNumRetriesKey: "3", table.CommitMinRetryWaitMsKey: "1", table.CommitMaxRetryWaitMsKey: "5"}))
	loaded, err = tx.Commit(ctx)
	mustNoErr(t, err)
	a, b = loaded.NewTransaction(), loaded.NewTransaction()
	mustNoErr(t, a.AppendTable(ctx, arrowRows(t, loaded, `{"id": 20}`), 100, nil))
	mustNoErr(t, b.AppendTable(ctx, arrowRows(t, loaded, `{"id": 21}`), 100, nil))
	_, err = a.Commit(ctx)
	mustNoErr(t, err)
	_, err = b.Commit(ctx)
	mustNoErr(t, err)
	loaded, err = l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	if got := scanIDs(t, loaded); len(got) != 5 || got[3] != 20 || got[4] != 21 {
		t.Fatalf("after two transactions with retries: %v", got)
	}
}

func TestRequirementsRefused(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	tbl, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	tbl = appendRows(t, tbl, `{"id": 1}`)
	before := tbl.MetadataLocation()
	snap := tbl.CurrentSnapshot().SnapshotID
	other := snap + 1
	set := []table.Update{table.NewSetPropertiesUpdate(ice.Properties{"x": "y"})}
	for name, req := range map[string]table.Requirement{
		"uuid":         table.AssertTableUUID(uuid.New()),
		"ref":          table.AssertRefSnapshotID("main", &other),
		"ref-null":     table.AssertRefSnapshotID("main", nil),
		"create":       table.AssertCreate(),
		"schema":       table.AssertCurrentSchemaID(7),
		"last-columns": table.AssertLastAssignedFieldID(1),
	} {
		_, _, err := l.ice.CommitTable(ctx, ordersIdent, []table.Requirement{req}, set)
		if !errors.Is(err, table.ErrCommitFailed) || !errors.Is(err, ErrRequirementFailed) {
			t.Errorf("%s: %v, want a failed requirement", name, err)
		}
	}
	// The right ones pass.
	md, loc, err := l.ice.CommitTable(ctx, ordersIdent, []table.Requirement{
		table.AssertTableUUID(tbl.Metadata().TableUUID()), table.AssertRefSnapshotID("main", &snap)}, set)
	mustNoErr(t, err)
	if md.Properties()["x"] != "y" || loc == before {
		t.Fatalf("commit = %v %s", md.Properties(), loc)
	}
	// No update: nothing written, same location.
	_, loc2, err := l.ice.CommitTable(ctx, ordersIdent, nil, nil)
	mustNoErr(t, err)
	if loc2 != loc {
		t.Fatalf("empty commit moved to %s", loc2)
	}
}

func TestLocationsCannotEscape(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	_, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	for name, up := range map[string]table.Update{
		"location":         table.NewSetLocationUpdate("s3://other/t"),
		"location-sibling": table.NewSetLocationUpdate("s3://lake/warehouse/sales/secret"),
		"data-path":        table.NewSetPropertiesUpdate(ice.Properties{table.WriteDataPathKey: "s3://lake/elsewhere/data"}),
		"metadata-path":    table.NewSetPropertiesUpdate(ice.Properties{table.WriteMetadataPathKey: "s3://lake/warehouse/sales/orders2/m"}),
	} {
		if _, _, err := l.ice.CommitTable(ctx, ordersIdent, nil, []table.Update{up}); !errors.Is(err, ErrInvalidLocation) {
			t.Errorf("%s: %v, want ErrInvalidLocation", name, err)
		}
	}
	// A snapshot whose manifest list lies elsewhere is refused.
	cur, err := l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	foreign := table.Snapshot{SnapshotID: 42, SequenceNumber: 1, TimestampMs: cur.Metadata().LastUpdatedMillis() + 1,
		ManifestList: "s3://lake/warehouse/sales/secret/metadata/snap-42.avro", Summary: &table.Summary{Operation: table.OpAppend}}
	if _, _, err := l.ice.CommitTable(ctx, ordersIdent, nil, []table.Update{table.NewAddSnapshotUpdate(&foreign)}); !errors.Is(err, ErrInvalidLocation) {
		t.Errorf("foreign manifest list: %v, want ErrInvalidLocation", err)
	}
	// A data path below the table is fine.
	_, _, err = l.ice.CommitTable(ctx, ordersIdent, nil, []table.Update{
		table.NewSetPropertiesUpdate(ice.Properties{table.WriteDataPathKey: "s3a://lake/warehouse/sales/orders/files"})})
	mustNoErr(t, err)

	for _, loc := range []string{"file:///tmp/t", "s3://lake", "/tmp/t", "s3://lake/a/../b"} {
		_, err := l.ice.CreateTable(ctx, table.Identifier{"sales", "t"}, ordersSchema, icecat.WithLocation(loc))
		if !errors.Is(err, ErrInvalidLocation) {
			t.Errorf("create at %q: %v", loc, err)
		}
	}
	// A row whose metadata_location leaves the table's location is not read.
	row, err := l.cat.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	row.Properties[PropertyMetadataLocation] = "s3://lake/secret/00000-x.metadata.json"
	_, err = l.cat.UpdateTable(ctx, row, "")
	mustNoErr(t, err)
	if _, err := l.ice.LoadTable(ctx, ordersIdent); !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("load = %v", err)
	}
	// Registering metadata that is not below the location it names.
	md, err := table.NewMetadata(ordersSchema, nil, table.UnsortedSortOrder, "s3://lake/warehouse/sales/victim", nil)
	mustNoErr(t, err)
	fio := NewIO(l.store).WithContext(ctx)
	upload := "s3://lake/upload/00000-" + uuid.NewString() + ".metadata.json"
	mustNoErr(t, writeMetadata(fio, upload, md))
	if _, err = l.ice.RegisterTable(ctx, table.Identifier{"sales", "reg"}, upload); !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("register metadata outside its location = %v", err)
	}
	_, err = l.ice.RegisterTable(ctx, table.Identifier{"sales", "reg"}, "s3://lake/upload/00000-"+uuid.NewString()+".metadata.json")
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("register missing = %v", err)
	}
	if ok, _ := l.ice.CheckTableExists(ctx, table.Identifier{"sales", "reg"}); ok {
		t.Fatal("a refused register left a table")
	}
}

func TestHostileNames(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	for _, ident := range []table.Identifier{
		{"sales", "../orders"}, {"sales", "o'rders"}, {"sales", `o"rders`}, {"..", "orders"}, {"sales", "a/b"},
		{"sales", ""}, {"orders"}, {"a", "b", "c"}, {"sales", "x; DROP TABLE catalog_tables"},
	} {
		if _, err := l.ice.CreateTable(ctx, ident, ordersSchema); err == nil {
			t.Errorf("create %q succeeded", ident)
		} else if !errors.Is(err, icecat.ErrInvalidIdentifier) && !errors.Is(err, icecat.ErrNoSuchNamespace) && !errors.Is(err, icecat.ErrNoSuchTable) {
			t.Errorf("create %q: %v", ident, err)
		}
		if _, err := l.ice.LoadTable(ctx, ident); err == nil {
			t.Errorf("load %q succeeded", ident)
		}
	}
	if err := l.ice.CreateNamespace(ctx, table.Identifier{"a", "b"}, nil); !errors.Is(err, ErrNestedNamespace) {
		t.Fatalf("nested namespace = %v", err)
	}
	if err := l.ice.CreateNamespace(ctx, table.Identifier{"x'y"}, nil); !errors.Is(err, icecat.ErrInvalidIdentifier) {
		t.Fatalf("quoted namespace = %v", err)
	}
	if err := l.ice.CreateNamespace(ctx, table.Identifier{"ok"}, ice.Properties{"location": "file:///etc"}); !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("namespace at a file location = %v", err)
	}
	names, err := l.cat.ListDatabases(ctx)
	mustNoErr(t, err)
	if len(names) != 1 {
		t.Fatalf("databases = %v", names)
	}
}

func TestTablesOfOtherKindsAreLeftAlone(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	mustNoErr(t, l.cat.CreateTable(ctx, catalog.Table{Database: "sales", Name: "raw", Location: "s3://lake/raw",
		Format: "csv", Columns: []catalog.Column{{Name: "a", Type: "int"}}}))
	_, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	var listed []string
	for id, err := range l.ice.ListTables(ctx, table.Identifier{"sales"}) {
		mustNoErr(t, err)
		listed = append(listed, identString(id))
	}
	if !slices.Equal(listed, []string{"sales.orders"}) {
		t.Fatalf("listed %v", listed)
	}
	raw := table.Identifier{"sales", "raw"}
	if ok, err := l.ice.CheckTableExists(ctx, raw); ok || err != nil {
		t.Fatalf("exists(raw) = %v %v", ok, err)
	}
	if _, err := l.ice.LoadTable(ctx, raw); !errors.Is(err, ErrNotIceberg) || !errors.Is(err, icecat.ErrNoSuchTable) {
		t.Fatalf("load raw = %v", err)
	}
	if err := l.ice.DropTable(ctx, raw); !errors.Is(err, ErrNotIceberg) {
		t.Fatalf("drop raw = %v", err)
	}
	if _, err := l.ice.CreateTable(ctx, raw, ordersSchema); !errors.Is(err, icecat.ErrTableAlreadyExists) {
		t.Fatalf("create over raw = %v", err)
	}
	if _, _, err := l.ice.CommitTable(ctx, raw, nil, nil); !errors.Is(err, ErrNotIceberg) {
		t.Fatalf("commit raw = %v", err)
	}
}

func TestRenameDropPurgeRegister(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	mustNoErr(t, l.ice.CreateNamespace(ctx, table.Identifier{"archive"}, ice.Properties{"comment": "old", "location": "s3://lake/archive/", "owner": "ann"}))
	props, err := l.ice.LoadNamespaceProperties(ctx, table.Identifier{"archive"})
	mustNoErr(t, err)
	if props["comment"] != "old" || props["location"] != "s3://lake/archive" || props["owner"] != "ann" {
		t.Fatalf("namespace properties = %v", props)
	}
	d, err := l.cat.GetDatabase(ctx, "archive")
	mustNoErr(t, err)
	if d.Description != "old" || d.Location != "s3://lake/archive" || d.Properties["owner"] != "ann" {
		t.Fatalf("database = %+v", d)
	}
	// A table in a database with a location goes below it.
	tbl, err := l.ice.CreateTable(ctx, table.Identifier{"archive", "t"}, ordersSchema)
	mustNoErr(t, err)
	if tbl.Location() != "s3://lake/archive/t" {
		t.Fatalf("location = %s", tbl.Location())
	}
	tbl, err = l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	tbl = appendRows(t, tbl, `{"id": 7}`)

	moved, err := l.ice.RenameTable(ctx, ordersIdent, table.Identifier{"archive", "orders_2025"})
	mustNoErr(t, err)
	if !slices.Equal(moved.Identifier(), table.Identifier{"archive", "orders_2025"}) || moved.Location() != tbl.Location() {
		t.Fatalf("renamed = %v at %s", moved.Identifier(), moved.Location())
	}
	if got := scanIDs(t, moved); !slices.Equal(got, []int64{7}) {
		t.Fatalf("scan renamed = %v", got)
	}
	if _, err := l.ice.RenameTable(ctx, table.Identifier{"archive", "orders_2025"}, table.Identifier{"archive", "t"}); !errors.Is(err, icecat.ErrTableAlreadyExists) {
		t.Fatalf("rename onto a table = %v", err)
	}
	if _, err := l.ice.RenameTable(ctx, table.Identifier{"archive", "orders_2025"}, table.Identifier{"nowhere", "t"}); !errors.Is(err, icecat.ErrNoSuchNamespace) {
		t.Fatalf("rename into a missing namespace = %v", err)
	}
	// Drop keeps the files; register brings the table back from them.
	mustNoErr(t, l.ice.DropTable(ctx, table.Identifier{"archive", "orders_2025"}))
	if err := l.ice.DropTable(ctx, table.Identifier{"archive", "orders_2025"}); !errors.Is(err, icecat.ErrNoSuchTable) {
		t.Fatalf("second drop = %v", err)
	}
	back, err := l.ice.RegisterTable(ctx, ordersIdent, moved.MetadataLocation())
	mustNoErr(t, err)
	if got := scanIDs(t, back); !slices.Equal(got, []int64{7}) {
		t.Fatalf("scan registered = %v", got)
	}
	// Purge removes the files too.
	mustNoErr(t, l.ice.PurgeTable(ctx, ordersIdent))
	err = NewIO(l.store).WithContext(ctx).WalkDir(tbl.Location(), func(p string, d iofs.DirEntry, err error) error { return err })
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("files left after purge: %v", err)
	}
	// A namespace with a table cannot be dropped.
	if err := l.ice.DropNamespace(ctx, table.Identifier{"archive"}); !errors.Is(err, icecat.ErrNamespaceNotEmpty) {
		t.Fatalf("drop non-empty namespace = %v", err)
	}
}

func TestCommitTransactionIsAtomic(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	a, err := l.ice.CreateTable(ctx, table.Identifier{"sales", "a"}, ordersSchema)
	mustNoErr(t, err)
	b, err := l.ice.CreateTable(ctx, table.Identifier{"sales", "b"}, ordersSchema)
	mustNoErr(t, err)
	set := []table.Update{table.NewSetPropertiesUpdate(ice.Properties{"k": "v"})}
	// The second commit's requirement fails: neither table changes.
	err = l.ice.CommitTransaction(ctx, []table.TableCommit{
		{Identifier: a.Identifier(), Requirements: []table.Requirement{table.AssertTableUUID(a.Metadata().TableUUID())}, Updates: set},
		{Identifier: b.Identifier(), Requirements: []table.Requirement{table.AssertTableUUID(uuid.New())}, Updates: set},
	})
	if !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("transaction = %v", err)
	}
	la, err := l.ice.LoadTable(ctx, a.Identifier())
	mustNoErr(t, err)
	if la.MetadataLocation() != a.MetadataLocation() {
		t.Fatal("table a changed by a failed transaction")
	}
	mustNoErr(t, l.ice.CommitTransaction(ctx, []table.TableCommit{
		{Identifier: a.Identifier(), Updates: set}, {Identifier: b.Identifier(), Updates: set}}))
	for _, id := range []table.Identifier{a.Identifier(), b.Identifier()} {
		tb, err := l.ice.LoadTable(ctx, id)
		mustNoErr(t, err)
		if tb.Properties()["k"] != "v" {
			t.Fatalf("%v not committed", id)
		}
	}
	// A staged create through CommitTable (the REST catalog's create with
	// stage-create): assert-create, then the table's updates.
	md, err := table.NewMetadata(ordersSchema, nil, table.UnsortedSortOrder, "s3://lake/warehouse/sales/c", nil)
	mustNoErr(t, err)
	ups := []table.Update{table.NewAssignUUIDUpdate(md.TableUUID()), table.NewUpgradeFormatVersionUpdate(2),
		table.NewAddSchemaUpdate(md.CurrentSchema()), table.NewSetCurrentSchemaUpdate(-1),
		table.NewAddPartitionSpecUpdate(ptr(md.PartitionSpec()), true), table.NewSetDefaultSpecUpdate(-1),
		table.NewAddSortOrderUpdate(ptr(md.SortOrder())), table.NewSetDefaultSortOrderUpdate(-1),
		table.NewSetLocationUpdate(md.Location())}
	_, loc, err := l.ice.CommitTable(ctx, table.Identifier{"sales", "c"}, []table.Requirement{table.AssertCreate()}, ups)
	mustNoErr(t, err)
	c, err := l.ice.LoadTable(ctx, table.Identifier{"sales", "c"})
	mustNoErr(t, err)
	if c.MetadataLocation() != loc || c.Metadata().TableUUID() != md.TableUUID() || len(c.Schema().Fields()) != 5 {
		t.Fatalf("staged create: %s %v", c.MetadataLocation(), c.Schema())
	}
	if _, _, err := l.ice.CommitTable(ctx, table.Identifier{"sales", "c"}, []table.Requirement{table.AssertCreate()}, ups); !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("second staged create = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestOpenTableForReaders(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	tbl, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	appendRows(t, tbl, `{"id": 1}`)
	row, err := l.cat.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	ro, err := OpenTable(ctx, l.store, row)
	mustNoErr(t, err)
	if got := scanIDs(t, ro); !slices.Equal(got, []int64{1}) {
		t.Fatalf("scan = %v", got)
	}
	tasks, err := ro.Scan().PlanFiles(ctx)
	mustNoErr(t, err)
	for _, task := range tasks {
		if !InLocation(task.File.FilePath(), row.Location) {
			t.Fatalf("%s not in %s", task.File.FilePath(), row.Location)
		}
	}
	for uri, want := range map[string]bool{
		"s3a://lake/warehouse/sales/orders/data/x.parquet": true,
		"s3://lake/warehouse/sales/orders":                 false,
		"s3://lake/warehouse/sales/orders2/x":              false,
		"s3://other/warehouse/sales/orders/x":              false,
		"file:///lake/warehouse/sales/orders/x":            false,
	} {
		if InLocation(uri, row.Location) != want {
			t.Errorf("InLocation(%q) = %v", uri, !want)
		}
	}
	raw := catalog.Table{Database: "sales", Name: "raw", Location: "s3://lake/raw"}
	if _, err := OpenTable(ctx, l.store, raw); !errors.Is(err, ErrNotIceberg) {
		t.Fatalf("open raw = %v", err)
	}
	row.Properties[PropertyMetadataLocation] = "s3://lake/elsewhere/00000-x.metadata.json"
	if _, err := OpenTable(ctx, l.store, row); !errors.Is(err, ErrInvalidLocation) {
		t.Fatalf("open escaping = %v", err)
	}
}

func TestColumnsMirrorTypes(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	sc := ice.NewSchema(0,
		ice.NestedField{ID: 1, Name: "weird `name`", Type: &ice.StructType{FieldList: []ice.NestedField{
			{ID: 2, Name: "a b", Type: ice.PrimitiveTypes.Int32},
			{ID: 3, Name: "x`y", Type: &ice.MapType{KeyID: 4, KeyType: ice.PrimitiveTypes.String, ValueID: 5,
				ValueType: &ice.ListType{ElementID: 6, Element: ice.DecimalTypeOf(38, 10)}}},
		}}},
		ice.NestedField{ID: 7, Name: "u", Type: ice.PrimitiveTypes.UUID},
		ice.NestedField{ID: 8, Name: "f", Type: ice.FixedTypeOf(16)},
		ice.NestedField{ID: 9, Name: "t", Type: ice.PrimitiveTypes.Time},
		ice.NestedField{ID: 10, Name: "ts", Type: ice.PrimitiveTypes.Timestamp},
		ice.NestedField{ID: 11, Name: "d", Type: ice.PrimitiveTypes.Date},
		ice.NestedField{ID: 12, Name: "b", Type: ice.PrimitiveTypes.Bool},
		ice.NestedField{ID: 13, Name: "fl", Type: ice.PrimitiveTypes.Float32},
		ice.NestedField{ID: 14, Name: "bin", Type: ice.PrimitiveTypes.Binary},
	)
	_, err := l.ice.CreateTable(ctx, table.Identifier{"sales", "types"}, sc)
	mustNoErr(t, err)
	row, err := l.cat.GetTable(ctx, "sales", "types")
	mustNoErr(t, err)
	var got []string
	for _, c := range row.Columns {
		got = append(got, c.Name+" "+c.Type)
	}
	want := []string{"weird `name` struct<`a b`:int,`x``y`:map<string,array<decimal(38,10)>>>", "u string", "f binary",
		"t string", "ts timestamp", "d date", "b boolean", "fl float", "bin binary"}
	if !slices.Equal(got, want) {
		t.Fatalf("columns:\n%q\nwant\n%q", got, want)
	}
	// Hive types come back as the Iceberg types they mirror.
	for _, c := range row.Columns[4:] {
		typ, err := catalog.ParseType(c.Type)
		mustNoErr(t, err)
		it, err := IcebergType(typ)
		mustNoErr(t, err)
		if HiveType(it).String() != c.Type {
			t.Errorf("%s: %s → %s", c.Name, c.Type, it)
		}
	}

	// Names equal but for case are one name for the catalog: refused, and
	// no metadata file is left behind.
	dup := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "ID", Type: ice.PrimitiveTypes.Int32},
		ice.NestedField{ID: 2, Name: "id", Type: ice.PrimitiveTypes.Int32})
	if _, err := l.ice.CreateTable(ctx, table.Identifier{"sales", "dup"}, dup); !errors.Is(err, catalog.ErrInvalidTable) {
		t.Fatalf("create with ID and id = %v", err)
	}
	err = NewIO(l.store).WithContext(ctx).WalkDir("s3://lake/warehouse/sales/dup", func(p string, d iofs.DirEntry, err error) error { return err })
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("files left by a refused create: %v", err)
	}
}

// TestConcurrentWritersLoseNothing runs writers appending at once through
// iceberg-go transactions with retries: every row of every commit is kept.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	_, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema, icecat.WithProperties(ice.Properties{
		table.CommitNumRetriesKey: "20", table.CommitMinRetryWaitMsKey: "1", table.CommitMaxRetryWaitMsKey: "20"}))
	mustNoErr(t, err)
	const writers, commits = 4, 3
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range commits {
				tbl, err := l.ice.LoadTable(ctx, ordersIdent)
				if err != nil {
					errs <- err
					return
				}
				tx := tbl.NewTransaction()
				sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
				if err != nil {
					errs <- err
					return
				}
				at, err := array.TableFromJSON(memory.DefaultAllocator, sc, []string{fmt.Sprintf(`[{"id": %d}]`, w*100+i)})
				if err != nil {
					errs <- err
					return
				}
				err = tx.AppendTable(ctx, at, 10, nil)
				at.Release()
				if err == nil {
					_, err = tx.Commit(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		mustNoErr(t, <-errs)
	}
	tbl, err := l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	var want []int64
	for w := range writers {
		for i := range commits {
			want = append(want, int64(w*100+i))
		}
	}
	if got := scanIDs(t, tbl); !slices.Equal(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	if n := len(tbl.Metadata().Snapshots()); n != writers*commits {
		t.Fatalf("%d snapshots", n)
	}
}
