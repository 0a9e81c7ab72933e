package iceberg

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Table properties of an Iceberg table's catalog row, spelled as Glue and
// Athena spell them.
const (
	PropertyTableType                = "table_type"
	TableTypeIceberg                 = "ICEBERG"
	PropertyMetadataLocation         = "metadata_location"
	PropertyPreviousMetadataLocation = "previous_metadata_location"
)

// Namespace properties mapped onto a tarn database's own fields.
const (
	NamespaceComment  = "comment"  // Database.Description
	NamespaceLocation = "location" // Database.Location
)

// Sentinel errors of this package. Errors also wrap iceberg-go's catalog
// sentinels (catalog.ErrNoSuchTable, …) and table.ErrCommitFailed, which is
// what Iceberg front ends map to their status codes, and tarn catalog's
// sentinels where those caused them.
var (
	// ErrNotIceberg: the table exists but is not an Iceberg table.
	ErrNotIceberg = errors.New("not an Iceberg table")
	// ErrNestedNamespace: a namespace of more than one level (tarn's
	// namespaces are its databases).
	ErrNestedNamespace = errors.New("nested namespaces are not supported: a namespace is one tarn database")
	// ErrInvalidLocation: a table location, a metadata location or a
	// write path that is not an s3:// URI, or that leaves the table's
	// location.
	ErrInvalidLocation = errors.New("invalid table location")
	// ErrRequirementFailed: a commit's requirement did not hold (it also
	// wraps table.ErrCommitFailed: refresh and try again).
	ErrRequirementFailed = errors.New("commit requirement failed")
)

// Config configures the Catalog.
type Config struct {
	// Warehouse is where a table goes when it is created without a
	// location in a database without one: <Warehouse>/<db>/<table>.
	Warehouse string
}

// DefaultConfig returns the default configuration (warehouse
// s3://lake/warehouse).
func DefaultConfig() Config { return Config{Warehouse: "s3://lake/warehouse"} }

// Catalog keeps Iceberg tables in tarn's catalog. It implements
// iceberg-go's catalog.Catalog (namespaces are tarn databases, one level),
// catalog.TransactionalCatalog and catalog.PurgeableTable.
//
// An Iceberg table is a catalog row of type EXTERNAL_TABLE, format parquet,
// whose Location is the table's location and whose properties carry
// table_type=ICEBERG, metadata_location and previous_metadata_location, as
// Glue keeps them; its Columns mirror the current Iceberg schema with
// Athena type names, and it has no partition keys (Iceberg partitions are
// hidden). A commit writes a new metadata file below the table's location,
// then swaps metadata_location in one metadata transaction that only
// succeeds if the row still names the metadata the commit started from.
//
// The Catalog checks no policies (front ends authorize), but every file a
// table's IO touches must be below its location. It is safe for concurrent
// use and owns nothing it must close: the catalog, the metadata database
// and the store are the caller's.
type Catalog struct {
	cfg   Config
	cat   *catalog.Catalog
	db    *meta.DB
	store storage.ObjectStore
	io    *IO
}

var (
	_ icecat.Catalog              = (*Catalog)(nil)
	_ icecat.TransactionalCatalog = (*Catalog)(nil)
	_ icecat.PurgeableTable       = (*Catalog)(nil)
)

// New returns a Catalog over tarn's catalog cat (opened on the metadata
// database db) and the object store.
func New(cfg Config, cat *catalog.Catalog, db *meta.DB, store storage.ObjectStore) (*Catalog, error) {
	if cat == nil || db == nil || store == nil {
		return nil, errors.New("cannot open Iceberg catalog: it needs the catalog, the metadata database and the object store")
	}
	if cfg.Warehouse == "" {
		cfg.Warehouse = DefaultConfig().Warehouse
	}
	cfg.Warehouse = strings.TrimRight(cfg.Warehouse, "/")
	if _, _, err := ParseLocation(cfg.Warehouse); err != nil {
		return nil, fmt.Errorf("cannot open Iceberg catalog: warehouse: %w", err)
	}
	return &Catalog{cfg: cfg, cat: cat, db: db, store: store, io: NewIO(store)}, nil
}

// CatalogType reports the catalog as a SQL-backed catalog (metadata
// pointers kept in a database, as iceberg-go's sql catalog keeps them).
func (c *Catalog) CatalogType() icecat.Type { return icecat.SQL }

// IsIceberg reports whether a catalog table is an Iceberg table
// (table_type=ICEBERG, as Glue marks them; case-insensitive).
func IsIceberg(t catalog.Table) bool {
	return strings.EqualFold(t.Properties[PropertyTableType], TableTypeIceberg)
}

// MetadataLocation returns an Iceberg table's current metadata file ("" if
// the table is not an Iceberg table).
func MetadataLocation(t catalog.Table) string {
	if !IsIceberg(t) {
		return ""
	}
	return t.Properties[PropertyMetadataLocation]
}

// identString spells an identifier for messages.
func identString(ident table.Identifier) string { return strings.Join(ident, ".") }

// namespaceName returns the database a namespace names.
func namespaceName(ns table.Identifier) (string, error) {
	switch {
	case len(ns) == 0:
		return "", fmt.Errorf("%w: empty namespace", icecat.ErrNoSuchNamespace)
	case len(ns) > 1:
		return "", fmt.Errorf("%w: %w (%q has %d levels)", icecat.ErrNoSuchNamespace, ErrNestedNamespace, identString(ns), len(ns))
	}
	name, err := catalog.NormalizeName(ns[0])
	if err != nil {
		return "", fmt.Errorf("%w: %w", icecat.ErrInvalidIdentifier, err)
	}
	return name, nil
}

// lookupNamespaceName is namespaceName for a lookup: a nested namespace
// does not exist (iceberg-go's ErrNoSuchNamespace, without
// ErrNestedNamespace, which only creating one reports).
func lookupNamespaceName(ns table.Identifier) (string, error) {
	if len(ns) > 1 {
		return "", fmt.Errorf("%w: namespace %q has %d levels, and a namespace is one tarn database", icecat.ErrNoSuchNamespace, identString(ns), len(ns))
	}
	return namespaceName(ns)
}

