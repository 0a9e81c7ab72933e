package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"golang.org/x/sync/errgroup"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/storage"
)

// isIceberg reports whether a catalog table is an Iceberg table (as Glue
// marks them).
func isIceberg(t catalog.Table) bool { return strings.EqualFold(t.Properties["table_type"], "ICEBERG") }

// ErrTimeTravel is wrapped by errors of a FOR TIMESTAMP|VERSION AS OF clause
// that cannot be honoured.
var ErrTimeTravel = errors.New("invalid time travel")

// asOf is a table reference's time travel clause (DuckDB's at_clause).
type asOf struct {
	unit  string // "VERSION" or "TIMESTAMP"
	value string // the evaluated expression: a snapshot id or a timestamp
}

func (a *asOf) key() string {
	if a == nil {
		return ""
	}
	return "@" + a.unit + "=" + a.value
}

// evalAsOf evaluates an at_clause's expression (a constant expression: no
// table is read) on the session.
func (s *Session) evalAsOf(ctx context.Context, at node) (*asOf, error) {
	unit := strings.ToUpper(str(at, "unit"))
	if unit != "VERSION" && unit != "TIMESTAMP" {
		return nil, fmt.Errorf("%w: FOR %s AS OF: only TIMESTAMP and VERSION are known", ErrTimeTravel, unit)
	}
	expr, _ := at["expr"].(node)
	if expr == nil {
		return nil, fmt.Errorf("%w: FOR %s AS OF has no value", ErrTimeTravel, unit)
	}
	found := false
	walk(expr, func(n node) bool {
		if t := str(n, "type"); t == "SUBQUERY" || t == "BASE_TABLE" || t == "TABLE_FUNCTION" {
			found = true
		}
		return !found
	})
	if found {
		return nil, fmt.Errorf("%w: FOR %s AS OF takes a constant (a snapshot id or a timestamp), not a query", ErrTimeTravel, unit)
	}
	text, err := exprSQL(ctx, s, expr)
	if err != nil {
		return nil, err
	}
	cast := "CAST((" + text + ") AS VARCHAR)"
	if unit == "TIMESTAMP" {
		// Milliseconds since the epoch, as Iceberg's snapshot log keeps them.
		cast = "CAST(epoch_ms(CAST((" + text + ") AS TIMESTAMPTZ)) AS VARCHAR)"
	}
	var v *string
	if err := s.conn.QueryRowContext(ctx, "SELECT "+cast).Scan(&v); err != nil {
		return nil, fmt.Errorf("%w: FOR %s AS OF %s: %v", ErrTimeTravel, unit, text, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: FOR %s AS OF %s is NULL", ErrTimeTravel, unit, text)
	}
	return &asOf{unit: unit, value: *v}, nil
}

// exprSQL prints one expression of a serialized tree as SQL, by putting it
// into an otherwise empty SELECT and deserializing that.
func exprSQL(ctx context.Context, s *Session, expr node) (string, error) {
	tree, err := serialize(ctx, s.conn, "SELECT 1")
	if err != nil {
		return "", err
	}
	stmt, err := statementNode(tree)
	if err != nil {
		return "", err
	}
	stmt["select_list"] = []any{expr}
	text, err := deserialize(ctx, s.conn, tree)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(strings.TrimSpace(text), "SELECT "), nil
}

// loadIceberg reads an Iceberg table's current metadata through the store.
func (e *Engine) loadIceberg(ctx context.Context, t catalog.Table) (*table.Table, error) {
	loc := t.Properties["metadata_location"]
	if loc == "" {
		return nil, fmt.Errorf("%w: Iceberg table %s has no metadata_location", catalog.ErrInvalidTable, t.FullName())
	}
	e.ice.init()
	if tbl, ok := e.ice.tables.Get(loc); ok {
		return tbl, nil
	}
	// The table's IO is confined to its location: manifests naming another
	// table's files are not read either.
	tbl, err := iceberg.OpenTable(ctx, e.store, t)
	if err != nil {
		return nil, fmt.Errorf("cannot read Iceberg metadata of table %s (%s): %w", t.FullName(), loc, err)
	}
	e.ice.tables.Add(loc, tbl)
	return tbl, nil
}

// snapshotAt picks the snapshot a reference reads: the current one, a
// snapshot id, or the one current at a time (Iceberg's snapshot log).
func snapshotAt(t catalog.Table, tbl *table.Table, at *asOf) (*table.Snapshot, error) {
	meta := tbl.Metadata()
	if at == nil {
		return meta.CurrentSnapshot(), nil
	}
	var n int64
	if _, err := fmt.Sscan(at.value, &n); err != nil {
		return nil, fmt.Errorf("%w: %s AS OF %q is not a number", ErrTimeTravel, at.unit, at.value)
	}
	if at.unit == "VERSION" {
		if s := meta.SnapshotByID(n); s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("%w: table %s has no snapshot %d (see its \"%s$snapshots\" table)", ErrTimeTravel, t.FullName(), n, t.Name)
	}
	var id int64 = -1
	for l := range meta.SnapshotLogs() {
		if l.TimestampMs <= n {
			id = l.SnapshotID
		}
	}
	if id < 0 {
		return nil, fmt.Errorf("%w: table %s has no snapshot at or before %s", ErrTimeTravel, t.FullName(), time.UnixMilli(n).UTC().Format(time.RFC3339Nano))
	}
	if s := meta.SnapshotByID(id); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("%w: the snapshot current at %s (%d) of table %s has expired", ErrTimeTravel, time.UnixMilli(n).UTC().Format(time.RFC3339Nano), id, t.FullName())
}

// icebergScan binds one Iceberg table (at the reference's snapshot) to the
// files of that snapshot: data files read by Parquet field id (so renamed,
// added and dropped columns read as Iceberg says), minus the rows of its
// position and equality delete files.
//
// skip, if set, leaves out data files a writer has processed (job
// bookmarks: an Iceberg data file never changes, so its URI is enough).
func (s *Session) icebergScan(ctx context.Context, bt *boundTable, tree node, skip func(catalog.Table, FileRef) bool) (*TableScan, error) {
	t := bt.t
	scan := &TableScan{Table: t, Columns: referencedColumns(tree, bt)}
	tbl := bt.ice
	snap, err := snapshotAt(t, tbl, bt.at)
	if err != nil {
		return nil, err
	}
	sch := tbl.Schema()
	if snap != nil && snap.SchemaID != nil && bt.at != nil {
		// A past snapshot is read with the schema it was written with.
		for _, sc := range tbl.Metadata().Schemas() {
			if sc.ID == *snap.SchemaID {
				sch = sc
			}
		}
	}
	cols, err := icebergColumns(sch)
	if err != nil {
		return nil, fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
	}
	if snap == nil {
		scan.SQL = emptySQL(cols)
		return scan, nil
	}
	tasks, err := s.e.ice.plan(ctx, tbl, snap.SnapshotID)
	if err != nil {
		return nil, fmt.Errorf("cannot plan the scan of table %s: %w", t.FullName(), err)
	}
	if skip != nil {
		kept := make([]table.FileScanTask, 0, len(tasks))
		for _, task := range tasks {
			f := task.File
			if !skip(t, FileRef{URI: f.FilePath(), Size: f.FileSizeBytes(), Partition: -1}) {
				kept = append(kept, task)
			}
		}
		tasks = kept
	}
	if len(tasks) == 0 {
		scan.SQL = emptySQL(cols)
		return scan, nil
	}
	cols4key := "*"
	if scan.Columns != nil {
		cols4key = strings.Join(scan.Columns, ",")
	}
	key := fmt.Sprintf("%s#%d#%d#%s", tbl.MetadataLocation(), snap.SnapshotID, sch.ID, cols4key)
	if skip != nil {
		key = "" // what is skipped changes from run to run
	}
	if c, ok := s.e.ice.scans.Get(key); key != "" && ok {
		s.e.files.add(c.uris)
		s.held = append(s.held, c.uris...)
		scan.SQL, scan.Files, scan.BytesScanned = c.sql, slices.Clone(c.files), c.bytes
		return scan, nil
	}
	cleanups, held := len(s.cleanups), len(s.held)
	defer func() {
		// Cached only when every file is read in place (no fetched copy
		// that the session's end removes).
		if key != "" && scan.SQL != "" && len(s.cleanups) == cleanups {
			uris := slices.Compact(slices.Sorted(slices.Values(s.held[held:])))
			s.e.ice.scans.Add(key, &cachedScan{sql: scan.SQL, files: slices.Clone(scan.Files), bytes: scan.BytesScanned, uris: uris})
		}
	}()
	wanted := map[int]bool{}
	for _, c := range scan.Columns {
		for _, ic := range cols {
			if strings.EqualFold(ic.name, c) {
				wanted[ic.id] = true
			}
		}
	}
	local := func(uri string) (string, error) {
		bucket, key, err := iceberg.ParseLocation(uri)
		if err != nil {
			return "", fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
		}
		uri = "s3://" + bucket + "/" + key
		// The table's location is what a key's rights were checked on: a
		// file elsewhere (a commit may name any path) is not read.
		if !underLocation(t.Location, uri) {
			return "", fmt.Errorf("%w: table %s lists %s, outside its location %s; tarn reads only files under a table's location", ErrPermission, t.FullName(), uri, t.Location)
		}
		s.e.files.add([]string{uri})
		s.held = append(s.held, uri)
		if p, ok := s.e.ice.paths.Get(uri); ok {
			return p, nil
		}
		if lp, ok := s.e.store.(storage.LocalPather); ok {
			if p, err := lp.LocalPath(bucket, key); err == nil {
				s.e.ice.paths.Add(uri, p)
				return p, nil
			}
		}
		p, cleanup, err := s.fetchedPath(ctx, uri)
		if err != nil {
			return "", fmt.Errorf("cannot read %s of table %s: %w", uri, t.FullName(), err)
		}
		s.cleanups = append(s.cleanups, cleanup)
		return p, nil
	}
	schemaMap := schemaParam(cols)
	proj := projection(cols, "")
	var plain []string
	var parts []string
	groups := map[string][]string{} // files read by name, by projection and columns
	var order []string
	mapping := tbl.NameMapping() // parsed from a property: once per scan
	{
		// Which columns (by field id) a file has, and under which names, is
		// only in its footer: read the uncached ones in parallel first.
		var fs [][2]string
		var locs []string
		for _, task := range tasks {
			locs = append(locs, task.File.FilePath())
		}
		if err := s.fetchIceberg(ctx, t, locs); err != nil { // a remote store's files, in parallel
			return nil, err
		}
		for _, task := range tasks {
			p, err := local(task.File.FilePath())
			if err != nil {
				return nil, err
			}
			fs = append(fs, [2]string{task.File.FilePath(), p})
		}
		if err := s.fileSchemas(ctx, fs); err != nil {
			return nil, fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
		}
	}
	for _, task := range tasks {
		f := task.File
		if len(task.DeletionVectorFiles) > 0 {
			return nil, fmt.Errorf("cannot read table %s: data file %s has deletion vectors (Iceberg format v3), which tarn does not read yet", t.FullName(), f.FilePath())
		}
		if task.Start != 0 || (task.Length > 0 && task.Length < f.FileSizeBytes()) {
			return nil, fmt.Errorf("cannot read table %s: a split of data file %s was planned; tarn reads whole files", t.FullName(), f.FilePath())
		}
		if f.FileFormat() != iceberggo.ParquetFile {
			return nil, fmt.Errorf("cannot read table %s: data file %s is %s; tarn reads Parquet data files", t.FullName(), f.FilePath(), f.FileFormat())
		}
		p, err := local(f.FilePath())
		if err != nil {
			return nil, err
		}
		scan.Files = append(scan.Files, FileRef{URI: f.FilePath(), Path: p, Size: f.FileSizeBytes(), Partition: -1})
		scan.BytesScanned += dataFileBytes(f, wanted, len(scan.Columns) == 0 && len(bt.refs) > 0)
		// Files written before the table was Iceberg (ALTER TABLE ... CONVERT
		// TO ICEBERG) have no field ids: read by the name mapping's names,
		// with identity partition columns from the file's partition values.
		base := fmt.Sprintf("SELECT * FROM read_parquet([%s], schema = %s, file_row_number = true)", quoteString(p), schemaMap)
		named := false
		fs, err := s.fileSchema(ctx, f.FilePath(), p)
		if err != nil {
			return nil, fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
		}
		// A file whose field ids the footer gives is read by its own column
		// names, cast to the read schema: DuckDB's schema parameter maps by
		// id too, but keeps join filters out of the scan (a join over it
		// ran 5x slower). Nested columns keep the schema parameter, which
		// maps their inner fields by id as well.
		if byName, ok := idProjection(cols, fs); ok {
			if len(task.DeleteFiles) == 0 && len(task.EqualityDeleteFiles) == 0 {
				key := byName + "\x00" + fs.signature
				if _, seen := groups[key]; !seen {
					order = append(order, key)
				}
				groups[key] = append(groups[key], quoteString(p))
				continue
			}
			base = fmt.Sprintf("SELECT %s, file_row_number FROM read_parquet([%s], file_row_number = true)", byName, quoteString(p))
		}
		if mapping != nil {
			if !fs.hasIDs {
				named = true
				exprs, err := namedProjection(cols, mapping, fs.names, tbl.Metadata().PartitionSpecByID(int(f.SpecID())), f.Partition())
				if err != nil {
					return nil, fmt.Errorf("cannot read table %s: data file %s: %w", t.FullName(), f.FilePath(), err)
				}
				base = fmt.Sprintf("SELECT %s, file_row_number FROM read_parquet([%s], file_row_number = true)", exprs, quoteString(p))
			}
		}
		if len(task.DeleteFiles) == 0 && len(task.EqualityDeleteFiles) == 0 {
			if named {
				parts = append(parts, fmt.Sprintf("SELECT %s FROM (%s) d", projection(cols, "d."), base))
			} else {
				plain = append(plain, quoteString(p))
			}
			continue
		}
		var conds []string
		if len(task.DeleteFiles) > 0 {
			var dl []string
			for _, d := range task.DeleteFiles {
				dp, err := local(d.FilePath())
				if err != nil {
					return nil, err
				}
				dl = append(dl, quoteString(dp))
				scan.BytesScanned += d.FileSizeBytes()
			}
			conds = append(conds, fmt.Sprintf("d.file_row_number NOT IN (SELECT pos FROM read_parquet([%s]) WHERE file_path = %s)",
				strings.Join(dl, ", "), quoteString(f.FilePath())))
		}
		for _, ed := range task.EqualityDeleteFiles {
			dp, err := local(ed.FilePath())
			if err != nil {
				return nil, err
			}
			scan.BytesScanned += ed.FileSizeBytes()
			var eqCols []icol
			var on []string
			for _, id := range ed.EqualityFieldIDs() {
				c, ok := colByID(cols, id)
				if !ok {
					// A column dropped since: Iceberg keeps it in the
					// schema that wrote the delete file.
					return nil, fmt.Errorf("cannot read table %s: equality delete file %s matches on field %d, which the read schema lacks", t.FullName(), ed.FilePath(), id)
				}
				eqCols = append(eqCols, c)
				q := QuoteIdent(c.name)
				on = append(on, fmt.Sprintf("e.%s IS NOT DISTINCT FROM d.%s", q, q))
			}
			if len(on) == 0 {
				return nil, fmt.Errorf("cannot read table %s: equality delete file %s names no fields", t.FullName(), ed.FilePath())
			}
			conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM read_parquet([%s], schema = %s) e WHERE %s)",
				quoteString(dp), schemaParam(eqCols), strings.Join(on, " AND ")))
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM (%s) d WHERE %s", projection(cols, "d."), base, strings.Join(conds, " AND ")))
	}
	if len(plain) > 0 {
		parts = append([]string{fmt.Sprintf("SELECT %s FROM read_parquet([%s], schema = %s)", proj, strings.Join(plain, ", "), schemaMap)}, parts...)
	}
	for i := len(order) - 1; i >= 0; i-- {
		byName, _, _ := strings.Cut(order[i], "\x00")
		parts = append([]string{fmt.Sprintf("SELECT %s FROM read_parquet([%s])", byName, strings.Join(groups[order[i]], ", "))}, parts...)
	}
	scan.SQL = strings.Join(parts, " UNION ALL ")
	return scan, nil
}

