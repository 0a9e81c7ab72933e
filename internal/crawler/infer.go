package crawler

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/storage"
)

// SampleRows is how many rows DuckDB reads from a text file to infer its
// schema (sniff_csv and read_json_auto sample_size). Larger files are not
// read in full.
const SampleRows = 20480

// peekBytes is how much of a file is read to sniff its format.
const peekBytes = 8192

// csvDialect is how a delimited text file is written.
type csvDialect struct {
	delimiter string
	quote     string
	escape    string
	header    bool
	// lenient sniffs ignoring rows that do not parse: a forced dialect some
	// rows break (an extra field) is still the file's. Not stored.
	lenient bool
}

// fileSchema is what DuckDB inferred from one file.
type fileSchema struct {
	format      string // catalog.FormatCSV, FormatJSON, FormatParquet
	compression string // none, gzip, zstd (text); parquet's codec
	csv         csvDialect
	jsonFormat  string // newline_delimited or array
	columns     []catalog.Column
	rows        int64 // -1 when not known cheaply
	// noRows is set for a CSV file with a header and no data rows: its
	// columns have names only (Type ""), so that it cannot widen the types
	// other files show.
	noRows bool
}

// splitExt returns a file's format by extension ("" if unknown) and its
// compression by extension ("none" if none).
func splitExt(key string) (format, compression string) {
	name := strings.ToLower(path.Base(key))
	compression = "none"
	switch ext := path.Ext(name); ext {
	case ".gz", ".gzip":
		compression, name = "gzip", strings.TrimSuffix(name, ext)
	case ".zst", ".zstd":
		compression, name = "zstd", strings.TrimSuffix(name, ext)
	}
	switch path.Ext(name) {
	case ".csv", ".tsv", ".psv", ".tab":
		format = catalog.FormatCSV
	case ".json", ".jsonl", ".ndjson":
		format = catalog.FormatJSON
	case ".parquet", ".pq", ".parq":
		if compression == "none" {
			format = catalog.FormatParquet
		}
	}
	return format, compression
}

