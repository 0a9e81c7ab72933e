package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	iofs "io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"golang.org/x/sync/errgroup"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// ErrCannotConvert: a table cannot become an Iceberg table in place (it
// already is one, is not Parquet, has a file that is not Parquet or lies
// outside its location, or a type Iceberg cannot take).
var ErrCannotConvert = errors.New("cannot convert the table to Iceberg")

// hiveDefaultPartition is Hive's name for a NULL partition value.
const hiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// ConvertToIceberg turns a Hive-style Parquet table into an Iceberg table
// in place, without rewriting its files: its schema becomes an Iceberg
// schema (partition keys become columns, under an identity partition spec,
// with a name mapping since the files carry no field ids), and its
// published files (the catalog's manifest, or for a table without one the
// Parquet files below its partitions' locations) are added in one
// snapshot, their statistics read from their footers. The catalog row then
// becomes the Iceberg table (table_type=ICEBERG, metadata_location, no
// partition keys, its partitions dropped) in one metadata transaction that
// fails with catalog.ErrConcurrentUpdate if the table changed meanwhile.
//
// Every file must be a .parquet file below the table's location. Readers
// that fill identity partition columns from metadata (Spark, Trino,
// PyIceberg) read the partition keys; a reader that only reads the files
// sees them as NULL, as the files do not hold them.
func (c *Catalog) ConvertToIceberg(ctx context.Context, db, name string) (*table.Table, error) {
	full := strings.ToLower(db + "." + name)
	t, err := c.cat.GetTable(ctx, db, name)
	if err != nil {
		return nil, fmt.Errorf("cannot convert table %q: %w", full, err)
	}
	full = t.FullName()
	tbl, err := c.convert(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("cannot convert table %q: %w", full, err)
	}
	return tbl, nil
}

