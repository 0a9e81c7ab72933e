package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Component is the name under which the catalog registers its migrations.
const Component = "catalog"

// Migrations create the catalog's tables. Released migrations are never
// edited; add a new one instead.
var Migrations = []meta.Migration{
	{Version: 1, Name: "databases, tables, schema versions, partitions", SQL: `
CREATE TABLE catalog_databases (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	location TEXT NOT NULL DEFAULT '',
	properties TEXT NOT NULL DEFAULT '{}',
	created_at TEXT NOT NULL
);
CREATE TABLE catalog_tables (
	id INTEGER PRIMARY KEY,
	database_id INTEGER NOT NULL REFERENCES catalog_databases (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	location TEXT NOT NULL DEFAULT '',
	format TEXT NOT NULL DEFAULT '',
	format_options TEXT NOT NULL DEFAULT '{}',
	columns TEXT NOT NULL DEFAULT '[]',
	partition_keys TEXT NOT NULL DEFAULT '[]',
	table_type TEXT NOT NULL,
	properties TEXT NOT NULL DEFAULT '{}',
	version INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	UNIQUE (database_id, name)
);
CREATE TABLE catalog_schema_versions (
	table_id INTEGER NOT NULL REFERENCES catalog_tables (id) ON DELETE CASCADE,
	version INTEGER NOT NULL,
	columns TEXT NOT NULL,
	partition_keys TEXT NOT NULL,
	format TEXT NOT NULL,
	format_options TEXT NOT NULL,
	location TEXT NOT NULL,
	changes TEXT NOT NULL DEFAULT '[]',
	reason TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	PRIMARY KEY (table_id, version)
);
CREATE TABLE catalog_partitions (
	table_id INTEGER NOT NULL REFERENCES catalog_tables (id) ON DELETE CASCADE,
	values_json TEXT NOT NULL,
	location TEXT NOT NULL DEFAULT '',
	file_count INTEGER NOT NULL DEFAULT 0,
	bytes INTEGER NOT NULL DEFAULT 0,
	added_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (table_id, values_json)
) WITHOUT ROWID;
`},
	{Version: 2, Name: "data file manifests", SQL: `
CREATE TABLE catalog_files (
	table_id INTEGER NOT NULL REFERENCES catalog_tables (id) ON DELETE CASCADE,
	uri TEXT NOT NULL,
	values_json TEXT NOT NULL DEFAULT '',
	size INTEGER NOT NULL DEFAULT 0,
	etag TEXT NOT NULL DEFAULT '',
	rows INTEGER NOT NULL DEFAULT 0,
	run_id TEXT NOT NULL DEFAULT '',
	added_at TEXT NOT NULL,
	PRIMARY KEY (table_id, uri)
) WITHOUT ROWID;
`},
	{Version: 3, Name: "files a crawler skipped", SQL: `
CREATE TABLE catalog_skipped_files (
	table_id INTEGER NOT NULL REFERENCES catalog_tables (id) ON DELETE CASCADE,
	uri TEXT NOT NULL,
	reason TEXT NOT NULL,
	skipped_at TEXT NOT NULL,
	PRIMARY KEY (table_id, uri)
) WITHOUT ROWID;
`},
	{Version: 4, Name: "replaced files awaiting deletion", SQL: `
CREATE TABLE catalog_garbage (
	uri TEXT PRIMARY KEY,
	removed_at TEXT NOT NULL,
	table_name TEXT NOT NULL DEFAULT '',
	etag TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX catalog_garbage_removed_at ON catalog_garbage (removed_at);
`},
	{Version: 5, Name: "lineage events (OpenLineage run events), their datasets and each dataset's latest write", SQL: `
CREATE TABLE catalog_lineage_events (
	id INTEGER PRIMARY KEY,
	event_type TEXT NOT NULL,
	event_time TEXT NOT NULL,
	run_id TEXT NOT NULL,
	job_namespace TEXT NOT NULL,
	job_name TEXT NOT NULL,
	producer TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL,
	recorded_at TEXT NOT NULL
);
CREATE INDEX catalog_lineage_events_job ON catalog_lineage_events (job_namespace, job_name, id);
CREATE INDEX catalog_lineage_events_run ON catalog_lineage_events (run_id, job_namespace, job_name);
CREATE TABLE catalog_lineage_datasets (
	event_id INTEGER NOT NULL REFERENCES catalog_lineage_events (id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	rows INTEGER NOT NULL DEFAULT -1,
	PRIMARY KEY (event_id, role, namespace, name)
) WITHOUT ROWID;
CREATE INDEX catalog_lineage_datasets_name ON catalog_lineage_datasets (namespace, name, role, event_id);
CREATE TABLE catalog_lineage_latest (
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	event_id INTEGER NOT NULL REFERENCES catalog_lineage_events (id) ON DELETE CASCADE,
	PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE INDEX catalog_lineage_latest_event ON catalog_lineage_latest (event_id);
`},
	{Version: 6, Name: "who recorded a lineage event (tarn, or the access key that posted it)", SQL: `
ALTER TABLE catalog_lineage_events ADD COLUMN source TEXT NOT NULL DEFAULT '';
DROP INDEX catalog_lineage_events_run;
CREATE INDEX catalog_lineage_events_run ON catalog_lineage_events (run_id, job_namespace, job_name, source);
`},
}

// Catalog is the data catalog over the metadata database. It is safe for
// concurrent use; it does not own the database and has nothing to close.
type Catalog struct {
	db      *meta.DB
	lineage LineageRetention // zero: DefaultLineageRetention
}

