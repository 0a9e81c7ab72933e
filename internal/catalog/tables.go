package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Extra change kinds (besides those in model.go).
const (
	// ChangeColumnsReordered: the common columns appear in another order
	// (From/To are the old and new orders, comma separated).
	ChangeColumnsReordered = "columns_reordered"
	// ChangeFormatOptions: one format option changed (Column is the option
	// name; From/To its old and new values, empty when absent).
	ChangeFormatOptions = "format_options_changed"
)

// storedColumn is how a Column is kept in JSON.
type storedColumn struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
}

func encodeColumns(cols []Column) string {
	s := make([]storedColumn, len(cols))
	for i, c := range cols {
		s[i] = storedColumn(c)
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func decodeColumns(s string) ([]Column, error) {
	var sc []storedColumn
	if err := json.Unmarshal([]byte(s), &sc); err != nil {
		return nil, fmt.Errorf("cannot decode stored columns: %w", err)
	}
	cols := make([]Column, len(sc))
	for i, c := range sc {
		cols[i] = Column(c)
	}
	return cols, nil
}

func encodeChanges(ch []SchemaChange) string {
	if len(ch) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ch)
	return string(b)
}

// normalizeTable validates t and returns it as stored: lower-case names,
// canonical types, defaults filled in.
func normalizeTable(t Table) (Table, error) {
	var err error
	if t.Database, err = NormalizeName(t.Database); err != nil {
		return Table{}, fmt.Errorf("database name: %w", err)
	}
	if t.Name, err = NormalizeName(t.Name); err != nil {
		return Table{}, err
	}
	if t.TableType == "" {
		t.TableType = TableTypeExternal
	}
	t.TableType = strings.ToUpper(t.TableType)
	switch t.TableType {
	case TableTypeExternal, TableTypeManaged, TableTypeVirtualView:
	default:
		return Table{}, fmt.Errorf("%w: table type %q is not %s, %s or %s", ErrInvalidTable, t.TableType, TableTypeExternal, TableTypeManaged, TableTypeVirtualView)
	}
	view := t.TableType == TableTypeVirtualView
	t.Format = strings.ToLower(t.Format)
	switch t.Format {
	case FormatCSV, FormatJSON, FormatParquet:
	case "":
		if !view {
			return Table{}, fmt.Errorf("%w: format is required (%s, %s or %s)", ErrInvalidTable, FormatCSV, FormatJSON, FormatParquet)
		}
	default:
		return Table{}, fmt.Errorf("%w: format %q is not %s, %s or %s", ErrInvalidTable, t.Format, FormatCSV, FormatJSON, FormatParquet)
	}
	if len(t.Columns) == 0 && !view {
		return Table{}, fmt.Errorf("%w: a table needs at least one column", ErrInvalidTable)
	}
	seen := make(map[string]string, len(t.Columns)+len(t.PartitionKeys))
	norm := func(cols []Column, what string) ([]Column, error) {
		out := make([]Column, len(cols))
		for i, c := range cols {
			if c.Name == "" {
				return nil, fmt.Errorf("%w: %s %d has no name", ErrInvalidTable, what, i+1)
			}
			low := strings.ToLower(c.Name)
			if prev, dup := seen[low]; dup {
				return nil, fmt.Errorf("%w: %s %q has the same name as %q (names are case-insensitive)", ErrInvalidTable, what, c.Name, prev)
			}
			seen[low] = c.Name
			typ, err := ParseType(c.Type)
			if err != nil {
				return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalidTable, what, c.Name, err)
			}
			if what == "partition key" && !typ.IsPrimitive() {
				return nil, fmt.Errorf("%w: partition key %q has type %s; partition keys must have a primitive type", ErrInvalidTable, c.Name, typ)
			}
			c.Type = typ.String()
			out[i] = c
		}
		return out, nil
	}
	if t.Columns, err = norm(t.Columns, "column"); err != nil {
		return Table{}, err
	}
	if t.PartitionKeys, err = norm(t.PartitionKeys, "partition key"); err != nil {
		return Table{}, err
	}
	t.FormatOptions = cloneMap(t.FormatOptions)
	t.Properties = cloneMap(t.Properties)
	return t, nil
}

