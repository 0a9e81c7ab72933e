package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Iceberg tables through the query service: CREATE TABLE (and CTAS) with
// table_type ICEBERG, INSERT INTO, UPDATE, DELETE, MERGE INTO (copy-on-write),
// ALTER TABLE (schema and partition spec evolution), OPTIMIZE, VACUUM, DROP
// TABLE [PURGE] and SHOW CREATE TABLE. DuckDB computes rows and writes the
// data files (engine.WriteIceberg); each statement commits one snapshot
// through the Iceberg catalog (internal/iceberg), whose compare-and-swap
// serializes it with every other writer, tarn's or another engine's.

// ErrNeedsIceberg is wrapped by errors of statements only Iceberg tables
// take (UPDATE, DELETE, MERGE, OPTIMIZE, VACUUM) on other tables.
var ErrNeedsIceberg = errors.New("statement needs an Iceberg table")

// icebergRetries is how often a copy-on-write statement is run again from
// the table's new state when another writer committed first.
const icebergRetries = 4

// Athena's table property names and their defaults.
const (
	propVacuumMaxAge  = "vacuum_max_snapshot_age_seconds"
	propVacuumMinKeep = "vacuum_min_snapshots_to_keep"
	defaultVacuumAge  = 432000
	propWriteCodec    = "write.parquet.compression-codec"
)

// WithIceberg sets the Iceberg catalog the service's Iceberg statements use
// (by default one over the service's catalog with iceberg.DefaultConfig).
func WithIceberg(c *iceberg.Catalog) Option { return func(s *Service) { s.ice = c } }

func (s *Service) iceberg() (*iceberg.Catalog, error) {
	s.iceOnce.Do(func() {
		if s.ice == nil {
			s.ice, s.iceErr = iceberg.New(iceberg.DefaultConfig(), s.cat, s.db, s.store)
		}
	})
	if s.ice == nil {
		return nil, fmt.Errorf("cannot open the Iceberg catalog: %w", s.iceErr)
	}
	return s.ice, nil
}

// runIceberg runs a statement if it is one of an Iceberg table; handled is
// false for any other statement, which goes on down the routes.
func (s *Service) runIceberg(ctx context.Context, ex *Execution, req Request, sink Sink, text string) (handled bool, err error) {
	switch firstWord(text) {
	case "CREATE", "INSERT", "UPDATE", "DELETE", "MERGE", "ALTER", "OPTIMIZE", "VACUUM", "DROP", "SHOW":
	default:
		return false, nil // a SELECT is not tokenized once more
	}
	stmt, ok, perr := parseIceberg(text)
	if !ok {
		return false, nil
	}
	if st, isCreate := stmt.(iceCreate); isCreate {
		ex.StatementType = "DDL"
		if st.Select != "" {
			ex.StatementType = "DML" // CTAS, as Athena has it
		}
		if perr != nil {
			return true, fmt.Errorf("%w: %v", ErrSyntax, perr)
		}
		if req.tx != nil {
			return true, lakeWriteInTx("CREATE TABLE of an Iceberg table")
		}
		return true, s.icebergCreate(ctx, ex, req, sink, st)
	}
	var db, name string
	needs := ""
	switch st := stmt.(type) {
	case iceInsert:
		db, name = st.DB, st.Name
	case iceDML:
		db, name, needs = st.DB, st.Name, st.Kind
	case iceAlter:
		db, name = st.DB, st.Name
	case iceOptimize:
		db, name, needs = st.DB, st.Name, "OPTIMIZE"
	case iceVacuum:
		db, name, needs = st.DB, st.Name, "VACUUM"
	case iceDrop:
		db, name = st.DB, st.Name
	case iceShowCreate:
		db, name = st.DB, st.Name
	}
	if db == "" {
		db = req.Database
	}
	if db == "" || name == "" {
		return false, nil
	}
	db, name = strings.ToLower(db), strings.ToLower(name)
	t, err := s.cat.GetTable(ctx, db, name)
	if d, ok := stmt.(iceDrop); ok && d.Purge && (errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase)) {
		ex.StatementType = "DDL"
		if d.IfExists {
			return true, nil
		}
		return true, fmt.Errorf("cannot drop table %s.%s: %w", db, name, err)
	}
	if err != nil {
		return false, nil // not a catalog table: the warehouse's, or an error further on
	}
	if a, ok := stmt.(iceAlter); ok && a.Op == "CONVERT TO ICEBERG" {
		ex.StatementType = "DDL"
		if perr != nil {
			return true, fmt.Errorf("%w: %v", ErrSyntax, perr)
		}
		if req.tx != nil {
			return true, lakeWriteInTx("ALTER TABLE ... CONVERT TO ICEBERG")
		}
		if iceberg.IsIceberg(t) {
			return true, fmt.Errorf("%w: %s.%s is an Iceberg table already", catalog.ErrInvalidTable, db, name)
		}
		return true, s.icebergConvert(ctx, req, t)
	}
	if !iceberg.IsIceberg(t) {
		if needs == "" {
			return false, nil
		}
		if t.TableType == catalog.TableTypeVirtualView {
			return true, fmt.Errorf("%w: %s.%s is a view", ErrNeedsIceberg, db, name)
		}
		return true, fmt.Errorf("%w: %s on %s.%s needs an Iceberg table, and %s.%s is a Hive table (files in folders). Create an Iceberg table with CREATE TABLE %s.new_table (...) TBLPROPERTIES ('table_type'='ICEBERG') or CREATE TABLE %s.new_table WITH (table_type='ICEBERG') AS SELECT * FROM %s.%s, and run the statement on it",
			ErrNeedsIceberg, needs, db, name, db, name, db, db, db, name)
	}
	switch stmt.(type) {
	case iceAlter, iceDrop, iceShowCreate:
		ex.StatementType = "DDL"
	default:
		ex.StatementType = "DML"
	}
	if perr != nil {
		return true, fmt.Errorf("%w: %v", ErrSyntax, perr)
	}
	if _, show := stmt.(iceShowCreate); !show && req.tx != nil {
		return true, lakeWriteInTx(firstWord(text) + " on Iceberg table " + db + "." + name)
	}
	ice, err := s.iceberg()
	if err != nil {
		return true, err
	}
	switch st := stmt.(type) {
	case iceInsert:
		return true, s.icebergInsert(ctx, ex, req, sink, ice, t, st)
	case iceDML:
		return true, s.icebergDML(ctx, ex, req, sink, ice, t, st)
	case iceOptimize:
		return true, s.icebergOptimize(ctx, ex, req, sink, ice, t, st)
	case iceVacuum:
		return true, s.icebergVacuum(ctx, req, sink, ice, t)
	case iceAlter:
		return true, s.icebergAlter(ctx, req, ice, t, st)
	case iceDrop:
		return true, s.icebergDrop(ctx, req, ice, t, st)
	case iceShowCreate:
		return true, s.icebergShowCreate(ctx, req, sink, ice, t)
	}
	return true, fmt.Errorf("%w: %T", ErrUnsupported, stmt)
}

