package warehouse

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/storage"
)

// COPY loads files into a warehouse table with DuckDB's own readers, in one
// INSERT ... SELECT inside a transaction. Rows that do not parse or whose
// values do not fit their column types are rejected: stored as JSON lines
// next to the source (like a job's dead letters) and as rows of
// stl_load_errors. As in Redshift, more rejected rows than MAXERROR (0 by
// default) fail the COPY and load nothing; the errors are kept either way.

type tableColumn struct {
	Name, Type string
	Identity   bool
}

// columns returns a warehouse table's columns in order.
func (x *execution) columns(t name) ([]tableColumn, error) {
	rows, err := x.conn.QueryContext(x.ctx, `SELECT column_name, data_type, coalesce(column_default, '') FROM duckdb_columns()
		WHERE database_name = 'warehouse' AND schema_name = ? AND table_name = ? ORDER BY column_index`, t.Schema, t.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tableColumn
	for rows.Next() {
		var c tableColumn
		var def string
		if err := rows.Scan(&c.Name, &c.Type, &def); err != nil {
			return nil, err
		}
		c.Identity = strings.HasPrefix(strings.ToLower(def), "nextval(")
		out = append(out, c)
	}
	return out, rows.Err()
}

// loadColumns are the columns a COPY fills: its column list, or every
// column but IDENTITY ones (unless EXPLICIT_IDS).
func loadColumns(all []tableColumn, list []string, explicitIDs bool) ([]tableColumn, error) {
	if len(list) == 0 {
		var out []tableColumn
		for _, c := range all {
			if !c.Identity || explicitIDs {
				out = append(out, c)
			}
		}
		return out, nil
	}
	var out []tableColumn
	for _, n := range list {
		found := false
		for _, c := range all {
			if strings.EqualFold(c.Name, n) {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: column %q is not in the table", ErrNoSuchObject, n)
		}
	}
	return out, nil
}

// sortKey is the order COPY inserts rows in: the table's SORTKEY with
// Config.SortOnLoad, else none.
func (x *execution) sortKey(t name) []string {
	if !x.w.cfg.SortOnLoad {
		return nil
	}
	var key []any
	_ = x.conn.QueryRowContext(x.ctx, `SELECT sort_key FROM warehouse.tarn.tables WHERE schema_name = ? AND table_name = ?`, t.Schema, t.Name).Scan(&key)
	var out []string
	for _, k := range key {
		if s, ok := k.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// rejectedRow is one rejected row, as stored in the dead letters (the same
// fields as a job's) and in stl_load_errors.
type rejectedRow struct {
	engine.Rejected
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
}

var copySeq atomic.Int64

func (x *execution) copy(s copyStmt) (Result, error) {
	t, err := x.writable(s.Target)
	if err != nil {
		return Result{}, err
	}
	all, err := x.columns(t)
	if err != nil {
		return Result{}, err
	}
	cols, err := loadColumns(all, s.Columns, s.ExplicitIDs)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if s.FromTable != nil {
		return x.copyFromTable(s, t, cols, start)
	}
	src, err := storage.ParseURI(s.From)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if err := x.env.allow("s3:GetObject", "", "", src.String()); err != nil {
		return Result{}, err
	}
	dir := src
	if i := strings.LastIndex(src.Key, "/"); i >= 0 {
		dir.Key = src.Key[:i+1]
	} else {
		dir.Key = ""
	}
	store := x.w.eng.Store()
	var paths []string
	byPath := map[string]string{}
	for o, err := range storage.Walk(x.ctx, store, src.Bucket, src.Key) {
		if err != nil {
			return Result{}, fmt.Errorf("cannot list %s: %w", src, err)
		}
		if !engine.IsDataFile(strings.TrimPrefix(o.Key, dir.Key), o.Size) {
			continue
		}
		p, cleanup, err := x.w.eng.LocalPath(x.ctx, o.Bucket, o.Key)
		if err != nil {
			return Result{}, fmt.Errorf("cannot read %s: %w", o.URI(), err)
		}
		defer cleanup()
		if s.Format == "json" {
			if err := x.w.eng.CheckJSONFile(x.ctx, p); err != nil {
				return Result{}, fmt.Errorf("%w: cannot read %s: %v", ErrLoadFailed, o.URI(), err)
			}
		} else if s.Format != "parquet" {
			// DuckDB's CSV reader ends a truncated gzip file without an error.
			if err := engine.CheckCompressedFile(x.ctx, p); err != nil {
				return Result{}, fmt.Errorf("%w: cannot read %s: %w", ErrLoadFailed, o.URI(), err)
			}
		}
		paths = append(paths, p)
		byPath[p] = o.URI()
	}
	if len(paths) == 0 {
		return Result{}, fmt.Errorf("%w: no files match the prefix %s", ErrLoadFailed, src)
	}
	var list []string
	for _, p := range paths {
		list = append(list, quoteString(p))
	}
	files := "[" + strings.Join(list, ", ") + "]"
	key := x.sortKey(t)
	insert := "INSERT INTO " + sqlName(t) + " (" + colNames(cols) + ") "
	var rejected []rejectedRow
	var rows int64
	load := func(fn func() error) error {
		return x.tx(func() error {
			if err := fn(); err != nil {
				return err
			}
			if int64(len(rejected)) > s.MaxError {
				return errTooMany
			}
			return nil
		})
	}
	switch s.Format {
	case "csv", "text":
		prefix := fmt.Sprintf("__tarn_copy_%d", copySeq.Add(1))
		defer func() {
			ctx := context.WithoutCancel(x.ctx)
			_, _ = x.conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp."+prefix+"_errors")
			_, _ = x.conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp."+prefix+"_scans")
		}()
		parallel := true
		for attempt := 0; attempt < 2; attempt++ {
			rejected = nil
			q := "SELECT * FROM " + csvScan(s, cols, files, prefix, parallel)
			err = load(func() error {
				var err error
				if rows, err = x.exec(insert + sorted(q, key)); err != nil {
					return err
				}
				rejected, err = x.csvRejects(prefix, cols, byPath)
				return err
			})
			if engine.IsSerialCSVError(err) && parallel {
				parallel = false
				continue
			}
			break
		}
	case "parquet", "json":
		rejected, rows, err = x.copyTyped(s, t, cols, files, insert, key, byPath, load)
	default:
		return Result{}, fmt.Errorf("%w: format %s", ErrUnsupported, s.Format)
	}
	return x.finishLoad(s, t, src, dir, start, rows, rejected, err)
}

var errTooMany = errors.New("too many rejected rows")

// finishLoad records rejected rows (whether or not the load committed) and
// turns the outcome into a result.
func (x *execution) finishLoad(s copyStmt, t name, src, dir storage.URI, start time.Time, rows int64, rejected []rejectedRow, err error) (Result, error) {
	if err != nil && !errors.Is(err, errTooMany) {
		return Result{}, fmt.Errorf("cannot load %s: %w", t, wrapDuck(err))
	}
	res := Result{Rows: rows, HasRows: true, Copy: true, Rejected: int64(len(rejected))}
	if len(rejected) > 0 {
		if rerr := x.recordRejects(t, dir, start, rejected, &res); rerr != nil {
			return Result{}, rerr
		}
	}
	if errors.Is(err, errTooMany) {
		return Result{}, fmt.Errorf("%w: load into table %s failed: %d rows rejected, more than MAXERROR %d; see stl_load_errors (query '%s') and %s",
			ErrLoadFailed, t, len(rejected), s.MaxError, x.env.QueryID, res.RejectedURI)
	}
	if err := x.autoRefresh(t); err != nil {
		return Result{}, err
	}
	return res, nil
}

// csvScan is the read_csv call of a CSV or text COPY.
func csvScan(s copyStmt, cols []tableColumn, files, prefix string, parallel bool) string {
	var colDefs []string
	var notNull []string
	for _, c := range cols {
		colDefs = append(colDefs, quoteString(c.Name)+": "+quoteString(c.Type))
		if !s.EmptyNull && strings.HasPrefix(strings.ToUpper(c.Type), "VARCHAR") {
			notNull = append(notNull, quoteString(c.Name))
		}
	}
	delim, quote, escape := "|", "", ""
	if s.Format == "csv" {
		delim, quote, escape = ",", `"`, `"`
	}
	if s.Delimiter != "" {
		delim = s.Delimiter
	}
	if s.Quote != "" {
		quote, escape = s.Quote, s.Quote
	}
	if s.Escape {
		escape = `\`
	}
	opts := []string{
		"columns = {" + strings.Join(colDefs, ", ") + "}",
		"header = false",
		"auto_detect = false",
		"delim = " + quoteString(delim),
		"quote = " + quoteString(quote),
		"escape = " + quoteString(escape),
		"store_rejects = true",
		"rejects_table = " + quoteString(prefix+"_errors"),
		"rejects_scan = " + quoteString(prefix+"_scans"),
		"rejects_limit = 0",
		// Redshift maps fields to columns, never folder names: DuckDB
		// would add year and month of a sales/year=2025/month=01/ prefix.
		"hive_partitioning = false",
	}
	if s.Header > 0 {
		opts = append(opts, fmt.Sprintf("skip = %d", s.Header))
	}
	if s.Null != nil {
		opts = append(opts, "nullstr = "+quoteString(*s.Null))
	} else if len(notNull) > 0 {
		// Redshift loads an empty field of a text column as '' (NULL
		// only with EMPTYASNULL) and of other columns as NULL.
		opts = append(opts, "force_not_null = ["+strings.Join(notNull, ", ")+"]")
	}
	if f := s.TimeFmt; f != "" && !strings.EqualFold(f, "auto") {
		opts = append(opts, "timestampformat = "+quoteString(strptimeFormat(f)))
	}
	if f := s.DateFmt; f != "" && !strings.EqualFold(f, "auto") {
		opts = append(opts, "dateformat = "+quoteString(strptimeFormat(f)))
	}
	if s.FillRec {
		opts = append(opts, "null_padding = true")
	}
	if !parallel {
		opts = append(opts, "parallel = false")
	}
	if s.Compress != "" {
		opts = append(opts, "compression = "+quoteString(s.Compress))
	}
	return "read_csv(" + files + ", " + strings.Join(opts, ", ") + ")"
}

// strptimeFormat converts a Redshift TIMEFORMAT/DATEFORMAT to strptime's.
func strptimeFormat(f string) string {
	repl := strings.NewReplacer(
		"YYYY", "%Y", "YY", "%y", "MON", "%b", "MM", "%m", "DD", "%d",
		"HH24", "%H", "HH12", "%I", "HH", "%H", "MI", "%M", "SS", "%S",
		".US", ".%f", ".MS", ".%g", "AM", "%p", "PM", "%p", "TZH", "%z",
	)
	return repl.Replace(f)
}

// csvRejects reads the rows read_csv rejected (one per line, with all its
// errors), mapping local paths back to s3:// URIs.
func (x *execution) csvRejects(prefix string, cols []tableColumn, byPath map[string]string) ([]rejectedRow, error) {
	var n int
	if err := x.conn.QueryRowContext(x.ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = 'temp' AND table_name = ?`, prefix+"_errors").Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	types := map[string]string{}
	for _, c := range cols {
		types[c.Name] = c.Type
	}
	rows, err := x.conn.QueryContext(x.ctx, engine.RejectsSQL("temp."+prefix+"_errors", "temp."+prefix+"_scans"))
	if err != nil {
		return nil, fmt.Errorf("cannot read rejected rows: %w", err)
	}
	defer rows.Close()
	var out []rejectedRow
	for rows.Next() {
		var r rejectedRow
		if err := rows.Scan(&r.File, &r.Line, &r.Column, &r.Error, &r.Kind, &r.Content); err != nil {
			return nil, err
		}
		if u, ok := byPath[r.File]; ok {
			r.File = u
		}
		r.Type = types[strings.Split(r.Column, ",")[0]]
		out = append(out, r)
	}
	return out, rows.Err()
}

// copyTyped loads Parquet or JSON: the files' columns map to the load
// columns by position (Redshift's rule for Parquet) or, when the counts
// differ, by name. The fast path casts in one INSERT; if a value does not
// cast, the load runs again keeping the rows that cast and rejecting the
// others.
func (x *execution) copyTyped(s copyStmt, t name, cols []tableColumn, files, insert string, key []string, byPath map[string]string,
	load func(func() error) error) ([]rejectedRow, int64, error) {
	var scan, checkedScan string
	if s.Format == "parquet" {
		// Folder names (year=2025/) are not columns of a COPY (see csvScan).
		scan = "read_parquet(" + files + ", hive_partitioning = false)"
		checkedScan = "read_parquet(" + files + ", hive_partitioning = false, filename = true, file_row_number = true)"
	} else {
		var typed, text []string
		for _, c := range cols {
			typed = append(typed, quoteString(c.Name)+": "+quoteString(c.Type))
			text = append(text, quoteString(c.Name)+": 'VARCHAR'")
		}
		comp := ", hive_partitioning = false"
		if s.Compress != "" {
			comp += ", compression = " + quoteString(s.Compress)
		}
		scan = "read_json(" + files + ", format = 'auto', columns = {" + strings.Join(typed, ", ") + "}" + comp + ")"
		checkedScan = "(SELECT *, row_number() OVER (PARTITION BY filename) - 1 AS file_row_number FROM read_json(" + files +
			", format = 'auto', filename = true, columns = {" + strings.Join(text, ", ") + "}" + comp + "))"
	}
	src, err := x.describe("SELECT * FROM " + scan)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read %s: %w", s.From, err)
	}
	var srcCols []string
	switch {
	case s.Format == "json":
		for _, c := range cols {
			srcCols = append(srcCols, c.Name)
		}
	case len(src) == len(cols):
		srcCols = src
	default:
		byName := map[string]string{}
		for _, n := range src {
			byName[strings.ToLower(n)] = n
		}
		for _, c := range cols {
			n, ok := byName[strings.ToLower(c.Name)]
			if !ok {
				return nil, 0, fmt.Errorf("%w: the files have %d columns (%s), the load has %d (%s), and column %q is not among the files' names",
					ErrLoadFailed, len(src), strings.Join(src, ", "), len(cols), colNames(cols), c.Name)
			}
			srcCols = append(srcCols, n)
		}
	}
	var casts, tryCasts, oks []string
	for i, c := range cols {
		sc := quoteIdent(srcCols[i])
		casts = append(casts, fmt.Sprintf("CAST(%s AS %s)", sc, c.Type))
		tryCasts = append(tryCasts, fmt.Sprintf("TRY_CAST(%s AS %s)", sc, c.Type))
		oks = append(oks, fmt.Sprintf("(%s IS NULL OR TRY_CAST(%s AS %s) IS NOT NULL)", sc, sc, c.Type))
	}
	var rows int64
	var rejected []rejectedRow
	err = load(func() error {
		var err error
		rows, err = x.exec(insert + sorted("SELECT "+strings.Join(casts, ", ")+" FROM "+scan, key))
		return err
	})
	if err == nil || !isConversionError(err) {
		return nil, rows, err
	}
	ok := strings.Join(oks, " AND ")
	err = load(func() error {
		var err error
		if rows, err = x.exec(insert + sorted("SELECT "+strings.Join(tryCasts, ", ")+" FROM "+checkedScan+" WHERE "+ok, key)); err != nil {
			return err
		}
		// One row per rejected source row: its first column that does not cast.
		var firstBad []string
		for i, c := range cols {
			sc := quoteIdent(srcCols[i])
			firstBad = append(firstBad, fmt.Sprintf("WHEN NOT (%s) THEN [%s, %s, CAST(%s AS VARCHAR)]", oks[i], quoteString(c.Name), quoteString(c.Type), sc))
		}
		q := fmt.Sprintf("SELECT filename, file_row_number, CASE %s END FROM %s WHERE NOT (%s) ORDER BY 1, 2", strings.Join(firstBad, " "), checkedScan, ok)
		rs, err := x.conn.QueryContext(x.ctx, q)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var r rejectedRow
			var bad []any
			if err := rs.Scan(&r.File, &r.Line, &bad); err != nil {
				return err
			}
			r.Line++ // record numbers from 1
			if u, ok := byPath[r.File]; ok {
				r.File = u
			}
			if len(bad) == 3 {
				r.Column, _ = bad[0].(string)
				r.Type, _ = bad[1].(string)
				r.Value, _ = bad[2].(string)
			}
			r.Kind = "CAST"
			r.Error = fmt.Sprintf("could not convert %q to %s for column %q", r.Value, r.Type, r.Column)
			r.Content = r.Value
			rejected = append(rejected, r)
		}
		return rs.Err()
	})
	return rejected, rows, err
}

// isConversionError reports whether err is a value that does not convert
// to its column's type (DuckDB reports some as invalid input).
func isConversionError(err error) bool {
	return engine.Is(err, engine.ErrConversion) || engine.Is(err, engine.ErrInvalidInput)
}

func (x *execution) describe(q string) ([]string, error) {
	rows, err := x.conn.QueryContext(x.ctx, "DESCRIBE "+q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cts, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		n, _ := vals[0].(string)
		out = append(out, n)
	}
	return out, rows.Err()
}

// copyFromTable loads a catalog table, read strictly as a job reads it:
// rows that do not parse are rejected.
func (x *execution) copyFromTable(s copyStmt, t name, cols []tableColumn, start time.Time) (Result, error) {
	n := *s.FromTable
	ref := quoteIdent(n.Name)
	if n.Schema != "" {
		ref = quoteIdent(n.Schema) + "." + ref
	}
	if n.Catalog != "" {
		ref = quoteIdent(n.Catalog) + "." + ref
	}
	opts := engine.BindOptions{Rejects: true}
	b, err := x.env.Bind(x.ctx, "SELECT * FROM "+ref, x.env.Database, opts)
	if err != nil {
		return Result{}, err
	}
	if len(b.Scans) != 1 {
		return Result{}, fmt.Errorf("%w: COPY FROM %s: not a catalog table", ErrUnsupported, n)
	}
	sc := b.Scans[0]
	src, err := x.describe(b.SQL)
	if err != nil {
		return Result{}, err
	}
	srcCols := src
	if len(src) != len(cols) {
		byName := map[string]string{}
		for _, c := range src {
			byName[strings.ToLower(c)] = c
		}
		srcCols = nil
		for _, c := range cols {
			sn, ok := byName[strings.ToLower(c.Name)]
			if !ok {
				return Result{}, fmt.Errorf("%w: %s has columns %s; the load needs %s", ErrLoadFailed, sc.Table.FullName(), strings.Join(src, ", "), colNames(cols))
			}
			srcCols = append(srcCols, sn)
		}
	}
	var casts []string
	for i, c := range cols {
		casts = append(casts, fmt.Sprintf("CAST(%s AS %s)", quoteIdent(srcCols[i]), c.Type))
	}
	insert := "INSERT INTO " + sqlName(t) + " (" + colNames(cols) + ") "
	key := x.sortKey(t)
	var rows int64
	var rejected []rejectedRow
	err = x.tx(func() error {
		for attempt := 0; ; attempt++ {
			var err error
			rows, err = x.exec(insert + sorted("SELECT "+strings.Join(casts, ", ")+" FROM ("+b.SQL+")", key))
			if engine.IsSerialCSVError(err) && attempt == 0 {
				opts.SerialCSV = true
				if b, err = x.env.Bind(x.ctx, "SELECT * FROM "+ref, x.env.Database, opts); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			break
		}
		rej, err := x.sess.Rejects(x.ctx, b)
		if err != nil {
			return err
		}
		for _, r := range rej {
			rejected = append(rejected, rejectedRow{Rejected: r})
		}
		if int64(len(rejected)) > s.MaxError {
			return errTooMany
		}
		return nil
	})
	u, _ := storage.ParseURI(sc.Table.Location)
	return x.finishLoad(s, t, u, u.Dir(), start, rows, rejected, err)
}

func colNames(cols []tableColumn) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quoteIdent(c.Name)
	}
	return strings.Join(q, ", ")
}

// errCodes are Redshift's STL_LOAD_ERRORS codes for DuckDB's error types
// (approximate: Redshift has many more).
var errCodes = map[string]int32{
	"CAST": 1207, "MISSING COLUMNS": 1214, "TOO MANY COLUMNS": 1214, "UNQUOTED VALUE": 1220,
	"LINE SIZE OVER MAXIMUM": 1224, "INVALID ENCODING": 1220, "INVALID STATE": 1220,
}

// recordRejects stores rejected rows as JSON lines below the source folder
// (<dir>/_rejected/copy-<query>/rejected.jsonl) and in stl_load_errors.
func (x *execution) recordRejects(t name, dir storage.URI, start time.Time, rejected []rejectedRow, res *Result) error {
	ctx := context.WithoutCancel(x.ctx)
	id := x.env.QueryID
	if id == "" {
		id = fmt.Sprintf("%d", start.UnixNano())
	}
	u := dir.Join("_rejected/copy-" + id + "/rejected.jsonl")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rejected {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if _, err := x.w.eng.Store().Put(ctx, u.Bucket, u.Key, &buf, storage.PutOptions{ContentType: "application/x-ndjson"}); err != nil {
		return fmt.Errorf("cannot store rejected rows: %w", err)
	}
	res.RejectedURI = u.String()
	return x.conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), engine.WarehouseCatalog, engine.SystemSchema, "stl_load_errors")
		if err != nil {
			return fmt.Errorf("cannot record load errors: %w", err)
		}
		for _, r := range rejected {
			kind := strings.Split(r.Kind, ",")[0]
			code := errCodes[kind]
			if code == 0 {
				code = 1200
			}
			var value any
			if r.Value != "" {
				value = r.Value
			}
			if err := app.AppendRow(id, start.UTC(), t.String(), r.File, r.Line, r.Column, r.Type, r.Content, value, code, r.Error); err != nil {
				app.Close()
				return fmt.Errorf("cannot record load errors: %w", err)
			}
		}
		return app.Close()
	})
}
