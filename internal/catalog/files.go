package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// PropertyManifest marks a table whose data files are listed in the catalog
// (written by tarn's jobs and CTAS). Readers use the manifest instead of
// listing storage, so files are published by the metadata transaction that
// adds them, and a crashed writer's files are never read.
const PropertyManifest = "tarn.manifest"

// DataFile is one data file of a manifest table.
type DataFile struct {
	URI string
	// Values are the partition values of the file, nil if unpartitioned.
	Values []string
	Size   int64
	ETag   string
	Rows   int64
	RunID  string
}

// HasManifest reports whether a table's files are listed in the catalog.
func (t Table) HasManifest() bool { return t.Properties[PropertyManifest] == "true" }

// ListFiles returns the data files of a manifest table, ordered by URI.
func (c *Catalog) ListFiles(ctx context.Context, db, table string) ([]DataFile, error) {
	return c.ListFilesTx(ctx, nil, db, table)
}

// ListFilesTx is ListFiles inside tx (nil: outside any transaction).
func (c *Catalog) ListFilesTx(ctx context.Context, tx *sql.Tx, db, table string) ([]DataFile, error) {
	q := c.q(tx)
	id, _, err := getTable(ctx, q, db, table)
	if err != nil {
		return nil, fmt.Errorf("cannot list files of %q: %w", fullName(db, table), err)
	}
	rows, err := q.QueryContext(ctx, `SELECT uri, values_json, size, etag, rows, run_id FROM catalog_files WHERE table_id = ? ORDER BY uri`, id)
	if err != nil {
		return nil, fmt.Errorf("cannot list files of %q: %w", fullName(db, table), err)
	}
	defer rows.Close()
	var out []DataFile
	for rows.Next() {
		var f DataFile
		var vals string
		if err := rows.Scan(&f.URI, &vals, &f.Size, &f.ETag, &f.Rows, &f.RunID); err != nil {
			return nil, err
		}
		if vals != "" {
			if f.Values, err = decodeValues(vals); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Replace selects the files a publish removes: all of them (overwrite), or
// those of the given partitions (overwrite-partitions).
type Replace struct {
	All        bool
	Partitions [][]string
}

// PublishFilesTx adds files to a manifest table and removes the replaced
// ones, in tx. It registers the partitions of added files and refreshes the
// file counts and bytes of every partition it touched; a partition left with
// no files by a replace is dropped. It returns the removed files; they are
// recorded as garbage in tx, for Engine.CollectGarbage to delete from
// storage once no reader can still hold them. Callers must not delete them.
func (c *Catalog) PublishFilesTx(ctx context.Context, tx *sql.Tx, db, table string, add []DataFile, replace Replace) ([]DataFile, error) {
	full := fullName(db, table)
	id, t, err := getTable(ctx, tx, db, table)
	if err != nil {
		return nil, fmt.Errorf("cannot publish files to %q: %w", full, err)
	}
	existing, err := c.ListFilesTx(ctx, tx, db, table)
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, p := range replace.Partitions {
		drop[encodeValues(p)] = true
	}
	touched := map[string][]string{}
	var removed []DataFile
	adding := make(map[string]bool, len(add))
	for _, f := range add {
		adding[f.URI] = true
	}
	at := meta.Now()
	for _, f := range existing {
		key := encodeValues(f.Values)
		if replace.All || (f.Values != nil && drop[key]) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_files WHERE table_id = ? AND uri = ?`, id, f.URI); err != nil {
				return nil, fmt.Errorf("cannot publish files to %q: %w", full, err)
			}
			// A reader that planned on the old manifest may still open the
			// file: it is garbage to collect after a grace period, not now.
			if !adding[f.URI] {
				if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_garbage (uri, removed_at, table_name, etag) VALUES (?, ?, ?, ?)
					ON CONFLICT (uri) DO UPDATE SET removed_at = excluded.removed_at, etag = excluded.etag`, f.URI, at, full, f.ETag); err != nil {
					return nil, fmt.Errorf("cannot publish files to %q: %w", full, err)
				}
			}
			removed = append(removed, f)
			if f.Values != nil {
				touched[key] = f.Values
			}
		}
	}
	for _, f := range add {
		if len(f.Values) != len(t.PartitionKeys) {
			return nil, fmt.Errorf("cannot publish %s to %q: %w: %d partition values for %d keys", f.URI, full, ErrInvalidPartition, len(f.Values), len(t.PartitionKeys))
		}
		vals := ""
		if f.Values != nil {
			vals = encodeValues(f.Values)
			touched[vals] = f.Values
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_files (table_id, uri, values_json, size, etag, rows, run_id, added_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (table_id, uri) DO UPDATE SET values_json = excluded.values_json, size = excluded.size, etag = excluded.etag,
			rows = excluded.rows, run_id = excluded.run_id, added_at = excluded.added_at`,
			id, f.URI, vals, f.Size, f.ETag, f.Rows, f.RunID, at); err != nil {
			return nil, fmt.Errorf("cannot publish %s to %q: %w", f.URI, full, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_garbage WHERE uri = ?`, f.URI); err != nil {
			return nil, fmt.Errorf("cannot publish %s to %q: %w", f.URI, full, err)
		}
	}
	if len(t.PartitionKeys) == 0 {
		return removed, nil
	}
	var newParts []Partition
	for key, vals := range touched {
		var n, bytes int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM catalog_files WHERE table_id = ? AND values_json = ?`, id, key).Scan(&n, &bytes); err != nil {
			return nil, err
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_partitions WHERE table_id = ? AND values_json = ?`, id, key); err != nil {
				return nil, err
			}
			continue
		}
		newParts = append(newParts, Partition{Values: vals, Location: t.Location + PartitionPath(t.PartitionKeys, vals) + "/", FileCount: n, Bytes: bytes})
	}
	if len(newParts) > 0 {
		if _, err := addPartitions(ctx, tx, db, table, newParts, true); err != nil {
			return nil, err
		}
		for _, p := range newParts {
			if _, err := tx.ExecContext(ctx, `UPDATE catalog_partitions SET file_count = ?, bytes = ?, updated_at = ? WHERE table_id = ? AND values_json = ?`,
				p.FileCount, p.Bytes, at, id, encodeValues(p.Values)); err != nil {
				return nil, err
			}
		}
	}
	return removed, nil
}

