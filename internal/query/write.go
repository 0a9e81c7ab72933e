package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Athena's write statements (CTAS, INSERT INTO, UNLOAD) go through the same
// writer as jobs: staging, file sizing, and a manifest publish in one
// metadata transaction, so a failed statement leaves nothing behind.

type ctasStmt struct {
	DB, Name    string
	IfNotExists bool
	With        map[string]string
	PartitionBy []string
	Select      string
}

type insertStmt struct {
	DB, Name string
	Columns  []string // INSERT INTO t (a, b): the columns the SELECT's fill, in its order
	Select   string
}

type unloadStmt struct {
	Select      string
	To          string
	With        map[string]string
	PartitionBy []string
}

// parseWrite recognises CTAS, INSERT INTO ... SELECT and UNLOAD.
func parseWrite(text string) (any, bool, error) {
	toks, err := tokenize(text)
	if err != nil {
		return nil, false, nil
	}
	p := &parser{toks: toks}
	rest := func() string {
		s := strings.TrimSpace(text[p.peek().pos:])
		return strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	switch {
	case p.is("CREATE", "TABLE"):
		p.i += 2
		s := ctasStmt{IfNotExists: p.accept("IF", "NOT", "EXISTS")}
		if s.DB, s.Name, err = p.qualified(); err != nil {
			return nil, true, err
		}
		if p.accept("WITH") {
			if s.With, s.PartitionBy, err = p.withProps(); err != nil {
				return nil, true, err
			}
		}
		if !p.accept("AS") {
			return nil, true, p.errorf("expected AS SELECT ... (CREATE TABLE AS); define external tables with CREATE EXTERNAL TABLE")
		}
		s.Select = unparen(rest())
		if p.is("WITH", "NO", "DATA") {
			return nil, true, p.errorf("WITH NO DATA is not supported")
		}
		return s, true, nil
	case p.is("INSERT", "INTO"):
		p.i += 2
		var s insertStmt
		if s.DB, s.Name, err = p.qualified(); err != nil {
			return nil, true, err
		}
		if p.is("(") && !p.isSelectAhead() {
			p.i++
			for {
				c, err := p.ident()
				if err != nil {
					return nil, true, err
				}
				s.Columns = append(s.Columns, c)
				if p.accept(")") {
					break
				}
				if err := p.expect(","); err != nil {
					return nil, true, err
				}
			}
		}
		s.Select = unparen(rest())
		return s, true, nil
	case p.is("UNLOAD"):
		p.i++
		if err := p.expect("("); err != nil {
			return nil, true, err
		}
		start := p.peek().pos
		depth := 1
		for depth > 0 {
			t := p.next()
			if t.kind == tEOF {
				return nil, true, p.errorf("unterminated UNLOAD (SELECT ...)")
			}
			if t.kind == tPunct && t.text == "(" {
				depth++
			}
			if t.kind == tPunct && t.text == ")" {
				depth--
				if depth == 0 {
					var s unloadStmt
					s.Select = strings.TrimSpace(text[start:t.pos])
					if err := p.expect("TO"); err != nil {
						return nil, true, err
					}
					if s.To, err = p.location(); err != nil {
						return nil, true, err
					}
					if p.accept("WITH") {
						if s.With, s.PartitionBy, err = p.withProps(); err != nil {
							return nil, true, err
						}
					}
					return s, true, p.end()
				}
			}
		}
	}
	return nil, false, nil
}

// isSelectAhead tells INSERT INTO t (SELECT ...) from INSERT INTO t (cols).
func (p *parser) isSelectAhead() bool {
	return p.i+1 < len(p.toks) && (strings.EqualFold(p.toks[p.i+1].text, "SELECT") || strings.EqualFold(p.toks[p.i+1].text, "WITH"))
}

// withProps parses Athena's WITH (key = 'value', partitioned_by = ARRAY['a', 'b']).
func (p *parser) withProps() (map[string]string, []string, error) {
	props := map[string]string{}
	var parts []string
	if err := p.expect("("); err != nil {
		return nil, nil, err
	}
	for !p.accept(")") {
		k, err := p.ident()
		if err != nil {
			return nil, nil, err
		}
		k = strings.ToLower(k)
		if err := p.expect("="); err != nil {
			return nil, nil, err
		}
		if p.accept("ARRAY") {
			if !p.accept("[") && !p.accept("(") {
				return nil, nil, p.errorf("expected ARRAY['...']")
			}
			var vals []string
			for !p.accept("]") && !p.accept(")") {
				v, err := p.str()
				if err != nil {
					return nil, nil, err
				}
				vals = append(vals, v)
				p.accept(",")
			}
			if k == "partitioned_by" {
				parts = vals
			} else {
				props[k] = strings.Join(vals, ",")
			}
		} else {
			if k == "external_location" || k == "location" {
				if _, err := p.location(); err != nil {
					return nil, nil, err
				}
				p.i--
			}
			t := p.next()
			if t.kind != tString && t.kind != tNumber && t.kind != tIdent {
				return nil, nil, p.errorf("expected a value for %s", k)
			}
			props[k] = t.text
		}
		if !p.accept(",") && !p.is(")") {
			return nil, nil, p.errorf("expected ',' or ')'")
		}
	}
	return props, parts, nil
}

func unparen(s string) string {
	s = strings.TrimSpace(s)
	for strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		inner := strings.TrimSpace(s[1 : len(s)-1])
		if _, err := SplitStatements(inner); err != nil {
			break
		}
		s = inner
	}
	return s
}

