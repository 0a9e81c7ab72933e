package main

import (
	"context"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/client"
)

// remoteCatalog is the server's catalog as a catalogService: the client
// speaks the API's wire types (it links no service), the commands the
// catalog's, field for field.
type remoteCatalog struct{ k *client.Catalog }

func fromWire[T, U any](in []T, err error, f func(T) U) ([]U, error) {
	if err != nil || in == nil {
		return nil, err
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out, nil
}

func catalogColumns(cs []apitypes.Column) []catalog.Column {
	out, _ := fromWire(cs, nil, func(c apitypes.Column) catalog.Column {
		return catalog.Column{Name: c.Name, Type: c.Type, Comment: c.Comment}
	})
	return out
}

func catalogTable(t apitypes.Table) catalog.Table {
	return catalog.Table{Database: t.Database, Name: t.Name, Description: t.Description, Location: t.Location, Format: t.Format,
		FormatOptions: t.FormatOptions, Columns: catalogColumns(t.Columns), PartitionKeys: catalogColumns(t.PartitionKeys),
		TableType: t.TableType, Properties: t.Properties, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
}

func (r remoteCatalog) ListDatabases(ctx context.Context) ([]catalog.Database, error) {
	dbs, err := r.k.ListDatabases(ctx)
	return fromWire(dbs, err, func(d apitypes.Database) catalog.Database {
		return catalog.Database{Name: d.Name, Description: d.Description, Location: d.Location, Properties: d.Properties, CreatedAt: d.CreatedAt}
	})
}

func (r remoteCatalog) ListTables(ctx context.Context, db string) ([]catalog.Table, error) {
	ts, err := r.k.ListTables(ctx, db)
	return fromWire(ts, err, catalogTable)
}

func (r remoteCatalog) GetTable(ctx context.Context, db, name string) (catalog.Table, error) {
	t, err := r.k.GetTable(ctx, db, name)
	if err != nil {
		return catalog.Table{}, err
	}
	return catalogTable(t), nil
}

func (r remoteCatalog) ListPartitions(ctx context.Context, db, table string) ([]catalog.Partition, error) {
	ps, err := r.k.ListPartitions(ctx, db, table)
	return fromWire(ps, err, func(p apitypes.Partition) catalog.Partition {
		return catalog.Partition{Values: p.Values, Location: p.Location, FileCount: p.FileCount, Bytes: p.Bytes, AddedAt: p.AddedAt}
	})
}

func (r remoteCatalog) SchemaVersions(ctx context.Context, db, table string) ([]catalog.SchemaVersion, error) {
	vs, err := r.k.SchemaVersions(ctx, db, table)
	return fromWire(vs, err, func(v apitypes.SchemaVersion) catalog.SchemaVersion {
		changes, _ := fromWire(v.Changes, nil, func(c apitypes.SchemaChange) catalog.SchemaChange {
			return catalog.SchemaChange{Kind: c.Kind, Column: c.Column, From: c.From, To: c.To}
		})
		return catalog.SchemaVersion{Version: v.Version, Columns: catalogColumns(v.Columns), PartitionKeys: catalogColumns(v.PartitionKeys),
			Format: v.Format, FormatOptions: v.FormatOptions, Location: v.Location, Changes: changes, Reason: v.Reason, CreatedAt: v.CreatedAt}
	})
}

func (r remoteCatalog) SkippedFiles(ctx context.Context, db, table string) ([]catalog.SkippedFile, error) {
	fs, err := r.k.SkippedFiles(ctx, db, table)
	return fromWire(fs, err, func(f apitypes.SkippedFile) catalog.SkippedFile {
		return catalog.SkippedFile{URI: f.URI, Reason: f.Reason, SkippedAt: f.SkippedAt}
	})
}
