package jobs

// Warehouse targets. A job whose target is warehouse://schema.table inserts
// its rows into that warehouse table (Glue's job writing to Redshift through
// a connection). Two databases are involved: the warehouse (a DuckDB file)
// holds the rows, the metadata database (SQLite or PostgreSQL) holds the run
// and the bookmark. They cannot commit together, so a run commits in this
// order:
//
//  1. One DuckDB transaction: (DELETE for overwrite,) INSERT ... SELECT of
//     the job's SQL, the rows-read/rejected accounting and the max_rejected
//     check, and a row in warehouse.tarn.job_loads holding the run id, its
//     figures and the bookmark entries (source, URI, ETag) of the files it
//     read. A failure anywhere here rolls everything back: the table is
//     unchanged and the bookmark has not moved.
//  2. One metadata transaction: the bookmark and the run's SUCCEEDED state.
//  3. The job_loads row is marked recorded.
//
// The DuckDB commit is the commit point. A crash (or a metadata failure)
// between 1 and 2 leaves a job_loads row not recorded: before every run of a
// warehouse job, and when tarn opens the lake, reconcileLoads rolls such a
// row forward (bookmark from the row, run SUCCEEDED), so a retry never
// loads the same files twice. Rolling back instead (deleting the run's rows)
// would need a batch column in the user's table and cannot undo an
// overwrite.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// WarehouseScheme starts a warehouse target: warehouse://schema.table.
const WarehouseScheme = "warehouse://"

// loadsTable is tarn's record of warehouse loads, in the warehouse's
// reserved schema so it commits with the rows.
const loadsTable = engine.WarehouseCatalog + "." + engine.SystemSchema + ".job_loads"

var loadsDDL = `CREATE TABLE IF NOT EXISTS ` + loadsTable + ` (
	run_id VARCHAR NOT NULL, job VARCHAR NOT NULL, target VARCHAR NOT NULL, mode VARCHAR NOT NULL,
	rows_inserted BIGINT NOT NULL, stats VARCHAR NOT NULL, bookmarks VARCHAR NOT NULL,
	committed_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP)`

// afterWarehouseCommit, if set (tests), runs between the warehouse commit
// and the metadata commit; an error stands for a failure there.
var afterWarehouseCommit func(runID string) error

