package catalog

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

func newTestCatalog(tb testing.TB) *Catalog {
	tb.Helper()
	ctx := context.Background()
	db := metatest.Open(tb)
	c, err := New(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func salesTable() Table {
	return Table{
		Database: "Sales", Name: "Orders", Location: "s3://lake/raw/orders", Format: "CSV",
		FormatOptions: map[string]string{OptDelimiter: ",", OptHeader: "true"},
		Columns: []Column{
			{Name: "Order ID", Type: "BIGINT", Comment: "the key"},
			{Name: "amount", Type: "decimal(10, 2)"},
			{Name: "note$%", Type: "string"},
		},
		PartitionKeys: []Column{{Name: "year", Type: "int"}, {Name: "month", Type: "int"}},
		Properties:    map[string]string{PropertyClassification: "csv"},
	}
}

func mustNoErr(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func wantErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("error = %v, want %v", err, want)
	}
}

func TestNewIsIdempotent(t *testing.T) {
	ctx := context.Background()
	cfg := metatest.Config(t, filepath.Join(t.TempDir(), "meta.db"))
	for i := 0; i < 2; i++ {
		db, err := meta.Open(ctx, cfg)
		mustNoErr(t, err)
		c, err := New(ctx, db)
		mustNoErr(t, err)
		if i == 0 {
			mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "keep"}, false))
		} else if _, err := c.GetDatabase(ctx, "keep"); err != nil {
			t.Fatalf("database lost on reopen: %v", err)
		}
		db.Close()
	}
}

func TestDatabases(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)

	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "Sales", Description: "orders", Location: "s3://lake/sales",
		Properties: map[string]string{"owner": "ana"}}, false))
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "hr-2024"}, false))
	wantErr(t, c.CreateDatabase(ctx, Database{Name: "SALES"}, false), ErrDatabaseExists)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales", Description: "other"}, true))

	d, err := c.GetDatabase(ctx, "SaLeS")
	mustNoErr(t, err)
	if d.Name != "sales" || d.Description != "orders" || d.Location != "s3://lake/sales" || d.Properties["owner"] != "ana" || d.CreatedAt.IsZero() {
		t.Fatalf("GetDatabase = %+v", d)
	}
	_, err = c.GetDatabase(ctx, "nope")
	wantErr(t, err, ErrNoSuchDatabase)

	for _, bad := range []string{"", "a b", "dot.name", "ünï", strings.Repeat("x", 256), "semi;colon"} {
		err := c.CreateDatabase(ctx, Database{Name: bad}, false)
		wantErr(t, err, ErrInvalidName)
		if !strings.Contains(err.Error(), "letters, digits") {
			t.Fatalf("invalid name message does not say what is allowed: %v", err)
		}
	}
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: strings.Repeat("x", 255)}, false))

	dbs, err := c.ListDatabases(ctx)
	mustNoErr(t, err)
	var names []string
	for _, d := range dbs {
		names = append(names, d.Name)
	}
	if want := []string{"hr-2024", "sales", strings.Repeat("x", 255)}; !reflect.DeepEqual(names, want) {
		t.Fatalf("ListDatabases = %v, want %v", names, want)
	}

	mustNoErr(t, c.DropDatabase(ctx, "HR-2024", false))
	wantErr(t, c.DropDatabase(ctx, "hr-2024", false), ErrNoSuchDatabase)
}

func TestDropDatabaseCascade(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "other"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))
	other := salesTable()
	other.Database = "other"
	mustNoErr(t, c.CreateTable(ctx, other))
	for _, db := range []string{"sales", "other"} {
		_, err := c.AddPartitions(ctx, db, "orders", []Partition{{Values: []string{"2024", "1"}}, {Values: []string{"2024", "2"}}}, false)
		mustNoErr(t, err)
	}

	err := c.DropDatabase(ctx, "sales", false)
	wantErr(t, err, ErrDatabaseNotEmpty)
	if !strings.Contains(err.Error(), "cascade") {
		t.Fatalf("message should mention cascade: %v", err)
	}
	mustNoErr(t, c.DropDatabase(ctx, "sales", true))
	_, err = c.GetDatabase(ctx, "sales")
	wantErr(t, err, ErrNoSuchDatabase)
	_, err = c.GetTable(ctx, "sales", "orders")
	wantErr(t, err, ErrNoSuchDatabase)

	sqlDB := c.db.SQL()
	count := func(q string) int {
		var n int
		mustNoErr(t, sqlDB.QueryRowContext(ctx, q).Scan(&n))
		return n
	}
	if n := count(`SELECT COUNT(*) FROM catalog_tables`); n != 1 {
		t.Fatalf("%d tables left, want 1 (other.orders)", n)
	}
	if n := count(`SELECT COUNT(*) FROM catalog_partitions`); n != 2 {
		t.Fatalf("%d partitions left, want 2", n)
	}
	if n := count(`SELECT COUNT(*) FROM catalog_schema_versions`); n != 1 {
		t.Fatalf("%d schema versions left, want 1", n)
	}
	// The same names can be created again.
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))
	parts, err := c.ListPartitions(ctx, "sales", "orders")
	mustNoErr(t, err)
	if len(parts) != 0 {
		t.Fatalf("recreated table has %d partitions", len(parts))
	}
}