// dataFileBytes is what a scan reads of a data file: the referenced columns'
// bytes by the file's column sizes, or the whole file when it has none.
func dataFileBytes(f iceberggo.DataFile, wanted map[int]bool, all bool) int64 {
	sizes := f.ColumnSizes()
	if all || len(sizes) == 0 {
		return f.FileSizeBytes()
	}
	var n int64
	for id, sz := range sizes {
		if wanted[id] {
			n += sz
		}
	}
	return n
}

// icol is a top-level column of an Iceberg schema.
type icol struct {
	id   int
	name string
	duck string
}

func colByID(cols []icol, id int) (icol, bool) {
	for _, c := range cols {
		if c.id == id {
			return c, true
		}
	}
	return icol{}, false
}

func icebergColumns(sch *iceberggo.Schema) ([]icol, error) {
	var cols []icol
	for _, f := range sch.Fields() {
		d, err := DuckType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		cols = append(cols, icol{id: f.ID, name: f.Name, duck: d})
	}
	return cols, nil
}

// schemaParam is read_parquet's schema argument: columns by Parquet field id.
func schemaParam(cols []icol) string {
	var b strings.Builder
	b.WriteString("MAP {")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d: {name: %s, type: %s, default_value: NULL}", c.id, quoteString(c.name), quoteString(c.duck))
	}
	b.WriteString("}")
	return b.String()
}