// Write modes of PublishOutputTx.
const (
	WriteAppend              = "append"
	WriteOverwrite           = "overwrite"
	WriteOverwritePartitions = "overwrite-partitions"
)

// Output describes the table a writer (job, CTAS, INSERT INTO) publishes to.
type Output struct {
	Database, Name string
	Location       string // s3:// prefix ending in "/"
	Format         string // parquet, csv, json
	Compression    string
	Columns        []Column
	PartitionKeys  []Column
	// Properties are added to a table the publish creates.
	Properties map[string]string
	// Mode is WriteAppend, WriteOverwrite or WriteOverwritePartitions.
	Mode string
	// Create makes a missing table; without it the table must exist.
	Create bool
	// Evolve lets a publish that does not overwrite change an existing
	// table's schema as dbt's on_schema_change: append_new_columns does:
	// columns the table lacks are added (NULL in its older files) and types
	// widen by WidenTypes, as a new schema version with Evolve as its
	// reason. A narrowed or missing column still fails. Empty: the output
	// must have the table's schema (Athena's INSERT INTO).
	Evolve string
}

// PublishOutputTx publishes a writer's files to its output table in tx:
// it creates the table if asked (a manifest table at the output location),
// checks that appended output has the table's schema (an overwrite replaces
// the schema, recording a version), and publishes the files, replacing all
// of them (overwrite) or those of the written partitions
// (overwrite-partitions). It returns the replaced files, which the caller
// deletes from storage once tx has committed.
func (c *Catalog) PublishOutputTx(ctx context.Context, tx *sql.Tx, out Output, files []DataFile, reason string) ([]DataFile, error) {
	full := fullName(out.Database, out.Name)
	want := Table{
		Database: out.Database, Name: out.Name, Location: out.Location, Format: out.Format,
		FormatOptions: map[string]string{OptCompression: out.Compression},
		Columns:       out.Columns, PartitionKeys: out.PartitionKeys, TableType: TableTypeExternal,
		Properties: map[string]string{PropertyManifest: "true", PropertyClassification: out.Format},
	}
	for k, v := range out.Properties {
		want.Properties[k] = v
	}
	switch out.Format {
	case FormatCSV:
		want.FormatOptions[OptDelimiter] = ","
		want.FormatOptions[OptHeader] = "true"
	case FormatJSON:
		want.FormatOptions[OptJSONFormat] = "newline_delimited"
	}
	cur, err := c.GetTableTx(ctx, tx, out.Database, out.Name)
	switch {
	case errors.Is(err, ErrNoSuchTable) && out.Create:
		if err := c.CreateTableTx(ctx, tx, want); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if !cur.HasManifest() {
			return nil, fmt.Errorf("cannot publish to %q: it is not a table tarn writes (it lists its files from storage); write to a new table", full)
		}
		if cur.Location != out.Location {
			return nil, fmt.Errorf("cannot publish to %q: its location is %s, the output is written to %s", full, cur.Location, out.Location)
		}
		if changes := DiffSchemas(cur, want); len(changes) > 0 {
			if out.Mode == WriteOverwrite {
				want.Version, want.CreatedAt, want.Description = cur.Version, cur.CreatedAt, cur.Description
				for k, v := range cur.Properties {
					if _, ok := want.Properties[k]; !ok {
						want.Properties[k] = v
					}
				}
				if _, err := c.UpdateTableTx(ctx, tx, want, reason); err != nil {
					return nil, err
				}
			} else if out.Evolve != "" {
				evolved, err := EvolveSchema(cur, want)
				if err != nil {
					return nil, fmt.Errorf("cannot publish to %q: %w", full, err)
				}
				if _, err := c.UpdateTableTx(ctx, tx, evolved, out.Evolve); err != nil {
					return nil, err
				}
			} else {
				for _, ch := range changes {
					switch ch.Kind {
					case ChangeColumnAdded, ChangeColumnRemoved, ChangeTypeChanged, ChangePartitionKeys:
						return nil, fmt.Errorf("cannot publish to %q: %w: the output's schema differs from the table's: %s %s (%s -> %s); overwrite the table instead",
							full, ErrInvalidTable, ch.Kind, ch.Column, ch.From, ch.To)
					}
				}
			}
		}
	}
	replace := Replace{}
	switch out.Mode {
	case WriteOverwrite:
		replace.All = true
	case WriteOverwritePartitions:
		seen := map[string]bool{}
		for _, f := range files {
			if k := encodeValues(f.Values); f.Values != nil && !seen[k] {
				seen[k] = true
				replace.Partitions = append(replace.Partitions, f.Values)
			}
		}
	}
	return c.PublishFilesTx(ctx, tx, out.Database, out.Name, files, replace)
}