func TestTables(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	wantErr(t, c.CreateTable(ctx, salesTable()), ErrNoSuchDatabase)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))
	wantErr(t, c.CreateTable(ctx, salesTable()), ErrTableExists)

	got, err := c.GetTable(ctx, "SALES", "orders")
	mustNoErr(t, err)
	if got.Database != "sales" || got.Name != "orders" || got.FullName() != "sales.orders" {
		t.Fatalf("names not lower-cased: %q", got.FullName())
	}
	if got.Format != FormatCSV || got.TableType != TableTypeExternal || got.Version != 1 || got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Fatalf("GetTable = %+v", got)
	}
	wantCols := []Column{{Name: "Order ID", Type: "bigint", Comment: "the key"}, {Name: "amount", Type: "decimal(10,2)"}, {Name: "note$%", Type: "string"}}
	if !reflect.DeepEqual(got.Columns, wantCols) {
		t.Fatalf("Columns = %+v, want %+v", got.Columns, wantCols)
	}
	if !reflect.DeepEqual(got.PartitionKeys, []Column{{Name: "year", Type: "int"}, {Name: "month", Type: "int"}}) {
		t.Fatalf("PartitionKeys = %+v", got.PartitionKeys)
	}
	if got.FormatOptions[OptHeader] != "true" || got.Properties[PropertyClassification] != "csv" {
		t.Fatalf("options/properties = %v %v", got.FormatOptions, got.Properties)
	}

	_, err = c.GetTable(ctx, "sales", "nope")
	wantErr(t, err, ErrNoSuchTable)
	_, err = c.GetTable(ctx, "nope", "orders")
	wantErr(t, err, ErrNoSuchDatabase)

	view := Table{Database: "sales", Name: "v_orders", TableType: TableTypeVirtualView, Properties: map[string]string{"sql": "SELECT 1"}}
	mustNoErr(t, c.CreateTable(ctx, view))
	other := salesTable()
	other.Name = "a-first"
	other.PartitionKeys = nil
	mustNoErr(t, c.CreateTable(ctx, other))

	tables, err := c.ListTables(ctx, "sales")
	mustNoErr(t, err)
	var names []string
	for _, t := range tables {
		names = append(names, t.Name)
	}
	if want := []string{"a-first", "orders", "v_orders"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("ListTables = %v, want %v", names, want)
	}
	_, err = c.ListTables(ctx, "nope")
	wantErr(t, err, ErrNoSuchDatabase)

	mustNoErr(t, c.DropTable(ctx, "sales", "A-FIRST"))
	wantErr(t, c.DropTable(ctx, "sales", "a-first"), ErrNoSuchTable)
	wantErr(t, c.DropTable(ctx, "nope", "a-first"), ErrNoSuchDatabase)
}

func TestCreateTableValidation(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	f := func(name string, mutate func(*Table), want error, msg string) {
		t.Helper()
		tab := salesTable()
		mutate(&tab)
		err := c.CreateTable(ctx, tab)
		if !errors.Is(err, want) {
			t.Fatalf("%s: error = %v, want %v", name, err, want)
		}
		if !strings.Contains(err.Error(), msg) {
			t.Fatalf("%s: error %q does not contain %q", name, err, msg)
		}
	}
	f("bad name", func(t *Table) { t.Name = "my table" }, ErrInvalidName, "letters, digits")
	f("empty name", func(t *Table) { t.Name = "" }, ErrInvalidName, "letters, digits")
	f("no columns", func(t *Table) { t.Columns = nil }, ErrInvalidTable, "at least one column")
	f("empty column name", func(t *Table) { t.Columns[1].Name = "" }, ErrInvalidTable, "column 2 has no name")
	f("duplicate column", func(t *Table) { t.Columns[1].Name = "ORDER id" }, ErrInvalidTable, `same name as "Order ID"`)
	f("column = key", func(t *Table) { t.PartitionKeys[0].Name = "Amount" }, ErrInvalidTable, `partition key "Amount"`)
	f("bad type", func(t *Table) { t.Columns[0].Type = "bigitn" }, ErrInvalidType, `column "Order ID"`)
	f("bad type is invalid table", func(t *Table) { t.Columns[0].Type = "array<" }, ErrInvalidTable, "invalid type")
	f("complex key", func(t *Table) { t.PartitionKeys[0].Type = "array<int>" }, ErrInvalidTable, "primitive")
	f("bad format", func(t *Table) { t.Format = "avro" }, ErrInvalidTable, `format "avro"`)
	f("no format", func(t *Table) { t.Format = "" }, ErrInvalidTable, "format is required")
	f("bad table type", func(t *Table) { t.TableType = "FOREIGN" }, ErrInvalidTable, "table type")

	// Column names keep any characters and case.
	tab := salesTable()
	tab.Name = "weird"
	tab.Columns = []Column{{Name: " Spaced Out ", Type: "int"}, {Name: "ü€ @#!", Type: "string"}, {Name: "a.b", Type: "struct<`x y`:int>"}}
	mustNoErr(t, c.CreateTable(ctx, tab))
	got, err := c.GetTable(ctx, "sales", "weird")
	mustNoErr(t, err)
	if got.Columns[0].Name != " Spaced Out " || got.Columns[1].Name != "ü€ @#!" || got.Columns[2].Type != "struct<`x y`:int>" {
		t.Fatalf("columns = %+v", got.Columns)
	}
}