// New applies the catalog's migrations to db and returns the catalog.
func New(ctx context.Context, db *meta.DB) (*Catalog, error) {
	if db == nil {
		return nil, errors.New("cannot open catalog: no metadata database")
	}
	if err := db.Migrate(ctx, Component, Migrations); err != nil {
		return nil, fmt.Errorf("cannot open catalog: %w", err)
	}
	return &Catalog{db: db}, nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// MaxNameLength is the longest database or table name.
const MaxNameLength = 255

// NormalizeName returns a database or table name as the catalog stores it
// (lower-case), or an error wrapping ErrInvalidName that says what is allowed.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(name)
	ok := len(n) >= 1 && len(n) <= MaxNameLength
	for i := 0; ok && i < len(n); i++ {
		c := n[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return "", fmt.Errorf("%w: names are 1 to %d characters of letters, digits, '_' and '-'", ErrInvalidName, MaxNameLength)
	}
	return n, nil
}

func encodeMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeMap(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" || s == "{}" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("cannot decode stored map %q: %w", s, err)
	}
	return m, nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CreateDatabase creates a database. With ifNotExists an existing database
// is not an error (and is left unchanged).
func (c *Catalog) CreateDatabase(ctx context.Context, d Database, ifNotExists bool) error {
	name, err := NormalizeName(d.Name)
	if err != nil {
		return fmt.Errorf("cannot create database %q: %w", d.Name, err)
	}
	_, err = c.db.SQL().ExecContext(ctx,
		`INSERT INTO catalog_databases (name, description, location, properties, created_at) VALUES (?, ?, ?, ?, ?)`,
		name, d.Description, d.Location, encodeMap(d.Properties), meta.Now())
	if meta.IsUniqueViolation(err) {
		if ifNotExists {
			return nil
		}
		return fmt.Errorf("cannot create database %q: %w", name, ErrDatabaseExists)
	}
	if err != nil {
		return fmt.Errorf("cannot create database %q: %w", name, err)
	}
	return nil
}

// UpdateDatabase changes a database's description, location and properties
// in place (Glue's UpdateDatabase); its tables are not touched.
func (c *Catalog) UpdateDatabase(ctx context.Context, d Database) error {
	n := strings.ToLower(d.Name)
	res, err := c.db.SQL().ExecContext(ctx, `UPDATE catalog_databases SET description = ?, location = ?, properties = ? WHERE name = ?`,
		d.Description, d.Location, encodeMap(d.Properties), n)
	if err != nil {
		return fmt.Errorf("cannot update database %q: %w", n, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("cannot update database %q: %w", n, ErrNoSuchDatabase)
	}
	return nil
}

const databaseColumns = `name, description, location, properties, created_at`

func scanDatabase(sc interface{ Scan(...any) error }) (Database, error) {
	var d Database
	var props, created string
	if err := sc.Scan(&d.Name, &d.Description, &d.Location, &props, &created); err != nil {
		return Database{}, err
	}
	var err error
	if d.Properties, err = decodeMap(props); err != nil {
		return Database{}, err
	}
	d.CreatedAt = meta.ParseTime(created)
	return d, nil
}

// GetDatabase returns a database by name (case-insensitive).
func (c *Catalog) GetDatabase(ctx context.Context, name string) (Database, error) {
	n := strings.ToLower(name)
	d, err := scanDatabase(c.db.SQL().QueryRowContext(ctx,
		`SELECT `+databaseColumns+` FROM catalog_databases WHERE name = ?`, n))
	if errors.Is(err, sql.ErrNoRows) {
		return Database{}, fmt.Errorf("cannot get database %q: %w", n, ErrNoSuchDatabase)
	}
	if err != nil {
		return Database{}, fmt.Errorf("cannot get database %q: %w", n, err)
	}
	return d, nil
}

// ListDatabases returns all databases sorted by name.
func (c *Catalog) ListDatabases(ctx context.Context) ([]Database, error) {
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT `+databaseColumns+` FROM catalog_databases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("cannot list databases: %w", err)
	}
	defer rows.Close()
	var out []Database
	for rows.Next() {
		d, err := scanDatabase(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list databases: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list databases: %w", err)
	}
	return out, nil
}

// databaseID returns the id of a database or ErrNoSuchDatabase (unwrapped).
func databaseID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM catalog_databases WHERE name = ?`, strings.ToLower(name)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoSuchDatabase
	}
	return id, err
}

// DropDatabase drops a database. A database with tables is only dropped with
// cascade, which drops its tables with their partitions and schema versions.
func (c *Catalog) DropDatabase(ctx context.Context, name string, cascade bool) error {
	n := strings.ToLower(name)
	return c.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := databaseID(ctx, tx, n)
		if err != nil {
			return fmt.Errorf("cannot drop database %q: %w", n, err)
		}
		var tables int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM catalog_tables WHERE database_id = ?`, id).Scan(&tables); err != nil {
			return fmt.Errorf("cannot drop database %q: %w", n, err)
		}
		if tables > 0 && !cascade {
			return fmt.Errorf("cannot drop database %q: %w: it has %d table(s); drop them first or drop with cascade", n, ErrDatabaseNotEmpty, tables)
		}
		for _, stmt := range []string{
			`DELETE FROM catalog_partitions WHERE table_id IN (SELECT id FROM catalog_tables WHERE database_id = ?)`,
			`DELETE FROM catalog_schema_versions WHERE table_id IN (SELECT id FROM catalog_tables WHERE database_id = ?)`,
			`DELETE FROM catalog_tables WHERE database_id = ?`,
			`DELETE FROM catalog_databases WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return fmt.Errorf("cannot drop database %q: %w", n, err)
			}
		}
		return nil
	})
}