// EvolveSchema returns cur with the schema changes an append of output may
// make: output columns cur lacks are added after cur's columns, and a
// column whose output type is wider by WidenTypes takes that type. Every
// older file still reads: readers match columns by name, read a column a
// file lacks as NULL and cast narrower values up. A column the output
// lacks or narrows, other partition keys or another format cannot be
// appended without rewriting the table's files: the error (ErrInvalidTable)
// names each problem and the SQL or mode that resolves it.
func EvolveSchema(cur, output Table) (Table, error) {
	byName := make(map[string]Column, len(output.Columns))
	for _, c := range output.Columns {
		byName[strings.ToLower(c.Name)] = c
	}
	var problems []string
	next := cur
	next.Columns = make([]Column, 0, len(cur.Columns)+len(output.Columns))
	kept := map[string]bool{}
	for _, c := range cur.Columns {
		kept[strings.ToLower(c.Name)] = true
		have := canonical(c.Type)
		duck := duckName(c.Type)
		o, ok := byName[strings.ToLower(c.Name)]
		if !ok {
			problems = append(problems, fmt.Sprintf("column %s (%s) is not in the output: keep it in the SQL as NULL::%s AS %s",
				c.Name, have, duck, sqlName(c.Name)))
			next.Columns = append(next.Columns, c)
			continue
		}
		got := canonical(o.Type)
		switch wide := WidenTypes(have, got); {
		case got == have:
		case wide == got:
			c.Type = got // widened: older files' values cast up
		default:
			fix := fmt.Sprintf("CAST(%s AS %s) in the SQL keeps the table's type", sqlName(c.Name), duck)
			if wide != have {
				fix += fmt.Sprintf(", CAST(%s AS %s) widens it", sqlName(c.Name), duckName(wide))
			}
			problems = append(problems, fmt.Sprintf("column %s is %s in the table and %s in the output, which would narrow it: %s",
				c.Name, have, got, fix))
		}
		next.Columns = append(next.Columns, c)
	}
	for _, o := range output.Columns {
		if !kept[strings.ToLower(o.Name)] {
			next.Columns = append(next.Columns, Column{Name: o.Name, Type: canonical(o.Type), Comment: o.Comment})
		}
	}
	if from, to := strings.ToLower(ColumnList(cur.PartitionKeys)), strings.ToLower(ColumnList(output.PartitionKeys)); from != to {
		fix := "write it unpartitioned (no partition_by)"
		if from != "" {
			fix = "partition the output by " + ColumnList(cur.PartitionKeys)
		}
		problems = append(problems, fmt.Sprintf("the output is partitioned by (%s), the table by (%s): %s", to, from, fix))
	} else {
		next.PartitionKeys = slices.Clone(cur.PartitionKeys)
		for i, k := range cur.PartitionKeys {
			have, got := canonical(k.Type), canonical(output.PartitionKeys[i].Type)
			if got != have && WidenTypes(have, got) == got {
				next.PartitionKeys[i].Type = got
			}
		}
	}
	if !strings.EqualFold(cur.Format, output.Format) {
		problems = append(problems, fmt.Sprintf("the output is %s, the table %s: write %s", output.Format, cur.Format, cur.Format))
	}
	if len(problems) > 0 {
		return Table{}, fmt.Errorf("%w: the output's schema does not fit the table's (new columns are added and types widened, never narrowed or dropped): %s; "+
			"or run the job with mode overwrite (--mode overwrite) to replace the table's rows and schema",
			ErrInvalidTable, strings.Join(problems, "; "))
	}
	return next, nil
}

