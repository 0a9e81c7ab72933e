package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// IsDataFile reports whether a key below a table or partition location
// (rel is the part after the location) holds table data. As Athena and Hive
// do, files and folders whose names start with '_' or '.' are not data
// (_SUCCESS, _staging/, _rejected/, .crc), and neither are folder markers and
// empty objects.
func IsDataFile(rel string, size int64) bool {
	if rel == "" || strings.HasSuffix(rel, "/") || size == 0 {
		return false
	}
	for _, seg := range strings.Split(rel, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return false
		}
	}
	return true
}

// TableFiles lists the data files of a table: of all its partitions if
// partitioned, else every data file below its location.
func (e *Engine) TableFiles(ctx context.Context, t catalog.Table) ([]FileRef, error) {
	var parts []catalog.Partition
	selected := []int{-1}
	if len(t.PartitionKeys) > 0 {
		var err error
		parts, err = e.partitions(ctx, t)
		if err != nil {
			return nil, err
		}
		selected = make([]int, len(parts))
		for i := range selected {
			selected[i] = i
		}
	}
	return e.listFiles(ctx, t, parts, selected)
}

// partitions returns a table's partitions: projected from its properties
// (Athena's partition projection) or registered in the catalog. A table with
// injected projection keys has no partitions outside a query
// (Session.partitions takes their values from its WHERE clause).
func (e *Engine) partitions(ctx context.Context, t catalog.Table) ([]catalog.Partition, error) {
	if projected(t) {
		return projectPartitions(t, time.Now(), nil)
	}
	return e.cat.ListPartitions(ctx, t.Database, t.Name)
}

// listFiles lists the data files of the selected partitions (selected ==
// [-1] for an unpartitioned table).
func (e *Engine) listFiles(ctx context.Context, t catalog.Table, parts []catalog.Partition, selected []int) ([]FileRef, error) {
	files, err := e.listLocation(ctx, t, parts, selected)
	if err != nil || t.HasManifest() {
		return files, err
	}
	// Files the crawler could not read are out of the table until a crawl
	// reads them (catalog.SkippedFile).
	skipped, err := e.cat.SkippedFiles(ctx, t.Database, t.Name)
	if err != nil || len(skipped) == 0 {
		return files, err
	}
	out := make(map[string]bool, len(skipped))
	for _, f := range skipped {
		out[f.URI] = true
	}
	kept := files[:0]
	for _, f := range files {
		if !out[f.URI] {
			kept = append(kept, f)
		}
	}
	return kept, nil
}