func (c *Catalog) convert(ctx context.Context, t catalog.Table) (*table.Table, error) {
	switch {
	case IsIceberg(t):
		return nil, fmt.Errorf("%w: it is an Iceberg table already", ErrCannotConvert)
	case t.TableType == catalog.TableTypeVirtualView:
		return nil, fmt.Errorf("%w: it is a view", ErrCannotConvert)
	case t.Format != catalog.FormatParquet:
		return nil, fmt.Errorf("%w: its format is %s; only Parquet tables convert in place", ErrCannotConvert, t.Format)
	}
	location := strings.TrimRight(t.Location, "/")
	root, err := tableLoc(location)
	if err != nil {
		return nil, err
	}

	// The schema: columns, then partition keys; an identity spec over the
	// partition keys.
	var fields []ice.NestedField
	cols := append(slices.Clone(t.Columns), t.PartitionKeys...)
	next := len(cols) // nested ids come after the top-level ones
	for i, col := range cols {
		typ, err := catalog.ParseType(col.Type)
		if err != nil {
			return nil, fmt.Errorf("%w: column %q: %w", ErrCannotConvert, col.Name, err)
		}
		it, err := icebergType(typ, &next)
		if err != nil {
			return nil, fmt.Errorf("%w: column %q: %w", ErrCannotConvert, col.Name, err)
		}
		fields = append(fields, ice.NestedField{ID: i + 1, Name: col.Name, Type: it, Doc: col.Comment})
	}
	sc := ice.NewSchema(0, fields...)
	var pfields []ice.PartitionField
	for i, k := range t.PartitionKeys {
		pfields = append(pfields, ice.PartitionField{SourceIDs: []int{len(t.Columns) + i + 1}, FieldID: 1000 + i, Name: k.Name, Transform: ice.IdentityTransform{}})
	}
	spec := ice.NewPartitionSpec(pfields...)
	props := ice.Properties{}
	if t.Description != "" {
		props["comment"] = t.Description
	}
	md, err := table.NewMetadata(sc, &spec, table.UnsortedSortOrder, location, props)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCannotConvert, err)
	}

	partsBefore, err := c.cat.ListPartitions(ctx, t.Database, t.Name)
	if err != nil {
		return nil, err
	}
	files, err := c.publishedFiles(ctx, t, partsBefore)
	if err != nil {
		return nil, err
	}
	fio, err := c.tableIO(ctx, location)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if !below(f.URI, root) {
			return nil, fmt.Errorf("%w: %w: file %q is not below the table's location %q", ErrCannotConvert, ErrInvalidLocation, f.URI, location)
		}
		if !strings.HasSuffix(strings.ToLower(f.URI), ".parquet") {
			return nil, fmt.Errorf("%w: file %q is not a .parquet file", ErrCannotConvert, f.URI)
		}
	}
	dataFiles, err := dataFilesOf(ctx, fio, md, len(t.Columns), files)
	if err != nil {
		return nil, err
	}

	// One snapshot adding the files, staged on a table nobody sees yet.
	fsF, err := c.fsFunc(location)
	if err != nil {
		return nil, err
	}
	ident := table.Identifier{t.Database, t.Name}
	staged := table.New(ident, md, "", fsF, nil)
	if len(dataFiles) > 0 {
		tx := staged.NewTransaction()
		if err := tx.AddDataFiles(ctx, dataFiles, ice.Properties{"tarn.operation": "convert"}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCannotConvert, err)
		}
		st, err := tx.StagedTable()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCannotConvert, err)
		}
		md = st.Metadata()
	}
	mdLoc := newMetadataLocation(location, 0)
	if err := writeMetadata(fio, mdLoc, md); err != nil {
		return nil, err
	}

	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := c.cat.GetTableTx(ctx, tx, t.Database, t.Name)
		if err != nil {
			return err
		}
		changed := cur.Version != t.Version || !cur.UpdatedAt.Equal(t.UpdatedAt) || IsIceberg(cur)
		parts, err := c.cat.ListPartitionsTx(ctx, tx, t.Database, t.Name)
		if err != nil {
			return err
		}
		if !changed && t.HasManifest() {
			// Files published meanwhile would be lost to the Iceberg table.
			now, err := c.cat.ListFilesTx(ctx, tx, t.Database, t.Name)
			if err != nil {
				return err
			}
			changed = !slices.EqualFunc(now, files, func(a, b catalog.DataFile) bool { return a.URI == b.URI })
		}
		if !changed {
			changed = !slices.EqualFunc(parts, partsBefore, func(a, b catalog.Partition) bool {
				return slices.Equal(a.Values, b.Values) && a.Location == b.Location
			})
		}
		if changed {
			return fmt.Errorf("%w: the table changed while it was converted; convert it again", catalog.ErrConcurrentUpdate)
		}
		values := make([][]string, len(parts))
		for i, p := range parts {
			values[i] = p.Values
		}
		if _, err := c.cat.DropPartitionsTx(ctx, tx, t.Database, t.Name, values); err != nil {
			return err
		}
		nt, err := row(cur, md, mdLoc, "")
		if err != nil {
			return err
		}
		// The catalog's file manifest no longer decides what is read:
		// the Iceberg metadata does.
		delete(nt.Properties, catalog.PropertyManifest)
		nt.FormatOptions = nil
		_, err = c.cat.UpdateTableTx(ctx, tx, nt, "converted to Iceberg")
		return err
	})
	if err != nil {
		c.removeStaged(ctx, fio, md, mdLoc)
		return nil, err
	}
	return table.New(ident, md, mdLoc, fsF, c), nil
}

// removeStaged removes the metadata file, manifest list and manifests of a
// conversion that was not published.
func (c *Catalog) removeStaged(ctx context.Context, fio *IO, md table.Metadata, mdLoc string) {
	fio = fio.WithContext(context.WithoutCancel(ctx))
	paths := []string{mdLoc}
	if snap := md.CurrentSnapshot(); snap != nil {
		if mfs, err := snap.Manifests(fio); err == nil {
			for _, m := range mfs {
				paths = append(paths, m.FilePath())
			}
		}
		paths = append(paths, snap.ManifestList)
	}
	_, _ = fio.DeleteFiles(context.WithoutCancel(ctx), paths)
}