func isWarehouseTarget(t string) bool {
	return len(t) >= len(WarehouseScheme) && strings.EqualFold(t[:len(WarehouseScheme)], WarehouseScheme)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// reservedSchemas cannot be a job's target.
var reservedSchemas = map[string]bool{engine.SystemSchema: true, "pg_catalog": true, "information_schema": true, "main": true, "temp": true}

// whTable is a warehouse table a job loads.
type whTable struct{ Schema, Name string }

func (t whTable) String() string { return t.Schema + "." + t.Name }

func (t whTable) sql() string {
	return engine.WarehouseCatalog + "." + engine.QuoteIdent(t.Schema) + "." + engine.QuoteIdent(t.Name)
}

// parseWarehouseTarget parses warehouse://[schema.]table (schema public by
// default, as in Redshift).
func parseWarehouseTarget(target string) (whTable, error) {
	rest := strings.TrimSuffix(target[len(WarehouseScheme):], "/")
	schema, name, ok := strings.Cut(rest, ".")
	if !ok {
		schema, name = engine.PublicSchema, rest
	}
	if !identRE.MatchString(schema) || !identRE.MatchString(name) {
		return whTable{}, fmt.Errorf("%q must be warehouse://schema.table (letters, digits and '_')", target)
	}
	t := whTable{Schema: strings.ToLower(schema), Name: strings.ToLower(name)}
	if reservedSchemas[t.Schema] {
		return whTable{}, fmt.Errorf("schema %q is reserved", t.Schema)
	}
	return t, nil
}

// warehouseTarget returns the table of a validated spec with a warehouse
// target.
func (s *Spec) warehouseTarget() (whTable, bool) {
	if !isWarehouseTarget(s.Target) {
		return whTable{}, false
	}
	t, err := parseWarehouseTarget(s.Target)
	return t, err == nil
}

// validateWarehouseTarget checks the fields of a warehouse target and
// refuses the file-output ones. The CLI sends its flag defaults (format
// parquet, 128 MiB files) whether given or not, so those two values count
// as not set.
func (s *Spec) validateWarehouseTarget(bad func(field, format string, args ...any) error) error {
	t, err := parseWarehouseTarget(s.Target)
	if err != nil {
		return bad("target", "%v", err)
	}
	s.Target = WarehouseScheme + t.String()
	const why = "a warehouse target is a table, not files"
	if len(s.PartitionBy) > 0 {
		return bad("partition_by", "%s: rows are inserted into %s (sort or distribute it with its SORTKEY/DISTKEY)", why, t)
	}
	if f := strings.ToLower(s.Format); f != "" && f != "parquet" {
		return bad("format", "%s: %q does not apply to %s", why, s.Format, s.Target)
	}
	if s.Compression != "" {
		return bad("compression", "%s: %q does not apply to %s", why, s.Compression, s.Target)
	}
	if s.FileSize != 0 && s.FileSize != engine.DefaultFileSize {
		return bad("file_size", "%s: it does not apply to %s", why, s.Target)
	}
	if s.Table != "" {
		return bad("table", "%s is already a table; table registers s3:// output in the catalog", s.Target)
	}
	s.Format, s.Compression, s.FileSize = "", "", 0
	if s.Mode == "" {
		s.Mode = ModeAppend
	}
	switch s.Mode {
	case ModeAppend, ModeOverwrite:
	case ModeOverwritePartitions:
		return bad("mode", "overwrite-partitions is for partitioned s3:// output; a warehouse target takes append or overwrite")
	default:
		return bad("mode", "%q is not one of append, overwrite", s.Mode)
	}
	return nil
}

// targetColumn is a column of the target table.
type targetColumn struct {
	Name, Type string
	Required   bool // NOT NULL without a default
}

// targetColumns returns a warehouse table's columns, or ErrInvalidTarget
// when it is missing or not a plain table.
func targetColumns(ctx context.Context, sess *engine.Session, t whTable) ([]targetColumn, error) {
	rels, err := sess.WarehouseRelations(ctx)
	if err != nil {
		return nil, err
	}
	switch rels.Kind(t.Schema, t.Name) {
	case engine.KindTable:
	case "":
		hint := fmt.Sprintf("CREATE TABLE %s (...) first", t)
		if !rels.Schemas[t.Schema] {
			hint = fmt.Sprintf("there is no schema %q either: CREATE SCHEMA %s; CREATE TABLE %s (...) first", t.Schema, t.Schema, t)
		}
		return nil, fmt.Errorf("%w: target: no warehouse table %s (%s)", ErrInvalidTarget, t, hint)
	default:
		return nil, fmt.Errorf("%w: target: warehouse %s is a view, not a table", ErrInvalidTarget, t)
	}
	var mv int
	if err := sess.Conn().QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = 'materialized_views'`,
		engine.WarehouseCatalog, engine.SystemSchema).Scan(&mv); err != nil {
		return nil, err
	}
	if mv > 0 {
		if err := sess.Conn().QueryRowContext(ctx, `SELECT count(*) FROM warehouse.tarn.materialized_views WHERE lower(schema_name) = ? AND lower(view_name) = ?`,
			t.Schema, t.Name).Scan(&mv); err != nil {
			return nil, err
		}
		if mv > 0 {
			return nil, fmt.Errorf("%w: target: warehouse %s is a materialized view (REFRESH MATERIALIZED VIEW it instead)", ErrInvalidTarget, t)
		}
	}
	rows, err := sess.Conn().QueryContext(ctx, `SELECT column_name, data_type, NOT is_nullable AND column_default IS NULL FROM duckdb_columns()
		WHERE database_name = ? AND lower(schema_name) = ? AND lower(table_name) = ? ORDER BY column_index`, engine.WarehouseCatalog, t.Schema, t.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []targetColumn
	for rows.Next() {
		var c targetColumn
		if err := rows.Scan(&c.Name, &c.Type, &c.Required); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// outputColumns returns the names and DuckDB types of a bound query's
// result columns.
func outputColumns(ctx context.Context, sess *engine.Session, query string) (names, types []string, err error) {
	rows, err := sess.Conn().QueryContext(ctx, "DESCRIBE "+query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		n, _ := vals[0].(string)
		typ, _ := vals[1].(string)
		names = append(names, n)
		types = append(types, typ)
	}
	return names, types, rows.Err()
}

// typeFamily groups DuckDB types whose values an INSERT converts without
// surprise (a value out of range still fails the run).
func typeFamily(t string) string {
	t = strings.ToUpper(strings.TrimSpace(t))
	if i := strings.IndexByte(t, '('); i > 0 && !strings.HasPrefix(t, "STRUCT") && !strings.HasPrefix(t, "MAP") && !strings.HasPrefix(t, "UNION") {
		t = t[:i] // DECIMAL(18,3), VARCHAR(10)
	}
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
		"FLOAT", "REAL", "DOUBLE", "DECIMAL", "NUMERIC", "VARINT", "BIGNUM":
		return "number"
	case "VARCHAR", "CHAR", "TEXT", "STRING":
		return "text"
	case "DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "DATETIME":
		return "datetime"
	case "TIME", "TIME WITH TIME ZONE", "TIMETZ":
		return "time"
	}
	return t // BOOLEAN, BLOB, INTERVAL, UUID, nested types: themselves only
}

// fits reports whether a column of type src can be inserted into one of
// type dst: the same family, anything into text, or an untyped NULL.
func fits(src, dst string) bool {
	fs, fd := typeFamily(src), typeFamily(dst)
	return fs == fd || fd == "text" || fs == "NULL"
}

// matchColumns maps the job's output columns to the target's by name (case
// insensitively) and returns the insert's column list. Every problem is
// reported at once, each naming its column.
func matchColumns(t whTable, table []targetColumn, names, types []string) (tableCols []string, err error) {
	byName := map[string]targetColumn{}
	var all []string
	for _, c := range table {
		byName[strings.ToLower(c.Name)] = c
		all = append(all, c.Name)
	}
	var problems, missing []string
	seen := map[string]bool{}
	for i, n := range names {
		ln := strings.ToLower(n)
		if seen[ln] {
			problems = append(problems, fmt.Sprintf("the SQL has two columns named %q (alias one)", n))
			continue
		}
		seen[ln] = true
		c, ok := byName[ln]
		if !ok {
			missing = append(missing, fmt.Sprintf("%q", n))
			continue
		}
		if !fits(types[i], c.Type) {
			problems = append(problems, fmt.Sprintf("column %q is %s in the table but %s in the SQL (CAST it in the SQL)", c.Name, c.Type, types[i]))
		}
		tableCols = append(tableCols, c.Name)
	}
	if len(missing) > 0 {
		problems = append([]string{fmt.Sprintf("the table has no column %s (it has %s)", strings.Join(missing, ", "), strings.Join(all, ", "))}, problems...)
	}
	for _, c := range table {
		if c.Required && !seen[strings.ToLower(c.Name)] {
			problems = append(problems, fmt.Sprintf("column %q is NOT NULL without a default and the SQL does not produce it", c.Name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: target: the SQL's output does not fit warehouse table %s: %s", ErrInvalidTarget, t, strings.Join(problems, "; "))
	}
	return tableCols, nil
}

// checkWarehouseTarget checks that a job's target table exists and, when
// its SQL could be bound (boundSQL != ""), that the output fits it.
func (s *Service) checkWarehouseTarget(ctx context.Context, sess *engine.Session, t whTable, boundSQL string) error {
	if err := s.eng.HasWarehouse(); err != nil {
		return fmt.Errorf("cannot check target warehouse://%s: %w", t, err)
	}
	cols, err := targetColumns(ctx, sess, t)
	if err != nil || boundSQL == "" {
		return err
	}
	names, types, err := outputColumns(ctx, sess, boundSQL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	_, err = matchColumns(t, cols, names, types)
	return err
}

// loadBookmark is one file a load read, as job_loads keeps it.
type loadBookmark struct {
	Source string `json:"source"`
	URI    string `json:"uri"`
	ETag   string `json:"etag"`
}

// load inserts the bound query's rows into the job's warehouse table and
// records the run, in the order the file comment describes.
func (s *Service) load(ctx context.Context, sess *engine.Session, spec Spec, t whTable, b *engine.Bound, parquetFiles []string, run *Run, logf func(string, ...any)) error {
	if err := s.eng.HasWarehouse(); err != nil {
		return fmt.Errorf("%w: cannot load warehouse://%s: %w", ErrInvalidTarget, t, err)
	}
	conn := sess.Conn()
	cols, err := targetColumns(ctx, sess, t)
	if err != nil {
		return err
	}
	names, types, err := outputColumns(ctx, sess, b.SQL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	tableCols, err := matchColumns(t, cols, names, types)
	if err != nil {
		return err
	}
	quote := func(list []string) string {
		q := make([]string, len(list))
		for i, c := range list {
			q[i] = engine.QuoteIdent(c)
		}
		return strings.Join(q, ", ")
	}
	insert := "INSERT INTO " + t.sql() + " (" + quote(tableCols) + ") "
	var marks []loadBookmark
	for _, sc := range b.Scans {
		for _, f := range sc.Files {
			marks = append(marks, loadBookmark{Source: sc.Table.FullName(), URI: f.URI, ETag: f.ETag})
		}
	}
	// An overwrite whose SQL reads the table it replaces stages its rows
	// first, so the DELETE does not empty its own input.
	readsTarget := false
	for _, r := range b.Relations {
		readsTarget = readsTarget || strings.EqualFold(r, t.String())
	}
	staged := "__tarn_job_" + strings.NewReplacer("-", "_").Replace(run.ID)

	bg := context.WithoutCancel(ctx)
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = conn.ExecContext(bg, "ROLLBACK")
		}
	}()
	exec := func(q string) (int64, error) {
		res, err := conn.ExecContext(ctx, q)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		return n, nil
	}
	deadLetters := func(rej []engine.Rejected) (storage.URI, error) {
		// Next to the source, as a warehouse COPY keeps them:
		// <source table location>/_rejected/<run id>/rejected.jsonl.
		for _, sc := range b.Scans {
			for _, f := range sc.Files {
				if f.URI == rej[0].File || f.Path == rej[0].File {
					return storage.ParseURI(sc.Table.Location)
				}
			}
		}
		return storage.ParseURI(b.Scans[0].Table.Location)
	}
	src := "SELECT " + quote(names) + " FROM (" + b.SQL + ") AS __tarn_job_output"
	if spec.Mode == ModeOverwrite && readsTarget {
		if _, err := exec("CREATE TEMP TABLE " + staged + " AS SELECT * FROM (" + src + ") LIMIT 0"); err != nil {
			return err
		}
		if run.Stats.RowsWritten, err = exec("INSERT INTO temp.main." + staged + " " + src); err != nil {
			return err
		}
		if err := s.account(ctx, sess, b, parquetFiles, run, deadLetters, logf); err != nil {
			return err
		}
		if _, err := exec("DELETE FROM " + t.sql()); err != nil {
			return err
		}
		if run.Stats.RowsWritten, err = exec(insert + "SELECT * FROM temp.main." + staged); err != nil {
			return err
		}
		if _, err := exec("DROP TABLE temp.main." + staged); err != nil {
			return err
		}
		logf("overwrite: replaced the rows of warehouse table %s with %d rows", t, run.Stats.RowsWritten)
	} else {
		if spec.Mode == ModeOverwrite {
			n, err := exec("DELETE FROM " + t.sql())
			if err != nil {
				return err
			}
			logf("overwrite: %d rows of %s deleted (in the load's transaction)", n, t)
		}
		if run.Stats.RowsWritten, err = exec(insert + src); err != nil {
			return err
		}
		logf("inserted %d rows into warehouse table %s", run.Stats.RowsWritten, t)
		if err := s.account(ctx, sess, b, parquetFiles, run, deadLetters, logf); err != nil {
			return err
		}
	}
	if err := s.checkRejected(spec, run); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	run.State = StateSucceeded
	run.EndedAt = time.Now().UTC()
	stats, _ := json.Marshal(run.Stats)
	if !spec.Bookmarks {
		marks = nil // a job without bookmarks reads everything every run
	}
	bm, _ := json.Marshal(marks)
	if _, err := conn.ExecContext(ctx, `INSERT INTO `+loadsTable+` (run_id, job, target, mode, rows_inserted, stats, bookmarks, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, spec.Name, spec.Target, spec.Mode, run.Stats.RowsWritten, string(stats), string(bm), run.EndedAt); err != nil {
		return fmt.Errorf("cannot record the load: %w", err)
	}
	// From here the outcome must not depend on a stop or timeout arriving:
	// COMMIT either happens or not, and its result is checked.
	if _, err := conn.ExecContext(bg, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(bg, "ROLLBACK")
		committed = true
		var n int
		if qerr := conn.QueryRowContext(bg, `SELECT count(*) FROM `+loadsTable+` WHERE run_id = ?`, run.ID).Scan(&n); qerr != nil || n == 0 {
			run.State = StateRunning
			return fmt.Errorf("cannot commit the load into %s: %w", t, err)
		}
	}
	committed = true
	logf("committed to the warehouse; recording the run")
	if afterWarehouseCommit != nil {
		if err := afterWarehouseCommit(run.ID); err != nil {
			return fmt.Errorf("%w: %w", ErrLoadNotRecorded, err)
		}
	}
	if err := s.recordLoad(bg, spec.Name, run, marks); err != nil {
		return fmt.Errorf("%w: run %s loaded %d rows into %s, but recording it failed (tarn records it before the next run of %s): %w",
			ErrLoadNotRecorded, run.ID, run.Stats.RowsWritten, t, spec.Name, err)
	}
	s.markRecorded(bg, sess, run.ID)
	return nil
}

// recordLoad is the metadata commit of a load: the bookmark and the run's
// state, in one transaction. It is idempotent. A transient failure is
// retried a few times, since the rows are already committed.
func (s *Service) recordLoad(ctx context.Context, job string, run *Run, marks []loadBookmark) error {
	var err error
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		}
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			for _, m := range marks {
				if _, err := tx.ExecContext(ctx, `INSERT INTO job_bookmarks (job, source, uri, etag, run_id) VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (job, source, uri) DO UPDATE SET etag = excluded.etag, run_id = excluded.run_id`,
					job, m.Source, m.URI, m.ETag, run.ID); err != nil {
					return err
				}
			}
			return s.saveRunTx(ctx, tx, run)
		})
		if err == nil {
			return nil
		}
	}
	return err
}