// lookupTableName is tableName for a lookup: a table in a nested namespace
// does not exist (iceberg-go's ErrNoSuchTable: Spark resolves t.snapshots,
// namespace t, to a metadata table only after that answer).
func lookupTableName(ident table.Identifier) (db, name string, err error) {
	if len(ident) > 2 {
		return "", "", fmt.Errorf("%w: its namespace %q has %d levels, and a namespace is one tarn database",
			icecat.ErrNoSuchTable, identString(ident[:len(ident)-1]), len(ident)-1)
	}
	return tableName(ident)
}

// MaxNamespaceLevels is how many levels a namespace has at most: one (a
// namespace is a tarn database). Front ends answer lookups of deeper ones
// as not found and refuse to create them.
func (c *Catalog) MaxNamespaceLevels() int { return 1 }

// tableName returns the database and table an identifier names (for a
// create: a nested namespace is ErrNestedNamespace).
func tableName(ident table.Identifier) (db, name string, err error) {
	if len(ident) < 2 {
		return "", "", fmt.Errorf("%w: %w: an identifier is namespace.table", icecat.ErrNoSuchTable, icecat.ErrInvalidIdentifier)
	}
	if db, err = namespaceName(ident[:len(ident)-1]); err != nil {
		return "", "", err
	}
	if name, err = catalog.NormalizeName(ident[len(ident)-1]); err != nil {
		return "", "", fmt.Errorf("%w: %w", icecat.ErrInvalidIdentifier, err)
	}
	return db, name, nil
}

// tableErr adds iceberg-go's sentinel to a tarn catalog error about a table.
func tableErr(err error) error {
	switch {
	case errors.Is(err, catalog.ErrNoSuchTable), errors.Is(err, catalog.ErrNoSuchDatabase):
		return fmt.Errorf("%w: %w", icecat.ErrNoSuchTable, err)
	case errors.Is(err, catalog.ErrTableExists):
		return fmt.Errorf("%w: %w", icecat.ErrTableAlreadyExists, err)
	}
	return err
}

// namespaceErr adds iceberg-go's sentinel to a tarn catalog error about a
// database.
func namespaceErr(err error) error {
	switch {
	case errors.Is(err, catalog.ErrNoSuchDatabase):
		return fmt.Errorf("%w: %w", icecat.ErrNoSuchNamespace, err)
	case errors.Is(err, catalog.ErrDatabaseExists):
		return fmt.Errorf("%w: %w", icecat.ErrNamespaceAlreadyExists, err)
	case errors.Is(err, catalog.ErrDatabaseNotEmpty):
		return fmt.Errorf("%w: %w", icecat.ErrNamespaceNotEmpty, err)
	}
	return err
}

// getIceberg returns the catalog row of an Iceberg table.
func (c *Catalog) getIceberg(ctx context.Context, tx *sql.Tx, db, name string) (catalog.Table, error) {
	t, err := c.cat.GetTableTx(ctx, tx, db, name)
	if err != nil {
		return catalog.Table{}, tableErr(err)
	}
	if !IsIceberg(t) {
		return catalog.Table{}, fmt.Errorf("%w: %w", icecat.ErrNoSuchTable, ErrNotIceberg)
	}
	return t, nil
}

// location helpers ----------------------------------------------------------

type loc struct{ bucket, key string }