func projection(cols []icol, prefix string) string {
	var ps []string
	for _, c := range cols {
		ps = append(ps, prefix+QuoteIdent(c.name))
	}
	return strings.Join(ps, ", ")
}

func emptySQL(cols []icol) string {
	var sel []string
	for _, c := range cols {
		sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", c.duck, QuoteIdent(c.name)))
	}
	if len(sel) == 0 {
		sel = []string{"NULL"}
	}
	return "SELECT " + strings.Join(sel, ", ") + " WHERE false"
}

// DuckType is the DuckDB type of an Iceberg type.
func DuckType(t iceberggo.Type) (string, error) {
	switch t := t.(type) {
	case iceberggo.BooleanType:
		return "BOOLEAN", nil
	case iceberggo.Int32Type:
		return "INTEGER", nil
	case iceberggo.Int64Type:
		return "BIGINT", nil
	case iceberggo.Float32Type:
		return "FLOAT", nil
	case iceberggo.Float64Type:
		return "DOUBLE", nil
	case iceberggo.DecimalType:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision(), t.Scale()), nil
	case iceberggo.DateType:
		return "DATE", nil
	case iceberggo.TimeType:
		return "TIME", nil
	case iceberggo.TimestampType:
		return "TIMESTAMP", nil
	case iceberggo.TimestampTzType:
		return "TIMESTAMPTZ", nil
	case iceberggo.TimestampNsType:
		return "TIMESTAMP_NS", nil
	case iceberggo.TimestampTzNsType:
		return "TIMESTAMPTZ", nil
	case iceberggo.StringType:
		return "VARCHAR", nil
	case iceberggo.UUIDType:
		return "UUID", nil
	case iceberggo.BinaryType, iceberggo.FixedType:
		return "BLOB", nil
	case *iceberggo.StructType:
		var fs []string
		for _, f := range t.FieldList {
			d, err := DuckType(f.Type)
			if err != nil {
				return "", err
			}
			fs = append(fs, QuoteIdent(f.Name)+" "+d)
		}
		return "STRUCT(" + strings.Join(fs, ", ") + ")", nil
	case *iceberggo.ListType:
		d, err := DuckType(t.Element)
		if err != nil {
			return "", err
		}
		return d + "[]", nil
	case *iceberggo.MapType:
		k, err := DuckType(t.KeyType)
		if err != nil {
			return "", err
		}
		v, err := DuckType(t.ValueType)
		if err != nil {
			return "", err
		}
		return "MAP(" + k + ", " + v + ")", nil
	}
	return "", fmt.Errorf("Iceberg type %s is not read by tarn", t)
}