// writeOptions turns Athena's WITH properties into a write spec.
func writeOptions(with map[string]string, partitionBy []string) (engine.WriteSpec, error) {
	spec := engine.WriteSpec{PartitionBy: partitionBy}
	for k, v := range with {
		switch k {
		case "format":
			f := strings.ToLower(v)
			switch f {
			case "parquet":
			case "textfile", "csv":
				f = "csv"
			case "json":
			default:
				return spec, fmt.Errorf("%w: format %q is not supported (PARQUET, TEXTFILE, JSON)", ErrUnsupported, v)
			}
			spec.Format = f
		case "write_compression", "parquet_compression", "compression":
			spec.Compression = strings.ToLower(v)
		case "external_location", "location":
			u, err := storage.ParseURI(v)
			if err != nil {
				return spec, err
			}
			spec.Target = u.Dir()
		case "partitioned_by":
			spec.PartitionBy = strings.Split(v, ",")
		case "bucketed_by", "bucket_count", "field_delimiter", "table_type", "is_external":
			if k == "table_type" && !strings.EqualFold(v, "hive") {
				return spec, fmt.Errorf("%w: table_type %q (tarn writes Hive-style Parquet tables)", ErrUnsupported, v)
			}
		case "target_file_size", "file_size_bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return spec, fmt.Errorf("%w: %s = %q is not a number of bytes", ErrSyntax, k, v)
			}
			spec.FileSize = n
		default:
			return spec, fmt.Errorf("%w: table property %q is not supported", ErrUnsupported, k)
		}
	}
	if spec.Format == "" {
		spec.Format = "parquet"
	}
	comp, err := engine.NormalizeCompression(spec.Format, spec.Compression)
	if err != nil {
		return spec, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	spec.Compression = comp
	return spec, nil
}

// isEmpty reports whether nothing but folder markers lies below a prefix.
func (s *Service) isEmpty(ctx context.Context, u storage.URI) (bool, error) {
	for o, err := range storage.Walk(ctx, s.store, u.Bucket, u.Dir().Key) {
		if err != nil {
			return false, err
		}
		if !strings.HasSuffix(o.Key, "/") {
			return false, nil
		}
	}
	return true, nil
}