func parseLoc(uri string) (loc, error) {
	b, k, err := ParseLocation(strings.TrimRight(uri, "/"))
	if err != nil {
		return loc{}, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	return loc{b, k}, nil
}

// tableLoc parses a table location: s3://bucket/key with a key.
func tableLoc(uri string) (loc, error) {
	l, err := parseLoc(uri)
	if err == nil && l.key == "" {
		err = fmt.Errorf("%w %q: a table location needs a key below its bucket", ErrInvalidLocation, uri)
	}
	return l, err
}

// sameLocation compares locations whatever their scheme (s3, s3a, s3n).
func sameLocation(a, b string) bool {
	la, err1 := parseLoc(a)
	lb, err2 := parseLoc(b)
	return err1 == nil && err2 == nil && la == lb
}

// below reports whether uri is strictly below the location root.
func below(uri string, root loc) bool {
	l, err := parseLoc(uri)
	return err == nil && l.bucket == root.bucket && strings.HasPrefix(l.key, root.key+"/")
}

// checkMetadata refuses metadata whose location is not tableLocation, or
// whose write paths leave it.
func checkMetadata(md table.Metadata, tableLocation string) error {
	root, err := tableLoc(tableLocation)
	if err != nil {
		return err
	}
	if !sameLocation(md.Location(), tableLocation) {
		return fmt.Errorf("%w: the metadata's location %q is not the table's location %q (moving a table is not supported)",
			ErrInvalidLocation, md.Location(), tableLocation)
	}
	for _, key := range []string{table.WriteDataPathKey, table.WriteMetadataPathKey} {
		if p, ok := md.Properties()[key]; ok && !below(p, root) && !sameLocation(p, tableLocation) {
			return fmt.Errorf("%w: %s %q is not below the table's location %q", ErrInvalidLocation, key, p, tableLocation)
		}
	}
	for _, snap := range md.Snapshots() {
		if snap.ManifestList != "" && !below(snap.ManifestList, root) {
			return fmt.Errorf("%w: snapshot %d's manifest list %q is not below the table's location %q",
				ErrInvalidLocation, snap.SnapshotID, snap.ManifestList, tableLocation)
		}
	}
	for sf := range md.Statistics() {
		if !below(sf.StatisticsPath, root) {
			return fmt.Errorf("%w: statistics file %q is not below the table's location %q", ErrInvalidLocation, sf.StatisticsPath, tableLocation)
		}
	}
	return nil
}

var metadataFileRE = regexp.MustCompile(`^(\d+)-[0-9a-fA-F-]{36}(?:\.\w+)?\.metadata\.json$|^v(\d+)(?:\.gz)?\.metadata\.json$`)

// metadataVersion returns the version a metadata file's name carries, or
// -1.
func metadataVersion(uri string) int {
	m := metadataFileRE.FindStringSubmatch(path.Base(uri))
	if m == nil {
		return -1
	}
	s := m[1]
	if s == "" {
		s = m[2]
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return v
}

// newMetadataLocation names a table's metadata file of a version:
// <location>/metadata/<version:05d>-<uuid>.metadata.json.
func newMetadataLocation(tableLocation string, version int) string {
	return fmt.Sprintf("%s/metadata/%05d-%s.metadata.json", strings.TrimRight(tableLocation, "/"), version, uuid.NewString())
}

// tableIO returns the table's IO, confined to its location, bound to ctx.
func (c *Catalog) tableIO(ctx context.Context, tableLocation string) (*IO, error) {
	scoped, err := c.io.Within(tableLocation)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	return scoped.WithContext(ctx), nil
}

// fsFunc is the table's IO factory (table.FSysF).
func (c *Catalog) fsFunc(tableLocation string) (table.FSysF, error) {
	scoped, err := c.io.Within(tableLocation)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	return func(ctx context.Context) (iceio.IO, error) { return scoped.WithContext(ctx), nil }, nil
}

// writeMetadata stores a new metadata file (one atomic Put that fails if
// the file exists).
func writeMetadata(fio *IO, uri string, md table.Metadata) error {
	b, err := json.Marshal(md)
	if err != nil {
		return err
	}
	return fio.writeNew(uri, b)
}

// open builds the table.Table of a catalog row: its current metadata, read
// through an IO confined to its location.
func (c *Catalog) open(ctx context.Context, t catalog.Table) (*table.Table, error) {
	return openTable(ctx, c.io, t, c)
}

// OpenTable reads the Iceberg table of a catalog row at its current
// metadata without a Catalog, for readers: its IO is confined to the
// table's location, and it has no catalog, so its transactions cannot
// commit. It refuses a row whose metadata_location is not below the
// table's location, or whose metadata names another location
// (ErrInvalidLocation). Data files are read by whoever plans the scan: they
// check each with InLocation.
func OpenTable(ctx context.Context, store storage.ObjectStore, t catalog.Table) (*table.Table, error) {
	if !IsIceberg(t) {
		return nil, fmt.Errorf("cannot open table %q: %w", t.FullName(), ErrNotIceberg)
	}
	tbl, err := openTable(ctx, NewIO(store), t, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot open table %q: %w", t.FullName(), err)
	}
	return tbl, nil
}

// InLocation reports whether a file URI is below a table location (the
// s3, s3a and s3n spellings are the same): a table reads and writes no
// file elsewhere.
func InLocation(uri, tableLocation string) bool {
	root, err := tableLoc(tableLocation)
	return err == nil && below(uri, root)
}

func openTable(ctx context.Context, fio *IO, t catalog.Table, cat table.CatalogIO) (*table.Table, error) {
	mdLoc := MetadataLocation(t)
	root, err := tableLoc(t.Location)
	if err != nil {
		return nil, err
	}
	if !below(mdLoc, root) {
		return nil, fmt.Errorf("%w: metadata_location %q is not below the table's location %q", ErrInvalidLocation, mdLoc, t.Location)
	}
	scoped, err := fio.Within(t.Location)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLocation, err)
	}
	fsF := func(ctx context.Context) (iceio.IO, error) { return scoped.WithContext(ctx), nil }
	tbl, err := table.NewFromLocation(ctx, table.Identifier{t.Database, t.Name}, mdLoc, fsF, cat)
	if err != nil {
		return nil, fmt.Errorf("cannot read metadata %q: %w", mdLoc, err)
	}
	if err := checkMetadata(tbl.Metadata(), t.Location); err != nil {
		return nil, err
	}
	return tbl, nil
}

// row returns the catalog row of an Iceberg table: base (the current row,
// or a new one) with the location, the columns mirrored from md, the
// description from its "comment" property and the metadata pointers.
func row(base catalog.Table, md table.Metadata, mdLoc, prevLoc string) (catalog.Table, error) {
	cols, err := Columns(md.CurrentSchema())
	if err != nil {
		return catalog.Table{}, err
	}
	t := base
	t.Location = md.Location()
	t.Format = catalog.FormatParquet
	t.TableType = catalog.TableTypeExternal
	t.Columns = cols
	t.PartitionKeys = nil
	if comment, ok := md.Properties()["comment"]; ok {
		t.Description = comment
	}
	t.Properties = maps.Clone(base.Properties)
	if t.Properties == nil {
		t.Properties = map[string]string{}
	}
	t.Properties[PropertyTableType] = TableTypeIceberg
	t.Properties[PropertyMetadataLocation] = mdLoc
	if prevLoc != "" {
		t.Properties[PropertyPreviousMetadataLocation] = prevLoc
	} else {
		delete(t.Properties, PropertyPreviousMetadataLocation)
	}
	return t, nil
}

// Columns mirrors an Iceberg schema as catalog columns with Athena/Hive
// type names, as Glue shows Iceberg tables: long is bigint, timestamptz
// timestamp, uuid and time string, fixed binary, list array<…>.
func Columns(sc *ice.Schema) ([]catalog.Column, error) {
	if sc == nil || len(sc.Fields()) == 0 {
		return nil, fmt.Errorf("%w: an Iceberg table needs at least one column", catalog.ErrInvalidTable)
	}
	cols := make([]catalog.Column, 0, len(sc.Fields()))
	for _, f := range sc.Fields() {
		cols = append(cols, catalog.Column{Name: f.Name, Type: HiveType(f.Type).String(), Comment: f.Doc})
	}
	return cols, nil
}