// metadataTables are Athena's Iceberg metadata tables ("t$snapshots").
var metadataTables = map[string]func(table.InspectTable, context.Context) (arrowReader, error){
	"snapshots": func(i table.InspectTable, ctx context.Context) (arrowReader, error) { return i.Snapshots(ctx) },
	"history":   func(i table.InspectTable, ctx context.Context) (arrowReader, error) { return i.History(ctx) },
	"files":     func(i table.InspectTable, ctx context.Context) (arrowReader, error) { return i.Files(ctx) },
	"manifests": func(i table.InspectTable, ctx context.Context) (arrowReader, error) { return i.Manifests(ctx) },
	"partitions": func(i table.InspectTable, ctx context.Context) (arrowReader, error) {
		return i.Partitions(ctx)
	},
	"refs": func(i table.InspectTable, ctx context.Context) (arrowReader, error) { return i.Refs(ctx) },
}

// MetadataTableNames lists the metadata tables, sorted.
func MetadataTableNames() []string {
	var ns []string
	for n := range metadataTables {
		ns = append(ns, "$"+n)
	}
	sort.Strings(ns)
	return ns
}

// splitMetadataName splits "t$snapshots" into "t" and "snapshots".
func splitMetadataName(name string) (string, string, bool) {
	i := strings.LastIndexByte(name, '$')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], strings.ToLower(name[i+1:]), true
}