// allow asks the request's authorizer for each action on an Iceberg table
// (s3: actions on its location).
func allow(req Request, t catalog.Table, actions ...string) error {
	if req.Authorize == nil {
		return nil
	}
	for _, a := range actions {
		if err := req.Authorize(a, Target{Database: t.Database, Table: t.Name, Location: t.Location}); err != nil {
			return err
		}
	}
	return nil
}

// Actions a key needs, as Athena asks for them on Iceberg tables: reading
// the table, and writing it (new files, a new metadata_location).
var (
	icebergRead  = []string{"glue:GetTable", "s3:GetObject"}
	icebergWrite = []string{"glue:GetTable", "glue:UpdateTable", "s3:PutObject"}
	icebergRW    = []string{"glue:GetTable", "s3:GetObject", "glue:UpdateTable", "s3:PutObject"}
)

func emitRows(ex *Execution, sink Sink, rows int64) error {
	ex.Stats.Rows = rows
	if err := sink.Columns([]Column{{Name: "rows", Type: "BIGINT"}}); err != nil {
		return err
	}
	return sink.Row([]any{rows})
}

// icebergSchema builds an Iceberg schema from catalog (Hive) columns, with
// field ids in order (the catalog assigns fresh ones on create).
func icebergSchema(cols []catalog.Column) (*iceberggo.Schema, error) {
	id := 0
	next := func() int { id++; return id }
	fields := make([]iceberggo.NestedField, 0, len(cols))
	seen := map[string]bool{}
	for _, c := range cols {
		if seen[strings.ToLower(c.Name)] {
			return nil, fmt.Errorf("%w: column %q appears twice", catalog.ErrInvalidTable, c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		fid := next()
		it, err := columnType(c.Type, next)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		fields = append(fields, iceberggo.NestedField{ID: fid, Name: c.Name, Type: it, Doc: c.Comment})
	}
	return iceberggo.NewSchema(0, fields...), nil
}

// columnType is the Iceberg type of a column's type as written in DDL: an
// Athena (Hive) type, or one of Iceberg's (and Trino's) own that Hive has
// not: timestamptz (timestamp with time zone), uuid, time.
func columnType(text string, next func() int) (iceberggo.Type, error) {
	// The DDL parser joins a type's words: "timestamp(6)withtimezone".
	norm := strings.Join(strings.Fields(strings.ToLower(text)), "")
	switch strings.ReplaceAll(norm, "(6)", "") {
	case "timestamptz", "timestampwithtimezone":
		return iceberggo.PrimitiveTypes.TimestampTz, nil
	case "timestamp", "timestampwithouttimezone":
		return iceberggo.PrimitiveTypes.Timestamp, nil
	case "uuid":
		return iceberggo.PrimitiveTypes.UUID, nil
	case "time":
		return iceberggo.PrimitiveTypes.Time, nil
	}
	typ, err := catalog.ParseType(text)
	if err != nil {
		return nil, err
	}
	return icebergType(typ, next)
}

// ddlType prints a top-level column's type for SHOW CREATE TABLE, so that
// columnType reads it back as the same Iceberg type.
func ddlType(t iceberggo.Type) string {
	switch t.(type) {
	case iceberggo.TimestampTzType:
		return "timestamptz"
	case iceberggo.UUIDType:
		return "uuid"
	case iceberggo.TimeType:
		return "time"
	}
	return iceberg.HiveType(t).String()
}

// icebergType is the Iceberg type of an Athena (Hive) type, as Athena maps
// them: tinyint and smallint widen to int, varchar and char are strings,
// timestamp is Iceberg's timestamp (microseconds, no zone).
func icebergType(t catalog.Type, next func() int) (iceberggo.Type, error) {
	switch t.Kind {
	case catalog.KindString, catalog.KindVarchar, catalog.KindChar:
		return iceberggo.PrimitiveTypes.String, nil
	case catalog.KindTinyint, catalog.KindSmallint, catalog.KindInt:
		return iceberggo.PrimitiveTypes.Int32, nil
	case catalog.KindBigint:
		return iceberggo.PrimitiveTypes.Int64, nil
	case catalog.KindFloat:
		return iceberggo.PrimitiveTypes.Float32, nil
	case catalog.KindDouble:
		return iceberggo.PrimitiveTypes.Float64, nil
	case catalog.KindDecimal:
		p, sc := t.Precision, t.Scale
		if p == 0 {
			p, sc = 10, 0
		}
		if p > 38 {
			return nil, fmt.Errorf("%w: decimal(%d,%d) is wider than Iceberg's 38 digits", catalog.ErrInvalidType, p, sc)
		}
		return iceberggo.DecimalTypeOf(p, sc), nil
	case catalog.KindBoolean:
		return iceberggo.PrimitiveTypes.Bool, nil
	case catalog.KindDate:
		return iceberggo.PrimitiveTypes.Date, nil
	case catalog.KindTimestamp:
		return iceberggo.PrimitiveTypes.Timestamp, nil
	case catalog.KindBinary:
		return iceberggo.PrimitiveTypes.Binary, nil
	case catalog.KindArray:
		eid := next()
		e, err := icebergType(*t.Elem, next)
		if err != nil {
			return nil, err
		}
		return &iceberggo.ListType{ElementID: eid, Element: e}, nil
	case catalog.KindMap:
		kid, vid := next(), next()
		k, err := icebergType(*t.Key, next)
		if err != nil {
			return nil, err
		}
		v, err := icebergType(*t.Elem, next)
		if err != nil {
			return nil, err
		}
		return &iceberggo.MapType{KeyID: kid, KeyType: k, ValueID: vid, ValueType: v}, nil
	case catalog.KindStruct:
		fs := make([]iceberggo.NestedField, len(t.Fields))
		for i := range t.Fields {
			fs[i].ID = next()
		}
		for i, f := range t.Fields {
			ft, err := icebergType(f.Type, next)
			if err != nil {
				return nil, err
			}
			fs[i].Name, fs[i].Type = f.Name, ft
		}
		return &iceberggo.StructType{FieldList: fs}, nil
	}
	return nil, fmt.Errorf("%w: %s has no Iceberg type", catalog.ErrInvalidType, t)
}

// duckIcebergType is the Iceberg type of a query's column (DuckDB's type
// name), for CTAS: DuckDB's zoned timestamps, UUIDs and times keep their
// Iceberg types, the rest maps through the catalog's types.
func duckIcebergType(duck string, next func() int) (iceberggo.Type, error) {
	switch strings.ToUpper(strings.TrimSpace(duck)) {
	case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		return iceberggo.PrimitiveTypes.TimestampTz, nil
	case "UUID":
		return iceberggo.PrimitiveTypes.UUID, nil
	case "TIME":
		return iceberggo.PrimitiveTypes.Time, nil
	case "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return iceberggo.PrimitiveTypes.Timestamp, nil
	case "HUGEINT", "UBIGINT":
		return iceberggo.DecimalTypeOf(38, 0), nil
	case "UINTEGER":
		return iceberggo.PrimitiveTypes.Int64, nil
	case "USMALLINT", "UTINYINT":
		return iceberggo.PrimitiveTypes.Int32, nil
	}
	hive, err := catalog.FromDuckDB(duck)
	if err != nil {
		return nil, fmt.Errorf("%w: DuckDB type %s has no Iceberg type", catalog.ErrInvalidType, duck)
	}
	t, err := catalog.ParseType(hive)
	if err != nil {
		return nil, err
	}
	return icebergType(t, next)
}

// icebergSpec builds a partition spec from Athena's partition field texts.
func icebergSpec(sch *iceberggo.Schema, fields []string) (iceberggo.PartitionSpec, error) {
	var opts []iceberggo.PartitionOption
	names := map[string]bool{}
	for _, f := range fields {
		col, tr, name, err := parseTransform(f)
		if err != nil {
			return iceberggo.PartitionSpec{}, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		src, ok := findColumn(sch, col)
		if !ok {
			return iceberggo.PartitionSpec{}, fmt.Errorf("%w: partition field %q: the table has no column %q", catalog.ErrInvalidTable, f, col)
		}
		if !tr.CanTransform(src.Type) {
			return iceberggo.PartitionSpec{}, fmt.Errorf("%w: partition field %q: %s cannot partition a %s column", catalog.ErrInvalidTable, f, tr, src.Type)
		}
		if _, isIdentity := tr.(iceberggo.IdentityTransform); isIdentity {
			name = src.Name
		} else {
			name = strings.Replace(name, col, src.Name, 1)
		}
		if names[name] {
			return iceberggo.PartitionSpec{}, fmt.Errorf("%w: partition field %q appears twice", catalog.ErrInvalidTable, name)
		}
		names[name] = true
		opts = append(opts, iceberggo.AddPartitionFieldBySourceID(src.ID, name, tr, sch, nil))
	}
	spec, err := iceberggo.NewPartitionSpecOpts(opts...)
	if err != nil {
		return iceberggo.PartitionSpec{}, fmt.Errorf("%w: %v", catalog.ErrInvalidTable, err)
	}
	return spec, nil
}

func findColumn(sch *iceberggo.Schema, name string) (iceberggo.NestedField, bool) {
	for _, f := range sch.Fields() {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return iceberggo.NestedField{}, false
}

// icebergProperties turns Athena's table properties into Iceberg's:
// format (parquet only), write_compression, and the rest as given.
func icebergProperties(in map[string]string) (iceberggo.Properties, error) {
	props := iceberggo.Properties{}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := in[k]
		switch strings.ToLower(k) {
		case "table_type":
		case "format", "write.format.default":
			if !strings.EqualFold(v, "parquet") {
				return nil, fmt.Errorf("%w: format %q: tarn writes Iceberg data files as Parquet", ErrUnsupported, v)
			}
			props["write.format.default"] = "parquet"
		case "write_compression", propWriteCodec:
			c := strings.ToLower(v)
			if _, err := engine.IcebergCompression(iceberggo.Properties{propWriteCodec: c}); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
			}
			props[propWriteCodec] = c
		case "is_external":
			if !strings.EqualFold(v, "false") {
				return nil, fmt.Errorf("%w: an Iceberg table is not external ('is_external'='false' or leave it out)", ErrUnsupported)
			}
		case "format-version", "format_version":
			if v != "1" && v != "2" {
				return nil, fmt.Errorf("%w: format-version %q: tarn writes Iceberg format 1 and 2 tables", ErrUnsupported, v)
			}
			props["format-version"] = v
		case "partitioning", "partitioned_by", "location", "external_location":
		case propVacuumMaxAge, propVacuumMinKeep, "optimize_rewrite_min_data_file_size_bytes", "optimize_rewrite_max_data_file_size_bytes":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("%w: %s = %q is not a number", ErrSyntax, k, v)
			}
			props[k] = v
		default:
			props[k] = v
		}
	}
	if props[propWriteCodec] == "" {
		props[propWriteCodec] = "zstd"
	}
	return props, nil
}

// icebergCreate runs CREATE TABLE (and CTAS) of an Iceberg table.
func (s *Service) icebergCreate(ctx context.Context, ex *Execution, req Request, sink Sink, st iceCreate) error {
	db, err := databaseOr(st.DB, req)
	if err != nil {
		return err
	}
	name := strings.ToLower(st.Name)
	if _, err := catalog.NormalizeName(name); err != nil {
		return err
	}
	ice, err := s.iceberg()
	if err != nil {
		return err
	}
	props, err := icebergProperties(st.Props)
	if err != nil {
		return err
	}
	if st.Comment != "" {
		props["comment"] = st.Comment
	}
	ident := table.Identifier{db, name}
	loc := strings.TrimRight(st.Location, "/")
	if loc == "" {
		if loc, err = ice.DefaultTableLocation(ctx, ident); err != nil {
			return err
		}
	}
	u, err := storage.ParseURI(loc + "/")
	if err != nil {
		return err
	}
	target := catalog.Table{Database: db, Name: name, Location: u.Dir().String()}
	if err := allow(req, target, "glue:CreateTable", "s3:PutObject"); err != nil {
		return err
	}
	if _, err := s.cat.GetTable(ctx, db, name); err == nil {
		if st.IfNotExists {
			if st.Select != "" {
				return emitRows(ex, sink, 0)
			}
			return nil
		}
		return fmt.Errorf("cannot create table %s.%s: %w", db, name, catalog.ErrTableExists)
	}
	// The location must be empty: VACUUM deletes what no snapshot names
	// below it, which must never be someone else's files.
	if empty, err := s.isEmpty(ctx, u.Dir()); err != nil {
		return err
	} else if !empty {
		return fmt.Errorf("%w: location %s is not empty; an Iceberg table needs a location of its own (VACUUM deletes files its snapshots do not name)", catalog.ErrInvalidTable, u.Dir())
	}
	if st.Select == "" {
		sch, err := icebergSchema(st.Columns)
		if err != nil {
			return err
		}
		spec, err := icebergSpec(sch, st.Partitioning)
		if err != nil {
			return err
		}
		_, err = ice.CreateTable(ctx, ident, sch, icecat.WithLocation(loc), icecat.WithPartitionSpec(&spec), icecat.WithProperties(props))
		return err
	}

	// CTAS: the table is created from the SELECT's columns, then its rows
	// are committed as the first snapshot; if that fails the table goes.
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	b, err := s.bindWrite(ctx, ex, req, sess, st.Select)
	if err != nil {
		return err
	}
	sch, err := s.querySchema(ctx, sess, b.SQL)
	if err != nil {
		return err
	}
	spec, err := icebergSpec(sch, st.Partitioning)
	if err != nil {
		return err
	}
	tbl, err := ice.CreateTable(ctx, ident, sch, icecat.WithLocation(loc), icecat.WithPartitionSpec(&spec), icecat.WithProperties(props))
	if err != nil {
		return err
	}
	rows, err := s.icebergAppend(ctx, ex, sess, tbl, b.SQL)
	if err != nil {
		if perr := ice.PurgeTable(context.WithoutCancel(ctx), ident); perr != nil {
			err = errors.Join(err, perr)
		}
		return err
	}
	return emitRows(ex, sink, rows)
}

// querySchema is the Iceberg schema of a bound query's columns.
func (s *Service) querySchema(ctx context.Context, sess *engine.Session, q string) (*iceberggo.Schema, error) {
	rows, err := sess.Conn().QueryContext(ctx, "DESCRIBE "+q)
	if err != nil {
		return nil, engineError(err)
	}
	defer rows.Close()
	id := 0
	next := func() int { id++; return id }
	var fields []iceberggo.NestedField
	seen := map[string]bool{}
	for rows.Next() {
		var name, typ string
		var rest [4]any
		if err := rows.Scan(&name, &typ, &rest[0], &rest[1], &rest[2], &rest[3]); err != nil {
			return nil, err
		}
		if seen[strings.ToLower(name)] {
			return nil, fmt.Errorf("%w: the SELECT has two columns named %q; name them apart (AS ...)", ErrSyntax, name)
		}
		seen[strings.ToLower(name)] = true
		fid := next()
		t, err := duckIcebergType(typ, next)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", name, err)
		}
		fields = append(fields, iceberggo.NestedField{ID: fid, Name: name, Type: t})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return iceberggo.NewSchema(0, fields...), nil
}

// bindWrite binds the SELECT a write reads, as the caller, within the
// workgroup's limits.
func (s *Service) bindWrite(ctx context.Context, ex *Execution, req Request, sess *engine.Session, q string) (*engine.Bound, error) {
	b, err := sess.Bind(ctx, q, req.Database)
	if errors.Is(err, engine.ErrNotSelect) {
		return nil, fmt.Errorf("%w: the statement must end in a SELECT", ErrSyntax)
	}
	if err != nil {
		return nil, err
	}
	if err := authorizeScans(req, b); err != nil {
		return nil, err
	}
	ex.noteLineageInputs(b)
	wg, err := s.Workgroup(ctx, req.Workgroup)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(wg, b); err != nil {
		return nil, err
	}
	ex.Stats.BytesScanned += b.BytesScanned()
	for _, sc := range b.Scans {
		ex.Stats.FilesScanned += len(sc.Files)
	}
	return b, nil
}

// icebergWriteSpec is how a statement writes new data files of tbl.
func icebergWriteSpec(tbl *table.Table, ex *Execution, attempt int) engine.IcebergWrite {
	return engine.IcebergWrite{Location: tbl.Location(), Schema: tbl.Schema(), Spec: tbl.Spec(), Properties: tbl.Properties(),
		FormatVersion: tbl.Metadata().Version(), RunID: fmt.Sprintf("q-%s-%d", ex.ID[:8], attempt)}
}

func snapshotProps(ex *Execution) iceberggo.Properties {
	return iceberggo.Properties{"tarn.query": ex.ID}
}

// icebergAppend writes a bound query's rows (the table's columns by
// position) and commits them as one append snapshot. An append needs no
// retry of its own: iceberg-go replays it on the new state if another
// writer committed first.
func (s *Service) icebergAppend(ctx context.Context, ex *Execution, sess *engine.Session, tbl *table.Table, q string) (int64, error) {
	res, err := sess.WriteIceberg(ctx, q, icebergWriteSpec(tbl, ex, 0))
	if err != nil {
		return 0, engineError(err)
	}
	if len(res.Files) == 0 {
		return 0, nil
	}
	// iceberg-go does not retry a commit by default: an append that lost
	// the race is committed again on the new state (it reads nothing).
	for n := 0; ; n++ {
		txn := tbl.NewTransaction()
		err = txn.AddDataFiles(ctx, res.Files, snapshotProps(ex), table.WithoutAutoNameMapping())
		if err == nil {
			err = commitOrDiscard(ctx, tbl, txn)
		}
		if err == nil || !errors.Is(err, table.ErrCommitFailed) || n+1 >= 2*icebergRetries || ctx.Err() != nil {
			break
		}
		if rerr := tbl.Refresh(ctx); rerr != nil {
			err = rerr
			break
		}
	}
	if err != nil {
		if !errors.Is(err, errCommitUnknown) {
			s.eng.DeleteIcebergFiles(context.WithoutCancel(ctx), res.Files)
		}
		return 0, fmt.Errorf("cannot commit to Iceberg table %s: %w", strings.Join(tbl.Identifier(), "."), err)
	}
	ex.wrote = true
	ex.written = append(ex.written, res.URIs()...)
	s.recordIcebergLineage(ctx, ex, tbl.Identifier(), res.Rows)
	return res.Rows, nil
}

// icebergInsert runs INSERT INTO an Iceberg table: by position, or by the
// column list given (the other columns NULL).
func (s *Service) icebergInsert(ctx context.Context, ex *Execution, req Request, sink Sink, ice *iceberg.Catalog, t catalog.Table, st iceInsert) error {
	if err := allow(req, t, icebergWrite...); err != nil {
		return err
	}
	tbl, err := ice.Table(ctx, t.Database, t.Name)
	if err != nil {
		return err
	}
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	b, err := s.bindWrite(ctx, ex, req, sess, st.Select)
	if err != nil {
		return err
	}
	cols, err := sess.Describe(ctx, b.SQL)
	if err != nil {
		return engineError(err)
	}
	fields := tbl.Schema().Fields()
	var proj []string
	if len(st.Columns) == 0 {
		if len(cols) != len(fields) {
			return fmt.Errorf("%w: INSERT INTO %s: the SELECT has %d columns, the table has %d (%s)", ErrSyntax, t.FullName(), len(cols), len(fields), icebergColumnList(fields))
		}
		for i := range fields {
			proj = append(proj, fmt.Sprintf("#%d", i+1))
		}
	} else {
		if len(cols) != len(st.Columns) {
			return fmt.Errorf("%w: INSERT INTO %s: %d columns are named and the SELECT has %d", ErrSyntax, t.FullName(), len(st.Columns), len(cols))
		}
		pos := map[string]int{}
		for i, c := range st.Columns {
			f, ok := findColumn(tbl.Schema(), c)
			if !ok {
				return fmt.Errorf("%w: INSERT INTO %s: no column %q (it has %s)", ErrSyntax, t.FullName(), c, icebergColumnList(fields))
			}
			if _, dup := pos[f.Name]; dup {
				return fmt.Errorf("%w: INSERT INTO %s: column %q is named twice", ErrSyntax, t.FullName(), c)
			}
			pos[f.Name] = i + 1
		}
		for _, f := range fields {
			if n, ok := pos[f.Name]; ok {
				proj = append(proj, fmt.Sprintf("#%d", n))
			} else {
				proj = append(proj, "NULL")
			}
		}
	}
	q := fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(proj, ", "), b.SQL)
	rows, err := s.icebergAppend(ctx, ex, sess, tbl, q)
	if err != nil {
		return err
	}
	return emitRows(ex, sink, rows)
}

