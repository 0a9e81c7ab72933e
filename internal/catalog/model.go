// Package catalog is tarn's data catalog (Glue Data Catalog semantics):
// databases, tables with columns and partition keys, partitions, and the
// history of every table's schema. It stores everything in the metadata
// database (internal/meta); it knows nothing of storage or the engine.
package catalog

import (
	"errors"
	"time"
)

// Sentinel errors, wrapped with %w and tested with errors.Is.
var (
	ErrNoSuchDatabase      = errors.New("no such database")
	ErrDatabaseExists      = errors.New("database already exists")
	ErrDatabaseNotEmpty    = errors.New("database is not empty")
	ErrNoSuchTable         = errors.New("no such table")
	ErrTableExists         = errors.New("table already exists")
	ErrNoSuchPartition     = errors.New("no such partition")
	ErrPartitionExists     = errors.New("partition already exists")
	ErrInvalidName         = errors.New("invalid name")
	ErrInvalidType         = errors.New("invalid type")
	ErrInvalidPartition    = errors.New("invalid partition")
	ErrInvalidTable        = errors.New("invalid table definition")
	ErrConcurrentUpdate    = errors.New("table was changed concurrently")
	ErrUnsupportedTypeConv = errors.New("type has no catalog equivalent")
)

// Table formats.
const (
	FormatCSV     = "csv"     // delimited text: CSV, TSV, any delimiter
	FormatJSON    = "json"    // JSON lines or JSON arrays
	FormatParquet = "parquet" // Apache Parquet
)

// Format option keys (Table.FormatOptions). Values are strings as in Glue's
// SerDe parameters.
const (
	OptDelimiter   = "delimiter"   // single character, e.g. "," or "\t"
	OptHeader      = "header"      // "true" if the first line is a header
	OptQuote       = "quote"       // quote character, default '"'
	OptEscape      = "escape"      // escape character
	OptCompression = "compression" // "none", "gzip", "zstd", "snappy" (parquet)
	OptJSONFormat  = "json_format" // "newline_delimited" or "array"
	OptNullString  = "null"        // text that reads as NULL
)

// Table types, as Glue names them.
const (
	TableTypeExternal      = "EXTERNAL_TABLE"
	TableTypeManaged       = "MANAGED_TABLE"
	TableTypeVirtualView   = "VIRTUAL_VIEW"
	PropertyDeprecated     = "tarn.deprecated" // set by a crawler's delete behaviour "deprecate"
	PropertyClassification = "classification"  // csv, json, parquet (as Glue crawlers set it)
)

// Database is a namespace of tables.
type Database struct {
	Name        string
	Description string
	// Location is an optional s3:// URI under which its tables live.
	Location   string
	Properties map[string]string
	CreatedAt  time.Time
}

// Column is one column: Type is an Athena/Hive type name in canonical
// lower-case form ("bigint", "decimal(10,2)", "array<string>",
// "struct<a:int,b:string>"). Names keep their case and any characters.
type Column struct {
	Name    string
	Type    string
	Comment string
}

// Table is a catalog table. Location is the s3:// URI of its data; for a
// partitioned table, partitions normally live below it.
type Table struct {
	Database      string
	Name          string
	Description   string
	Location      string
	Format        string
	FormatOptions map[string]string
	Columns       []Column
	PartitionKeys []Column
	TableType     string
	Properties    map[string]string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Version is the current schema version (1 on creation). UpdateTable
	// compares it to detect concurrent changes.
	Version int
}

// FullName returns "database.table".
func (t Table) FullName() string { return t.Database + "." + t.Name }

// Partition is one partition of a table. Values are the partition key values
// in the order of Table.PartitionKeys, as strings (as Glue stores them).
type Partition struct {
	Values    []string
	Location  string
	FileCount int64
	Bytes     int64
	AddedAt   time.Time
}

// Change kinds of a schema diff.
const (
	ChangeColumnAdded     = "column_added"
	ChangeColumnRemoved   = "column_missing"
	ChangeTypeChanged     = "type_changed"
	ChangePartitionKeys   = "partition_keys_changed"
	ChangeFormatChanged   = "format_changed"
	ChangeLocationChanged = "location_changed"
)

// SchemaChange is one typed difference between two versions of a table.
type SchemaChange struct {
	Kind   string `json:"kind"`
	Column string `json:"column,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// SchemaVersion is one version of a table's schema, with what changed from
// the previous version (empty for version 1).
type SchemaVersion struct {
	Version       int
	Columns       []Column
	PartitionKeys []Column
	Format        string
	FormatOptions map[string]string
	Location      string
	Changes       []SchemaChange
	Reason        string
	CreatedAt     time.Time
}