// metadataScan binds "t$kind" to a VALUES list of the rows iceberg-go's
// inspector gives for the table's current metadata.
func (s *Session) metadataScan(ctx context.Context, bt *boundTable) (*TableScan, error) {
	fn := metadataTables[bt.meta]
	if fn == nil {
		return nil, fmt.Errorf("%w: table %s has no metadata table $%s; there are %s", catalog.ErrNoSuchTable, bt.t.FullName(), bt.meta, strings.Join(MetadataTableNames(), ", "))
	}
	rdr, err := fn(bt.ice.Inspect(), ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read the $%s of table %s: %w", bt.meta, bt.t.FullName(), err)
	}
	defer rdr.Release()
	text, err := arrowValues(rdr)
	if err != nil {
		return nil, fmt.Errorf("cannot read the $%s of table %s: %w", bt.meta, bt.t.FullName(), err)
	}
	return &TableScan{Table: bt.t, SQL: text}, nil
}

// jsonText renders a nested value as JSON text.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// underLocation reports whether uri (s3://bucket/key) lies below a table
// location written with any of the s3 schemes.
func underLocation(location, uri string) bool {
	b, k, err := iceberg.ParseLocation(location)
	if err != nil || b == "" {
		return false
	}
	root := "s3://" + b + "/"
	if k = strings.Trim(k, "/"); k != "" {
		root += k + "/"
	}
	return strings.HasPrefix(uri, root)
}

