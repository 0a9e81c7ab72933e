package iceberg

import (
	"context"
	"errors"
	"testing"
	"time"

	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// createUpdates are the updates Java's RESTSessionCatalog sends to commit
// a create transaction (stage-create, then a commit that asserts create):
// the staged metadata's changes, then what the transaction did (here an
// empty snapshot written with the table's schema 0, as Trino's CREATE TABLE
// commits one).
func createUpdates(md table.Metadata, snap *table.Snapshot) []table.Update {
	ups := []table.Update{table.NewAssignUUIDUpdate(md.TableUUID()), table.NewUpgradeFormatVersionUpdate(md.Version()),
		table.NewAddSchemaUpdate(md.CurrentSchema()), table.NewSetCurrentSchemaUpdate(-1),
		table.NewAddPartitionSpecUpdate(ptr(md.PartitionSpec()), true), table.NewSetDefaultSpecUpdate(-1),
		table.NewAddSortOrderUpdate(ptr(md.SortOrder())), table.NewSetDefaultSortOrderUpdate(-1),
		table.NewSetLocationUpdate(md.Location()), table.NewSetPropertiesUpdate(ice.Properties{"owner": "trino"})}
	if snap != nil {
		ups = append(ups, table.NewAddSnapshotUpdate(snap),
			table.NewSetSnapshotRefUpdate(table.MainBranch, snap.SnapshotID, table.BranchRef, -1, -1, -1))
	}
	return ups
}

// TestCreateCommitBuildsFromEmptyMetadata: a commit that asserts create
// builds the table from empty metadata and its updates, so the schema the
// client added is schema 0 (the only one) and the snapshot it wrote with
// schema 0 reads the table's columns.
func TestCreateCommitBuildsFromEmptyMetadata(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	ident := table.Identifier{"sales", "created"}
	md, err := table.NewMetadata(ordersSchema, nil, table.UnsortedSortOrder, "s3://lake/warehouse/sales/created", nil)
	mustNoErr(t, err)
	snap := &table.Snapshot{SnapshotID: 4242, SequenceNumber: 1, TimestampMs: time.Now().UnixMilli(),
		ManifestList: md.Location() + "/metadata/snap-4242-1-" + uuid.NewString() + ".avro",
		Summary:      &table.Summary{Operation: table.OpAppend}, SchemaID: ptr(0)}
	got, loc, err := l.ice.CommitTable(ctx, ident, []table.Requirement{table.AssertCreate()}, createUpdates(md, snap))
	mustNoErr(t, err)
	tbl, err := l.ice.LoadTable(ctx, ident)
	mustNoErr(t, err)
	if tbl.MetadataLocation() != loc {
		t.Fatalf("loaded %s, committed %s", tbl.MetadataLocation(), loc)
	}
	for _, m := range []table.Metadata{got, tbl.Metadata()} {
		if n := len(m.Schemas()); n != 1 || m.CurrentSchema().ID != 0 || len(m.CurrentSchema().Fields()) != 5 {
			t.Fatalf("schemas %v (current %d), want the client's schema 0 only", m.Schemas(), m.CurrentSchema().ID)
		}
		if m.LastColumnID() != 6 || m.TableUUID() != md.TableUUID() || m.Version() != 2 || m.Properties()["owner"] != "trino" {
			t.Fatalf("last-column-id %d, uuid %v, format %d, properties %v", m.LastColumnID(), m.TableUUID(), m.Version(), m.Properties())
		}
		cur := m.CurrentSnapshot()
		if cur == nil || cur.SnapshotID != 4242 || cur.SchemaID == nil {
			t.Fatalf("current snapshot %+v", cur)
		}
		var sc *ice.Schema
		for _, s := range m.Schemas() {
			if s.ID == *cur.SchemaID {
				sc = s
			}
		}
		if sc == nil || len(sc.Fields()) != 5 {
			t.Fatalf("the snapshot's schema %d is %v, want the table's columns", *cur.SchemaID, sc)
		}
		if len(m.PartitionSpecs()) != 1 || len(m.SortOrders()) != 1 {
			t.Fatalf("specs %v, sort orders %v", m.PartitionSpecs(), m.SortOrders())
		}
	}
	if cols, err := l.cat.GetTable(ctx, "sales", "created"); err != nil || len(cols.Columns) != 5 {
		t.Fatalf("catalog row: %+v %v", cols, err)
	}

	// Format v3 when the client upgrades to it; a uuid, the unpartitioned
	// spec and the unsorted order when it gives none.
	v3, err := table.NewMetadata(ordersSchema, nil, table.UnsortedSortOrder, "s3://lake/warehouse/sales/v3", ice.Properties{"format-version": "3"})
	mustNoErr(t, err)
	m3, _, err := l.ice.CommitTable(ctx, table.Identifier{"sales", "v3"}, []table.Requirement{table.AssertCreate()}, createUpdates(v3, nil))
	mustNoErr(t, err)
	if m3.Version() != 3 || len(m3.Schemas()) != 1 {
		t.Fatalf("v3 create: format %d, schemas %v", m3.Version(), m3.Schemas())
	}
	bare := []table.Update{table.NewAddSchemaUpdate(ordersSchema), table.NewSetCurrentSchemaUpdate(-1)}
	mb, _, err := l.ice.CommitTable(ctx, table.Identifier{"sales", "bare"}, []table.Requirement{table.AssertCreate()}, bare)
	mustNoErr(t, err)
	if mb.TableUUID() == uuid.Nil || mb.Version() != 2 || !mb.PartitionSpec().IsUnpartitioned() || !mb.SortOrder().IsUnsorted() ||
		mb.Location() != "s3://lake/warehouse/sales/bare" || len(mb.Schemas()) != 1 {
		t.Fatalf("bare create: uuid %v, format %d, spec %v, order %v, location %s, schemas %v",
			mb.TableUUID(), mb.Version(), mb.PartitionSpec(), mb.SortOrder(), mb.Location(), mb.Schemas())
	}

	// Updates that make no table are refused, and create nothing.
	for name, ups := range map[string][]table.Update{
		"no schema":             {table.NewSetLocationUpdate("s3://lake/warehouse/sales/bad")},
		"downgrade":             append([]table.Update{table.NewUpgradeFormatVersionUpdate(2), table.NewUpgradeFormatVersionUpdate(1)}, bare...),
		"unknown format":        append([]table.Update{table.NewUpgradeFormatVersionUpdate(9)}, bare...),
		"schema id not added":   {table.NewAddSchemaUpdate(ordersSchema), table.NewSetCurrentSchemaUpdate(7)},
		"snapshot, no schema":   {table.NewAddSnapshotUpdate(snap)},
		"location outside lake": append([]table.Update{table.NewSetLocationUpdate("file:///etc/bad")}, bare...),
	} {
		_, _, err := l.ice.CommitTable(ctx, table.Identifier{"sales", "bad"}, []table.Requirement{table.AssertCreate()}, ups)
		if err == nil {
			t.Fatalf("%s: created", name)
		}
		if !errors.Is(err, ice.ErrInvalidArgument) && !errors.Is(err, ErrInvalidLocation) {
			t.Errorf("%s: %v, want an invalid argument", name, err)
		}
		if ok, err := l.ice.CheckTableExists(ctx, table.Identifier{"sales", "bad"}); ok || err != nil {
			t.Fatalf("%s: a refused create left a table (%v)", name, err)
		}
	}
}

// TestNestedNamespaceLookups: a namespace of two levels never exists, so
// looking it up, or a table in it, is "no such namespace/table", not
// ErrNestedNamespace; creating one, or a table in one, is
// ErrNestedNamespace.
func TestNestedNamespaceLookups(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	_, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	ns := table.Identifier{"sales", "orders"}
	nested := table.Identifier{"sales", "orders", "snapshots"}

	notFound := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) || errors.Is(err, ErrNestedNamespace) {
			t.Errorf("%s: %v, want %v without ErrNestedNamespace", what, err, want)
		}
		if want == icecat.ErrNoSuchTable && errors.Is(err, icecat.ErrNoSuchNamespace) {
			t.Errorf("%s: %v is also a missing namespace (Spark then does not try a metadata table)", what, err)
		}
	}
	_, err = l.ice.LoadTable(ctx, nested)
	notFound("load table", err, icecat.ErrNoSuchTable)
	notFound("drop table", l.ice.DropTable(ctx, nested), icecat.ErrNoSuchTable)
	notFound("purge table", l.ice.PurgeTable(ctx, nested), icecat.ErrNoSuchTable)
	_, err = l.ice.RenameTable(ctx, nested, table.Identifier{"sales", "x"})
	notFound("rename from", err, icecat.ErrNoSuchTable)
	_, _, err = l.ice.CommitTable(ctx, nested, nil, []table.Update{table.NewSetPropertiesUpdate(ice.Properties{"k": "v"})})
	notFound("commit", err, icecat.ErrNoSuchTable)
	_, err = l.ice.LoadNamespaceProperties(ctx, ns)
	notFound("load namespace", err, icecat.ErrNoSuchNamespace)
	notFound("drop namespace", l.ice.DropNamespace(ctx, ns), icecat.ErrNoSuchNamespace)
	_, err = l.ice.UpdateNamespaceProperties(ctx, ns, nil, ice.Properties{"k": "v"})
	notFound("update namespace", err, icecat.ErrNoSuchNamespace)
	for _, err := range l.ice.ListTables(ctx, ns) {
		notFound("list tables", err, icecat.ErrNoSuchNamespace)
	}
	_, err = l.ice.ListNamespaces(ctx, ns)
	notFound("list namespaces", err, icecat.ErrNoSuchNamespace)
	if ok, err := l.ice.CheckTableExists(ctx, nested); ok || err != nil {
		t.Errorf("table exists: %v %v, want false", ok, err)
	}
	if ok, err := l.ice.CheckNamespaceExists(ctx, ns); ok || err != nil {
		t.Errorf("namespace exists: %v %v, want false", ok, err)
	}

	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNestedNamespace) {
			t.Errorf("%s: %v, want ErrNestedNamespace", what, err)
		}
	}
	refused("create namespace", l.ice.CreateNamespace(ctx, ns, nil))
	_, err = l.ice.CreateTable(ctx, nested, ordersSchema)
	refused("create table", err)
	_, err = l.ice.RegisterTable(ctx, nested, "s3://lake/warehouse/sales/orders/metadata/00000-x.metadata.json")
	refused("register table", err)
	_, err = l.ice.RenameTable(ctx, ordersIdent, nested)
	refused("rename to", err)
	md, err := table.NewMetadata(ordersSchema, nil, table.UnsortedSortOrder, "s3://lake/warehouse/sales/n", nil)
	mustNoErr(t, err)
	_, _, err = l.ice.CommitTable(ctx, nested, []table.Requirement{table.AssertCreate()}, createUpdates(md, nil))
	refused("create commit", err)
	if _, err := l.ice.LoadTable(ctx, ordersIdent); err != nil {
		t.Fatalf("the table itself: %v", err)
	}
}