// HiveType returns the Athena/Hive type that shows an Iceberg type.
func HiveType(t ice.Type) catalog.Type {
	switch t := t.(type) {
	case ice.BooleanType:
		return catalog.Type{Kind: catalog.KindBoolean}
	case ice.Int32Type:
		return catalog.Type{Kind: catalog.KindInt}
	case ice.Int64Type:
		return catalog.Type{Kind: catalog.KindBigint}
	case ice.Float32Type:
		return catalog.Type{Kind: catalog.KindFloat}
	case ice.Float64Type:
		return catalog.Type{Kind: catalog.KindDouble}
	case ice.DecimalType:
		return catalog.Type{Kind: catalog.KindDecimal, Precision: t.Precision(), Scale: t.Scale()}
	case ice.DateType:
		return catalog.Type{Kind: catalog.KindDate}
	case ice.TimestampType, ice.TimestampTzType, ice.TimestampNsType, ice.TimestampTzNsType:
		return catalog.Type{Kind: catalog.KindTimestamp}
	case ice.BinaryType, ice.FixedType, ice.GeometryType, ice.GeographyType:
		return catalog.Type{Kind: catalog.KindBinary}
	case *ice.ListType:
		e := HiveType(t.Element)
		return catalog.Type{Kind: catalog.KindArray, Elem: &e}
	case *ice.MapType:
		k, v := HiveType(t.KeyType), HiveType(t.ValueType)
		return catalog.Type{Kind: catalog.KindMap, Key: &k, Elem: &v}
	case *ice.StructType:
		fields := make([]catalog.StructField, len(t.FieldList))
		for i, f := range t.FieldList {
			fields[i] = catalog.StructField{Name: f.Name, Type: HiveType(f.Type)}
		}
		return catalog.Type{Kind: catalog.KindStruct, Fields: fields}
	}
	// string, uuid, time, variant, unknown
	return catalog.Type{Kind: catalog.KindString}
}

// Tables --------------------------------------------------------------------

// CreateTable creates an Iceberg table: it writes
// <location>/metadata/00000-<uuid>.metadata.json (format version 2 unless
// the format-version property says otherwise), then registers the table in
// one metadata transaction (the file is removed if that fails). The
// location defaults to the database's location + "/" + table, else
// <warehouse>/<db>/<table>.
func (c *Catalog) CreateTable(ctx context.Context, ident table.Identifier, sc *ice.Schema, opts ...icecat.CreateTableOpt) (*table.Table, error) {
	full := identString(ident)
	db, name, err := tableName(ident)
	if err != nil {
		return nil, fmt.Errorf("cannot create table %q: %w", full, err)
	}
	full = db + "." + name
	d, err := c.cat.GetDatabase(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("cannot create table %q: %w", full, namespaceErr(err))
	}
	if _, err := c.cat.GetTable(ctx, db, name); err == nil {
		return nil, fmt.Errorf("cannot create table %q: %w", full, icecat.ErrTableAlreadyExists)
	} else if !errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, fmt.Errorf("cannot create table %q: %w", full, err)
	}
	cfg := icecat.NewCreateTableCfg()
	for _, o := range opts {
		o(&cfg)
	}
	location := strings.TrimRight(cfg.Location, "/")
	if location == "" {
		location = c.defaultLocation(d, name)
	}
	if _, err := tableLoc(location); err != nil {
		return nil, fmt.Errorf("cannot create table %q: %w", full, err)
	}
	props := ice.Properties{}
	for k, v := range cfg.Properties {
		props[k] = v
	}
	if _, ok := props[table.ManifestMergeEnabledKey]; !ok {
		// Java's default (iceberg-go's is off): appends merge small
		// manifests, so a table committed to a thousand times is not
		// planned from a thousand manifests.
		props[table.ManifestMergeEnabledKey] = "true"
	}
	md, err := table.NewMetadata(sc, cfg.PartitionSpec, cfg.SortOrder, location, props)
	if err != nil {
		return nil, fmt.Errorf("cannot create table %q: %w", full, err)
	}
	tbl, err := c.register(ctx, db, name, md, "")
	if err != nil {
		return nil, fmt.Errorf("cannot create table %q: %w", full, err)
	}
	return tbl, nil
}

// DefaultTableLocation returns where a table is created when its creator
// gives no location: the database's location + "/" + table, else
// <warehouse>/<db>/<table>.
func (c *Catalog) DefaultTableLocation(ctx context.Context, ident table.Identifier) (string, error) {
	db, name, err := tableName(ident)
	if err != nil {
		return "", fmt.Errorf("cannot locate table %q: %w", identString(ident), err)
	}
	d, err := c.cat.GetDatabase(ctx, db)
	if err != nil {
		return "", fmt.Errorf("cannot locate table %q: %w", db+"."+name, namespaceErr(err))
	}
	return c.defaultLocation(d, name), nil
}

// defaultLocation is where a table goes when created without a location.
func (c *Catalog) defaultLocation(d catalog.Database, name string) string {
	if d.Location != "" {
		return strings.TrimRight(d.Location, "/") + "/" + name
	}
	return c.cfg.Warehouse + "/" + d.Name + "/" + name
}

// register writes md as the table's first metadata file (unless mdLoc
// names one already written) and creates its catalog row.
func (c *Catalog) register(ctx context.Context, db, name string, md table.Metadata, mdLoc string) (*table.Table, error) {
	if err := checkMetadata(md, md.Location()); err != nil {
		return nil, err
	}
	fio, err := c.tableIO(ctx, md.Location())
	if err != nil {
		return nil, err
	}
	written := ""
	if mdLoc == "" {
		mdLoc = newMetadataLocation(md.Location(), 0)
		if err := writeMetadata(fio, mdLoc, md); err != nil {
			return nil, err
		}
		written = mdLoc
	}
	t, err := row(catalog.Table{Database: db, Name: name}, md, mdLoc, "")
	if err == nil {
		err = c.cat.CreateTable(ctx, t)
	}
	if err != nil {
		if written != "" {
			_ = c.io.WithContext(context.WithoutCancel(ctx)).Remove(written)
		}
		return nil, tableErr(err)
	}
	fsF, err := c.fsFunc(md.Location())
	if err != nil {
		return nil, err
	}
	return table.New(table.Identifier{db, name}, md, mdLoc, fsF, c), nil
}