// parquetFileSchema is what a data file's footer says of its columns.
type parquetFileSchema struct {
	hasIDs bool
	names  map[string]string // lower case -> as written
	// ids are the top-level columns' names by field id; signature lists
	// every top-level column (files read in one scan must agree on it).
	ids       map[int]string
	signature string
	// types are the DuckDB types of the top-level columns by field id,
	// where the footer's physical and logical types say it plainly.
	types map[int]string
}

// idProjection selects a file's columns by the names its footer gives their
// field ids, cast to the read schema's types (NULL for a column the file
// lacks). It declines files without ids and tables with nested columns.
func idProjection(cols []icol, fs parquetFileSchema) (string, bool) {
	if !fs.hasIDs {
		return "", false
	}
	exprs := make([]string, 0, len(cols))
	for _, c := range cols {
		if strings.ContainsAny(c.duck, "([") { // STRUCT(..), MAP(..), T[]
			return "", false
		}
		name, ok := fs.ids[c.id]
		if !ok {
			exprs = append(exprs, fmt.Sprintf("CAST(NULL AS %s) AS %s", c.duck, QuoteIdent(c.name)))
			continue
		}
		if fs.types[c.id] == c.duck {
			// No cast: a filter on the column still reaches the scan
			// (row groups skipped by their statistics).
			exprs = append(exprs, fmt.Sprintf("%s AS %s", QuoteIdent(name), QuoteIdent(c.name)))
			continue
		}
		exprs = append(exprs, fmt.Sprintf("CAST(%s AS %s) AS %s", QuoteIdent(name), c.duck, QuoteIdent(c.name)))
	}
	return strings.Join(exprs, ", "), true
}