// sniffContent decides a format from a file's first bytes (decompressed):
// JSON if the first non-space character is '{' or '[', Parquet if it starts
// with the PAR1 magic, CSV otherwise. jsonFormat is "array" when a JSON file
// starts with '['.
func sniffContent(head []byte) (format, jsonFormat string) {
	if bytes.HasPrefix(head, []byte("PAR1")) {
		return catalog.FormatParquet, ""
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(trimmed) > 0 {
		switch trimmed[0] {
		case '[':
			return catalog.FormatJSON, "array"
		case '{':
			return catalog.FormatJSON, "newline_delimited"
		}
	}
	return catalog.FormatCSV, ""
}

// peek returns up to peekBytes of an object's content, decompressed.
func (s *Service) peek(ctx context.Context, obj storage.ObjectInfo, compression string) ([]byte, error) {
	n := int64(peekBytes)
	if compression != "none" {
		n = 64 << 10 // compressed input: enough for the first few KB of text
	}
	rc, _, err := s.store.Get(ctx, obj.Bucket, obj.Key, &storage.Range{Offset: 0, Length: min(n, obj.Size)})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	switch compression {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("not a gzip file: %w", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("not a zstd file: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return raw, nil
	}
	out, err := io.ReadAll(io.LimitReader(r, peekBytes))
	if len(out) == 0 && err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("cannot decompress (%s): %w", compression, err)
	}
	return out, nil
}

// inferFile asks DuckDB for one file's format and schema. With force set, a
// CSV file is read with that dialect instead of the sniffed one.
func (s *Service) inferFile(ctx context.Context, obj storage.ObjectInfo, force *csvDialect) (fileSchema, error) {
	format, compression := splitExt(obj.Key)
	jsonFormat := ""
	if format == "" || format == catalog.FormatJSON {
		head, err := s.peek(ctx, obj, compression)
		if err != nil {
			return fileSchema{}, err
		}
		f, jf := sniffContent(head)
		if format == "" {
			format = f
		}
		if format == catalog.FormatJSON {
			jsonFormat = jf
			if jsonFormat == "" {
				jsonFormat = "newline_delimited"
			}
		}
		if format == catalog.FormatParquet && compression != "none" {
			return fileSchema{}, fmt.Errorf("a compressed Parquet file (%s) cannot be read", compression)
		}
	}
	p, cleanup, err := s.eng.LocalPath(ctx, obj.Bucket, obj.Key)
	if err != nil {
		return fileSchema{}, err
	}
	defer cleanup()
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return fileSchema{}, err
	}
	defer sess.Release()
	fs := fileSchema{format: format, compression: compression, jsonFormat: jsonFormat, rows: -1}
	switch format {
	case catalog.FormatCSV:
		err = inferCSV(ctx, sess, p, compression, force, &fs)
	case catalog.FormatJSON:
		if err = s.eng.CheckJSONFile(ctx, p); err == nil {
			err = inferJSON(ctx, sess, p, compression, &fs)
		}
	case catalog.FormatParquet:
		err = inferParquet(ctx, sess, p, &fs)
	}
	if err != nil {
		// DuckDB names the local file (or the escaped pattern); the user
		// knows the object.
		msg := strings.ReplaceAll(err.Error(), literalPath(p), obj.URI())
		return fileSchema{}, errors.New(strings.ReplaceAll(msg, p, obj.URI()))
	}
	if len(fs.columns) == 0 {
		return fileSchema{}, errors.New("no columns found")
	}
	return fs, nil
}

// literalPath escapes the glob characters of a local path so that DuckDB's
// file functions (sniff_csv, read_csv, read_json_auto, read_parquet,
// parquet_metadata), which expand globs, read exactly that file: a key named
// "x*.json" must not also read "x1.json". DuckDB 1.5 has no backslash escape
// and expands each element of a list of files too, but takes a character
// class as a literal: * → [*], ? → [?], [ → [[] (a lone ] is literal).
func literalPath(p string) string {
	if !strings.ContainsAny(p, "*?[") {
		return p
	}
	var b strings.Builder
	for _, c := range p {
		switch c {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(c)
			b.WriteByte(']')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// sqlPath is literalPath as a SQL string literal.
func sqlPath(p string) string { return engine.QuoteString(literalPath(p)) }

// sniffValue turns sniff_csv's "(empty)" into "".
func sniffValue(s string) string {
	if s == "(empty)" {
		return ""
	}
	return s
}

func inferCSV(ctx context.Context, sess *engine.Session, p, compression string, force *csvDialect, fs *fileSchema) error {
	args := []string{sqlPath(p), fmt.Sprintf("sample_size=%d", SampleRows)}
	if compression != "none" {
		args = append(args, "compression="+engine.QuoteString(compression))
	}
	if force != nil {
		args = append(args, "delim="+engine.QuoteString(force.delimiter), fmt.Sprintf("header=%t", force.header))
		if force.quote != "" {
			args = append(args, "quote="+engine.QuoteString(force.quote))
		}
		if force.escape != "" {
			args = append(args, "escape="+engine.QuoteString(force.escape))
		}
		if force.lenient {
			args = append(args, "ignore_errors=true")
		}
	}
	q := `SELECT Delimiter, Quote, Escape, HasHeader, to_json(Columns)::VARCHAR FROM sniff_csv(` + strings.Join(args, ", ") + `)`
	var delim, quote, escape, cols string
	var header bool
	if err := sess.Conn().QueryRowContext(ctx, q).Scan(&delim, &quote, &escape, &header, &cols); err != nil {
		return duckError(err)
	}
	var sniffed []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(cols), &sniffed); err != nil {
		return fmt.Errorf("cannot decode sniff_csv columns: %w", err)
	}
	// One row with an extra field makes DuckDB's sniffer prefer a
	// delimiter under which every row agrees: none, so the whole line is
	// one column ("id,email,plan,amount"). A header line that a usual
	// delimiter splits says otherwise: sniff again with it, so the file's
	// columns are found and the odd row becomes a rejected row.
	if force == nil && len(sniffed) == 1 {
		if d := splitsHeader(sniffed[0].Name, sniffValue(delim)); d != "" {
			return inferCSV(ctx, sess, p, compression, &csvDialect{delimiter: d, header: true, quote: sniffValue(quote), escape: sniffValue(escape), lenient: true}, fs)
		}
	}
	fs.csv = csvDialect{delimiter: sniffValue(delim), quote: sniffValue(quote), escape: sniffValue(escape), header: header}
	// A header without data rows sniffs every column as VARCHAR: the names
	// are known, the types are not. Only then is the file read (one row).
	if header && allVarchar(sniffed) {
		empty, err := csvHasNoRows(ctx, sess, p, compression, fs.csv)
		if err == nil && empty {
			fs.noRows = true
		}
	}
	for i, c := range sniffed {
		name := c.Name
		if !header {
			name = fmt.Sprintf("col%d", i) // Glue's names for headerless files
		}
		typ := hiveType(c.Type)
		if fs.noRows {
			typ = ""
		}
		fs.columns = append(fs.columns, catalog.Column{Name: name, Type: typ})
	}
	return nil
}

func allVarchar(cols []struct {
	Name string `json:"name"`
	Type string `json:"type"`
}) bool {
	for _, c := range cols {
		if !strings.EqualFold(c.Type, "VARCHAR") {
			return false
		}
	}
	return true
}

// csvHasNoRows reports whether a CSV file with a header has no data row.
func csvHasNoRows(ctx context.Context, sess *engine.Session, p, compression string, d csvDialect) (bool, error) {
	args := []string{sqlPath(p), "header=true", "all_varchar=true", "delim=" + engine.QuoteString(d.delimiter)}
	if d.quote != "" {
		args = append(args, "quote="+engine.QuoteString(d.quote))
	}
	if d.escape != "" {
		args = append(args, "escape="+engine.QuoteString(d.escape))
	}
	if compression != "none" {
		args = append(args, "compression="+engine.QuoteString(compression))
	}
	var n int64
	err := sess.Conn().QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM read_csv(`+strings.Join(args, ", ")+`) LIMIT 1)`).Scan(&n)
	if err != nil {
		return false, duckError(err)
	}
	return n == 0, nil
}

func inferJSON(ctx context.Context, sess *engine.Session, p, compression string, fs *fileSchema) error {
	args := []string{sqlPath(p), fmt.Sprintf("sample_size=%d", SampleRows)}
	if compression != "none" {
		args = append(args, "compression="+engine.QuoteString(compression))
	}
	cols, err := describe(ctx, sess, `DESCRIBE SELECT * FROM read_json_auto(`+strings.Join(args, ", ")+`)`)
	if err != nil {
		return err
	}
	fs.columns = cols
	return nil
}

func inferParquet(ctx context.Context, sess *engine.Session, p string, fs *fileSchema) error {
	cols, err := describe(ctx, sess, `DESCRIBE SELECT * FROM read_parquet(`+sqlPath(p)+`)`)
	if err != nil {
		return err
	}
	fs.columns = cols
	var rows int64
	if err := sess.Conn().QueryRowContext(ctx, `SELECT num_rows FROM parquet_file_metadata(`+sqlPath(p)+`)`).Scan(&rows); err == nil {
		fs.rows = rows
	}
	var codec string
	err = sess.Conn().QueryRowContext(ctx, `SELECT lower(compression) FROM parquet_metadata(`+sqlPath(p)+`) LIMIT 1`).Scan(&codec)
	switch {
	case err != nil || codec == "":
		fs.compression = ""
	case codec == "uncompressed":
		fs.compression = "none"
	default:
		fs.compression = codec
	}
	return nil
}

// describe runs a DESCRIBE query and returns its columns with Hive types.
func describe(ctx context.Context, sess *engine.Session, q string) ([]catalog.Column, error) {
	rows, err := sess.Conn().QueryContext(ctx, q)
	if err != nil {
		return nil, duckError(err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var cols []catalog.Column
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, duckError(err)
		}
		name, _ := vals[0].(string)
		typ, _ := vals[1].(string)
		cols = append(cols, catalog.Column{Name: name, Type: hiveType(typ)})
	}
	if err := rows.Err(); err != nil {
		return nil, duckError(err)
	}
	return cols, nil
}

// hiveType maps a DuckDB type to the catalog's; a type without an equivalent
// becomes string (the value can always be read as text).
func hiveType(duck string) string {
	t, err := catalog.FromDuckDB(duck)
	if err != nil {
		return "string"
	}
	return t
}

// duckError shortens DuckDB's multi-line errors to their first paragraph,
// on one line.
func duckError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "\n\n"); i > 0 {
		msg = msg[:i]
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}

// splitsHeader returns the usual delimiter (comma, tab, semicolon, pipe)
// that splits a one-column header into the most names, or "".
func splitsHeader(header, sniffed string) string {
	best, most := "", 1
	for _, d := range []string{",", "\t", ";", "|"} {
		if d == sniffed {
			continue
		}
		if n := len(strings.Split(header, d)); n > most {
			best, most = d, n
		}
	}
	return best
}