func TestUpdateTableVersions(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))

	cur, err := c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)

	// Metadata only: no new version.
	meta1 := cur
	meta1.Description = "all orders"
	meta1.Properties = map[string]string{"owner": "bo"}
	meta1.Columns = append([]Column(nil), cur.Columns...)
	meta1.Columns[0].Comment = "primary key"
	changes, err := c.UpdateTable(ctx, meta1, "describe")
	mustNoErr(t, err)
	if changes != nil {
		t.Fatalf("metadata update changes = %+v, want none", changes)
	}
	cur, err = c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if cur.Version != 1 || cur.Description != "all orders" || cur.Properties["owner"] != "bo" || cur.Columns[0].Comment != "primary key" || !cur.UpdatedAt.After(cur.CreatedAt) {
		t.Fatalf("after metadata update: %+v", cur)
	}

	// Schema change: type widened, column removed, column added, option changed.
	next := cur
	next.Columns = []Column{
		{Name: "Order ID", Type: "bigint"},
		{Name: "amount", Type: "decimal(12,2)"},
		{Name: "Customer", Type: "STRUCT<id:int>"},
	}
	next.FormatOptions = map[string]string{OptDelimiter: "|", OptHeader: "true"}
	changes, err = c.UpdateTable(ctx, next, "crawler: new files")
	mustNoErr(t, err)
	want := []SchemaChange{
		{Kind: ChangeTypeChanged, Column: "amount", From: "decimal(10,2)", To: "decimal(12,2)"},
		{Kind: ChangeColumnRemoved, Column: "note$%", From: "string"},
		{Kind: ChangeColumnAdded, Column: "Customer", To: "struct<id:int>"},
		{Kind: ChangeFormatOptions, Column: OptDelimiter, From: ",", To: "|"},
	}
	if !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes = %+v\nwant %+v", changes, want)
	}

	// A stale version is rejected.
	stale := cur
	stale.Description = "late"
	_, err = c.UpdateTable(ctx, stale, "stale")
	wantErr(t, err, ErrConcurrentUpdate)

	cur, err = c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if cur.Version != 2 || cur.Description != "all orders" || cur.FormatOptions[OptDelimiter] != "|" || len(cur.Columns) != 3 {
		t.Fatalf("after schema update: %+v", cur)
	}

	// Format and location change, partition keys widened.
	next = cur
	next.Format = FormatParquet
	next.Location = "s3://lake/curated/orders/"
	next.PartitionKeys = []Column{{Name: "year", Type: "bigint"}, {Name: "month", Type: "int"}}
	changes, err = c.UpdateTable(ctx, next, "")
	mustNoErr(t, err)
	wantKinds := []string{ChangePartitionKeys, ChangeFormatChanged, ChangeLocationChanged}
	var kinds []string
	for _, ch := range changes {
		kinds = append(kinds, ch.Kind)
	}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Fatalf("change kinds = %v, want %v (%+v)", kinds, wantKinds, changes)
	}
	if changes[0].From != "year int, month int" || changes[0].To != "year bigint, month int" {
		t.Fatalf("partition key change = %+v", changes[0])
	}

	versions, err := c.SchemaVersions(ctx, "sales", "orders")
	mustNoErr(t, err)
	if len(versions) != 3 {
		t.Fatalf("%d versions, want 3", len(versions))
	}
	for i, v := range versions {
		if v.Version != i+1 || v.CreatedAt.IsZero() {
			t.Fatalf("version %d = %+v", i, v)
		}
	}
	if versions[0].Reason != "created" || versions[0].Changes != nil || versions[0].Format != FormatCSV || len(versions[0].Columns) != 3 {
		t.Fatalf("version 1 = %+v", versions[0])
	}
	if versions[1].Reason != "crawler: new files" || !reflect.DeepEqual(versions[1].Changes, want) || versions[1].Columns[2].Type != "struct<id:int>" {
		t.Fatalf("version 2 = %+v", versions[1])
	}
	if versions[2].Reason != "updated" || versions[2].Format != FormatParquet || versions[2].Location != "s3://lake/curated/orders/" || versions[2].PartitionKeys[0].Type != "bigint" {
		t.Fatalf("version 3 = %+v", versions[2])
	}

	// Partition keys cannot be renamed while partitions exist.
	_, err = c.AddPartitions(ctx, "sales", "orders", []Partition{{Values: []string{"2024", "1"}}}, false)
	mustNoErr(t, err)
	cur, err = c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	next = cur
	next.PartitionKeys = []Column{{Name: "yr", Type: "bigint"}, {Name: "month", Type: "int"}}
	_, err = c.UpdateTable(ctx, next, "")
	wantErr(t, err, ErrInvalidTable)

	_, err = c.UpdateTable(ctx, Table{Database: "sales", Name: "nope", Format: "csv", Columns: []Column{{Name: "a", Type: "int"}}}, "")
	wantErr(t, err, ErrNoSuchTable)
	_, err = c.SchemaVersions(ctx, "sales", "nope")
	wantErr(t, err, ErrNoSuchTable)
}