// fileSchema reads a data file's top-level column names and whether they
// carry field ids, from its Parquet footer (cached: Iceberg files never
// change).
func (s *Session) fileSchema(ctx context.Context, uri, path string) (parquetFileSchema, error) {
	s.e.ice.init()
	if fs, ok := s.e.ice.schemas.Get(uri); ok {
		return fs, nil
	}
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		return parquetFileSchema{}, fmt.Errorf("cannot read the schema of %s: %w", uri, err)
	}
	defer r.Close()
	root := r.MetaData().Schema.Root()
	fs := parquetFileSchema{names: map[string]string{}, ids: map[int]string{}, types: map[int]string{}}
	var sig []string
	for i := 0; i < root.NumFields(); i++ {
		f := root.Field(i)
		if f.FieldID() >= 0 {
			fs.hasIDs = true
			fs.ids[int(f.FieldID())] = f.Name()
		}
		fs.names[strings.ToLower(f.Name())] = f.Name()
		phys := "group"
		if pn, ok := f.(*pqschema.PrimitiveNode); ok {
			phys = pn.PhysicalType().String()
			if t := duckTypeOf(pn); t != "" && f.FieldID() >= 0 {
				fs.types[int(f.FieldID())] = t
			}
		}
		sig = append(sig, fmt.Sprintf("%d:%s:%s:%s", f.FieldID(), f.Name(), phys, f.LogicalType()))
	}
	fs.signature = strings.Join(sig, ",")
	s.e.ice.schemas.Add(uri, fs)
	return fs, nil
}

// fileSchemas reads the footers of the files a scan needs that are not
// cached yet, several at a time.
func (s *Session) fileSchemas(ctx context.Context, files [][2]string) error {
	s.e.ice.init()
	var todo [][2]string
	for _, f := range files {
		if !s.e.ice.schemas.Contains(f[0]) {
			todo = append(todo, f)
		}
	}
	if len(todo) < 2 {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, f := range todo {
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			_, err := s.fileSchema(ctx, f[0], f[1])
			return err
		})
	}
	return g.Wait()
}