const tableColumns = `t.id, d.name, t.name, t.description, t.location, t.format, t.format_options, t.columns, t.partition_keys, t.table_type, t.properties, t.version, t.created_at, t.updated_at`
const tableFrom = ` FROM catalog_tables t JOIN catalog_databases d ON d.id = t.database_id`

func scanTable(sc interface{ Scan(...any) error }) (int64, Table, error) {
	var (
		id                                       int64
		t                                        Table
		opts, cols, keys, props, created, update string
	)
	if err := sc.Scan(&id, &t.Database, &t.Name, &t.Description, &t.Location, &t.Format, &opts, &cols, &keys,
		&t.TableType, &props, &t.Version, &created, &update); err != nil {
		return 0, Table{}, err
	}
	var err error
	if t.FormatOptions, err = decodeMap(opts); err != nil {
		return 0, Table{}, err
	}
	if t.Properties, err = decodeMap(props); err != nil {
		return 0, Table{}, err
	}
	if t.Columns, err = decodeColumns(cols); err != nil {
		return 0, Table{}, err
	}
	if t.PartitionKeys, err = decodeColumns(keys); err != nil {
		return 0, Table{}, err
	}
	t.CreatedAt, t.UpdatedAt = meta.ParseTime(created), meta.ParseTime(update)
	return id, t, nil
}

// getTable returns a table and its id, or ErrNoSuchDatabase/ErrNoSuchTable
// (unwrapped; callers add what they were doing).
func getTable(ctx context.Context, q querier, db, name string) (int64, Table, error) {
	db, name = strings.ToLower(db), strings.ToLower(name)
	id, t, err := scanTable(q.QueryRowContext(ctx, `SELECT `+tableColumns+tableFrom+` WHERE d.name = ? AND t.name = ?`, db, name))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := databaseID(ctx, q, db); err != nil {
			return 0, Table{}, err
		}
		return 0, Table{}, ErrNoSuchTable
	}
	return id, t, err
}

func fullName(db, name string) string { return strings.ToLower(db) + "." + strings.ToLower(name) }

func insertVersion(ctx context.Context, q querier, tableID int64, version int, t Table, changes []SchemaChange, reason, at string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO catalog_schema_versions
		(table_id, version, columns, partition_keys, format, format_options, location, changes, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tableID, version, encodeColumns(t.Columns), encodeColumns(t.PartitionKeys), t.Format,
		encodeMap(t.FormatOptions), t.Location, encodeChanges(changes), reason, at)
	return err
}

// CreateTable creates a table with schema version 1 (reason "created"). It
// validates the name, columns (at least one unless a view; names unique
// case-insensitively across columns and partition keys; types parse and are
// stored canonical), partition key types (primitive) and format. TableType
// defaults to EXTERNAL_TABLE.
func (c *Catalog) CreateTable(ctx context.Context, t Table) error {
	full := fullName(t.Database, t.Name)
	nt, err := normalizeTable(t)
	if err != nil {
		return fmt.Errorf("cannot create table %q: %w", full, err)
	}
	return c.db.Tx(ctx, func(tx *sql.Tx) error { return createTable(ctx, tx, full, nt) })
}

// CreateTableTx is CreateTable inside tx, so that a writer can create its
// output table in the transaction that publishes its files.
func (c *Catalog) CreateTableTx(ctx context.Context, tx *sql.Tx, t Table) error {
	full := fullName(t.Database, t.Name)
	nt, err := normalizeTable(t)
	if err != nil {
		return fmt.Errorf("cannot create table %q: %w", full, err)
	}
	return createTable(ctx, tx, full, nt)
}