// RegisterTable registers an existing Iceberg table by its metadata file
// (the REST catalog's register): the file must be below the location it
// names.
func (c *Catalog) RegisterTable(ctx context.Context, ident table.Identifier, metadataLocation string) (*table.Table, error) {
	full := identString(ident)
	db, name, err := tableName(ident)
	if err != nil {
		return nil, fmt.Errorf("cannot register table %q: %w", full, err)
	}
	full = db + "." + name
	if _, err := c.cat.GetDatabase(ctx, db); err != nil {
		return nil, fmt.Errorf("cannot register table %q: %w", full, namespaceErr(err))
	}
	if _, err := parseLoc(metadataLocation); err != nil {
		return nil, fmt.Errorf("cannot register table %q: %w", full, err)
	}
	b, err := c.io.WithContext(ctx).ReadFile(metadataLocation)
	if err != nil {
		return nil, fmt.Errorf("cannot register table %q: %w", full, err)
	}
	md, err := table.ParseMetadataBytes(b)
	if err != nil {
		return nil, fmt.Errorf("cannot register table %q: %q is not Iceberg metadata: %w", full, metadataLocation, err)
	}
	root, err := tableLoc(md.Location())
	if err != nil {
		return nil, fmt.Errorf("cannot register table %q: %w", full, err)
	}
	if !below(metadataLocation, root) {
		return nil, fmt.Errorf("cannot register table %q: %w: %q is not below the location it names, %q",
			full, ErrInvalidLocation, metadataLocation, md.Location())
	}
	tbl, err := c.register(ctx, db, name, md, metadataLocation)
	if err != nil {
		return nil, fmt.Errorf("cannot register table %q: %w", full, err)
	}
	return tbl, nil
}

// LoadTable returns an Iceberg table at its current metadata. Its IO is
// confined to its location and its catalog is c, so its transactions
// commit through CommitTable.
func (c *Catalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	full := identString(ident)
	db, name, err := lookupTableName(ident)
	if err != nil {
		return nil, fmt.Errorf("cannot load table %q: %w", full, err)
	}
	full = db + "." + name
	t, err := c.getIceberg(ctx, nil, db, name)
	if err != nil {
		return nil, fmt.Errorf("cannot load table %q: %w", full, err)
	}
	tbl, err := c.open(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("cannot load table %q: %w", full, err)
	}
	return tbl, nil
}

// Table is LoadTable by database and table name.
func (c *Catalog) Table(ctx context.Context, db, name string) (*table.Table, error) {
	return c.LoadTable(ctx, table.Identifier{db, name})
}

// CheckTableExists reports whether an Iceberg table exists (false for a
// table that is not an Iceberg table, a missing database or a nested
// namespace).
func (c *Catalog) CheckTableExists(ctx context.Context, ident table.Identifier) (bool, error) {
	if len(ident) > 2 {
		return false, nil // a nested namespace: none exists
	}
	db, name, err := tableName(ident)
	if err != nil {
		return false, fmt.Errorf("cannot check table %q: %w", identString(ident), err)
	}
	t, err := c.cat.GetTable(ctx, db, name)
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot check table %q: %w", db+"."+name, err)
	}
	return IsIceberg(t), nil
}

// ListTables lists a namespace's Iceberg tables (tables of other kinds
// are left out), sorted by name.
func (c *Catalog) ListTables(ctx context.Context, ns table.Identifier) iter.Seq2[table.Identifier, error] {
	return func(yield func(table.Identifier, error) bool) {
		db, err := lookupNamespaceName(ns)
		if err != nil {
			yield(nil, fmt.Errorf("cannot list tables of namespace %q: %w", identString(ns), err))
			return
		}
		tables, err := c.cat.ListTables(ctx, db)
		if err != nil {
			yield(nil, fmt.Errorf("cannot list tables of namespace %q: %w", db, namespaceErr(err)))
			return
		}
		for _, t := range tables {
			if IsIceberg(t) && !yield(table.Identifier{t.Database, t.Name}, nil) {
				return
			}
		}
	}
}

// DropTable removes an Iceberg table from the catalog; its files stay
// (PurgeTable removes them too).
func (c *Catalog) DropTable(ctx context.Context, ident table.Identifier) error {
	full := identString(ident)
	db, name, err := lookupTableName(ident)
	if err != nil {
		return fmt.Errorf("cannot drop table %q: %w", full, err)
	}
	full = db + "." + name
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := c.getIceberg(ctx, tx, db, name); err != nil {
			return err
		}
		return tableErr(c.cat.DropTableTx(ctx, tx, db, name))
	})
	if err != nil {
		return fmt.Errorf("cannot drop table %q: %w", full, err)
	}
	return nil
}

// PurgeTable drops an Iceberg table, then deletes its files (those below
// its location and those its metadata names, as far as they are below its
// location) unless gc.enabled is false. File deletion is best effort:
// failures are logged, and the drop stands.
func (c *Catalog) PurgeTable(ctx context.Context, ident table.Identifier) error {
	tbl, err := c.LoadTable(ctx, ident)
	if err != nil {
		return fmt.Errorf("cannot purge table %q: %w", identString(ident), err)
	}
	if err := c.DropTable(ctx, ident); err != nil {
		return fmt.Errorf("cannot purge table %q: %w", identString(ident), err)
	}
	if err := tbl.PurgeFiles(ctx); err != nil {
		slog.WarnContext(ctx, "iceberg: dropped table, but some of its files were not deleted",
			"table", identString(tbl.Identifier()), "error", err)
	}
	return nil
}

// RenameTable renames an Iceberg table, possibly into another namespace,
// and returns it loaded under its new name. Its location does not change.
func (c *Catalog) RenameTable(ctx context.Context, from, to table.Identifier) (*table.Table, error) {
	full := identString(from)
	db, name, err := lookupTableName(from)
	if err != nil {
		return nil, fmt.Errorf("cannot rename table %q: %w", full, err)
	}
	full = db + "." + name
	toDB, toName, err := tableName(to)
	if err != nil {
		return nil, fmt.Errorf("cannot rename table %q to %q: %w", full, identString(to), err)
	}
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := c.getIceberg(ctx, tx, db, name); err != nil {
			return err
		}
		err := c.cat.RenameTableTx(ctx, tx, db, name, toDB, toName)
		if errors.Is(err, catalog.ErrNoSuchDatabase) {
			return namespaceErr(err) // the target namespace
		}
		return tableErr(err)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot rename table %q: %w", full, err)
	}
	return c.LoadTable(ctx, table.Identifier{toDB, toName})
}

// Commits -------------------------------------------------------------------

// stagedCommit is one table's commit, its new metadata file written.
type stagedCommit struct {
	db, name string
	create   bool
	baseLoc  string        // metadata the commit started from ("" on create)
	base     catalog.Table // the row read at the start (create: the new row)
	meta     table.Metadata
	loc      string // the new metadata file ("" if nothing changed)
	io       *IO
}