func icebergColumnList(fields []iceberggo.NestedField) string {
	var ns []string
	for _, f := range fields {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ", ")
}

// icebergAlter evolves an Iceberg table's schema, partition spec or
// properties in one commit; no data file is rewritten.
func (s *Service) icebergAlter(ctx context.Context, req Request, ice *iceberg.Catalog, t catalog.Table, st iceAlter) error {
	if err := allow(req, t, "glue:GetTable", "glue:UpdateTable"); err != nil {
		return err
	}
	tbl, err := ice.Table(ctx, t.Database, t.Name)
	if err != nil {
		return err
	}
	txn := tbl.NewTransaction()
	sch := tbl.Schema()
	col := func(name string) (iceberggo.NestedField, error) {
		f, ok := findColumn(sch, name)
		if !ok {
			return f, fmt.Errorf("%w: table %s has no column %q", catalog.ErrInvalidTable, t.FullName(), name)
		}
		return f, nil
	}
	switch st.Op {
	case "ADD COLUMNS":
		us := txn.UpdateSchema(false, false)
		for _, c := range st.Columns {
			id := 0
			it, err := columnType(c.Type, func() int { id++; return id })
			if err != nil {
				return fmt.Errorf("column %q: %w", c.Name, err)
			}
			us.AddColumn([]string{c.Name}, it, c.Comment, false, nil)
		}
		err = us.Commit()
	case "DROP COLUMN":
		f, err := col(st.Column)
		if err != nil {
			return err
		}
		for _, pf := range specFields(tbl) {
			if pf.SourceID() == f.ID {
				return fmt.Errorf("%w: column %q is a source of partition field %s; drop the partition field first (ALTER TABLE %s DROP PARTITION FIELD %s)", catalog.ErrInvalidTable, f.Name, pf.Name, t.FullName(), pf.Name)
			}
		}
		err = txn.UpdateSchema(false, false).DeleteColumn([]string{f.Name}).Commit()
		if err != nil {
			return fmt.Errorf("cannot alter table %s: %w", t.FullName(), err)
		}
	case "RENAME COLUMN", "CHANGE COLUMN":
		f, err := col(st.Column)
		if err != nil {
			return err
		}
		us := txn.UpdateSchema(false, false)
		if st.Op == "CHANGE COLUMN" {
			id := 0
			it, err := columnType(st.NewType, func() int { id++; return id })
			if err != nil {
				return err
			}
			if !it.Equals(f.Type) {
				// Iceberg's promotions only: int to bigint, float to
				// double, a wider decimal.
				us.UpdateColumn([]string{f.Name}, table.ColumnUpdate{FieldType: iceberggo.Optional[iceberggo.Type]{Val: it, Valid: true}})
			}
			if st.Comment != nil {
				us.UpdateColumn([]string{f.Name}, table.ColumnUpdate{Doc: iceberggo.Optional[string]{Val: *st.Comment, Valid: true}})
			}
		}
		if st.NewName != f.Name {
			us.RenameColumn([]string{f.Name}, st.NewName)
		}
		err = us.Commit()
	case "ADD PARTITION FIELD":
		c, tr, name, perr := parseTransform(st.Field)
		if perr != nil {
			return fmt.Errorf("%w: %v", ErrSyntax, perr)
		}
		f, err := col(c)
		if err != nil {
			return err
		}
		if _, isIdentity := tr.(iceberggo.IdentityTransform); isIdentity {
			name = f.Name
		} else {
			name = strings.Replace(name, c, f.Name, 1)
		}
		if st.FieldAs != "" {
			name = st.FieldAs
		}
		err = txn.UpdateSpec(false).AddField(f.Name, tr, name).Commit()
	case "DROP PARTITION FIELD":
		name := ""
		for _, pf := range specFields(tbl) {
			if strings.EqualFold(pf.Name, st.Field) {
				name = pf.Name
			}
		}
		if name == "" {
			c, tr, _, perr := parseTransform(st.Field)
			if perr != nil {
				return fmt.Errorf("%w: %v", ErrSyntax, perr)
			}
			if f, ok := findColumn(sch, c); ok {
				for _, pf := range specFields(tbl) {
					if pf.SourceID() == f.ID && pf.Transform.Equals(tr) {
						name = pf.Name
					}
				}
			}
		}
		if name == "" {
			return fmt.Errorf("%w: table %s has no partition field %s", catalog.ErrInvalidTable, t.FullName(), st.Field)
		}
		err = txn.UpdateSpec(false).RemoveField(name).Commit()
	case "SET TBLPROPERTIES":
		props, perr := icebergProperties(st.Props)
		if perr != nil {
			return perr
		}
		if _, ok := st.Props["write_compression"]; !ok {
			if _, ok := st.Props[propWriteCodec]; !ok {
				delete(props, propWriteCodec)
			}
		}
		err = txn.SetProperties(props)
	case "UNSET TBLPROPERTIES":
		err = txn.RemoveProperties(st.Keys)
	case "RENAME TO":
		toDB := strings.ToLower(firstNonEmpty(st.ToDB, t.Database))
		to := catalog.Table{Database: toDB, Name: strings.ToLower(st.NewName), Location: t.Location}
		if err := allow(req, t, "glue:DeleteTable"); err != nil {
			return err
		}
		if err := allow(req, to, "glue:CreateTable"); err != nil {
			return err
		}
		_, err := ice.RenameTable(ctx, table.Identifier{t.Database, t.Name}, table.Identifier{to.Database, to.Name})
		return err
	default:
		return fmt.Errorf("%w: ALTER TABLE ... %s", ErrUnsupported, st.Op)
	}
	if err != nil {
		return fmt.Errorf("cannot alter table %s: %w", t.FullName(), err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("cannot alter table %s: %w", t.FullName(), err)
	}
	return nil
}

// icebergDrop drops an Iceberg table; PURGE deletes its files too.
func (s *Service) icebergDrop(ctx context.Context, req Request, ice *iceberg.Catalog, t catalog.Table, st iceDrop) error {
	actions := []string{"glue:DeleteTable"}
	if st.Purge {
		actions = append(actions, "s3:DeleteObject")
	}
	if err := allow(req, t, actions...); err != nil {
		return err
	}
	ident := table.Identifier{t.Database, t.Name}
	if st.Purge {
		return ice.PurgeTable(ctx, ident)
	}
	return ice.DropTable(ctx, ident)
}

// icebergShowCreate shows the DDL that creates the table as it is now.
func (s *Service) icebergShowCreate(ctx context.Context, req Request, sink Sink, ice *iceberg.Catalog, t catalog.Table) error {
	if err := allow(req, t, "glue:GetTable"); err != nil {
		return err
	}
	tbl, err := ice.Table(ctx, t.Database, t.Name)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s.%s (\n", quoteHive(t.Database), quoteHive(t.Name))
	for i, f := range tbl.Schema().Fields() {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  %s %s", quoteHive(f.Name), ddlType(f.Type))
		if f.Doc != "" {
			fmt.Fprintf(&b, " COMMENT '%s'", strings.ReplaceAll(f.Doc, "'", "''"))
		}
	}
	b.WriteString(")\n")
	if fields := specFields(tbl); len(fields) > 0 {
		var ps []string
		for _, pf := range fields {
			src, _ := tbl.Schema().FindColumnName(pf.SourceID())
			c := quoteHive(src)
			switch tr := pf.Transform.(type) {
			case iceberggo.IdentityTransform:
				ps = append(ps, c)
			case iceberggo.BucketTransform:
				ps = append(ps, fmt.Sprintf("bucket(%d, %s)", tr.NumBuckets, c))
			case iceberggo.TruncateTransform:
				ps = append(ps, fmt.Sprintf("truncate(%d, %s)", tr.Width, c))
			default:
				ps = append(ps, fmt.Sprintf("%s(%s)", tr, c))
			}
		}
		fmt.Fprintf(&b, "PARTITIONED BY (%s)\n", strings.Join(ps, ", "))
	}
	fmt.Fprintf(&b, "LOCATION '%s'\n", strings.ReplaceAll(tbl.Location(), "'", "''"))
	props := map[string]string{"table_type": "ICEBERG", "format": "parquet"}
	for k, v := range tbl.Properties() {
		switch k {
		case propWriteCodec:
			props["write_compression"] = v
		case "write.format.default", "schema.name-mapping.default":
		default:
			props[k] = v
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("TBLPROPERTIES (\n")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  '%s'='%s'", strings.ReplaceAll(k, "'", "''"), strings.ReplaceAll(props[k], "'", "''"))
	}
	b.WriteString(")")
	if err := sink.Columns([]Column{{Name: "createtab_stmt", Type: "VARCHAR"}}); err != nil {
		return err
	}
	return sink.Row([]any{b.String()})
}

func quoteHive(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// icebergVacuum expires snapshots older than the table's
// vacuum_max_snapshot_age_seconds (Athena's default 5 days), keeping at
// least vacuum_min_snapshots_to_keep (default 1), deletes the files only
// they named, then deletes files below the table's location that no
// snapshot names and that are older than that age (orphans).
func (s *Service) icebergVacuum(ctx context.Context, req Request, sink Sink, ice *iceberg.Catalog, t catalog.Table) error {
	if err := allow(req, t, "glue:GetTable", "glue:UpdateTable", "s3:GetObject", "s3:DeleteObject"); err != nil {
		return err
	}
	tbl, err := ice.Table(ctx, t.Database, t.Name)
	if err != nil {
		return err
	}
	props := tbl.Properties()
	age := props.GetInt(propVacuumMaxAge, defaultVacuumAge)
	keep := props.GetInt(propVacuumMinKeep, 1)
	if age < 0 || keep < 1 {
		return fmt.Errorf("%w: %s must be >= 0 and %s >= 1", catalog.ErrInvalidTable, propVacuumMaxAge, propVacuumMinKeep)
	}
	maxAge := time.Duration(age) * time.Second
	ident := table.Identifier{t.Database, t.Name}
	var expired int
	if len(tbl.Metadata().Snapshots()) > 0 {
		res, err := ice.Expire(ctx, ident, maxAge, keep)
		if err != nil {
			return err
		}
		expired = len(res.Expired)
	}
	orphans, err := ice.RemoveOrphans(ctx, ident, maxAge, false)
	if err != nil {
		return err
	}
	if err := sink.Columns([]Column{{Name: "expired_snapshots", Type: "BIGINT"}, {Name: "deleted_orphan_files", Type: "BIGINT"}}); err != nil {
		return err
	}
	return sink.Row([]any{int64(expired), int64(len(orphans.Deleted))})
}

func specFields(tbl *table.Table) []iceberggo.PartitionField {
	spec := tbl.Spec()
	var out []iceberggo.PartitionField
	for _, f := range spec.Fields() {
		out = append(out, f)
	}
	return out
}

// errCommitUnknown marks a commit that failed in a way that leaves unknown
// whether the catalog took it: the files it names are then kept (VACUUM
// removes them if it did not).
var errCommitUnknown = errors.New("commit state unknown")

// commitOrDiscard commits a transaction; if the catalog refused it
// (table.ErrCommitFailed: nothing committed), the manifest list and the
// manifests its snapshot wrote are deleted, so a lost race leaves nothing
// behind.
func commitOrDiscard(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
	var snap *table.Snapshot
	if st, err := txn.StagedTable(); err == nil {
		if cur := st.CurrentSnapshot(); cur != nil && (tbl.CurrentSnapshot() == nil || cur.SnapshotID != tbl.CurrentSnapshot().SnapshotID) {
			snap = cur
		}
	}
	_, err := txn.Commit(ctx)
	if err == nil || snap == nil {
		return err
	}
	if !errors.Is(err, table.ErrCommitFailed) {
		// The catalog may or may not have taken it (a cancelled context,
		// a failed write): look, without the statement's context.
		bg := context.WithoutCancel(ctx)
		fresh := *tbl
		if rerr := fresh.Refresh(bg); rerr != nil {
			return fmt.Errorf("%w: %w (and the table cannot be read to tell: %v)", errCommitUnknown, err, rerr)
		}
		if fresh.Metadata().SnapshotByID(snap.SnapshotID) != nil {
			return nil // committed after all
		}
	}
	fs, ferr := tbl.FS(context.WithoutCancel(ctx))
	if ferr != nil {
		return err
	}
	if ms, merr := snap.Manifests(fs); merr == nil {
		for _, m := range ms {
			if m.SnapshotID() == snap.SnapshotID {
				_ = fs.Remove(m.FilePath())
			}
		}
	}
	if snap.ManifestList != "" {
		_ = fs.Remove(snap.ManifestList)
	}
	return err
}

// icebergConvert runs ALTER TABLE ... CONVERT TO ICEBERG: a Hive-style
// Parquet table becomes an Iceberg table over the same files (none is
// rewritten).
func (s *Service) icebergConvert(ctx context.Context, req Request, t catalog.Table) error {
	if err := allow(req, t, "glue:GetTable", "glue:UpdateTable", "s3:GetObject", "s3:PutObject"); err != nil {
		return err
	}
	ice, err := s.iceberg()
	if err != nil {
		return err
	}
	_, err = ice.ConvertToIceberg(ctx, t.Database, t.Name)
	return err
}