// sqlName is a column name as a user would write it in SQL.
func sqlName(name string) string {
	if isPlainIdent(name) {
		return name
	}
	return QuoteDuckDBIdent(name)
}

// duckName is a Hive type's DuckDB spelling, for SQL in messages.
func duckName(hive string) string {
	t, err := ParseType(hive)
	if err != nil {
		return hive
	}
	return t.DuckDB()
}

// Garbage is a file a publish replaced, with the ETag it had then: an
// object written at the same key since is not the garbage.
type Garbage struct {
	URI  string
	ETag string
}

// Garbage lists up to limit files replaced before cutoff (see
// PublishFilesTx), oldest first.
func (c *Catalog) Garbage(ctx context.Context, cutoff time.Time, limit int) ([]Garbage, error) {
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT uri, etag FROM catalog_garbage WHERE removed_at < ? ORDER BY removed_at LIMIT ?`,
		meta.FormatTime(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot list replaced files: %w", err)
	}
	defer rows.Close()
	var out []Garbage
	for rows.Next() {
		var g Garbage
		if err := rows.Scan(&g.URI, &g.ETag); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// ForgetGarbage removes files from the garbage list once they are deleted.
func (c *Catalog) ForgetGarbage(ctx context.Context, uris []string) error {
	return c.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, u := range uris {
			if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_garbage WHERE uri = ?`, u); err != nil {
				return fmt.Errorf("cannot forget replaced file %s: %w", u, err)
			}
		}
		return nil
	})
}

// ForgetFilesTx makes a manifest table an ordinary one, in tx: its file
// list is dropped (the files stay in storage, nothing is collected) and its
// PropertyManifest removed, so readers list its location again. The Glue
// API does this when a client points a table tarn wrote at another
// location (dbt-athena's ha swap): the table is then that location's files.
func (c *Catalog) ForgetFilesTx(ctx context.Context, tx *sql.Tx, db, table string) error {
	full := fullName(db, table)
	id, _, err := getTable(ctx, tx, db, table)
	if err != nil {
		return fmt.Errorf("cannot forget the files of %q: %w", full, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_files WHERE table_id = ?`, id); err != nil {
		return fmt.Errorf("cannot forget the files of %q: %w", full, err)
	}
	return nil
}