// namedProjection selects a file without field ids as the read schema's
// columns: each by the first of its mapped names the file has, else the
// file's identity partition value for it, else NULL.
func namedProjection(cols []icol, mapping iceberggo.NameMapping, names map[string]string, spec *iceberggo.PartitionSpec, partition map[int]any) (string, error) {
	byID := map[int][]string{}
	for _, m := range mapping {
		byID[m.ID()] = m.Names
	}
	var exprs []string
	for _, c := range cols {
		expr := ""
		for _, n := range byID[c.id] {
			if w, ok := names[strings.ToLower(n)]; ok {
				expr = fmt.Sprintf("CAST(%s AS %s)", QuoteIdent(w), c.duck)
				break
			}
		}
		if expr == "" && spec != nil {
			for _, pf := range spec.Fields() {
				if len(pf.SourceIDs) != 1 || pf.SourceIDs[0] != c.id || pf.Transform.String() != "identity" {
					continue
				}
				v, ok := partition[pf.FieldID]
				if !ok {
					continue
				}
				lit, err := partitionLiteral(v, c.duck)
				if err != nil {
					return "", fmt.Errorf("partition value of %s: %w", c.name, err)
				}
				expr = lit
			}
		}
		if expr == "" {
			expr = "CAST(NULL AS " + c.duck + ")"
		}
		exprs = append(exprs, expr+" AS "+QuoteIdent(c.name))
	}
	return strings.Join(exprs, ", "), nil
}

// partitionLiteral renders an identity partition value as a SQL literal.
func partitionLiteral(v any, duck string) (string, error) {
	switch v := v.(type) {
	case nil:
		return "CAST(NULL AS " + duck + ")", nil
	case iceberggo.Date:
		return fmt.Sprintf("CAST(DATE '1970-01-01' + INTERVAL (%d) DAY AS DATE)", int32(v)), nil
	case iceberggo.Timestamp:
		return fmt.Sprintf("CAST(make_timestamp(%d) AS %s)", int64(v), duck), nil
	case string:
		return "CAST(" + quoteString(v) + " AS " + duck + ")", nil
	case bool, int32, int64, int, float32, float64:
		return "CAST(" + quoteString(fmt.Sprint(v)) + " AS " + duck + ")", nil
	}
	return "", fmt.Errorf("a %T partition value is not read by tarn", v)
}

// duckTypeOf is the DuckDB type a Parquet column reads as, for the plain
// cases ("" when unsure: the reader then casts).
func duckTypeOf(pn *pqschema.PrimitiveNode) string {
	lt := pn.LogicalType()
	switch pn.PhysicalType() {
	case parquet.Types.Boolean:
		return "BOOLEAN"
	case parquet.Types.Int32:
		switch l := lt.(type) {
		case pqschema.DateLogicalType:
			return "DATE"
		case pqschema.IntLogicalType:
			if l.BitWidth() == 32 && l.IsSigned() {
				return "INTEGER"
			}
			return ""
		case pqschema.NoLogicalType, nil:
			return "INTEGER"
		}
	case parquet.Types.Int64:
		switch l := lt.(type) {
		case pqschema.IntLogicalType:
			if l.BitWidth() == 64 && l.IsSigned() {
				return "BIGINT"
			}
			return ""
		case pqschema.TimestampLogicalType:
			if l.TimeUnit() == pqschema.TimeUnitMicros {
				if l.IsAdjustedToUTC() {
					return "TIMESTAMPTZ"
				}
				return "TIMESTAMP"
			}
			return ""
		case pqschema.NoLogicalType, nil:
			return "BIGINT"
		}
	case parquet.Types.Float:
		return "FLOAT"
	case parquet.Types.Double:
		return "DOUBLE"
	case parquet.Types.ByteArray:
		if _, ok := lt.(pqschema.StringLogicalType); ok {
			return "VARCHAR"
		}
	}
	return ""
}