func (s *Service) runWrite(ctx context.Context, stmt any, req Request, sink Sink, ex *Execution) error {
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	emit := func(rows int64) error {
		// The execution's rows are the rows written, as the one result
		// row says (and as warehouse statements count them).
		ex.Stats.Rows = rows
		if err := sink.Columns([]Column{{Name: "rows", Type: "BIGINT"}}); err != nil {
			return err
		}
		return sink.Row([]any{rows})
	}
	serial := false
	bind := func(q string) (*engine.Bound, error) {
		b, err := sess.BindWith(ctx, q, req.Database, engine.BindOptions{SerialCSV: serial})
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
		ex.Stats.BytesScanned = b.BytesScanned()
		for _, sc := range b.Scans {
			ex.Stats.FilesScanned += len(sc.Files)
			ex.Stats.PartitionsScanned += sc.PartitionsScanned
			ex.Stats.PartitionsTotal += sc.PartitionsTotal
		}
		return b, nil
	}
	runID := "q-" + ex.ID[:8]
	// write binds a SELECT and writes it; a CSV file DuckDB cannot pad in
	// parallel is read again serially.
	write := func(selectSQL string, spec engine.WriteSpec) (*engine.WriteResult, error) {
		b, err := bind(selectSQL)
		if err != nil {
			return nil, err
		}
		res, err := sess.Write(ctx, b.SQL, spec)
		if engine.IsSerialCSVError(err) {
			serial = true
			if b, err = bind(selectSQL); err != nil {
				return nil, err
			}
			res, err = sess.Write(ctx, b.SQL, spec)
		}
		return res, err
	}
	publish := func(out catalog.Output, res *engine.WriteResult, reason string) error {
		var files []catalog.DataFile
		for _, f := range res.Files {
			files = append(files, catalog.DataFile{URI: f.URI, Values: f.Values, Size: f.Size, ETag: f.ETag, RunID: runID})
		}
		var removed []catalog.DataFile
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			var err error
			removed, err = s.cat.PublishOutputTx(ctx, tx, out, files, reason)
			return err
		})
		if err != nil {
			s.deleteFiles(context.WithoutCancel(ctx), res.Files)
			return err
		}
		ex.wrote = true
		for _, f := range res.Files {
			ex.written = append(ex.written, f.URI)
		}
		s.recordWriteLineage(ctx, ex, catalog.TableDataset(out.Database, out.Name), res.Rows)
		// Replaced files are garbage in the catalog, deleted after a grace
		// period (readers may still hold them); collect what is due.
		if len(removed) > 0 {
			if _, err := s.eng.CollectGarbage(context.WithoutCancel(ctx)); err != nil {
				slog.Warn("query: cannot delete replaced files", "error", err)
			}
		}
		return nil
	}
	dbOr := func(db string) (string, error) { return databaseOr(db, req) }

	allowWrite := func(action string, t Target) error {
		if req.Authorize == nil {
			return nil
		}
		return req.Authorize(action, t)
	}
	switch st := stmt.(type) {
	case ctasStmt:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		name := strings.ToLower(st.Name)
		spec, err := writeOptions(st.With, st.PartitionBy)
		if err != nil {
			return err
		}
		if spec.Target.Bucket == "" {
			// Athena's defaults: the database's location, else the
			// workgroup's result location under tables/<query id>/.
			d, err := s.cat.GetDatabase(ctx, db)
			if err != nil {
				return err
			}
			loc := d.Location
			if loc == "" {
				wg, err := s.Workgroup(ctx, req.Workgroup)
				if err != nil {
					return err
				}
				loc = strings.TrimSuffix(wg.ResultLocation, "/") + "/tables/" + ex.ID + "/"
			} else {
				loc = strings.TrimSuffix(loc, "/") + "/" + name + "/"
			}
			u, err := storage.ParseURI(loc)
			if err != nil {
				return err
			}
			spec.Target = u.Dir()
		}
		// Checked on the location the files will really go to, whichever
		// default chose it.
		if err := allowWrite("glue:CreateTable", Target{Database: db, Table: name, Location: spec.Target.String()}); err != nil {
			return err
		}
		if err := allowWrite("s3:PutObject", Target{Database: db, Table: name, Location: spec.Target.String()}); err != nil {
			return err
		}
		if _, err := s.cat.GetTable(ctx, db, name); err == nil {
			if st.IfNotExists {
				return emit(0)
			}
			return fmt.Errorf("cannot create table %s.%s: %w", db, name, catalog.ErrTableExists)
		}
		// As Athena: the location must be empty, so a CTAS never mixes its
		// files with someone else's.
		if empty, err := s.isEmpty(ctx, spec.Target); err != nil {
			return err
		} else if !empty {
			return fmt.Errorf("%w: external_location %s is not empty; choose an empty location", catalog.ErrInvalidTable, spec.Target)
		}
		spec.RunID = runID
		res, err := write(st.Select, spec)
		if err != nil {
			return err
		}
		out := catalog.Output{Database: db, Name: name, Location: spec.Target.String(), Format: spec.Format, Compression: spec.Compression,
			Columns: res.Columns, PartitionKeys: res.PartitionKeys, Mode: catalog.WriteAppend, Create: true,
			Properties: map[string]string{"tarn.query": ex.ID}}
		if err := publish(out, res, "CREATE TABLE AS"); err != nil {
			return err
		}
		return emit(res.Rows)
	case insertStmt:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		if err := allowWrite("s3:PutObject", Target{Database: db, Table: t.Name, Location: t.Location}); err != nil {
			return err
		}
		if !t.HasManifest() {
			return fmt.Errorf("%w: INSERT INTO works on tables tarn writes (CREATE TABLE AS, jobs); %s lists its files from storage", ErrUnsupported, t.FullName())
		}
		b, err := bind(st.Select)
		if err != nil {
			return err
		}
		cols, err := sess.Describe(ctx, b.SQL)
		if err != nil {
			return err
		}
		all := append(append([]catalog.Column{}, t.Columns...), t.PartitionKeys...)
		// Athena inserts by position (or into the named columns, the
		// others NULL): cast each column to the table's.
		src := make([]int, len(all)) // the SELECT's column (from 1) for each of the table's; 0 for NULL
		if len(st.Columns) == 0 {
			if len(cols) != len(all) {
				return fmt.Errorf("%w: INSERT INTO %s: the SELECT has %d columns, the table has %d (%s, partition keys last)", ErrSyntax, t.FullName(), len(cols), len(all), catalog.ColumnList(all))
			}
			for i := range all {
				src[i] = i + 1
			}
		} else {
			if len(cols) != len(st.Columns) {
				return fmt.Errorf("%w: INSERT INTO %s: %d columns are named and the SELECT has %d", ErrSyntax, t.FullName(), len(st.Columns), len(cols))
			}
			for n, name := range st.Columns {
				i := slices.IndexFunc(all, func(c catalog.Column) bool { return strings.EqualFold(c.Name, name) })
				if i < 0 {
					return fmt.Errorf("%w: INSERT INTO %s: no column %q (it has %s)", ErrSyntax, t.FullName(), name, catalog.ColumnList(all))
				}
				if src[i] != 0 {
					return fmt.Errorf("%w: INSERT INTO %s: column %q is named twice", ErrSyntax, t.FullName(), name)
				}
				src[i] = n + 1
			}
		}
		var proj []string
		for i, c := range all {
			typ, err := catalog.ParseType(c.Type)
			if err != nil {
				return err
			}
			val := "NULL"
			if src[i] > 0 {
				val = fmt.Sprintf("#%d", src[i])
			}
			proj = append(proj, fmt.Sprintf("CAST(%s AS %s) AS %s", val, typ.DuckDB(), engine.QuoteIdent(c.Name)))
		}
		q := fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(proj, ", "), b.SQL)
		u, err := storage.ParseURI(t.Location)
		if err != nil {
			return err
		}
		var pks []string
		for _, k := range t.PartitionKeys {
			pks = append(pks, k.Name)
		}
		res, err := sess.Write(ctx, q, engine.WriteSpec{Target: u, Format: t.Format, Compression: t.FormatOptions[catalog.OptCompression], PartitionBy: pks, RunID: runID})
		if err != nil {
			return err
		}
		out := catalog.Output{Database: db, Name: t.Name, Location: t.Location, Format: t.Format, Compression: t.FormatOptions[catalog.OptCompression],
			Columns: t.Columns, PartitionKeys: t.PartitionKeys, Mode: catalog.WriteAppend}
		if err := publish(out, res, "INSERT INTO"); err != nil {
			return err
		}
		return emit(res.Rows)
	case unloadStmt:
		spec, err := writeOptions(st.With, st.PartitionBy)
		if err != nil {
			return err
		}
		u, err := storage.ParseURI(st.To)
		if err != nil {
			return err
		}
		spec.Target = u.Dir()
		if err := allowWrite("s3:PutObject", Target{Location: spec.Target.String()}); err != nil {
			return err
		}
		if empty, err := s.isEmpty(ctx, spec.Target); err != nil {
			return err
		} else if !empty {
			return fmt.Errorf("%w: UNLOAD target %s is not empty; choose an empty location", catalog.ErrInvalidTable, spec.Target)
		}
		spec.RunID = runID
		res, err := write(st.Select, spec)
		if err != nil {
			return err
		}
		s.recordWriteLineage(ctx, ex, catalog.ObjectDataset(spec.Target.String()), res.Rows)
		return emit(res.Rows)
	}
	return fmt.Errorf("%w: %T", ErrUnsupported, stmt)
}

func (s *Service) deleteFiles(ctx context.Context, files []engine.WrittenFile) {
	for _, f := range files {
		if u, err := storage.ParseURI(f.URI); err == nil {
			_ = s.store.Delete(ctx, u.Bucket, u.Key)
		}
	}
}

// databaseOr returns db, or the request's default database, lower-cased.
func databaseOr(db string, req Request) (string, error) {
	if db == "" {
		db = req.Database
	}
	if db == "" {
		return "", fmt.Errorf("%w: no database given: qualify the table as database.table or choose a default database", catalog.ErrNoSuchDatabase)
	}
	return strings.ToLower(db), nil
}