func (s *Service) markRecorded(ctx context.Context, sess *engine.Session, runID string) {
	_, _ = sess.Conn().ExecContext(ctx, `UPDATE `+loadsTable+` SET recorded_at = ? WHERE run_id = ?`, time.Now().UTC(), runID)
}

// prepareLoads creates the load record table when the warehouse is
// attached.
func (s *Service) prepareLoads(ctx context.Context) error {
	if s.eng.HasWarehouse() != nil {
		return nil
	}
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	if _, err := sess.Conn().ExecContext(ctx, loadsDDL); err != nil {
		return fmt.Errorf("cannot prepare the warehouse load records: %w", err)
	}
	return nil
}

// reconcileLoads finishes recording warehouse loads that committed but
// whose run and bookmark were not recorded (the process died, or the
// metadata database failed, between the two commits): the bookmark is
// advanced from the load record and the run marked SUCCEEDED. Runs still
// in progress are left alone. job "" means every job. Without an attached
// warehouse there is nothing to see.
func (s *Service) reconcileLoads(ctx context.Context, job string) error {
	if s.eng.HasWarehouse() != nil {
		return nil
	}
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	q := `SELECT run_id, job, target, stats, bookmarks, committed_at FROM ` + loadsTable + ` WHERE recorded_at IS NULL`
	args := []any{}
	if job != "" {
		q += ` AND job = ?`
		args = append(args, job)
	}
	type pending struct {
		id, job, target, stats, marks string
		at                            time.Time
	}
	var todo []pending
	rows, err := sess.Conn().QueryContext(ctx, q+` ORDER BY committed_at`, args...)
	if err != nil {
		return fmt.Errorf("cannot read warehouse load records: %w", err)
	}
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.job, &p.target, &p.stats, &p.marks, &p.at); err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range todo {
		s.mu.Lock()
		_, inFlight := s.cancels[p.id]
		s.mu.Unlock()
		if inFlight {
			continue // between its two commits right now
		}
		var state, owner, log string
		err := s.db.SQL().QueryRowContext(ctx, `SELECT state, owner, log FROM job_runs WHERE id = ?`, p.id).Scan(&state, &owner, &log)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// The job (and its runs) was deleted: nothing to record.
			s.markRecorded(ctx, sess, p.id)
			continue
		case err != nil:
			return err
		case state == StateSucceeded:
			s.markRecorded(ctx, sess, p.id)
			continue
		case (state == StateStarting || state == StateRunning) && runs.OwnerLive(owner):
			continue // another live process's run
		}
		var marks []loadBookmark
		_ = json.Unmarshal([]byte(p.marks), &marks)
		run := Run{ID: p.id, State: StateSucceeded, EndedAt: p.at.UTC()}
		_ = json.Unmarshal([]byte(p.stats), &run.Stats)
		if log != "" {
			run.Log = strings.Split(log, "\n")
		}
		run.Log = append(run.Log, time.Now().UTC().Format("15:04:05.000")+" "+fmt.Sprintf(
			"recovered: the load into %s committed in the warehouse at %s (%d rows) but the run was left %s; recorded it as SUCCEEDED and advanced the bookmark by %d files",
			p.target, p.at.UTC().Format(time.RFC3339), run.Stats.RowsWritten, state, len(marks)))
		if err := s.recordLoad(ctx, p.job, &run, marks); err != nil {
			return fmt.Errorf("cannot record warehouse load of run %s: %w", p.id, err)
		}
		s.markRecorded(ctx, sess, p.id)
	}
	return nil
}