func hasAssertCreate(reqs []table.Requirement) bool {
	for _, r := range reqs {
		if r.GetType() == "assert-create" {
			return true
		}
	}
	return false
}

// stage checks a commit's requirements against the table's current
// metadata, applies its updates and writes the new metadata file. A table
// that does not exist is created if the requirements assert-create.
func (c *Catalog) stage(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (*stagedCommit, error) {
	lookup := lookupTableName
	if hasAssertCreate(reqs) {
		lookup = tableName // creating a table in a nested namespace is refused
	}
	db, name, err := lookup(ident)
	if err != nil {
		return nil, err
	}
	s := &stagedCommit{db: db, name: name}
	t, err := c.cat.GetTable(ctx, db, name)
	var base table.Metadata
	switch {
	case err == nil && !IsIceberg(t):
		if hasAssertCreate(reqs) {
			return nil, fmt.Errorf("%w: %w", icecat.ErrTableAlreadyExists, ErrNotIceberg)
		}
		return nil, fmt.Errorf("%w: %w", icecat.ErrNoSuchTable, ErrNotIceberg)
	case err == nil:
		tbl, err := c.open(ctx, t)
		if err != nil {
			return nil, err
		}
		base, s.base, s.baseLoc = tbl.Metadata(), t, tbl.MetadataLocation()
	case errors.Is(err, catalog.ErrNoSuchTable) && hasAssertCreate(reqs):
		s.create = true
	case errors.Is(err, catalog.ErrNoSuchDatabase) && hasAssertCreate(reqs):
		return nil, namespaceErr(err)
	default:
		return nil, tableErr(err)
	}
	for _, r := range reqs {
		var verr error
		if base == nil {
			verr = r.Validate(nil)
		} else {
			verr = r.Validate(base)
		}
		if verr != nil {
			return nil, fmt.Errorf("%w: %w: %w", table.ErrCommitFailed, ErrRequirementFailed, verr)
		}
	}
	var md table.Metadata
	version := 0
	if s.create {
		if md, err = createMetadata(updates); err != nil {
			return nil, err
		}
		if md.Location() == "" {
			d, err := c.cat.GetDatabase(ctx, db)
			if err != nil {
				return nil, namespaceErr(err)
			}
			withLoc := append(slices.Clone(updates), table.NewSetLocationUpdate(c.defaultLocation(d, name)))
			if md, err = createMetadata(withLoc); err != nil {
				return nil, err
			}
		}
		if _, err := tableLoc(md.Location()); err != nil {
			return nil, err
		}
		if err := checkMetadata(md, md.Location()); err != nil {
			return nil, err
		}
	} else {
		if len(updates) == 0 {
			s.meta = base
			return s, nil // nothing to commit
		}
		if md, err = table.UpdateTableMetadata(base, updates, s.baseLoc); err != nil {
			return nil, err
		}
		if md.Equals(base) {
			s.meta = base
			return s, nil // nothing to commit
		}
		if err := checkMetadata(md, t.Location); err != nil {
			return nil, err
		}
		if v := metadataVersion(s.baseLoc); v >= 0 {
			version = v + 1
		} else {
			version = len(slices.Collect(md.PreviousFiles()))
		}
	}
	if _, err := Columns(md.CurrentSchema()); err != nil {
		return nil, err
	}
	s.meta = md
	if s.io, err = c.tableIO(ctx, md.Location()); err != nil {
		return nil, err
	}
	s.loc = newMetadataLocation(md.Location(), version)
	if err := writeMetadata(s.io, s.loc, md); err != nil {
		return nil, err
	}
	return s, nil
}

// createMetadata builds a new table's metadata from a create commit's
// updates (those of a commit that asserts create), as Java's
// CatalogHandlers does: from empty metadata of the format version the
// updates upgrade to (else 2), so that the client's schemas, specs and sort
// orders keep the ids it gave them, and the snapshots it wrote in the same
// transaction name the schema they were written with. A table without a
// uuid, partition spec or sort order gets a new uuid, the unpartitioned
// spec, the unsorted order. Updates that do not make a table are an
// iceberg.ErrInvalidArgument.
func createMetadata(updates []table.Update) (table.Metadata, error) {
	version, versioned, has := 2, false, map[string]bool{}
	for _, u := range updates {
		has[u.Action()] = true
		if u.Action() != table.UpdateUpgradeFormatVersion || versioned {
			continue
		}
		data, err := json.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("%w: update %s: %w", ice.ErrInvalidArgument, u.Action(), err)
		}
		var f struct {
			FormatVersion int `json:"format-version"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("%w: update %s: %w", ice.ErrInvalidArgument, u.Action(), err)
		}
		version, versioned = f.FormatVersion, true
	}
	b, err := table.NewMetadataBuilder(version)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create a table: %w", ice.ErrInvalidArgument, err)
	}
	if !has[table.UpdateAssignUUID] {
		if err := b.SetUUID(uuid.New()); err != nil {
			return nil, err
		}
	}
	for _, u := range updates {
		if err := u.Apply(b); err != nil {
			return nil, fmt.Errorf("%w: cannot create a table: %s: %w", ice.ErrInvalidArgument, u.Action(), err)
		}
	}
	if !has[table.UpdateAddSpec] && b.CurrentSchema() != nil {
		spec := *ice.UnpartitionedSpec
		if err := b.AddPartitionSpec(&spec, true); err != nil {
			return nil, fmt.Errorf("%w: cannot create a table: %w", ice.ErrInvalidArgument, err)
		}
		if err := b.SetDefaultSpecID(-1); err != nil {
			return nil, fmt.Errorf("%w: cannot create a table: %w", ice.ErrInvalidArgument, err)
		}
	}
	if !has[table.UpdateAddSortOrder] && b.CurrentSchema() != nil {
		order := table.UnsortedSortOrder
		if err := b.AddSortOrder(&order); err != nil {
			return nil, fmt.Errorf("%w: cannot create a table: %w", ice.ErrInvalidArgument, err)
		}
		if err := b.SetDefaultSortOrderID(-1); err != nil {
			return nil, fmt.Errorf("%w: cannot create a table: %w", ice.ErrInvalidArgument, err)
		}
	}
	md, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create a table: %w", ice.ErrInvalidArgument, err)
	}
	return md, nil
}

// publish swaps the metadata pointers of staged commits in one metadata
// transaction: each table's row must still name the metadata its commit
// started from (else table.ErrCommitFailed); a created table must not
// exist yet.
func (c *Catalog) publish(ctx context.Context, commits []*stagedCommit) error {
	return c.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := c.swap(ctx, tx, commits); err != nil {
			return err
		}
		if h := commitHook(ctx); h != nil && slices.ContainsFunc(commits, func(s *stagedCommit) bool { return s.loc != "" }) {
			return h(ctx, tx)
		}
		return nil
	})
}

// swap is publish's work in its transaction.
func (c *Catalog) swap(ctx context.Context, tx *sql.Tx, commits []*stagedCommit) error {
	for _, s := range commits {
		if s.loc == "" {
			continue
		}
		full := s.db + "." + s.name
		if s.create {
			t, err := row(catalog.Table{Database: s.db, Name: s.name}, s.meta, s.loc, "")
			if err == nil {
				err = c.cat.CreateTableTx(ctx, tx, t)
			}
			if errors.Is(err, catalog.ErrTableExists) {
				return fmt.Errorf("%w: %w: table %q was created concurrently", table.ErrCommitFailed, icecat.ErrTableAlreadyExists, full)
			}
			if err != nil {
				return tableErr(err)
			}
			continue
		}
		cur, err := c.cat.GetTableTx(ctx, tx, s.db, s.name)
		if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase) {
			return fmt.Errorf("%w: %w: table %q was dropped concurrently", table.ErrCommitFailed, icecat.ErrNoSuchTable, full)
		}
		if err != nil {
			return err
		}
		if !IsIceberg(cur) || MetadataLocation(cur) != s.baseLoc {
			return fmt.Errorf("%w: table %q was changed concurrently: its metadata is now %q, the commit started from %q",
				table.ErrCommitFailed, full, MetadataLocation(cur), s.baseLoc)
		}
		nt, err := row(cur, s.meta, s.loc, s.baseLoc)
		if err != nil {
			return err
		}
		// The swap itself: a compare-and-set on the row's properties,
		// atomic at any isolation level; then the columns mirror.
		if err := c.cat.SwapTablePropertiesTx(ctx, tx, s.db, s.name, cur.Properties, nt.Properties); err != nil {
			if errors.Is(err, catalog.ErrConcurrentUpdate) {
				return fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
			}
			return err
		}
		if _, err := c.cat.UpdateTableTx(ctx, tx, nt, "iceberg commit"); err != nil {
			if errors.Is(err, catalog.ErrConcurrentUpdate) {
				return fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
			}
			return err
		}
	}
	return nil
}

// published reports whether a staged commit's metadata is the table's
// current one: a transaction whose commit reported an error may still
// have committed.
func (c *Catalog) published(ctx context.Context, s *stagedCommit) bool {
	if s.loc == "" {
		return false
	}
	t, err := c.cat.GetTable(context.WithoutCancel(ctx), s.db, s.name)
	return err == nil && MetadataLocation(t) == s.loc
}

// discard removes the metadata files of commits that were not published
// (those whose file the table names after all are kept).
func (c *Catalog) discard(ctx context.Context, commits []*stagedCommit) {
	for _, s := range commits {
		if s != nil && s.loc != "" && !c.published(ctx, s) {
			if err := s.io.WithContext(context.WithoutCancel(ctx)).Remove(s.loc); err != nil {
				slog.WarnContext(ctx, "iceberg: cannot remove the metadata file of a failed commit", "file", s.loc, "error", err)
			}
		}
	}
}

// CommitTable commits requirements and updates to a table (creating it if
// the requirements assert-create): it validates every requirement against
// the current metadata, applies the updates, writes
// <location>/metadata/<version:05d>-<uuid>.metadata.json and swaps the
// catalog row's metadata_location to it in one metadata transaction that
// succeeds only if the row still names the metadata the commit started
// from. A failed requirement or a lost race returns an error wrapping
// table.ErrCommitFailed, and the file written is removed. The columns
// mirror is updated in the same transaction. Updates that would move the
// table, or send its files outside its location, are refused
// (ErrInvalidLocation).
func (c *Catalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	s, err := c.stage(ctx, ident, reqs, updates)
	if err != nil {
		return nil, "", fmt.Errorf("cannot commit table %q: %w", identString(ident), err)
	}
	if s.loc == "" {
		return s.meta, s.baseLoc, nil
	}
	if err := c.publish(ctx, []*stagedCommit{s}); err != nil {
		if c.published(ctx, s) {
			// The transaction reported an error but committed.
			return s.meta, s.loc, nil
		}
		c.discard(ctx, []*stagedCommit{s})
		return nil, "", fmt.Errorf("cannot commit table %q: %w", s.db+"."+s.name, err)
	}
	return s.meta, s.loc, nil
}

// CommitTransaction commits changes to several tables atomically: every
// table's new metadata is written, then all pointers are swapped in one
// metadata transaction, or none is (and the files written are removed).
func (c *Catalog) CommitTransaction(ctx context.Context, commits []table.TableCommit) error {
	if len(commits) == 0 {
		return fmt.Errorf("cannot commit transaction: %w", icecat.ErrEmptyCommitList)
	}
	seen := map[string]bool{}
	staged := make([]*stagedCommit, 0, len(commits))
	for _, tc := range commits {
		if len(tc.Identifier) == 0 {
			c.discard(ctx, staged)
			return fmt.Errorf("cannot commit transaction: %w", icecat.ErrMissingIdentifier)
		}
		s, err := c.stage(ctx, tc.Identifier, tc.Requirements, tc.Updates)
		if err == nil && seen[s.db+"."+s.name] {
			staged = append(staged, s)
			err = fmt.Errorf("%w: table %q is committed twice", icecat.ErrInvalidIdentifier, s.db+"."+s.name)
		}
		if err != nil {
			c.discard(ctx, staged)
			return fmt.Errorf("cannot commit transaction: table %q: %w", identString(tc.Identifier), err)
		}
		seen[s.db+"."+s.name] = true
		staged = append(staged, s)
	}
	if err := c.publish(ctx, staged); err != nil {
		c.discard(ctx, staged)
		return fmt.Errorf("cannot commit transaction: %w", err)
	}
	return nil
}

// Namespaces ----------------------------------------------------------------

// CreateNamespace creates a tarn database. Properties "comment" and
// "location" set its description and location; the others are kept as
// its parameters.
func (c *Catalog) CreateNamespace(ctx context.Context, ns table.Identifier, props ice.Properties) error {
	db, err := namespaceName(ns)
	if err != nil {
		return fmt.Errorf("cannot create namespace %q: %w", identString(ns), err)
	}
	d := catalog.Database{Name: db, Properties: map[string]string{}}
	for k, v := range props {
		switch k {
		case NamespaceComment:
			d.Description = v
		case NamespaceLocation:
			d.Location = strings.TrimRight(v, "/")
		default:
			d.Properties[k] = v
		}
	}
	if d.Location != "" {
		if _, err := parseLoc(d.Location); err != nil {
			return fmt.Errorf("cannot create namespace %q: %w", db, err)
		}
	}
	if err := c.cat.CreateDatabase(ctx, d, false); err != nil {
		return fmt.Errorf("cannot create namespace %q: %w", db, namespaceErr(err))
	}
	return nil
}

// DropNamespace drops an empty tarn database (catalog.ErrNamespaceNotEmpty
// if it has tables of any kind).
func (c *Catalog) DropNamespace(ctx context.Context, ns table.Identifier) error {
	db, err := lookupNamespaceName(ns)
	if err != nil {
		return fmt.Errorf("cannot drop namespace %q: %w", identString(ns), err)
	}
	if err := c.cat.DropDatabase(ctx, db, false); err != nil {
		return fmt.Errorf("cannot drop namespace %q: %w", db, namespaceErr(err))
	}
	return nil
}

// CheckNamespaceExists reports whether a tarn database exists.
func (c *Catalog) CheckNamespaceExists(ctx context.Context, ns table.Identifier) (bool, error) {
	if len(ns) > 1 {
		return false, nil // a nested namespace: none exists
	}
	db, err := namespaceName(ns)
	if err != nil {
		return false, fmt.Errorf("cannot check namespace %q: %w", identString(ns), err)
	}
	_, err = c.cat.GetDatabase(ctx, db)
	if errors.Is(err, catalog.ErrNoSuchDatabase) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot check namespace %q: %w", db, err)
	}
	return true, nil
}

// ListNamespaces lists the tarn databases. Namespaces have one level, so a
// parent namespace that exists has no children.
func (c *Catalog) ListNamespaces(ctx context.Context, parent table.Identifier) ([]table.Identifier, error) {
	if len(parent) > 0 {
		ok, err := c.CheckNamespaceExists(ctx, parent)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("cannot list namespaces of %q: %w", identString(parent), icecat.ErrNoSuchNamespace)
		}
		return []table.Identifier{}, nil
	}
	dbs, err := c.cat.ListDatabases(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list namespaces: %w", err)
	}
	out := make([]table.Identifier, 0, len(dbs))
	for _, d := range dbs {
		out = append(out, table.Identifier{d.Name})
	}
	return out, nil
}

func namespaceProps(d catalog.Database) ice.Properties {
	props := ice.Properties{}
	maps.Copy(props, d.Properties)
	if d.Description != "" {
		props[NamespaceComment] = d.Description
	}
	if d.Location != "" {
		props[NamespaceLocation] = d.Location
	}
	return props
}

// LoadNamespaceProperties returns a database's parameters with its
// description ("comment") and location ("location").
func (c *Catalog) LoadNamespaceProperties(ctx context.Context, ns table.Identifier) (ice.Properties, error) {
	db, err := lookupNamespaceName(ns)
	if err != nil {
		return nil, fmt.Errorf("cannot load namespace %q: %w", identString(ns), err)
	}
	d, err := c.cat.GetDatabase(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("cannot load namespace %q: %w", db, namespaceErr(err))
	}
	return namespaceProps(d), nil
}

// UpdateNamespaceProperties removes and sets namespace properties
// ("comment" and "location" are the database's description and location).
// A key both removed and set is refused.
func (c *Catalog) UpdateNamespaceProperties(ctx context.Context, ns table.Identifier, removals []string, updates ice.Properties) (icecat.PropertiesUpdateSummary, error) {
	var sum icecat.PropertiesUpdateSummary
	db, err := lookupNamespaceName(ns)
	if err != nil {
		return sum, fmt.Errorf("cannot update namespace %q: %w", identString(ns), err)
	}
	for _, k := range removals {
		if _, ok := updates[k]; ok {
			return sum, fmt.Errorf("cannot update namespace %q: property %q is both removed and set", db, k)
		}
	}
	if loc, ok := updates[NamespaceLocation]; ok {
		if _, err := parseLoc(loc); err != nil {
			return sum, fmt.Errorf("cannot update namespace %q: %w", db, err)
		}
	}
	d, err := c.cat.GetDatabase(ctx, db)
	if err != nil {
		return sum, fmt.Errorf("cannot update namespace %q: %w", db, namespaceErr(err))
	}
	props := namespaceProps(d)
	sum.Removed, sum.Updated, sum.Missing = []string{}, []string{}, []string{}
	for _, k := range removals {
		if _, ok := props[k]; ok {
			delete(props, k)
			sum.Removed = append(sum.Removed, k)
		} else {
			sum.Missing = append(sum.Missing, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(updates)) {
		if v, ok := props[k]; !ok || v != updates[k] {
			props[k] = updates[k]
			sum.Updated = append(sum.Updated, k)
		}
	}
	d.Description, d.Location = props[NamespaceComment], strings.TrimRight(props[NamespaceLocation], "/")
	delete(props, NamespaceComment)
	delete(props, NamespaceLocation)
	d.Properties = props
	if err := c.cat.UpdateDatabase(ctx, d); err != nil {
		return icecat.PropertiesUpdateSummary{}, fmt.Errorf("cannot update namespace %q: %w", db, namespaceErr(err))
	}
	return sum, nil
}