// publishedFiles returns a table's files: its manifest's, or, for a table
// without one, the files below its partitions' locations (its location if
// unpartitioned), leaving out hidden names ("_…", ".…") as Hive does.
func (c *Catalog) publishedFiles(ctx context.Context, t catalog.Table, parts []catalog.Partition) ([]catalog.DataFile, error) {
	if t.HasManifest() {
		return c.cat.ListFiles(ctx, t.Database, t.Name)
	}
	type dir struct {
		uri    string
		values []string
	}
	var dirs []dir
	if len(t.PartitionKeys) == 0 {
		dirs = append(dirs, dir{uri: t.Location})
	} else {
		for _, p := range parts {
			loc := p.Location
			if loc == "" {
				loc = strings.TrimRight(t.Location, "/") + "/" + catalog.PartitionPath(t.PartitionKeys, p.Values)
			}
			dirs = append(dirs, dir{uri: loc, values: p.Values})
		}
	}
	var out []catalog.DataFile
	all := c.io.WithContext(ctx)
	for _, d := range dirs {
		err := all.WalkDir(strings.TrimRight(d.uri, "/"), func(p string, e iofs.DirEntry, err error) error {
			if errors.Is(err, iofs.ErrNotExist) {
				return nil // an empty partition
			}
			if err != nil {
				return err
			}
			if p != strings.TrimRight(d.uri, "/") && (strings.HasPrefix(e.Name(), "_") || strings.HasPrefix(e.Name(), ".")) {
				if e.IsDir() {
					return iofs.SkipDir
				}
				return nil
			}
			if e.IsDir() {
				if len(t.PartitionKeys) == 0 && p != strings.TrimRight(d.uri, "/") && e.Name() == "metadata" {
					return iofs.SkipDir
				}
				return nil
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			out = append(out, catalog.DataFile{URI: p, Values: d.values, Size: info.Size()})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dataFilesOf builds the Iceberg data files of existing Parquet files:
// statistics from their footers (the columns are matched by name), and
// partition values from the catalog.
func dataFilesOf(ctx context.Context, fio *IO, md table.Metadata, dataColumns int, files []catalog.DataFile) ([]ice.DataFile, error) {
	sc, spec := md.CurrentSchema(), md.PartitionSpec()
	// The files hold the data columns only (the first dataColumns fields).
	fileSchema := ice.NewSchema(sc.ID, sc.Fields()[:dataColumns]...)
	var partFields []ice.PartitionField
	for _, pf := range spec.Fields() {
		partFields = append(partFields, pf)
	}
	out := make([]ice.DataFile, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, f := range files {
		g.Go(func() error {
			if len(f.Values) != len(partFields) {
				return fmt.Errorf("%w: file %q has %d partition value(s) for %d partition key(s)", ErrCannotConvert, f.URI, len(f.Values), len(partFields))
			}
			stats, err := table.FileToDataFile(gctx, fio.WithContext(gctx), f.URI, fileSchema, *ice.UnpartitionedSpec, 0, md.Properties())
			if err != nil {
				return fmt.Errorf("%w: file %q: %w", ErrCannotConvert, f.URI, err)
			}
			values := map[int]any{}
			logical := map[int]string{}
			for j, pf := range partFields {
				src, _ := sc.FindFieldByID(pf.SourceID())
				v, lt, err := partitionValue(src.Type, f.Values[j])
				if err != nil {
					return fmt.Errorf("%w: file %q: partition value %q of %q: %w", ErrCannotConvert, f.URI, f.Values[j], src.Name, err)
				}
				values[pf.FieldID] = v
				if lt != "" {
					logical[pf.FieldID] = lt
				}
			}
			b, err := ice.NewDataFileBuilder(spec, ice.EntryContentData, f.URI, ice.ParquetFile, values, logical, nil, stats.Count(), stats.FileSizeBytes())
			if err != nil {
				return fmt.Errorf("%w: file %q: %w", ErrCannotConvert, f.URI, err)
			}
			b.ColumnSizes(stats.ColumnSizes()).ValueCounts(stats.ValueCounts()).NullValueCounts(stats.NullValueCounts()).
				NaNValueCounts(stats.NaNValueCounts()).LowerBoundValues(stats.LowerBoundValues()).
				UpperBoundValues(stats.UpperBoundValues()).SplitOffsets(stats.SplitOffsets())
			out[i] = b.Build()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// partitionValue converts a Hive partition value (a string) to the Go
// value Iceberg keeps for the type, with the Avro logical type of dates and
// timestamps.
func partitionValue(t ice.Type, s string) (any, string, error) {
	if s == hiveDefaultPartition {
		return nil, "", nil
	}
	switch t.(type) {
	case ice.StringType:
		return s, "", nil
	case ice.Int32Type:
		v, err := strconv.ParseInt(s, 10, 32)
		return int32(v), "", err
	case ice.Int64Type:
		v, err := strconv.ParseInt(s, 10, 64)
		return v, "", err
	case ice.BooleanType:
		v, err := strconv.ParseBool(s)
		return v, "", err
	case ice.Float64Type:
		v, err := strconv.ParseFloat(s, 64)
		return v, "", err
	case ice.Float32Type:
		v, err := strconv.ParseFloat(s, 32)
		return float32(v), "", err
	case ice.DateType:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, "", err
		}
		return ice.Date(d.Unix() / 86400), "date", nil
	case ice.TimestampType:
		for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999"} {
			if ts, err := time.Parse(layout, s); err == nil {
				return ice.Timestamp(ts.UnixMicro()), "timestamp-micros", nil
			}
		}
		return nil, "", fmt.Errorf("not a timestamp")
	}
	return nil, "", fmt.Errorf("partition keys of type %s cannot be converted", t)
}

// IcebergType returns the Iceberg type of an Athena/Hive type: tinyint,
// smallint and int are int; bigint long; varchar and char string;
// timestamp a timestamp without time zone. Nested fields get ids from 1
// up (a new table's metadata assigns fresh ones).
func IcebergType(t catalog.Type) (ice.Type, error) {
	next := 0
	return icebergType(t, &next)
}

func icebergType(t catalog.Type, next *int) (ice.Type, error) {
	id := func() int { *next++; return *next }
	switch t.Kind {
	case catalog.KindString, catalog.KindVarchar, catalog.KindChar:
		return ice.PrimitiveTypes.String, nil
	case catalog.KindTinyint, catalog.KindSmallint, catalog.KindInt:
		return ice.PrimitiveTypes.Int32, nil
	case catalog.KindBigint:
		return ice.PrimitiveTypes.Int64, nil
	case catalog.KindFloat:
		return ice.PrimitiveTypes.Float32, nil
	case catalog.KindDouble:
		return ice.PrimitiveTypes.Float64, nil
	case catalog.KindDecimal:
		return ice.DecimalTypeOf(t.Precision, t.Scale), nil
	case catalog.KindBoolean:
		return ice.PrimitiveTypes.Bool, nil
	case catalog.KindDate:
		return ice.PrimitiveTypes.Date, nil
	case catalog.KindTimestamp:
		return ice.PrimitiveTypes.Timestamp, nil
	case catalog.KindBinary:
		return ice.PrimitiveTypes.Binary, nil
	case catalog.KindArray:
		eid := id()
		e, err := icebergType(*t.Elem, next)
		if err != nil {
			return nil, err
		}
		return &ice.ListType{ElementID: eid, Element: e}, nil
	case catalog.KindMap:
		kid, vid := id(), id()
		k, err := icebergType(*t.Key, next)
		if err != nil {
			return nil, err
		}
		v, err := icebergType(*t.Elem, next)
		if err != nil {
			return nil, err
		}
		return &ice.MapType{KeyID: kid, KeyType: k, ValueID: vid, ValueType: v}, nil
	case catalog.KindStruct:
		fs := make([]ice.NestedField, len(t.Fields))
		for i, f := range t.Fields {
			fid := id()
			ft, err := icebergType(f.Type, next)
			if err != nil {
				return nil, err
			}
			fs[i] = ice.NestedField{ID: fid, Name: f.Name, Type: ft}
		}
		return &ice.StructType{FieldList: fs}, nil
	}
	return nil, fmt.Errorf("%w: type %s has no Iceberg equivalent", catalog.ErrUnsupportedTypeConv, t)
}
