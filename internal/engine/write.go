package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Output formats and compressions a writer accepts.
var (
	WriteFormats      = []string{"parquet", "csv", "json"}
	WriteCompressions = map[string][]string{
		"parquet": {"snappy", "zstd", "gzip", "none"},
		"csv":     {"none", "gzip", "zstd"},
		"json":    {"none", "gzip", "zstd"},
	}
)

// NormalizeCompression returns a format's compression in canonical form:
// its default when empty ("snappy" for Parquet, "none" for text),
// "uncompressed" as "none", lower case; an unknown one is an error that
// lists the choices.
func NormalizeCompression(format, comp string) (string, error) {
	comps, ok := WriteCompressions[format]
	if !ok {
		return "", fmt.Errorf("format %q is not one of %s", format, strings.Join(WriteFormats, ", "))
	}
	comp = strings.ToLower(comp)
	switch comp {
	case "":
		return comps[0], nil
	case "uncompressed":
		comp = "none"
	}
	if !slices.Contains(comps, comp) {
		return "", fmt.Errorf("compression %q is not one of %s for %s", comp, strings.Join(comps, ", "), format)
	}
	return comp, nil
}

// DefaultFileSize is the target size of written files (128 MiB).
const DefaultFileSize = 128 << 20

// WriteSpec describes where and how a writer writes a query's result.
type WriteSpec struct {
	// Target is the s3:// prefix the files go below.
	Target storage.URI
	// Format is parquet (default), csv or json; Compression is snappy
	// (Parquet's default), zstd, gzip or none.
	Format      string
	Compression string
	// PartitionBy are output columns written as key=value folders.
	PartitionBy []string
	// FileSize is the target size of unpartitioned output files; partitioned
	// output gets one file per partition (DuckDB cannot split those).
	FileSize int64
	// RunID names the staging prefix (<target>/_staging/<run>/) and the
	// files (part-<run>-<n>.<ext>), so a crashed run's files are known.
	RunID string
}

// WrittenFile is one published file of a write.
type WrittenFile struct {
	URI    string
	Values []string // partition values, in PartitionBy order
	Size   int64
	ETag   string
}

// WriteResult is what a write produced: the files are at their final paths,
// but nothing is in the catalog yet; the caller publishes them.
type WriteResult struct {
	Rows          int64
	Files         []WrittenFile
	Bytes         int64
	Columns       []catalog.Column // data columns (without partition keys)
	PartitionKeys []catalog.Column
}

// Extension returns the file name extension of a format and compression.
func Extension(format, compression string) string {
	switch format {
	case "csv", "json":
		ext := "." + format
		switch compression {
		case "gzip":
			ext += ".gz"
		case "zstd":
			ext += ".zst"
		}
		return ext
	}
	if compression != "" && compression != "none" && compression != "snappy" {
		return "." + compression + ".parquet"
	}
	return ".parquet"
}

// Describe returns the result columns of a (bound) query as catalog columns.
func (s *Session) Describe(ctx context.Context, query string) ([]catalog.Column, error) {
	rows, err := s.conn.QueryContext(ctx, "DESCRIBE "+query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []catalog.Column
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		name, _ := vals[0].(string)
		duck, _ := vals[1].(string)
		hive, err := catalog.FromDuckDB(duck)
		if err != nil {
			hive = "string"
		}
		out = append(out, catalog.Column{Name: name, Type: hive})
	}
	return out, rows.Err()
}