func TestDiffSchemas(t *testing.T) {
	old := Table{Format: "csv", Location: "s3://a/t/", Columns: []Column{{Name: "a", Type: "int"}, {Name: "b", Type: "string"}, {Name: "c", Type: "date"}}}
	f := func(name string, mutate func(*Table), want []SchemaChange) {
		t.Helper()
		n := old
		n.Columns = append([]Column(nil), old.Columns...)
		mutate(&n)
		if got := DiffSchemas(old, n); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: DiffSchemas = %+v\nwant %+v", name, got, want)
		}
	}
	f("same", func(t *Table) {}, nil)
	f("case of types and trailing slash do not matter", func(t *Table) { t.Columns[0].Type = "INTEGER"; t.Location = "s3://a/t"; t.Format = "CSV" }, nil)
	f("comments do not matter", func(t *Table) { t.Columns[0].Comment = "x" }, nil)
	f("added", func(t *Table) { t.Columns = append(t.Columns, Column{Name: "d", Type: "bigint"}) },
		[]SchemaChange{{Kind: ChangeColumnAdded, Column: "d", To: "bigint"}})
	f("removed", func(t *Table) { t.Columns = t.Columns[:2] },
		[]SchemaChange{{Kind: ChangeColumnRemoved, Column: "c", From: "date"}})
	f("type", func(t *Table) { t.Columns[1].Type = "varchar(3)" },
		[]SchemaChange{{Kind: ChangeTypeChanged, Column: "b", From: "string", To: "varchar(3)"}})
	f("renamed by case", func(t *Table) { t.Columns[0].Name = "A" },
		[]SchemaChange{{Kind: ChangeColumnRemoved, Column: "a", From: "int"}, {Kind: ChangeColumnAdded, Column: "A", To: "int"}})
	f("reordered", func(t *Table) { t.Columns[0], t.Columns[2] = t.Columns[2], t.Columns[0] },
		[]SchemaChange{{Kind: ChangeColumnsReordered, From: "a, b, c", To: "c, b, a"}})
	f("format", func(t *Table) { t.Format = "json" }, []SchemaChange{{Kind: ChangeFormatChanged, From: "csv", To: "json"}})
	f("option added", func(t *Table) { t.FormatOptions = map[string]string{"header": "false"} },
		[]SchemaChange{{Kind: ChangeFormatOptions, Column: "header", To: "false"}})
	f("location", func(t *Table) { t.Location = "s3://b/t/" }, []SchemaChange{{Kind: ChangeLocationChanged, From: "s3://a/t/", To: "s3://b/t/"}})
	f("partition keys", func(t *Table) { t.PartitionKeys = []Column{{Name: "dt", Type: "date"}} },
		[]SchemaChange{{Kind: ChangePartitionKeys, From: "", To: "dt date"}})
}

func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))
	base, err := c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)

	const writers = 8
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		go func(i int) {
			next := base
			next.Columns = append(append([]Column(nil), base.Columns...), Column{Name: "extra" + string(rune('a'+i)), Type: "int"})
			_, err := c.UpdateTable(ctx, next, "writer")
			errs <- err
		}(i)
	}
	ok := 0
	for i := 0; i < writers; i++ {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrConcurrentUpdate):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d writers succeeded, want exactly 1", ok)
	}
	versions, err := c.SchemaVersions(ctx, "sales", "orders")
	mustNoErr(t, err)
	if len(versions) != 2 {
		t.Fatalf("%d versions, want 2", len(versions))
	}
}
