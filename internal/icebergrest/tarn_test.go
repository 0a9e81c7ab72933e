package icebergrest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/auth"
	tarncatalog "github.com/tarn-lake/tarn/internal/catalog"
	tarniceberg "github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/icebergrest"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// tarnEnv serves tarn's own Iceberg catalog (tables in tarn's catalog,
// metadata files in its object store, a local folder) as the lake does.
type tarnEnv struct {
	url   string
	auth  *auth.Service
	admin auth.Key
	cat   *tarncatalog.Catalog
	ice   *tarniceberg.Catalog
}

func newTarnEnv(t *testing.T) *tarnEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(dir, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := tarncatalog.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	store, err := fs.New(fs.DefaultConfig(filepath.Join(dir, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	ice, err := tarniceberg.New(tarniceberg.DefaultConfig(), cat, db, store)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(ctx, db, auth.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := icebergrest.New(icebergrest.DefaultConfig("http://127.0.0.1:1"), icebergrest.Deps{Auth: a, Catalog: ice})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(icebergrest.Mount("/iceberg", srv, http.NotFoundHandler()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &tarnEnv{url: hs.URL + "/iceberg", auth: a, admin: admin, cat: cat, ice: ice}
}

func (e *tarnEnv) client(t *testing.T, k auth.Key) *rest.Catalog {
	t.Helper()
	c, err := rest.NewCatalog(context.Background(), "tarn", e.url, rest.WithCredential(k.AccessKeyID+":"+k.SecretAccessKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTarnCatalog(t *testing.T) {
	e := newTarnEnv(t)
	ctx := context.Background()
	c := e.client(t, e.admin)

	// Namespaces are tarn databases: one level.
	if err := c.CreateNamespace(ctx, table.Identifier{"sales"}, iceberg.Properties{"comment": "orders and more"}); err != nil {
		t.Fatal(err)
	}
	if d, err := e.cat.GetDatabase(ctx, "sales"); err != nil || d.Description != "orders and more" {
		t.Fatalf("tarn database: %+v %v", d, err)
	}
	// Its location is told (Trino stages creates only in a namespace with
	// one), though the database has none of its own.
	if props, err := c.LoadNamespaceProperties(ctx, table.Identifier{"sales"}); err != nil || props["location"] != "s3://lake/warehouse/sales" {
		t.Fatalf("namespace properties: %v %v", props, err)
	}
	if err := c.CreateNamespace(ctx, table.Identifier{"sales", "eu"}, nil); !errors.Is(err, rest.ErrBadRequest) {
		t.Fatalf("a nested namespace: %v, want 400", err)
	}
	ident := table.Identifier{"sales", "orders"}
	tbl, err := c.CreateTable(ctx, ident, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Location() != "s3://lake/warehouse/sales/orders" {
		t.Fatalf("location %s", tbl.Location())
	}
	if ct, err := e.cat.GetTable(ctx, "sales", "orders"); err != nil || ct.Properties["metadata_location"] != tbl.MetadataLocation() {
		t.Fatalf("tarn table: %+v %v", ct, err)
	}

	// Two schema changes from the same base: one commits, one is refused.
	// (Raw commits: the client's transactions would read metadata files
	// through an S3 endpoint, which the lake test has.)
	evolve := func(col string) error {
		sc := iceberg.NewSchema(1, append(testSchema.Fields(), iceberg.NestedField{ID: 3, Name: col, Type: iceberg.PrimitiveTypes.String})...)
		_, _, err := c.CommitTable(ctx, ident,
			[]table.Requirement{table.AssertTableUUID(tbl.Metadata().TableUUID()), table.AssertCurrentSchemaID(0), table.AssertLastAssignedFieldID(2)},
			[]table.Update{table.NewAddSchemaUpdate(sc), table.NewSetCurrentSchemaUpdate(-1)})
		return err
	}
	if err := evolve("a"); err != nil {
		t.Fatal(err)
	}
	if err := evolve("b"); !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("second schema change from the same base: %v, want CommitFailedException", err)
	}
	cur, err := c.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cur.Schema().FindFieldByName("a"); !ok {
		t.Fatalf("schema lost the winning change: %v", cur.Schema())
	}
	if _, ok := cur.Schema().FindFieldByName("b"); ok {
		t.Fatalf("schema has the refused change: %v", cur.Schema())
	}

	// A multi-table transaction commits both tables or neither.
	other, err := c.CreateTable(ctx, table.Identifier{"sales", "customers"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	stale := cur.Metadata().CurrentSchema().ID
	err = c.CommitTransaction(ctx, []table.TableCommit{
		{Identifier: ident, Requirements: []table.Requirement{table.AssertCurrentSchemaID(stale)},
			Updates: []table.Update{table.NewSetPropertiesUpdate(iceberg.Properties{"both": "1"})}},
		{Identifier: other.Identifier(), Requirements: []table.Requirement{table.AssertTableUUID(other.Metadata().TableUUID())},
			Updates: []table.Update{table.NewSetPropertiesUpdate(iceberg.Properties{"both": "1"})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.CommitTransaction(ctx, []table.TableCommit{
		{Identifier: ident, Requirements: []table.Requirement{table.AssertCurrentSchemaID(stale + 7)},
			Updates: []table.Update{table.NewSetPropertiesUpdate(iceberg.Properties{"neither": "1"})}},
		{Identifier: other.Identifier(), Requirements: []table.Requirement{table.AssertTableUUID(other.Metadata().TableUUID())},
			Updates: []table.Update{table.NewSetPropertiesUpdate(iceberg.Properties{"neither": "1"})}},
	})
	if !errors.Is(err, rest.ErrCommitFailed) {
		t.Fatalf("a transaction with a stale requirement: %v, want 409", err)
	}
	for _, id := range []table.Identifier{ident, other.Identifier()} {
		tt, err := c.LoadTable(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tt.Properties()["both"] != "1" || tt.Properties()["neither"] != "" {
			t.Fatalf("%v after the transactions: %v", id, tt.Properties())
		}
	}

	// Register a table from its metadata file (after dropping it).
	now, err := c.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	loc := now.MetadataLocation()
	if err := c.DropTable(ctx, table.Identifier{"sales", "customers"}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterTable(ctx, table.Identifier{"sales", "customers_again"}, other.MetadataLocation())
	if err != nil {
		t.Fatal(err)
	}
	if reg.Metadata().TableUUID() != other.Metadata().TableUUID() {
		t.Fatalf("registered table %v is not the dropped one", reg.Metadata().TableUUID())
	}

	// Rename and drop with purge.
	if _, err := c.RenameTable(ctx, ident, table.Identifier{"sales", "orders_2025"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadTable(ctx, ident); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("old name after the rename: %v", err)
	}
	if r, err := c.LoadTable(ctx, table.Identifier{"sales", "orders_2025"}); err != nil || r.MetadataLocation() != loc {
		t.Fatalf("renamed table: %v %v", r, err)
	}
	if err := c.PurgeTable(ctx, table.Identifier{"sales", "orders_2025"}); err != nil {
		t.Fatal(err)
	}
	// Names are tarn's: case-insensitive, and "Sales" is "sales".
	if ok, err := c.CheckTableExists(ctx, table.Identifier{"Sales", "Customers_Again"}); err != nil || !ok {
		t.Fatalf("mixed-case name: %v %v", ok, err)
	}
}

// TestTarnCatalogPolicies: s3 locations are checked against the key's
// s3:PutObject, and Glue ARNs are lower-case whatever the client spells.
func TestTarnCatalogPolicies(t *testing.T) {
	e := newTarnEnv(t)
	ctx := context.Background()
	admin := e.client(t, e.admin)
	for _, ns := range []string{"open", "closed"} {
		if err := admin.CreateNamespace(ctx, table.Identifier{ns}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CreateTable(ctx, table.Identifier{"closed", "t"}, testSchema); err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParsePolicy([]byte(`{"Statement":[
		{"Effect":"Allow","Action":"glue:*","Resource":"*"},
		{"Effect":"Deny","Action":"glue:*","Resource":["arn:aws:glue:*:*:table/closed/*"]},
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::lake/warehouse/open/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "open-writer", p)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, k)
	if _, err := c.CreateTable(ctx, table.Identifier{"open", "t"}, testSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTable(ctx, table.Identifier{"open", "t2"}, testSchema, catalog.WithLocation("s3://lake/elsewhere/t2")); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("create at a location the key may not write: %v, want 403", err)
	}
	if _, err := c.CreateTable(ctx, table.Identifier{"open", "t3"}, testSchema, catalog.WithLocation("file:///etc/t3")); !errors.Is(err, rest.ErrBadRequest) {
		t.Fatalf("create at a file location: %v, want 400", err)
	}
	for _, spelled := range []table.Identifier{{"closed", "t"}, {"CLOSED", "T"}, {"Closed", "t"}} {
		if _, err := c.LoadTable(ctx, spelled); !errors.Is(err, rest.ErrForbidden) {
			t.Fatalf("loading denied %v: %v, want 403", spelled, err)
		}
	}
}

// TestTarnNestedNamespaces: tarn's namespaces have one level. Looking up a
// deeper one, or a table in one, answers the spec's 404 (NoSuchTable for a
// table: Spark reads the metadata table t.snapshots only after that answer
// for table "snapshots" in namespace "ns.t"), whatever the key's policy;
// creating one, or a table in one, is a 400.
func TestTarnNestedNamespaces(t *testing.T) {
	e := newTarnEnv(t)
	ctx := context.Background()
	admin := e.client(t, e.admin)
	if err := admin.CreateNamespace(ctx, table.Identifier{"sales"}, nil); err != nil {
		t.Fatal(err)
	}
	orders, err := admin.CreateTable(ctx, table.Identifier{"sales", "orders"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	// A key that may read sales' tables only: the name "snapshots" in
	// namespace sales.orders is none of them, and still a 404.
	p, err := auth.ParsePolicy([]byte(`{"Statement":[
		{"Effect":"Allow","Action":["glue:GetDatabase","glue:GetTable","glue:GetTables"],
		 "Resource":["arn:aws:glue:*:*:catalog","arn:aws:glue:*:*:database/sales","arn:aws:glue:*:*:table/sales/*"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := e.auth.CreateKey(ctx, "sales-reader", p)
	if err != nil {
		t.Fatal(err)
	}
	nested := table.Identifier{"sales", "orders", "snapshots"}
	for name, k := range map[string]auth.Key{"admin": e.admin, "reader": reader} {
		c := e.client(t, k)
		if _, err := c.LoadTable(ctx, nested); !errors.Is(err, catalog.ErrNoSuchTable) {
			t.Errorf("%s: load %v: %v, want NoSuchTableException", name, nested, err)
		}
		if ok, err := c.CheckTableExists(ctx, nested); ok || err != nil {
			t.Errorf("%s: %v exists: %v %v, want false", name, nested, ok, err)
		}
		if ok, err := c.CheckNamespaceExists(ctx, table.Identifier{"sales", "orders"}); ok || err != nil {
			t.Errorf("%s: namespace sales.orders exists: %v %v, want false", name, ok, err)
		}
		if _, err := c.LoadNamespaceProperties(ctx, table.Identifier{"sales", "orders"}); !errors.Is(err, catalog.ErrNoSuchNamespace) {
			t.Errorf("%s: load namespace sales.orders: %v, want NoSuchNamespaceException", name, err)
		}
		// The table the client falls back to.
		if tbl, err := c.LoadTable(ctx, table.Identifier{"sales", "orders"}); err != nil || tbl.Metadata().TableUUID() != orders.Metadata().TableUUID() {
			t.Errorf("%s: load sales.orders: %v", name, err)
		}
	}

	h := bearer(auth.Token(e.admin))
	const deep = "/v1/namespaces/sales%1Forders"
	for _, tc := range []struct {
		method, path, body string
		code               int
		typ                string
	}{
		{"GET", deep + "/tables/snapshots", "", 404, "NoSuchTableException"},
		{"HEAD", deep + "/tables/snapshots", "", 404, ""},
		{"GET", deep + "/tables/snapshots?snapshots=refs", "", 404, "NoSuchTableException"},
		{"DELETE", deep + "/tables/snapshots", "", 404, "NoSuchTableException"},
		{"POST", deep + "/tables/snapshots", `{"requirements":[],"updates":[{"action":"set-properties","updates":{"k":"v"}}]}`, 404, "NoSuchTableException"},
		{"POST", "/v1/tables/rename", `{"source":{"namespace":["sales","orders"],"name":"snapshots"},"destination":{"namespace":["sales"],"name":"x"}}`, 404, "NoSuchTableException"},
		{"POST", "/v1/transactions/commit", `{"table-changes":[{"identifier":{"namespace":["sales","orders"],"name":"files"},"requirements":[],"updates":[{"action":"set-properties","updates":{"k":"v"}}]}]}`, 404, "NoSuchTableException"},
		{"GET", deep, "", 404, "NoSuchNamespaceException"},
		{"HEAD", deep, "", 404, ""},
		{"DELETE", deep, "", 404, "NoSuchNamespaceException"},
		{"POST", deep + "/properties", `{"updates":{"k":"v"}}`, 404, "NoSuchNamespaceException"},
		{"GET", deep + "/tables", "", 404, "NoSuchNamespaceException"},
		{"GET", deep + "/views", "", 404, "NoSuchNamespaceException"},
		{"GET", "/v1/namespaces?parent=sales%1Forders", "", 404, "NoSuchNamespaceException"},
		// Creates are refused.
		{"POST", "/v1/namespaces", `{"namespace":["sales","eu"]}`, 400, "BadRequestException"},
		{"POST", deep + "/tables", `{"name":"t","schema":{"type":"struct","fields":[{"id":1,"name":"id","type":"long","required":true}]}}`, 400, "BadRequestException"},
		{"POST", deep + "/tables", `{"name":"t","stage-create":true,"location":"s3://lake/warehouse/x/t","schema":{"type":"struct","fields":[{"id":1,"name":"id","type":"long","required":true}]}}`, 400, "BadRequestException"},
		{"POST", deep + "/register", `{"name":"t","metadata-location":"` + orders.MetadataLocation() + `"}`, 400, "BadRequestException"},
		{"POST", deep + "/tables/t", `{"requirements":[{"type":"assert-create"}],"updates":[{"action":"set-location","location":"s3://lake/warehouse/x/t"}]}`, 400, "BadRequestException"},
		{"POST", "/v1/tables/rename", `{"source":{"namespace":["sales"],"name":"orders"},"destination":{"namespace":["sales","orders"],"name":"x"}}`, 400, "BadRequestException"},
		// Hostile: a deeper namespace with a bad level is still malformed.
		{"GET", "/v1/namespaces/sales%1F..%1Fx/tables/t", "", 400, "BadRequestException"},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		code, out := call(t, tc.method, e.url+tc.path, h, body)
		if code != tc.code {
			t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, code, out, tc.code)
			continue
		}
		if tc.typ != "" {
			if typ := errType(t, code, out); typ != tc.typ {
				t.Errorf("%s %s: %s %v, want %s", tc.method, tc.path, typ, out, tc.typ)
			}
		}
	}
	// Nothing was created or changed.
	if nss, err := admin.ListNamespaces(ctx, nil); err != nil || len(nss) != 1 {
		t.Fatalf("namespaces: %v %v", nss, err)
	}
	if tbl, err := admin.LoadTable(ctx, table.Identifier{"sales", "orders"}); err != nil || tbl.MetadataLocation() != orders.MetadataLocation() {
		t.Fatalf("sales.orders changed: %v", err)
	}
}

// TestTarnCreateTransaction: a create transaction (stage-create, then a
// commit asserting create with the staged metadata's changes and a
// snapshot written in the transaction, as Java's RESTSessionCatalog and
// iceberg-go's client send it) makes a table whose only schema is the
// client's schema 0, the one its snapshot names.
func TestTarnCreateTransaction(t *testing.T) {
	e := newTarnEnv(t)
	ctx := context.Background()
	c := e.client(t, e.admin)
	if err := c.CreateNamespace(ctx, table.Identifier{"sales"}, nil); err != nil {
		t.Fatal(err)
	}
	ident := table.Identifier{"sales", "created"}
	loc := "s3://lake/warehouse/sales/created"
	snapID := int64(7001)
	schemaID := 0
	snap := &table.Snapshot{SnapshotID: snapID, SequenceNumber: 1, TimestampMs: time.Now().UnixMilli(),
		ManifestList: loc + "/metadata/snap-7001-1-manifest-list.avro",
		Summary:      &table.Summary{Operation: table.OpAppend}, SchemaID: &schemaID}
	spec := iceberg.NewPartitionSpec(iceberg.PartitionField{SourceIDs: []int{1}, FieldID: 1000, Name: "id_bucket", Transform: iceberg.BucketTransform{NumBuckets: 4}})
	tbl, err := c.CreateTable(ctx, ident, testSchema, catalog.WithLocation(loc), catalog.WithPartitionSpec(&spec),
		catalog.WithStagedUpdates(table.NewAddSnapshotUpdate(snap),
			table.NewSetSnapshotRefUpdate(table.MainBranch, snapID, table.BranchRef, -1, -1, -1)))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := c.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	for name, md := range map[string]table.Metadata{"committed": tbl.Metadata(), "loaded": loaded.Metadata()} {
		if n := len(md.Schemas()); n != 1 || md.CurrentSchema().ID != 0 || len(md.CurrentSchema().Fields()) != 2 {
			t.Fatalf("%s: schemas %v, current %d: want the client's schema 0 only", name, md.Schemas(), md.CurrentSchema().ID)
		}
		cur := md.CurrentSnapshot()
		if cur == nil || cur.SnapshotID != snapID || cur.SchemaID == nil || *cur.SchemaID != md.CurrentSchema().ID {
			t.Fatalf("%s: current snapshot %+v does not name the table's schema", name, cur)
		}
		if spec := md.PartitionSpec(); len(md.PartitionSpecs()) != 1 || spec.ID() != 0 || spec.NumFields() != 1 || md.LastColumnID() != 2 {
			t.Fatalf("%s: specs %v, last-column-id %d", name, md.PartitionSpecs(), md.LastColumnID())
		}
	}
	// tarn's catalog mirrors the columns.
	if ct, err := e.cat.GetTable(ctx, "sales", "created"); err != nil || len(ct.Columns) != 2 {
		t.Fatalf("catalog row: %+v %v", ct, err)
	}
	// A second create transaction for the same name loses.
	_, err = c.CreateTable(ctx, ident, testSchema, catalog.WithLocation(loc),
		catalog.WithStagedUpdates(table.NewSetPropertiesUpdate(iceberg.Properties{"k": "v"})))
	if !errors.Is(err, catalog.ErrTableAlreadyExists) && !errors.Is(err, rest.ErrCommitFailed) {
		t.Fatalf("a second create of %v: %v, want AlreadyExists or CommitFailed", ident, err)
	}
	// A create commit that makes no table is a 400, and creates nothing.
	_, _, err = c.CommitTable(ctx, table.Identifier{"sales", "empty"}, []table.Requirement{table.AssertCreate()},
		[]table.Update{table.NewSetPropertiesUpdate(iceberg.Properties{"k": "v"})})
	if !errors.Is(err, rest.ErrBadRequest) {
		t.Fatalf("a create commit without a schema: %v, want 400", err)
	}
	if ok, err := c.CheckTableExists(ctx, table.Identifier{"sales", "empty"}); ok || err != nil {
		t.Fatalf("a refused create left a table: %v %v", ok, err)
	}
}