// Write runs query (already bound) into files below spec.Target: DuckDB
// writes them under <target>/_staging/<run>/, then each is moved to its final
// key. Readers that go through the catalog see none of them until the caller
// publishes them; staging is removed whatever happens.
func (s *Session) Write(ctx context.Context, query string, spec WriteSpec) (*WriteResult, error) {
	if spec.Format == "" {
		spec.Format = "parquet"
	}
	comp, err := NormalizeCompression(spec.Format, spec.Compression)
	if err != nil {
		return nil, fmt.Errorf("cannot write: %w", err)
	}
	spec.Compression = comp
	if spec.FileSize <= 0 {
		spec.FileSize = DefaultFileSize
	}
	if spec.RunID == "" {
		return nil, errors.New("cannot write: no run id")
	}
	cols, err := s.Describe(ctx, query)
	if err != nil {
		return nil, err
	}
	res := &WriteResult{}
	for _, pk := range spec.PartitionBy {
		found := false
		for _, c := range cols {
			if strings.EqualFold(c.Name, pk) {
				res.PartitionKeys = append(res.PartitionKeys, catalog.Column{Name: c.Name, Type: c.Type})
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot partition by %q: the query has no such column (it has %s)", pk, catalog.ColumnList(cols))
		}
	}
	for _, c := range cols {
		if !isIn(c.Name, spec.PartitionBy) {
			res.Columns = append(res.Columns, c)
		}
	}

	target := spec.Target.Dir()
	stagingKey := target.Join("_staging/" + spec.RunID + "/").Key
	dir, local, err := s.stagingDir(ctx, target.Bucket, stagingKey, spec.RunID)
	if err != nil {
		return nil, err
	}
	defer func() {
		os.RemoveAll(dir)
		if local {
			os.Remove(filepath.Dir(dir)) // _staging/, if no other run uses it
		}
	}()

	opts := []string{"FORMAT " + spec.Format}
	switch spec.Format {
	case "parquet":
		comp := spec.Compression
		if comp == "none" {
			comp = "uncompressed"
		}
		opts = append(opts, "COMPRESSION "+comp)
	case "csv":
		opts = append(opts, "HEADER true", "COMPRESSION "+spec.Compression)
	case "json":
		opts = append(opts, "COMPRESSION "+spec.Compression)
	}
	if len(spec.PartitionBy) > 0 {
		var q []string
		for _, p := range spec.PartitionBy {
			q = append(q, QuoteIdent(p))
		}
		opts = append(opts, "PARTITION_BY ("+strings.Join(q, ", ")+")")
	} else {
		opts = append(opts, fmt.Sprintf("FILE_SIZE_BYTES %d", spec.FileSize))
	}
	opts = append(opts, "FILENAME_PATTERN 'part-{i}'")
	copySQL := fmt.Sprintf("COPY (%s) TO %s (%s)", query, quoteString(dir), strings.Join(opts, ", "))
	if err := s.conn.QueryRowContext(ctx, copySQL).Scan(&res.Rows); err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", target, err)
	}

	var staged []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			staged = append(staged, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot publish %s: %w", target, err)
	}
	sort.Strings(staged)
	ext := Extension(spec.Format, spec.Compression)
	type job struct {
		path  string
		final storage.URI
		vals  []string
	}
	jobs := make([]job, len(staged))
	for n, p := range staged {
		rel, _ := filepath.Rel(dir, p)
		relDir := filepath.ToSlash(filepath.Dir(rel))
		var values []string
		if relDir != "." {
			for _, seg := range strings.Split(relDir, "/") {
				_, v, _ := strings.Cut(seg, "=")
				values = append(values, catalog.UnescapePathName(v))
			}
			// Normalise the folder names to Hive's escaping of the values.
			relDir = catalog.PartitionPath(res.PartitionKeys, values)
		}
		name := fmt.Sprintf("part-%s-%05d%s", spec.RunID, n, ext)
		final := target.Join(name)
		if relDir != "." {
			final = target.Join(relDir + "/" + name)
		}
		jobs[n] = job{p, final, values}
	}
	// Importing hashes (ETag) and syncs each file: spread it over the cores.
	res.Files = make([]WrittenFile, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			info, err := s.e.importFile(ctx, j.final, j.path, local)
			if err != nil {
				errs[i] = fmt.Errorf("cannot publish %s: %w", j.final, err)
				return
			}
			res.Files[i] = WrittenFile{URI: j.final.String(), Values: j.vals, Size: info.Size, ETag: info.ETag}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, f := range res.Files {
			if f.URI != "" {
				if u, perr := storage.ParseURI(f.URI); perr == nil {
					_ = s.e.store.Delete(context.WithoutCancel(ctx), u.Bucket, u.Key)
				}
			}
		}
		return nil, err
	}
	for _, f := range res.Files {
		res.Bytes += f.Size
	}
	return res, nil
}

