package lake_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog/rest"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // the client's FileIO for s3:// (through tarn's S3 endpoint)
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/lake"
)

// The Iceberg REST catalog is served at /iceberg on the REST API listener,
// over tarn's catalog: iceberg-go's REST client (as Spark, Trino and
// PyIceberg would) creates a table, writes its data files through tarn's
// S3 endpoint (told by /v1/config), commits, reads it back, and a second
// commit from the same base is refused; the table is a tarn table.
func TestIcebergRESTCatalog(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	l, err := lake.Open(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Init(ctx, lake.QuickstartBucket); err != nil {
		t.Fatal(err)
	}
	s3, api := listen(t), listen(t)
	var out strings.Builder
	ready := make(chan lake.Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, lake.ServeConfig{S3: s3, API: api, Out: &out, Log: io.Discard,
			Listening: func(ep lake.Endpoints) error { ready <- ep; return nil }})
	}()
	var ep lake.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("Serve ended before listening: %v", err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	id, secret := adminKey(t, out.String())

	// No credentials: 401.
	if _, err := rest.NewCatalog(ctx, "tarn", ep.API+lake.IcebergPath); !errors.Is(err, rest.ErrUnauthorized) {
		t.Fatalf("a client without credentials: %v, want 401", err)
	}
	c, err := rest.NewCatalog(ctx, "tarn", ep.API+lake.IcebergPath, rest.WithCredential(id+":"+secret),
		rest.WithAdditionalProps(iceberg.Properties{"s3.access-key-id": id, "s3.secret-access-key": secret}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns := table.Identifier{"sales"}
	if err := c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	schema := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "region", Type: iceberg.PrimitiveTypes.String})
	ident := table.Identifier{"sales", "orders"}
	tbl, err := c.CreateTable(ctx, ident, schema)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tbl.Location(), "s3://") {
		t.Fatalf("table location %q", tbl.Location())
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "region", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	batch := func(from, to int64) arrow.Table {
		ids := array.NewInt64Builder(memory.DefaultAllocator)
		regions := array.NewStringBuilder(memory.DefaultAllocator)
		for i := from; i < to; i++ {
			ids.Append(i)
			regions.Append("eu")
		}
		rec := array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), regions.NewArray()}, to-from)
		at := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
		t.Cleanup(at.Release)
		return at
	}
	if tbl, err = tbl.AppendTable(ctx, batch(0, 100), 1024, nil); err != nil {
		t.Fatal(err)
	}

	// Two commits from the same base: one wins, one is refused (409).
	tx1, tx2 := tbl.NewTransaction(), tbl.NewTransaction()
	if err := tx1.AppendTable(ctx, batch(100, 120), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx2.AppendTable(ctx, batch(500, 510), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx2.Commit(ctx); !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("a second commit from the same base: %v, want CommitFailedException", err)
	}

	loaded, err := c.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	at, err := loaded.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	if at.NumRows() != 120 {
		t.Fatalf("read %d rows back, want 120", at.NumRows())
	}
	// It is a tarn table, registered as Glue registers Iceberg tables.
	ct, err := l.Catalog.GetTable(ctx, "sales", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(ct.Properties["table_type"], "ICEBERG") || ct.Properties["metadata_location"] != loaded.MetadataLocation() {
		t.Fatalf("tarn's catalog has %v, want table_type ICEBERG at %s", ct.Properties, loaded.MetadataLocation())
	}
	if _, err := c.RenameTable(ctx, ident, table.Identifier{"sales", "orders2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DropTable(ctx, table.Identifier{"sales", "orders2"}); err != nil {
		t.Fatal(err)
	}
}