func createTable(ctx context.Context, tx *sql.Tx, full string, nt Table) error {
	at := meta.Now()
	{
		dbID, err := databaseID(ctx, tx, nt.Database)
		if err != nil {
			return fmt.Errorf("cannot create table %q: %w", full, err)
		}
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO catalog_tables
			(database_id, name, description, location, format, format_options, columns, partition_keys, table_type, properties, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING id`,
			dbID, nt.Name, nt.Description, nt.Location, nt.Format, encodeMap(nt.FormatOptions),
			encodeColumns(nt.Columns), encodeColumns(nt.PartitionKeys), nt.TableType, encodeMap(nt.Properties), at, at).Scan(&id)
		if meta.IsUniqueViolation(err) {
			return fmt.Errorf("cannot create table %q: %w", full, ErrTableExists)
		}
		if err != nil {
			return fmt.Errorf("cannot create table %q: %w", full, err)
		}
		if err := insertVersion(ctx, tx, id, 1, nt, nil, "created", at); err != nil {
			return fmt.Errorf("cannot create table %q: %w", full, err)
		}
		return nil
	}
}

// GetTable returns a table (names are case-insensitive).
func (c *Catalog) GetTable(ctx context.Context, db, name string) (Table, error) {
	return c.GetTableTx(ctx, nil, db, name)
}

// GetTableTx is GetTable inside tx (nil: outside any transaction).
func (c *Catalog) GetTableTx(ctx context.Context, tx *sql.Tx, db, name string) (Table, error) {
	_, t, err := getTable(ctx, c.q(tx), db, name)
	if err != nil {
		return Table{}, fmt.Errorf("cannot get table %q: %w", fullName(db, name), err)
	}
	return t, nil
}

// q returns tx, or the database when tx is nil.
func (c *Catalog) q(tx *sql.Tx) querier {
	if tx != nil {
		return tx
	}
	return c.db.SQL()
}

// ListTables returns the tables of a database sorted by name.
func (c *Catalog) ListTables(ctx context.Context, db string) ([]Table, error) {
	n := strings.ToLower(db)
	if _, err := databaseID(ctx, c.db.SQL(), n); err != nil {
		return nil, fmt.Errorf("cannot list tables of database %q: %w", n, err)
	}
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT `+tableColumns+tableFrom+` WHERE d.name = ? ORDER BY t.name`, n)
	if err != nil {
		return nil, fmt.Errorf("cannot list tables of database %q: %w", n, err)
	}
	defer rows.Close()
	var out []Table
	for rows.Next() {
		_, t, err := scanTable(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list tables of database %q: %w", n, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list tables of database %q: %w", n, err)
	}
	return out, nil
}

// DropTable drops a table with its partitions and schema versions. Its data
// is not touched.
func (c *Catalog) DropTable(ctx context.Context, db, name string) error {
	full := fullName(db, name)
	return c.db.Tx(ctx, func(tx *sql.Tx) error {
		id, _, err := getTable(ctx, tx, db, name)
		if err != nil {
			return fmt.Errorf("cannot drop table %q: %w", full, err)
		}
		for _, stmt := range []string{
			`DELETE FROM catalog_partitions WHERE table_id = ?`,
			`DELETE FROM catalog_schema_versions WHERE table_id = ?`,
			`DELETE FROM catalog_tables WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return fmt.Errorf("cannot drop table %q: %w", full, err)
			}
		}
		return nil
	})
}

// UpdateTable replaces a table's definition. t.Version must be the version
// the caller read (else ErrConcurrentUpdate). If the schema changed
// (columns, their types or order, partition keys, format, format options or
// location) a new schema version is stored with the changes and reason
// ("updated" if empty), and the table's Version is incremented. Description,
// properties, table type and column comments are always updated but do not
// make a new version. It returns the schema changes (nil if none).
// Partition keys cannot be added, removed or renamed while the table has
// partitions (ErrInvalidTable).
func (c *Catalog) UpdateTable(ctx context.Context, t Table, reason string) (changes []SchemaChange, err error) {
	full := fullName(t.Database, t.Name)
	nt, err := normalizeTable(t)
	if err != nil {
		return nil, fmt.Errorf("cannot update table %q: %w", full, err)
	}
	if reason == "" {
		reason = "updated"
	}
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		changes, err = updateTable(ctx, tx, full, t.Version, nt, reason)
		return err
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// UpdateTableTx is UpdateTable inside tx, so a writer can change its output
// table's schema in the transaction that publishes its files.
func (c *Catalog) UpdateTableTx(ctx context.Context, tx *sql.Tx, t Table, reason string) ([]SchemaChange, error) {
	full := fullName(t.Database, t.Name)
	nt, err := normalizeTable(t)
	if err != nil {
		return nil, fmt.Errorf("cannot update table %q: %w", full, err)
	}
	if reason == "" {
		reason = "updated"
	}
	return updateTable(ctx, tx, full, t.Version, nt, reason)
}

func updateTable(ctx context.Context, tx *sql.Tx, full string, baseVersion int, nt Table, reason string) (changes []SchemaChange, err error) {
	err = func() error {
		id, cur, err := getTable(ctx, tx, nt.Database, nt.Name)
		if err != nil {
			return fmt.Errorf("cannot update table %q: %w", full, err)
		}
		if cur.Version != baseVersion {
			return fmt.Errorf("cannot update table %q: %w: the update is based on version %d, the table is at version %d; read it again",
				full, ErrConcurrentUpdate, baseVersion, cur.Version)
		}
		changes = DiffSchemas(cur, nt)
		if !slices.Equal(columnNames(cur.PartitionKeys), columnNames(nt.PartitionKeys)) {
			var parts int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM catalog_partitions WHERE table_id = ?`, id).Scan(&parts); err != nil {
				return fmt.Errorf("cannot update table %q: %w", full, err)
			}
			if parts > 0 {
				return fmt.Errorf("cannot update table %q: %w: partition keys cannot change while the table has %d partition(s); drop them first",
					full, ErrInvalidTable, parts)
			}
		}
		at := meta.Now()
		version := cur.Version
		if len(changes) > 0 {
			version++
			if err := insertVersion(ctx, tx, id, version, nt, changes, reason, at); err != nil {
				return fmt.Errorf("cannot update table %q: %w", full, err)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE catalog_tables SET description = ?, location = ?, format = ?, format_options = ?,
			columns = ?, partition_keys = ?, table_type = ?, properties = ?, version = ?, updated_at = ?
			WHERE id = ? AND version = ?`,
			nt.Description, nt.Location, nt.Format, encodeMap(nt.FormatOptions), encodeColumns(nt.Columns),
			encodeColumns(nt.PartitionKeys), nt.TableType, encodeMap(nt.Properties), version, at, id, cur.Version)
		if err != nil {
			return fmt.Errorf("cannot update table %q: %w", full, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("cannot update table %q: %w", full, ErrConcurrentUpdate)
		}
		return nil
	}()
	if err != nil {
		return nil, err
	}
	return changes, nil
}

func columnNames(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// canonical returns the canonical form of a type, or the type as given if it
// does not parse.
func canonical(s string) string {
	if c, err := CanonicalType(s); err == nil {
		return c
	}
	return s
}

func describeColumns(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + " " + canonical(c.Type)
	}
	return strings.Join(parts, ", ")
}

// DiffSchemas returns the typed differences from old to new: columns removed
// (ChangeColumnRemoved, From = old type), type changes (ChangeTypeChanged),
// columns added (ChangeColumnAdded, To = new type), a changed column order,
// partition keys, format, format options and location. Columns are matched
// by exact name; types are compared in canonical form. Comments,
// descriptions and properties are not part of the schema.
func DiffSchemas(old, new Table) []SchemaChange {
	var changes []SchemaChange
	newCols := make(map[string]string, len(new.Columns))
	for _, c := range new.Columns {
		newCols[c.Name] = canonical(c.Type)
	}
	oldCols := make(map[string]string, len(old.Columns))
	var oldOrder []string
	for _, c := range old.Columns {
		from := canonical(c.Type)
		oldCols[c.Name] = from
		to, ok := newCols[c.Name]
		switch {
		case !ok:
			changes = append(changes, SchemaChange{Kind: ChangeColumnRemoved, Column: c.Name, From: from})
		case to != from:
			changes = append(changes, SchemaChange{Kind: ChangeTypeChanged, Column: c.Name, From: from, To: to})
		}
		if ok {
			oldOrder = append(oldOrder, c.Name)
		}
	}
	var newOrder []string
	for _, c := range new.Columns {
		if _, ok := oldCols[c.Name]; !ok {
			changes = append(changes, SchemaChange{Kind: ChangeColumnAdded, Column: c.Name, To: newCols[c.Name]})
			continue
		}
		newOrder = append(newOrder, c.Name)
	}
	if !slices.Equal(oldOrder, newOrder) {
		changes = append(changes, SchemaChange{Kind: ChangeColumnsReordered,
			From: strings.Join(oldOrder, ", "), To: strings.Join(newOrder, ", ")})
	}
	if from, to := describeColumns(old.PartitionKeys), describeColumns(new.PartitionKeys); from != to {
		changes = append(changes, SchemaChange{Kind: ChangePartitionKeys, From: from, To: to})
	}
	if from, to := strings.ToLower(old.Format), strings.ToLower(new.Format); from != to {
		changes = append(changes, SchemaChange{Kind: ChangeFormatChanged, From: from, To: to})
	}
	keys := make([]string, 0, len(old.FormatOptions)+len(new.FormatOptions))
	for k := range old.FormatOptions {
		keys = append(keys, k)
	}
	for k := range new.FormatOptions {
		if _, ok := old.FormatOptions[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		from, inOld := old.FormatOptions[k]
		to, inNew := new.FormatOptions[k]
		if from != to || inOld != inNew {
			changes = append(changes, SchemaChange{Kind: ChangeFormatOptions, Column: k, From: from, To: to})
		}
	}
	if strings.TrimSuffix(old.Location, "/") != strings.TrimSuffix(new.Location, "/") {
		changes = append(changes, SchemaChange{Kind: ChangeLocationChanged, From: old.Location, To: new.Location})
	}
	return changes
}

// SchemaVersions returns a table's schema versions, oldest first.
func (c *Catalog) SchemaVersions(ctx context.Context, db, table string) ([]SchemaVersion, error) {
	full := fullName(db, table)
	id, _, err := getTable(ctx, c.db.SQL(), db, table)
	if err != nil {
		return nil, fmt.Errorf("cannot list schema versions of table %q: %w", full, err)
	}
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT version, columns, partition_keys, format, format_options, location, changes, reason, created_at
		FROM catalog_schema_versions WHERE table_id = ? ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("cannot list schema versions of table %q: %w", full, err)
	}
	defer rows.Close()
	var out []SchemaVersion
	for rows.Next() {
		var v SchemaVersion
		var cols, keys, opts, changes, created string
		if err := rows.Scan(&v.Version, &cols, &keys, &v.Format, &opts, &v.Location, &changes, &v.Reason, &created); err != nil {
			return nil, fmt.Errorf("cannot list schema versions of table %q: %w", full, err)
		}
		if v.Columns, err = decodeColumns(cols); err == nil {
			if v.PartitionKeys, err = decodeColumns(keys); err == nil {
				if v.FormatOptions, err = decodeMap(opts); err == nil {
					err = json.Unmarshal([]byte(changes), &v.Changes)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot list schema versions of table %q: %w", full, err)
		}
		if len(v.Changes) == 0 {
			v.Changes = nil
		}
		v.CreatedAt = meta.ParseTime(created)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list schema versions of table %q: %w", full, err)
	}
	return out, nil
}

// DeleteSchemaVersions deletes stored versions of a table's schema (Glue's
// DeleteTableVersion). The current version cannot be deleted
// (ErrInvalidTable); a version that is not stored is ErrNoSuchTable's
// kin, reported per version in missing. Nothing is deleted if any version
// is the current one.
func (c *Catalog) DeleteSchemaVersions(ctx context.Context, db, table string, versions []int) (missing []int, err error) {
	full := fullName(db, table)
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		id, t, err := getTable(ctx, tx, db, table)
		if err != nil {
			return fmt.Errorf("cannot delete schema versions of table %q: %w", full, err)
		}
		for _, v := range versions {
			if v == t.Version {
				return fmt.Errorf("cannot delete schema version %d of table %q: %w: it is the current version", v, full, ErrInvalidTable)
			}
		}
		for _, v := range versions {
			res, err := tx.ExecContext(ctx, `DELETE FROM catalog_schema_versions WHERE table_id = ? AND version = ?`, id, v)
			if err != nil {
				return fmt.Errorf("cannot delete schema version %d of table %q: %w", v, full, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				missing = append(missing, v)
			}
		}
		return nil
	})
	return missing, err
}
