package catalog

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
)

func TestRenameTable(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "archive"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))
	_, err := c.AddPartitions(ctx, "sales", "orders", []Partition{{Values: []string{"2025", "1"}}}, false)
	mustNoErr(t, err)
	other := salesTable()
	other.Name = "taken"
	other.Database = "archive"
	mustNoErr(t, c.CreateTable(ctx, other))

	wantErr(t, c.RenameTable(ctx, "sales", "orders", "archive", "Taken"), ErrTableExists)
	wantErr(t, c.RenameTable(ctx, "sales", "orders", "nowhere", "x"), ErrNoSuchDatabase)
	wantErr(t, c.RenameTable(ctx, "sales", "missing", "archive", "x"), ErrNoSuchTable)
	wantErr(t, c.RenameTable(ctx, "sales", "orders", "archive", "../x"), ErrInvalidName)

	mustNoErr(t, c.RenameTable(ctx, "Sales", "Orders", "Archive", "Orders2025"))
	if _, err := c.GetTable(ctx, "sales", "orders"); err == nil {
		t.Fatal("old name still resolves")
	}
	tb, err := c.GetTable(ctx, "archive", "orders2025")
	mustNoErr(t, err)
	if tb.Location != "s3://lake/raw/orders" || tb.Database != "archive" {
		t.Fatalf("renamed table = %+v", tb)
	}
	parts, err := c.ListPartitions(ctx, "archive", "orders2025")
	mustNoErr(t, err)
	if len(parts) != 1 {
		t.Fatalf("partitions after rename = %v", parts)
	}
	vs, err := c.SchemaVersions(ctx, "archive", "orders2025")
	mustNoErr(t, err)
	if len(vs) != 1 {
		t.Fatalf("schema versions after rename = %d", len(vs))
	}
}

func TestSwapTablePropertiesTx(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(t, c.CreateTable(ctx, salesTable()))
	tb, err := c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	old := tb.Properties
	next := map[string]string{"metadata_location": "s3://lake/t/metadata/1.json", "a<b": "x&y"}
	swap := func(from, to map[string]string) error {
		return c.db.Tx(ctx, func(tx *sql.Tx) error { return c.SwapTablePropertiesTx(ctx, tx, "sales", "orders", from, to) })
	}
	mustNoErr(t, swap(old, next))
	wantErr(t, swap(old, map[string]string{"metadata_location": "s3://lake/t/metadata/2.json"}), ErrConcurrentUpdate)
	mustNoErr(t, swap(next, map[string]string{}))
	mustNoErr(t, swap(map[string]string{}, next))
	tb, err = c.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if !reflect.DeepEqual(tb.Properties, next) {
		t.Fatalf("properties = %v", tb.Properties)
	}
	mustNoErr(t, swap(next, next))
	wantErr(t, c.db.Tx(ctx, func(tx *sql.Tx) error { return c.SwapTablePropertiesTx(ctx, tx, "sales", "nope", nil, nil) }), ErrNoSuchTable)
}