// listLocation lists the files of a table's selected partitions, from its
// manifest or its storage location.
func (e *Engine) listLocation(ctx context.Context, t catalog.Table, parts []catalog.Partition, selected []int) ([]FileRef, error) {
	loc, err := storage.ParseURI(t.Location)
	if err != nil {
		return nil, fmt.Errorf("cannot list table %s: %w", t.FullName(), err)
	}
	loc = loc.Dir()
	var out []FileRef
	if t.HasManifest() {
		return e.manifestFiles(ctx, t, parts, selected)
	}
	walkPrefix := func(u storage.URI, fn func(o storage.ObjectInfo) error) error {
		for o, err := range storage.Walk(ctx, e.store, u.Bucket, u.Key) {
			if err != nil {
				return fmt.Errorf("cannot list %s of table %s: %w", u, t.FullName(), err)
			}
			if !IsDataFile(strings.TrimPrefix(o.Key, u.Key), o.Size) {
				continue
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	}
	if len(selected) == 1 && selected[0] == -1 {
		err := walkPrefix(loc, func(o storage.ObjectInfo) error {
			out = append(out, FileRef{URI: o.URI(), Size: o.Size, ETag: o.ETag, Partition: -1})
			return nil
		})
		return out, err
	}
	// Many partitions below the table's location: one listing of the whole
	// location is cheaper than one per partition.
	if len(selected) > 64 {
		byDir := map[string]int{}
		under := true
		for _, i := range selected {
			pu, err := storage.ParseURI(parts[i].Location)
			if err != nil || pu.Bucket != loc.Bucket || !strings.HasPrefix(pu.Dir().Key, loc.Key) {
				under = false
				break
			}
			byDir[pu.Dir().Key] = i
		}
		if under {
			err := walkPrefix(loc, func(o storage.ObjectInfo) error {
				dir := o.Key
				for {
					j := strings.LastIndex(strings.TrimSuffix(dir, "/"), "/")
					if j < len(loc.Key)-1 || j < 0 {
						return nil
					}
					dir = dir[:j+1]
					if i, ok := byDir[dir]; ok {
						if IsDataFile(strings.TrimPrefix(o.Key, dir), o.Size) {
							out = append(out, FileRef{URI: o.URI(), Size: o.Size, ETag: o.ETag, Partition: i})
						}
						return nil
					}
				}
			})
			sort.SliceStable(out, func(a, b int) bool { return out[a].Partition < out[b].Partition })
			return out, err
		}
	}
	for _, i := range selected {
		pu, err := storage.ParseURI(parts[i].Location)
		if err != nil {
			return nil, fmt.Errorf("cannot list partition %v of table %s: %w", parts[i].Values, t.FullName(), err)
		}
		pu = pu.Dir()
		err = walkPrefix(pu, func(o storage.ObjectInfo) error {
			out = append(out, FileRef{URI: o.URI(), Size: o.Size, ETag: o.ETag, Partition: i})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// manifestFiles returns the files the catalog lists for the selected
// partitions of a manifest table.
func (e *Engine) manifestFiles(ctx context.Context, t catalog.Table, parts []catalog.Partition, selected []int) ([]FileRef, error) {
	files, err := e.cat.ListFiles(ctx, t.Database, t.Name)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	if len(t.PartitionKeys) > 0 {
		for _, i := range selected {
			index[strings.Join(parts[i].Values, "\x00")] = i
		}
	}
	var out []FileRef
	for _, f := range files {
		p := -1
		if len(t.PartitionKeys) > 0 {
			i, ok := index[strings.Join(f.Values, "\x00")]
			if !ok {
				continue
			}
			p = i
		}
		out = append(out, FileRef{URI: f.URI, Size: f.Size, ETag: f.ETag, Partition: p})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Partition < out[b].Partition })
	return out, nil
}

func bucketOf(uri string) string {
	u, _ := storage.ParseURI(uri)
	return u.Bucket
}

func keyOf(uri string) string {
	u, _ := storage.ParseURI(uri)
	return u.Key
}

// scanSQL builds a table's scan. With rejects set (a name prefix), text
// files are parsed with their column types and rows that do not parse or
// cast go to DuckDB's reject tables <rejects>_errors and <rejects>_scans
// instead of reading as NULL.
// absent names (in lower case) the data columns no Parquet file has.
func scanSQL(t catalog.Table, parts []catalog.Partition, files []FileRef, rejects string, serial bool, absent map[string]bool) (string, error) {
	var dataCols, partCols []col
	for _, c := range t.Columns {
		typ, err := catalog.ParseType(c.Type)
		if err != nil {
			return "", fmt.Errorf("cannot read table %s: column %q: %w", t.FullName(), c.Name, err)
		}
		dataCols = append(dataCols, col{c.Name, typ.DuckDB()})
	}
	for _, c := range t.PartitionKeys {
		typ, err := catalog.ParseType(c.Type)
		if err != nil {
			return "", fmt.Errorf("cannot read table %s: partition key %q: %w", t.FullName(), c.Name, err)
		}
		partCols = append(partCols, col{c.Name, typ.DuckDB()})
	}
	if len(files) == 0 {
		var sel []string
		for _, c := range append(append([]col{}, dataCols...), partCols...) {
			sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", c.duck, QuoteIdent(c.name)))
		}
		return "SELECT " + strings.Join(sel, ", ") + " WHERE false", nil
	}
	// Data columns: text is read as VARCHAR and cast leniently, so a value
	// that does not fit its column type reads as NULL, as Athena's text SerDe
	// does; Parquet and JSON carry types and are cast only where they differ.
	// A column no Parquet file has (added by a later schema version) is NULL.
	var proj []string
	for _, c := range dataCols {
		q := QuoteIdent(c.name)
		switch {
		case t.Format == catalog.FormatCSV && c.duck != "VARCHAR" && rejects == "":
			proj = append(proj, fmt.Sprintf("TRY_CAST(%s AS %s) AS %s", q, c.duck, q))
		case t.Format == catalog.FormatParquet && absent[strings.ToLower(c.name)]:
			proj = append(proj, fmt.Sprintf("CAST(NULL AS %s) AS %s", c.duck, q))
		case t.Format == catalog.FormatParquet:
			proj = append(proj, fmt.Sprintf("CAST(%s AS %s) AS %s", q, c.duck, q))
		default:
			proj = append(proj, q)
		}
	}
	// reader reads files; csvCols, if set, are the CSV files' own columns
	// (from their header) instead of the table's.
	reader := func(fs []FileRef, hive bool, csvCols []col) string {
		paths := make([]string, len(fs))
		for i, f := range fs {
			paths[i] = quoteString(f.Path)
		}
		list := "[" + strings.Join(paths, ", ") + "]"
		var opts []string
		if hive {
			var ht []string
			for _, c := range partCols {
				ht = append(ht, fmt.Sprintf("%s: %s", quoteString(c.name), quoteString(c.duck)))
			}
			opts = append(opts, "hive_partitioning = true", "hive_types = {"+strings.Join(ht, ", ")+"}", "hive_types_autocast = false")
		} else {
			opts = append(opts, "hive_partitioning = false")
		}
		switch t.Format {
		case catalog.FormatParquet:
			return fmt.Sprintf("read_parquet(%s, union_by_name = true, %s)", list, strings.Join(opts, ", "))
		case catalog.FormatJSON:
			var cs []string
			for _, c := range dataCols {
				cs = append(cs, fmt.Sprintf("%s: %s", quoteString(c.name), quoteString(c.duck)))
			}
			format := "auto"
			switch t.FormatOptions[catalog.OptJSONFormat] {
			case "newline_delimited", "array":
				format = t.FormatOptions[catalog.OptJSONFormat]
			}
			return fmt.Sprintf("read_json(%s, columns = {%s}, format = %s, %s)", list, strings.Join(cs, ", "), quoteString(format), strings.Join(opts, ", "))
		default:
			if csvCols == nil {
				csvCols = dataCols
			}
			var cs []string
			for _, c := range csvCols {
				typ := "VARCHAR"
				if rejects != "" {
					typ = c.duck
				}
				cs = append(cs, fmt.Sprintf("%s: %s", quoteString(c.name), quoteString(typ)))
			}
			fo := t.FormatOptions
			delim := fo[catalog.OptDelimiter]
			if delim == "" {
				delim = ","
			}
			quote := fo[catalog.OptQuote]
			if quote == "" {
				quote = `"`
			}
			escape := fo[catalog.OptEscape]
			if escape == "" {
				escape = quote
			}
			header := strings.EqualFold(fo[catalog.OptHeader], "true")
			o := []string{
				"delim = " + quoteString(delim), "quote = " + quoteString(quote), "escape = " + quoteString(escape),
				fmt.Sprintf("header = %t", header), "columns = {" + strings.Join(cs, ", ") + "}",
				"auto_detect = false", "allow_quoted_nulls = false",
			}
			// Athena ignores fields beyond the table's columns; a strict scan
			// (jobs) rejects such a row instead of writing it truncated.
			o = append(o, fmt.Sprintf("strict_mode = %t", rejects != ""))
			if rejects == "" {
				// Athena reads missing trailing fields as NULL; a strict scan
				// rejects such rows instead.
				o = append(o, "null_padding = true")
			}
			if serial {
				o = append(o, "parallel = false")
			}
			if n := fo[catalog.OptNullString]; n != "" {
				o = append(o, "nullstr = "+quoteString(n))
			}
			if rejects != "" {
				o = append(o, "store_rejects = true", "rejects_table = "+quoteString(rejects+"_errors"), "rejects_scan = "+quoteString(rejects+"_scans"))
			}
			return fmt.Sprintf("read_csv(%s, %s, %s)", list, strings.Join(o, ", "), strings.Join(opts, ", "))
		}
	}
	// selectFrom selects the table's columns, then extra, from files. CSV
	// files whose header names the table's columns in another order, or
	// only some of them (written before the table's schema grew), are read
	// by name, one branch per header; the other files by position.
	selectFrom := func(fs []FileRef, hive bool, extra []string) string {
		if t.Format != catalog.FormatCSV {
			return fmt.Sprintf("SELECT %s FROM %s", strings.Join(append(append([]string{}, proj...), extra...), ", "), reader(fs, hive, nil))
		}
		type group struct {
			cols  []col
			files []FileRef
		}
		var groups []*group
		byKey := map[string]*group{}
		for _, f := range fs {
			cols := csvLayout(dataCols, partCols, f.header)
			key := ""
			for _, c := range cols {
				key += c.name + "\x00"
			}
			g := byKey[key]
			if g == nil {
				g = &group{cols: cols}
				byKey[key] = g
				groups = append(groups, g)
			}
			g.files = append(g.files, f)
		}
		var branches []string
		for _, g := range groups {
			sel := proj
			if g.cols != nil {
				in := map[string]bool{}
				for _, c := range g.cols {
					in[c.name] = true
				}
				sel = make([]string, len(proj))
				for i, c := range dataCols {
					sel[i] = proj[i]
					if !in[c.name] {
						sel[i] = fmt.Sprintf("CAST(NULL AS %s) AS %s", c.duck, QuoteIdent(c.name))
					}
				}
			}
			branches = append(branches, fmt.Sprintf("SELECT %s FROM %s", strings.Join(append(append([]string{}, sel...), extra...), ", "), reader(g.files, hive, g.cols)))
		}
		return strings.Join(branches, " UNION ALL ")
	}
	if len(partCols) == 0 {
		return selectFrom(files, false, nil), nil
	}
	if hiveConsistent(t, parts, files) {
		var sel []string
		for _, c := range partCols {
			sel = append(sel, QuoteIdent(c.name))
		}
		return selectFrom(files, true, sel), nil
	}
	// Partition values that are not in the paths: one branch per partition.
	var branches []string
	for i := 0; i < len(files); {
		j := i
		for j < len(files) && files[j].Partition == files[i].Partition {
			j++
		}
		p := parts[files[i].Partition]
		var sel []string
		for k, c := range partCols {
			v := "NULL"
			if k < len(p.Values) {
				v = quoteString(p.Values[k])
			}
			sel = append(sel, fmt.Sprintf("TRY_CAST(%s AS %s) AS %s", v, c.duck, QuoteIdent(c.name)))
		}
		branches = append(branches, selectFrom(files[i:j], false, sel))
		i = j
	}
	return strings.Join(branches, " UNION ALL "), nil
}

// col is a column of a scan: its name and DuckDB type.
type col struct{ name, duck string }

// csvLayout returns the columns of a CSV file with the given header when
// it must be read by name: its header names only table columns (matched
// case-insensitively, as Athena does) or partition keys, each once, but not
// exactly the table's columns in order. Partition keys are read under
// another name and left out: the folder's value is the column. It returns
// nil for reading by position (the header matches, or names something
// else: such a file is read as before, its extra fields rejected by a
// strict scan).
func csvLayout(dataCols, partCols []col, header []string) []col {
	if len(header) == 0 {
		return nil
	}
	find := func(cols []col, name string) int {
		for i, c := range cols {
			if strings.EqualFold(c.name, name) {
				return i
			}
		}
		return -1
	}
	same := len(header) == len(dataCols)
	seen := map[string]bool{}
	out := make([]col, 0, len(header))
	for i, h := range header {
		k := strings.ToLower(h)
		if h == "" || seen[k] {
			return nil
		}
		seen[k] = true
		if j := find(dataCols, h); j >= 0 {
			same = same && j == i
			out = append(out, dataCols[j])
		} else if find(partCols, h) >= 0 {
			same = false
			out = append(out, col{fmt.Sprintf("__tarn_partition_%d", i), "VARCHAR"})
		} else {
			return nil
		}
	}
	if same {
		return nil
	}
	return out
}

// fileSchemas reads what scanSQL needs to know of a table's files' own
// schemas: the header of each CSV file (when the table has headers), and
// which data columns no Parquet file has (from the cached footers).
func (e *Engine) fileSchemas(ctx context.Context, s *Session, t catalog.Table, files []FileRef) (map[string]bool, error) {
	switch {
	case len(files) == 0:
		return nil, nil
	case t.Format == catalog.FormatParquet:
		entries, err := e.parquetColumns(ctx, s, files)
		if err != nil {
			return nil, err
		}
		// The footers' column paths are cut at ", " (parquetColumns): cut
		// the names alike, so a name with ", " is never taken for absent.
		top := func(name string) string {
			name = strings.ToLower(name)
			if i := strings.Index(name, ", "); i >= 0 {
				return name[:i]
			}
			return name
		}
		present := map[string]bool{}
		for _, pe := range entries {
			for name := range pe.columns {
				present[name] = true
			}
		}
		absent := map[string]bool{}
		for _, c := range t.Columns {
			if !present[top(c.Name)] {
				absent[strings.ToLower(c.Name)] = true
			}
		}
		return absent, nil
	case t.Format == catalog.FormatCSV && strings.EqualFold(t.FormatOptions[catalog.OptHeader], "true"):
		for i := range files {
			h, err := csvHeader(ctx, files[i].Path, t.FormatOptions)
			if err != nil {
				return nil, fmt.Errorf("cannot read %s of table %s: %w", files[i].URI, t.FullName(), err)
			}
			files[i].header = h
		}
	}
	return nil, nil
}

// csvHeader returns the column names in a CSV file's first line, trimmed
// as DuckDB's sniffer trims them (so they match what a crawler recorded),
// or nil if the line cannot be split without a CSV parser: a quote or
// escape other than '"' in use, or a line over 1 MiB.
func csvHeader(ctx context.Context, path string, fo map[string]string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, closeFn, _, err := decompressing(f)
	if err != nil {
		return nil, nil // not a stream DuckDB reads either; it reports why
	}
	defer closeFn()
	br := bufio.NewReaderSize(contextReader{ctx, r}, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > 1<<20 {
			return nil, nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, nil
		}
		break
	}
	text := strings.TrimRight(strings.TrimPrefix(string(line), "\ufeff"), "\r\n")
	if text == "" {
		return nil, nil
	}
	delim, quote, escape := fo[catalog.OptDelimiter], fo[catalog.OptQuote], fo[catalog.OptEscape]
	if delim == "" {
		delim = ","
	}
	if quote == "" {
		quote = `"`
	}
	if escape == "" {
		escape = quote
	}
	var names []string
	switch {
	case !strings.Contains(text, quote) && (escape == quote || !strings.Contains(text, escape)):
		names = strings.Split(text, delim)
	case quote == `"` && escape == `"` && utf8.RuneCountInString(delim) == 1:
		cr := csv.NewReader(strings.NewReader(text))
		cr.Comma, _ = utf8.DecodeRuneInString(delim)
		cr.FieldsPerRecord = -1
		rec, err := cr.Read()
		if err != nil {
			return nil, nil
		}
		names = rec
	default:
		return nil, nil
	}
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return names, nil
}

// hiveConsistent reports whether every file's path names exactly the table's
// partition keys as key=value folders with its partition's values, so DuckDB's
// hive partitioning yields the catalog's values.
func hiveConsistent(t catalog.Table, parts []catalog.Partition, files []FileRef) bool {
	for _, f := range files {
		if f.Partition < 0 || f.Partition >= len(parts) {
			return false
		}
		p := parts[f.Partition]
		dirs := strings.Split(filepath.ToSlash(filepath.Dir(f.Path)), "/")
		found := map[string]string{}
		for _, d := range dirs {
			if k, v, ok := strings.Cut(d, "="); ok {
				if _, dup := found[strings.ToLower(k)]; dup {
					return false
				}
				found[strings.ToLower(k)] = v
			}
		}
		if len(found) != len(t.PartitionKeys) {
			return false
		}
		for i, k := range t.PartitionKeys {
			v, ok := found[strings.ToLower(k.Name)]
			if !ok || i >= len(p.Values) || v != p.Values[i] || v == "" || strings.Contains(v, "%") {
				return false
			}
		}
	}
	return true
}

// bytesScanned is the data a query reads of a table as Athena bills it:
// whole (compressed) files for text formats; for Parquet, the footers and the
// compressed column chunks of the referenced columns only.
func (e *Engine) bytesScanned(ctx context.Context, s *Session, t catalog.Table, files []FileRef, columns []string) (int64, error) {
	var total int64
	if t.Format != catalog.FormatParquet {
		for _, f := range files {
			total += f.Size
		}
		return total, nil
	}
	entries, err := e.parquetColumns(ctx, s, files)
	if err != nil {
		return 0, err
	}
	for _, pe := range entries {
		total += pe.footer
		if columns == nil {
			total += pe.total
			continue
		}
		for _, c := range columns {
			total += pe.columns[c]
		}
	}
	return total, nil
}

// parquetColumns returns per-file column sizes, reading the footers of files
// not cached yet in one DuckDB query.
func (e *Engine) parquetColumns(ctx context.Context, s *Session, files []FileRef) ([]parquetEntry, error) {
	out := make([]parquetEntry, len(files))
	var missing []int
	e.pqCache.mu.Lock()
	for i, f := range files {
		stamp := fmt.Sprintf("%d", f.Size)
		if st, err := os.Stat(f.Path); err == nil {
			stamp += "@" + st.ModTime().String()
		}
		if pe, ok := e.pqCache.entries[f.Path]; ok && pe.stamp == stamp {
			out[i] = pe
		} else {
			out[i] = parquetEntry{stamp: stamp, columns: map[string]int64{}}
			missing = append(missing, i)
		}
	}
	e.pqCache.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	idx := map[string]int{}
	var paths []string
	for _, i := range missing {
		idx[files[i].Path] = i
		paths = append(paths, quoteString(files[i].Path))
		out[i].footer = footerSize(files[i].Path)
	}
	q := fmt.Sprintf(`SELECT file_name, path_in_schema, sum(total_compressed_size)::BIGINT
		FROM parquet_metadata([%s]) GROUP BY ALL`, strings.Join(paths, ", "))
	rows, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot read Parquet metadata: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var file, path string
		var size int64
		if err := rows.Scan(&file, &path, &size); err != nil {
			return nil, err
		}
		i, ok := idx[file]
		if !ok {
			continue
		}
		top := path
		if j := strings.Index(top, ", "); j >= 0 {
			top = top[:j]
		}
		out[i].columns[strings.ToLower(top)] += size
		out[i].total += size
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read Parquet metadata: %w", err)
	}
	e.pqCache.mu.Lock()
	for _, i := range missing {
		e.pqCache.entries[files[i].Path] = out[i]
	}
	e.pqCache.mu.Unlock()
	return out, nil
}

// footerSize reads a Parquet file's footer length (the last 8 bytes are the
// footer length and "PAR1").
func footerSize(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < 12 {
		return 0
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], st.Size()-8); err != nil && err != io.EOF {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(tail[:4])) + 8
}