// stagingDir returns the local folder DuckDB writes a run's files to: the
// staging prefix itself for a local store (so publishing is a rename), else
// a folder in the engine's temp area.
func (s *Session) stagingDir(ctx context.Context, bucket, key, run string) (string, bool, error) {
	if st, ok := s.e.store.(storage.Stager); ok {
		if _, ok := s.e.store.(storage.Importer); ok {
			p, err := st.StagingDir(ctx, bucket, key)
			if err != nil {
				return "", false, fmt.Errorf("cannot create staging folder: %w", err)
			}
			return p, true, nil
		}
	}
	p := filepath.Join(s.e.cfg.TempDir, "staging-"+run)
	os.RemoveAll(p)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", false, fmt.Errorf("cannot create staging folder: %w", err)
	}
	return p, false, nil
}

// importFile moves a staged file to its final key: a rename for a local
// store, an upload otherwise.
func (e *Engine) importFile(ctx context.Context, u storage.URI, path string, local bool) (storage.ObjectInfo, error) {
	if imp, ok := e.store.(storage.Importer); ok && local {
		return imp.Import(ctx, u.Bucket, u.Key, path, storage.PutOptions{})
	}
	f, err := os.Open(path)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer f.Close()
	info, err := e.store.Put(ctx, u.Bucket, u.Key, f, storage.PutOptions{})
	if err == nil {
		os.Remove(path)
	}
	return info, err
}

func isIn(name string, list []string) bool {
	for _, l := range list {
		if strings.EqualFold(l, name) {
			return true
		}
	}
	return false
}

// Rejected is one row a strict scan rejected.
type Rejected struct {
	File    string `json:"file"`
	Line    int64  `json:"line"`
	Column  string `json:"column,omitempty"`
	Error   string `json:"error"`
	Kind    string `json:"error_type"`
	Content string `json:"original"`
}

// RejectsSQL selects the rows read_csv's store_rejects kept in the given
// tables, one per line: file path, line, the columns named by its errors,
// the message, the error types and the line as read (all strings but line).
// A short row is one error per missing column, each "Found:" one more than
// the last: its message is the first, the true count. DuckDB's csv_line
// starts with the end of the line before after a blank line or a CRLF
// line: the original text starts at the row.
func RejectsSQL(errorsTable, scansTable string) string {
	return fmt.Sprintf(`SELECT s.file_path, e.line,
			coalesce(string_agg(e.column_name, ',' ORDER BY e.column_idx) FILTER (WHERE e.column_name IS NOT NULL), ''),
			concat_ws('; ', min_by(e.error_message, e.column_idx) FILTER (WHERE e.error_type::VARCHAR = 'MISSING COLUMNS'),
				string_agg(e.error_message, '; ' ORDER BY e.column_idx) FILTER (WHERE e.error_type::VARCHAR <> 'MISSING COLUMNS')),
			string_agg(DISTINCT e.error_type::VARCHAR, ','), ltrim(max(coalesce(e.csv_line, '')), chr(13) || chr(10))
		FROM %s e JOIN %s s ON e.scan_id = s.scan_id AND e.file_id = s.file_id
		GROUP BY s.file_path, e.line ORDER BY 1, 2`, errorsTable, scansTable)
}

// Rejects reads the rows the strict scans of b rejected. Local file paths
// are mapped back to s3:// URIs.
func (s *Session) Rejects(ctx context.Context, b *Bound) ([]Rejected, error) {
	byPath := map[string]string{}
	for _, sc := range b.Scans {
		for _, f := range sc.Files {
			byPath[f.Path] = f.URI
		}
	}
	var out []Rejected
	for _, prefix := range b.Rejects {
		var n int
		if err := s.conn.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE table_name = ?`, prefix+"_errors").Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			continue // the table had no files to scan
		}
		rows, err := s.conn.QueryContext(ctx, RejectsSQL(prefix+"_errors", prefix+"_scans"))
		if err != nil {
			return nil, fmt.Errorf("cannot read rejected rows: %w", err)
		}
		for rows.Next() {
			var r Rejected
			var col sql.NullString
			if err := rows.Scan(&r.File, &r.Line, &col, &r.Error, &r.Kind, &r.Content); err != nil {
				rows.Close()
				return nil, err
			}
			r.Column = col.String
			if u, ok := byPath[r.File]; ok {
				r.File = u
			}
			out = append(out, r)
		}
		rows.Close()
	}
	return out, nil
}
