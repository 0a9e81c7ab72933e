package engine

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"
	"github.com/twmb/murmur3"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Iceberg writes: DuckDB computes the rows and writes the Parquet data files
// itself (COPY ... FIELD_IDS, so every column carries its Iceberg field id);
// tarn reads each file's footer and describes it as an Iceberg data file
// (table.DataFileFromMetadata) for the caller to commit in one snapshot.
// Partition values are computed in SQL per the spec's transforms (bucket by
// a Go function, tarn_iceberg_bucket, since DuckDB has no murmur3), and the
// rows are written one folder per distinct partition tuple, numbered: the
// typed tuples stay in Go, never parsed back from folder names.

// IcebergWrite describes a write of a query's rows as new data files of an
// Iceberg table.
type IcebergWrite struct {
	// Location is the table's location (s3://bucket/prefix); files go
	// below <Location>/data/.
	Location string
	// Schema and Spec are the table's current schema and partition spec.
	Schema *iceberggo.Schema
	Spec   iceberggo.PartitionSpec
	// Properties are the table's properties: write.parquet.compression-codec
	// (zstd by default, as Iceberg's), write.target-file-size-bytes, and the
	// metrics modes DataFileFromMetadata reads.
	Properties    iceberggo.Properties
	FormatVersion int
	// RunID names the staging folder and the files (<run>-<n>.parquet).
	RunID string
}

// IcebergWriteResult is what a write produced: the files are at their final
// paths, described as Iceberg data files, and not yet committed.
type IcebergWriteResult struct {
	Rows  int64
	Bytes int64
	Files []iceberggo.DataFile
}

// URIs returns the paths of the files written.
func (r *IcebergWriteResult) URIs() []string {
	if r == nil {
		return nil
	}
	out := make([]string, len(r.Files))
	for i, f := range r.Files {
		out[i] = f.FilePath()
	}
	return out
}

// IcebergCompression is the Parquet compression of a table's properties
// (write.parquet.compression-codec, Iceberg's default zstd) as DuckDB names it.
func IcebergCompression(props iceberggo.Properties) (string, error) {
	c := strings.ToLower(props.Get("write.parquet.compression-codec", "zstd"))
	switch c {
	case "zstd", "snappy", "gzip", "lz4", "brotli":
		return c, nil
	case "uncompressed", "none":
		return "uncompressed", nil
	}
	return "", fmt.Errorf("write.parquet.compression-codec %q is not one of zstd, snappy, gzip, lz4, brotli, uncompressed", c)
}

// IcebergTargetFileSize is the size data files are written to: the
// table's write.target-file-size-bytes, else Iceberg's default 512 MiB.
func IcebergTargetFileSize(props iceberggo.Properties) int64 {
	if v := props.Get("write.target-file-size-bytes", ""); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 512 << 20
}

// WriteIceberg runs query (already bound; its columns are, by position, the
// schema's top-level columns, cast to their types here) into new data files
// of the table. On error nothing written remains.
func (s *Session) WriteIceberg(ctx context.Context, query string, w IcebergWrite) (*IcebergWriteResult, error) {
	if w.RunID == "" {
		return nil, errors.New("cannot write: no run id")
	}
	if w.Schema == nil {
		return nil, errors.New("cannot write: no Iceberg schema")
	}
	comp, err := IcebergCompression(w.Properties)
	if err != nil {
		return nil, fmt.Errorf("cannot write: %w", err)
	}
	fileSize := IcebergTargetFileSize(w.Properties)
	loc, err := storage.ParseURI(strings.TrimSuffix(w.Location, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("cannot write to %s: %w", w.Location, err)
	}
	target := loc.Dir().Join("data/")
	if err := registerIcebergFuncs(s); err != nil {
		return nil, err
	}

	fields := w.Schema.Fields()
	proj := make([]string, len(fields))
	for i, f := range fields {
		d, err := icebergDuckType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("cannot write column %q: %w", f.Name, err)
		}
		proj[i] = fmt.Sprintf("CAST(#%d AS %s) AS %s", i+1, d, QuoteIdent(f.Name))
		if f.Required {
			// Iceberg's readers trust a required column: a NULL fails the write.
			proj[i] = fmt.Sprintf("CASE WHEN #%d IS NULL THEN error(%s) ELSE CAST(#%d AS %s) END AS %s", i+1,
				quoteString(fmt.Sprintf("column %s is required (NOT NULL) in the Iceberg schema", f.Name)), i+1, d, QuoteIdent(f.Name))
		}
	}
	cast := fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(proj, ", "), query)

	parts, err := partitionExprs(w.Schema, w.Spec)
	if err != nil {
		return nil, err
	}
	fieldIDs, err := fieldIDsOption(w.Schema)
	if err != nil {
		return nil, err
	}

	stagingKey := target.Join("_staging/" + w.RunID + "/").Key
	dir, local, err := s.stagingDir(ctx, target.Bucket, stagingKey, w.RunID)
	if err != nil {
		// Another writer of the table may have removed an empty _staging/
		// between our creating it and our folder in it: once more.
		if dir, local, err = s.stagingDir(ctx, target.Bucket, stagingKey, w.RunID); err != nil {
			return nil, err
		}
	}
	// Only the run's own folder goes: concurrent writers share _staging/.
	defer os.RemoveAll(dir)

	opts := []string{"FORMAT parquet", "COMPRESSION " + comp, "FIELD_IDS " + fieldIDs, "FILENAME_PATTERN 'part-{i}'"}
	res := &IcebergWriteResult{}
	// tuples[pid] is the partition tuple of folder __tarn_pid=<pid>.
	var tuples [][]any
	if len(parts) == 0 {
		opts = append(opts, fmt.Sprintf("FILE_SIZE_BYTES %d", fileSize))
		copySQL := fmt.Sprintf("COPY (%s) TO %s (%s)", cast, quoteString(dir), strings.Join(opts, ", "))
		if err := s.conn.QueryRowContext(ctx, copySQL).Scan(&res.Rows); err != nil {
			return nil, fmt.Errorf("cannot write to %s: %w", target, err)
		}
	} else {
		rowsT := "__tarn_iw_rows_" + sanitizeName(w.RunID)
		tupT := "__tarn_iw_parts_" + sanitizeName(w.RunID)
		s.dropLater("DROP TABLE IF EXISTS temp." + rowsT)
		s.dropLater("DROP TABLE IF EXISTS temp." + tupT)
		var pcols, on []string
		for i, p := range parts {
			pcols = append(pcols, fmt.Sprintf("%s AS __tarn_p%d", p.expr, i))
			on = append(on, fmt.Sprintf("r.__tarn_p%d IS NOT DISTINCT FROM p.__tarn_p%d", i, i))
		}
		if _, err := s.conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT *, %s FROM (%s)", rowsT, strings.Join(pcols, ", "), cast)); err != nil {
			return nil, fmt.Errorf("cannot write to %s: %w", target, err)
		}
		var pnames []string
		for i := range parts {
			pnames = append(pnames, fmt.Sprintf("__tarn_p%d", i))
		}
		if _, err := s.conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT (row_number() OVER ()) - 1 AS __tarn_pid, * FROM (SELECT %s, count(*) AS __tarn_n FROM %s GROUP BY ALL)",
			tupT, strings.Join(pnames, ", "), rowsT)); err != nil {
			return nil, fmt.Errorf("cannot write to %s: %w", target, err)
		}
		// DuckDB cannot size the files of a partitioned COPY: a partition
		// with more rows than a file of the target size holds (estimated
		// from a sample's text width) is cut into chunks of rows.
		chunk, err := s.rowsPerFile(ctx, rowsT, tupT, fields, fileSize)
		if err != nil {
			return nil, fmt.Errorf("cannot write to %s: %w", target, err)
		}
		rows, err := s.conn.QueryContext(ctx, fmt.Sprintf("SELECT __tarn_pid, %s FROM %s ORDER BY __tarn_pid", strings.Join(pnames, ", "), tupT))
		if err != nil {
			return nil, fmt.Errorf("cannot write to %s: %w", target, err)
		}
		for rows.Next() {
			vals := make([]any, len(parts)+1)
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			tuple := make([]any, len(parts))
			for i, p := range parts {
				if tuple[i], err = p.value(vals[i+1]); err != nil {
					rows.Close()
					return nil, fmt.Errorf("cannot write to %s: partition field %s: %w", target, p.field.Name, err)
				}
			}
			tuples = append(tuples, tuple)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		var cols []string
		for _, f := range fields {
			cols = append(cols, "r."+QuoteIdent(f.Name))
		}
		sel := "p.__tarn_pid"
		if chunk > 0 {
			sel += fmt.Sprintf(", (row_number() OVER (PARTITION BY p.__tarn_pid) - 1) // %d AS __tarn_chunk", chunk)
			opts = append(opts, "PARTITION_BY (__tarn_pid, __tarn_chunk)")
		} else {
			opts = append(opts, "PARTITION_BY (__tarn_pid)")
		}
		copySQL := fmt.Sprintf("COPY (SELECT %s, %s FROM %s r JOIN %s p ON %s) TO %s (%s)",
			strings.Join(cols, ", "), sel, rowsT, tupT, strings.Join(on, " AND "), quoteString(dir), strings.Join(opts, ", "))
		if err := s.conn.QueryRowContext(ctx, copySQL).Scan(&res.Rows); err != nil {
			return nil, fmt.Errorf("cannot write to %s: %w", target, err)
		}
		_, _ = s.conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp."+rowsT)
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
	type job struct {
		path  string
		final storage.URI
		tuple []any
	}
	jobs := make([]job, len(staged))
	for n, p := range staged {
		rel, _ := filepath.Rel(dir, p)
		relDir := filepath.ToSlash(filepath.Dir(rel))
		var tuple []any
		name := fmt.Sprintf("%s-%05d.parquet", w.RunID, n)
		final := target.Join(name)
		if relDir != "." {
			first, _, _ := strings.Cut(relDir, "/")
			_, v, _ := strings.Cut(first, "=")
			pid, err := strconv.Atoi(v)
			if err != nil || pid < 0 || pid >= len(tuples) {
				return nil, fmt.Errorf("cannot publish %s: unexpected staged folder %q", target, relDir)
			}
			tuple = tuples[pid]
			final = target.Join(w.Spec.PartitionToPath(structLike(tuple), w.Schema) + "/" + name)
		}
		jobs[n] = job{p, final, tuple}
	}
	res.Files = make([]iceberggo.DataFile, len(jobs))
	written := make([]string, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			md, err := readFooter(j.path)
			if err != nil {
				errs[i] = fmt.Errorf("cannot read the footer of %s: %w", j.final, err)
				return
			}
			info, err := s.e.importFile(ctx, j.final, j.path, local)
			if err != nil {
				errs[i] = fmt.Errorf("cannot publish %s: %w", j.final, err)
				return
			}
			written[i] = j.final.String()
			var pv map[int]any
			if len(j.tuple) > 0 {
				pv = map[int]any{}
				for k, v := range j.tuple {
					pv[parts[k].field.FieldID] = v
				}
			}
			df, err := table.DataFileFromMetadata(table.DataFileArgs{
				Schema: w.Schema, Spec: w.Spec, Format: iceberggo.ParquetFile, Metadata: md,
				FilePath: j.final.String(), FileSize: info.Size, Content: iceberggo.EntryContentData,
				PartitionValues: pv, Properties: w.Properties, FormatVersion: w.FormatVersion,
			})
			if err != nil {
				errs[i] = fmt.Errorf("cannot describe data file %s: %w", j.final, err)
				return
			}
			res.Files[i] = df
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.e.deleteURIs(context.WithoutCancel(ctx), written)
		return nil, err
	}
	for _, f := range res.Files {
		res.Bytes += f.FileSizeBytes()
	}
	return res, nil
}

// rowsPerFile is how many rows of the largest partition tuple fill a file
// of fileSize bytes, or 0 when every partition fits in one file. A row's
// Parquet size is taken as half its text width (a sample's average):
// compression makes files smaller than their text, how much varies.
func (s *Session) rowsPerFile(ctx context.Context, rowsT, tupT string, fields []iceberggo.NestedField, fileSize int64) (int64, error) {
	var most int64
	if err := s.conn.QueryRowContext(ctx, "SELECT coalesce(max(__tarn_n), 0) FROM "+tupT).Scan(&most); err != nil {
		return 0, err
	}
	if most < 10000 {
		return 0, nil // no file of so few rows is worth cutting
	}
	var widths []string
	for _, f := range fields {
		widths = append(widths, fmt.Sprintf("coalesce(octet_length(CAST(CAST(%s AS VARCHAR) AS BLOB)), 0)", QuoteIdent(f.Name)))
	}
	var width float64
	q := fmt.Sprintf("SELECT coalesce(avg(%s), 0) FROM (SELECT * FROM %s USING SAMPLE 10000 ROWS)", strings.Join(widths, " + "), rowsT)
	if err := s.conn.QueryRowContext(ctx, q).Scan(&width); err != nil {
		return 0, err
	}
	n := int64(float64(fileSize) / max(1, width/2))
	if n >= most {
		return 0, nil
	}
	return max(n, 1000), nil
}

// DeleteIcebergFiles removes files a write produced that were not committed.
func (e *Engine) DeleteIcebergFiles(ctx context.Context, files []iceberggo.DataFile) {
	uris := make([]string, 0, len(files))
	for _, f := range files {
		if f != nil {
			uris = append(uris, f.FilePath())
		}
	}
	e.deleteURIs(ctx, uris)
}

func (e *Engine) deleteURIs(ctx context.Context, uris []string) {
	for _, u := range uris {
		if u == "" {
			continue
		}
		if p, err := storage.ParseURI(u); err == nil {
			_ = e.store.Delete(ctx, p.Bucket, p.Key)
		}
	}
}

func readFooter(path string) (_ *metadata.FileMetaData, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := file.NewParquetReader(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.MetaData(), nil
}

// structLike is a partition tuple as iceberg-go's StructLike.
type structLike []any

func (s structLike) Size() int        { return len(s) }
func (s structLike) Get(i int) any    { return s[i] }
func (s structLike) Set(i int, v any) { s[i] = v }

// sanitizeName keeps letters and digits of a run id for a temp table name.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// fieldIDsOption is COPY's FIELD_IDS value for a schema, nested fields too.
func fieldIDsOption(sch *iceberggo.Schema) (string, error) {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range sch.Fields() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(QuoteIdent(f.Name) + ": ")
		writeFieldID(&b, f.ID, f.Type)
	}
	b.WriteString("}")
	return b.String(), nil
}

func writeFieldID(b *strings.Builder, id int, t iceberggo.Type) {
	switch t := t.(type) {
	case *iceberggo.StructType:
		fmt.Fprintf(b, "{__duckdb_field_id: %d", id)
		for _, f := range t.FieldList {
			b.WriteString(", " + QuoteIdent(f.Name) + ": ")
			writeFieldID(b, f.ID, f.Type)
		}
		b.WriteString("}")
	case *iceberggo.ListType:
		fmt.Fprintf(b, "{__duckdb_field_id: %d, element: ", id)
		writeFieldID(b, t.ElementID, t.Element)
		b.WriteString("}")
	case *iceberggo.MapType:
		fmt.Fprintf(b, "{__duckdb_field_id: %d, key: ", id)
		writeFieldID(b, t.KeyID, t.KeyType)
		b.WriteString(", value: ")
		writeFieldID(b, t.ValueID, t.ValueType)
		b.WriteString("}")
	default:
		fmt.Fprintf(b, "%d", id)
	}
}

// icebergDuckType is the DuckDB type a writer casts a column to: the
// reader's (DuckType), for the types tarn writes.
func icebergDuckType(t iceberggo.Type) (string, error) {
	if err := writable(t); err != nil {
		return "", err
	}
	return DuckType(t)
}

// writable refuses the types DuckDB cannot write as Iceberg has them:
// fixed(n) (DuckDB has no fixed-length binary) and nanosecond timestamps.
func writable(t iceberggo.Type) error {
	switch t := t.(type) {
	case iceberggo.FixedType, iceberggo.TimestampNsType, iceberggo.TimestampTzNsType:
		return fmt.Errorf("Iceberg type %s is not written by tarn", t)
	case *iceberggo.StructType:
		for _, f := range t.FieldList {
			if err := writable(f.Type); err != nil {
				return err
			}
		}
	case *iceberggo.ListType:
		return writable(t.Element)
	case *iceberggo.MapType:
		if err := writable(t.KeyType); err != nil {
			return err
		}
		return writable(t.ValueType)
	}
	return nil
}

// partExpr is one partition field: the SQL of its transform's value (over
// the cast columns), and how a value read back becomes the Go value
// iceberg-go keeps for the field's result type.
type partExpr struct {
	field iceberggo.PartitionField
	expr  string
	value func(any) (any, error)
}

const (
	microsPerHour = 3600 * 1000000
	microsPerDay  = 24 * microsPerHour
)

// floorDiv is SQL for floor(x / d) on integers, exact for negative x.
func floorDiv(x string, d int64) string {
	return fmt.Sprintf("((%s) - ((((%s) %% %d) + %d) %% %d)) // %d", x, x, d, d, d, d)
}

func partitionExprs(sch *iceberggo.Schema, spec iceberggo.PartitionSpec) ([]partExpr, error) {
	var out []partExpr
	for _, pf := range spec.Fields() {
		src, ok := sch.FindFieldByID(pf.SourceID())
		if !ok {
			return nil, fmt.Errorf("cannot write: partition field %s has no source column (field %d)", pf.Name, pf.SourceID())
		}
		c := QuoteIdent(src.Name)
		p := partExpr{field: pf}
		bad := func() error {
			return fmt.Errorf("cannot write: partition transform %s of column %s (%s) is not supported by tarn's writer", pf.Transform, src.Name, src.Type)
		}
		// micros is the column as microseconds since the epoch (UTC).
		micros := ""
		switch src.Type.(type) {
		case iceberggo.TimestampType, iceberggo.TimestampTzType:
			micros = "epoch_us(" + c + ")"
		case iceberggo.DateType:
			micros = fmt.Sprintf("(CAST(%s - DATE '1970-01-01' AS BIGINT) * %d)", c, int64(microsPerDay))
		}
		// ts is the column as a TIMESTAMP in UTC.
		ts := ""
		if micros != "" {
			ts = "make_timestamp(" + micros + ")"
		}
		switch tr := pf.Transform.(type) {
		case iceberggo.IdentityTransform:
			e, conv, err := transferExpr(c, src.Type)
			if err != nil {
				return nil, fmt.Errorf("cannot write: partition field %s: %w", pf.Name, err)
			}
			p.expr, p.value = e, conv
		case iceberggo.YearTransform:
			if ts == "" {
				return nil, bad()
			}
			p.expr, p.value = fmt.Sprintf("CAST(year(%s) - 1970 AS INTEGER)", ts), toInt32
		case iceberggo.MonthTransform:
			if ts == "" {
				return nil, bad()
			}
			p.expr, p.value = fmt.Sprintf("CAST((year(%s) - 1970) * 12 + month(%s) - 1 AS INTEGER)", ts, ts), toInt32
		case iceberggo.DayTransform:
			if micros == "" {
				return nil, bad()
			}
			p.expr = fmt.Sprintf("CAST(%s AS INTEGER)", floorDiv(micros, microsPerDay))
			p.value = func(v any) (any, error) {
				n, err := toInt32(v)
				if n == nil || err != nil {
					return n, err
				}
				return iceberggo.Date(n.(int32)), nil
			}
		case iceberggo.HourTransform:
			if micros == "" {
				return nil, bad()
			}
			if _, ok := src.Type.(iceberggo.DateType); ok {
				return nil, bad()
			}
			p.expr, p.value = fmt.Sprintf("CAST(%s AS INTEGER)", floorDiv(micros, microsPerHour)), toInt32
		case iceberggo.BucketTransform:
			n := tr.NumBuckets
			switch src.Type.(type) {
			case iceberggo.Int32Type, iceberggo.Int64Type:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(CAST(%s AS BIGINT), %d)", c, n)
			case iceberggo.DateType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(CAST(%s - DATE '1970-01-01' AS BIGINT), %d)", c, n)
			case iceberggo.TimeType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(datediff('microsecond', TIME '00:00:00', %s), %d)", c, n)
			case iceberggo.TimestampType, iceberggo.TimestampTzType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(epoch_us(%s), %d)", c, n)
			case iceberggo.StringType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(encode(%s), %d)", c, n)
			case iceberggo.BinaryType, iceberggo.FixedType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(CAST(%s AS BLOB), %d)", c, n)
			case iceberggo.UUIDType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket(unhex(replace(CAST(%s AS VARCHAR), '-', '')), %d)", c, n)
			case iceberggo.DecimalType:
				p.expr = fmt.Sprintf("tarn_iceberg_bucket_decimal(CAST(%s AS VARCHAR), %d)", c, n)
			default:
				return nil, bad()
			}
			p.value = toInt32
		case iceberggo.TruncateTransform:
			w := tr.Width
			switch t := src.Type.(type) {
			case iceberggo.Int32Type:
				p.expr, p.value = fmt.Sprintf("CAST(%s - (((%s %% %d) + %d) %% %d) AS INTEGER)", c, c, w, w, w), toInt32
			case iceberggo.Int64Type:
				p.expr, p.value = fmt.Sprintf("CAST(%s - (((%s %% %d) + %d) %% %d) AS BIGINT)", c, c, w, w, w), toInt64
			case iceberggo.StringType:
				p.expr, p.value = fmt.Sprintf("substring(%s, 1, %d)", c, w), toString
			case iceberggo.DecimalType:
				// On the unscaled value, as the spec says; done in Go.
				p.expr = fmt.Sprintf("CAST(%s AS VARCHAR)", c)
				p.value = func(v any) (any, error) {
					if v == nil {
						return nil, nil
					}
					u, err := unscaled(fmt.Sprint(v), t.Scale())
					if err != nil {
						return nil, err
					}
					wb := big.NewInt(int64(w))
					m := new(big.Int).Mod(u, wb) // Euclidean: 0 <= m < w
					u.Sub(u, m)
					return decimalValue(u, t.Scale())
				}
			default:
				return nil, bad()
			}
		case iceberggo.VoidTransform:
			p.expr, p.value = "NULL", func(any) (any, error) { return nil, nil }
		default:
			return nil, bad()
		}
		out = append(out, p)
	}
	return out, nil
}

// transferExpr is the SQL that reads an identity partition value back in a
// form converted exactly to iceberg-go's Go value.
func transferExpr(c string, t iceberggo.Type) (string, func(any) (any, error), error) {
	switch t := t.(type) {
	case iceberggo.BooleanType:
		return c, func(v any) (any, error) { return v, nil }, nil
	case iceberggo.Int32Type:
		return c, toInt32, nil
	case iceberggo.Int64Type:
		return c, toInt64, nil
	case iceberggo.Float32Type:
		return c, func(v any) (any, error) {
			if f, ok := v.(float64); ok {
				return float32(f), nil
			}
			return v, nil
		}, nil
	case iceberggo.Float64Type:
		return c, func(v any) (any, error) { return v, nil }, nil
	case iceberggo.StringType:
		return c, toString, nil
	case iceberggo.DateType:
		return fmt.Sprintf("CAST(%s - DATE '1970-01-01' AS INTEGER)", c), func(v any) (any, error) {
			n, err := toInt32(v)
			if n == nil || err != nil {
				return n, err
			}
			return iceberggo.Date(n.(int32)), nil
		}, nil
	case iceberggo.TimeType:
		return fmt.Sprintf("datediff('microsecond', TIME '00:00:00', %s)", c), func(v any) (any, error) {
			n, err := toInt64(v)
			if n == nil || err != nil {
				return n, err
			}
			return iceberggo.Time(n.(int64)), nil
		}, nil
	case iceberggo.TimestampType, iceberggo.TimestampTzType:
		return fmt.Sprintf("epoch_us(%s)", c), func(v any) (any, error) {
			n, err := toInt64(v)
			if n == nil || err != nil {
				return n, err
			}
			return iceberggo.Timestamp(n.(int64)), nil
		}, nil
	case iceberggo.DecimalType:
		return fmt.Sprintf("CAST(%s AS VARCHAR)", c), func(v any) (any, error) {
			if v == nil {
				return nil, nil
			}
			u, err := unscaled(fmt.Sprint(v), t.Scale())
			if err != nil {
				return nil, err
			}
			return decimalValue(u, t.Scale())
		}, nil
	case iceberggo.UUIDType:
		return fmt.Sprintf("CAST(%s AS VARCHAR)", c), func(v any) (any, error) {
			if v == nil {
				return nil, nil
			}
			return uuid.Parse(fmt.Sprint(v))
		}, nil
	case iceberggo.BinaryType, iceberggo.FixedType:
		return fmt.Sprintf("CAST(%s AS BLOB)", c), func(v any) (any, error) { return v, nil }, nil
	}
	return "", nil, fmt.Errorf("identity partitions of %s are not supported by tarn's writer", t)
}

func toInt32(v any) (any, error) {
	switch n := v.(type) {
	case nil:
		return nil, nil
	case int32:
		return n, nil
	case int64:
		return int32(n), nil
	case int:
		return int32(n), nil
	case int16:
		return int32(n), nil
	case int8:
		return int32(n), nil
	}
	return nil, fmt.Errorf("unexpected %T for an int partition value", v)
}

func toInt64(v any) (any, error) {
	switch n := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case int:
		return int64(n), nil
	}
	return nil, fmt.Errorf("unexpected %T for a long partition value", v)
}

func toString(v any) (any, error) {
	switch s := v.(type) {
	case nil:
		return nil, nil
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return nil, fmt.Errorf("unexpected %T for a string partition value", v)
}

// unscaled parses a decimal's text (as DuckDB prints it, with exactly
// scale digits after the point) into its unscaled integer.
func unscaled(text string, scale int) (*big.Int, error) {
	text = strings.TrimSpace(text)
	neg := strings.HasPrefix(text, "-")
	text = strings.TrimPrefix(text, "-")
	ip, fp, _ := strings.Cut(text, ".")
	if len(fp) > scale {
		return nil, fmt.Errorf("decimal %q has more than %d digits after the point", text, scale)
	}
	fp += strings.Repeat("0", scale-len(fp))
	u, ok := new(big.Int).SetString(ip+fp, 10)
	if !ok {
		return nil, fmt.Errorf("cannot read decimal %q", text)
	}
	if neg {
		u.Neg(u)
	}
	return u, nil
}

func decimalValue(u *big.Int, scale int) (any, error) {
	if u.BitLen() > 127 {
		return nil, fmt.Errorf("decimal %s does not fit 128 bits", u)
	}
	return iceberggo.Decimal{Val: decimal128.FromBigInt(u), Scale: scale}, nil
}

// IcebergBucket is Iceberg's bucket function over a value's hash bytes (the
// spec's: murmur3_x86_32 of the bytes, sign bit cleared, modulo n).
func IcebergBucket(b []byte, n int32) int32 {
	return int32((murmur3.Sum32(b) & 0x7fffffff) % uint32(n))
}

// IcebergBucketLong is bucket(n) of an int, long, date, time or timestamp
// (all hashed as 8 little-endian bytes of a long).
func IcebergBucketLong(v int64, n int32) int32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	return IcebergBucket(b[:], n)
}

// IcebergBucketDecimal is bucket(n) of a decimal's unscaled value (its
// minimal big-endian two's-complement bytes).
func IcebergBucketDecimal(u *big.Int, n int32) int32 {
	return IcebergBucket(twosComplement(u), n)
}

func twosComplement(u *big.Int) []byte {
	if u.Sign() >= 0 {
		b := u.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// Negative: 2^(8k) + u for the smallest k that keeps the sign bit.
	k := (u.BitLen() + 8) / 8
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*k))
	b := m.Add(m, u).Bytes()
	for len(b) < k {
		b = append([]byte{0xff}, b...)
	}
	for len(b) > 1 && b[0] == 0xff && b[1]&0x80 != 0 {
		b = b[1:]
	}
	return b
}

// bucketFunc is tarn_iceberg_bucket(BIGINT|BLOB, INTEGER) -> INTEGER.
type bucketFunc struct{ blob bool }

func (f bucketFunc) Config() duckdb.ScalarFuncConfig {
	in, _ := duckdb.NewTypeInfo(duckdb.TYPE_BIGINT)
	if f.blob {
		in, _ = duckdb.NewTypeInfo(duckdb.TYPE_BLOB)
	}
	i, _ := duckdb.NewTypeInfo(duckdb.TYPE_INTEGER)
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{in, i}, ResultTypeInfo: i}
}

func (f bucketFunc) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(v []driver.Value) (any, error) {
		n, ok := v[1].(int32)
		if !ok || n <= 0 {
			return nil, fmt.Errorf("bucket count must be positive")
		}
		switch x := v[0].(type) {
		case int64:
			return IcebergBucketLong(x, n), nil
		case []byte:
			return IcebergBucket(x, n), nil
		}
		return nil, fmt.Errorf("tarn_iceberg_bucket: unexpected %T", v[0])
	}}
}

// bucketDecimalFunc is tarn_iceberg_bucket_decimal(VARCHAR, INTEGER):
// the decimal's text as DuckDB prints it.
type bucketDecimalFunc struct{}

func (bucketDecimalFunc) Config() duckdb.ScalarFuncConfig {
	s, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	i, _ := duckdb.NewTypeInfo(duckdb.TYPE_INTEGER)
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{s, i}, ResultTypeInfo: i}
}

func (bucketDecimalFunc) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(v []driver.Value) (any, error) {
		n, ok := v[1].(int32)
		if !ok || n <= 0 {
			return nil, fmt.Errorf("bucket count must be positive")
		}
		text, _ := v[0].(string)
		_, fp, _ := strings.Cut(text, ".")
		u, err := unscaled(text, len(fp))
		if err != nil {
			return nil, err
		}
		return IcebergBucketDecimal(u, n), nil
	}}
}

// icebergFuncs registers the bucket functions once per engine (a scalar
// function is the instance's, visible to every connection).
var icebergFuncs sync.Map // *Engine -> *icebergFuncsOnce

type icebergFuncsOnce struct {
	once sync.Once
	err  error
}

func registerIcebergFuncs(s *Session) error {
	v, _ := icebergFuncs.LoadOrStore(s.e, &icebergFuncsOnce{})
	o := v.(*icebergFuncsOnce)
	o.once.Do(func() {
		if err := duckdb.RegisterScalarUDFSet(s.conn, "tarn_iceberg_bucket", bucketFunc{}, bucketFunc{blob: true}); err != nil {
			o.err = fmt.Errorf("cannot register tarn_iceberg_bucket: %w", err)
			return
		}
		if err := duckdb.RegisterScalarUDF(s.conn, "tarn_iceberg_bucket_decimal", bucketDecimalFunc{}); err != nil {
			o.err = fmt.Errorf("cannot register tarn_iceberg_bucket_decimal: %w", err)
		}
	})
	return o.err
}

// IcebergFileColumn is the column of IcebergTarget's rows naming the data
// file a row is in (its path as the table's manifests write it).
const IcebergFileColumn = "__tarn_file"

// IcebergPosColumn is the column of IcebergTarget's rows holding a row's
// position in its data file (what a position delete names).
const IcebergPosColumn = "__tarn_pos"

// IcebergTarget is what a copy-on-write statement reads of an Iceberg
// table: the live rows of its current snapshot (position and equality
// deletes applied), each with the data file it is in.
type IcebergTarget struct {
	// SQL selects the schema's columns and IcebergFileColumn.
	SQL string
	// Tasks are the scan tasks read, by data file path: the snapshot's
	// files that the filter given to IcebergTarget does not rule out.
	Tasks map[string]table.FileScanTask
	// All are all the snapshot's scan tasks when a filter pruned some (for
	// deciding which delete files still apply to files not read), else
	// nil: Tasks are all.
	All map[string]table.FileScanTask
	// Snapshot is the snapshot read (nil for a table with none).
	Snapshot *table.Snapshot
}

// IcebergTarget plans the current snapshot of tbl (the metadata of catalog
// table t) and returns the SQL of its rows. A filter (nil for none) rules
// out the files whose partition values or column bounds show no row can
// satisfy it; it must be implied by the caller's own condition. Files
// outside the table's location are refused: the location is what a key's
// rights were checked on.
func (s *Session) IcebergTarget(ctx context.Context, t catalog.Table, tbl *table.Table, filter iceberggo.BooleanExpression) (*IcebergTarget, error) {
	cols, err := icebergColumns(tbl.Schema())
	if err != nil {
		return nil, fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
	}
	out := &IcebergTarget{Tasks: map[string]table.FileScanTask{}, Snapshot: tbl.CurrentSnapshot()}
	empty := func() string {
		return fmt.Sprintf("SELECT *, CAST(NULL AS VARCHAR) AS %s, CAST(NULL AS BIGINT) AS %s FROM (%s)", IcebergFileColumn, IcebergPosColumn, emptySQL(cols))
	}
	if out.Snapshot == nil {
		out.SQL = empty()
		return out, nil
	}
	plan := func(filter iceberggo.BooleanExpression) ([]table.FileScanTask, error) {
		opts := []table.ScanOption{table.WithSnapshotID(out.Snapshot.SnapshotID)}
		if filter != nil {
			opts = append(opts, table.WithRowFilter(filter))
		}
		return tbl.Scan(opts...).PlanFiles(ctx)
	}
	// A filtered plan leaves out the delete files that cannot delete a row
	// matching the filter; but every live row of a file is rewritten, so
	// the tasks (and their delete files) come from the full plan, and the
	// filtered one only chooses which files are read.
	all, err := plan(nil)
	if err != nil {
		return nil, fmt.Errorf("cannot plan the scan of table %s: %w", t.FullName(), err)
	}
	tasks := all
	if filter != nil {
		if some, err := plan(filter); err == nil { // a filter iceberg-go cannot bind: read every file
			keep := make(map[string]bool, len(some))
			for _, task := range some {
				keep[task.File.FilePath()] = true
			}
			tasks = nil
			for _, task := range all {
				if keep[task.File.FilePath()] {
					tasks = append(tasks, task)
				}
			}
			out.All = make(map[string]table.FileScanTask, len(all))
			for _, task := range all {
				out.All[task.File.FilePath()] = task
			}
		}
	}
	if len(tasks) == 0 {
		out.SQL = empty()
		return out, nil
	}
	local := func(uri string) (string, error) {
		bucket, key, err := iceberg.ParseLocation(uri)
		if err != nil {
			return "", fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
		}
		norm := "s3://" + bucket + "/" + key
		if !underLocation(t.Location, norm) {
			return "", fmt.Errorf("%w: table %s names file %s, outside its location %s", ErrPermission, t.FullName(), uri, t.Location)
		}
		s.e.files.add([]string{norm})
		s.held = append(s.held, norm)
		p, cleanup, err := s.e.LocalPath(ctx, bucket, key)
		if err != nil {
			return "", fmt.Errorf("cannot read %s of table %s: %w", uri, t.FullName(), err)
		}
		s.cleanups = append(s.cleanups, cleanup)
		return p, nil
	}
	schemaMap := schemaParam(cols)
	nm := tbl.NameMapping()
	// Which columns (by field id) a file has, and under which names, is in
	// its footer (cached: Iceberg files never change); read the uncached
	// ones in parallel first.
	localPaths := make(map[string]string, len(tasks))
	var footers [][2]string
	for _, task := range tasks {
		f := task.File
		if len(task.DeletionVectorFiles) > 0 {
			return nil, fmt.Errorf("cannot rewrite table %s: data file %s has deletion vectors (Iceberg format v3), which tarn does not read yet", t.FullName(), f.FilePath())
		}
		if task.Start != 0 || (task.Length > 0 && task.Length < f.FileSizeBytes()) {
			return nil, fmt.Errorf("cannot rewrite table %s: a split of data file %s was planned; tarn reads whole files", t.FullName(), f.FilePath())
		}
		if f.FileFormat() != iceberggo.ParquetFile {
			return nil, fmt.Errorf("cannot rewrite table %s: data file %s is %s; tarn reads Parquet data files", t.FullName(), f.FilePath(), f.FileFormat())
		}
		out.Tasks[f.FilePath()] = task
		p, err := local(f.FilePath())
		if err != nil {
			return nil, err
		}
		localPaths[f.FilePath()] = p
		footers = append(footers, [2]string{f.FilePath(), p})
	}
	if err := s.fileSchemas(ctx, footers); err != nil {
		return nil, fmt.Errorf("cannot rewrite table %s: %w", t.FullName(), err)
	}
	type fileGroup struct {
		proj        string // the select list over the scan
		opts        string // read_parquet's options after the file list
		paths, uris []string
	}
	groups := map[string]*fileGroup{}
	var order []string
	var parts []string
	for _, task := range tasks {
		f := task.File
		p := localPaths[f.FilePath()]
		fs, err := s.fileSchema(ctx, f.FilePath(), p)
		if err != nil {
			return nil, fmt.Errorf("cannot rewrite table %s: %w", t.FullName(), err)
		}
		noDeletes := len(task.DeleteFiles) == 0 && len(task.EqualityDeleteFiles) == 0
		base := fmt.Sprintf("SELECT * FROM read_parquet([%s], schema = %s, file_row_number = true)", quoteString(p), schemaMap)
		// As on the read path: a file whose footer gives field ids is read
		// by its own column names (the schema parameter keeps a join's
		// filters out of the scan, and MERGE is a join); a file without ids
		// (a converted Hive table's) by the names the name mapping gives,
		// with identity partition columns from its partition values.
		group := ""
		if byName, ok := idProjection(cols, fs); ok {
			if noDeletes {
				group = byName + "\x00\x00" + fs.signature
				if _, seen := groups[group]; !seen {
					groups[group] = &fileGroup{proj: byName}
				}
			} else {
				base = fmt.Sprintf("SELECT %s, file_row_number FROM read_parquet([%s], file_row_number = true)", byName, quoteString(p))
			}
		} else if nm != nil && !fs.hasIDs {
			exprs, err := namedProjection(cols, nm, fs.names, tbl.Metadata().PartitionSpecByID(int(f.SpecID())), f.Partition())
			if err != nil {
				return nil, fmt.Errorf("cannot rewrite table %s: data file %s: %w", t.FullName(), f.FilePath(), err)
			}
			base = fmt.Sprintf("SELECT %s, file_row_number FROM read_parquet([%s], file_row_number = true)", exprs, quoteString(p))
		} else if noDeletes {
			group = "\x00schema"
			if _, seen := groups[group]; !seen {
				groups[group] = &fileGroup{proj: projection(cols, ""), opts: ", schema = " + schemaMap}
			}
		}
		if group != "" {
			if len(groups[group].paths) == 0 {
				order = append(order, group)
			}
			groups[group].paths = append(groups[group].paths, p)
			groups[group].uris = append(groups[group].uris, f.FilePath())
			continue
		}
		var conds []string
		if len(task.DeleteFiles) > 0 {
			var dl []string
			for _, d := range task.DeleteFiles {
				dp, err := local(d.FilePath())
				if err != nil {
					return nil, err
				}
				dl = append(dl, quoteString(dp))
			}
			conds = append(conds, fmt.Sprintf("d.file_row_number NOT IN (SELECT pos FROM read_parquet([%s]) WHERE file_path = %s)",
				strings.Join(dl, ", "), quoteString(f.FilePath())))
		}
		for _, ed := range task.EqualityDeleteFiles {
			dp, err := local(ed.FilePath())
			if err != nil {
				return nil, err
			}
			var eqCols []icol
			var on []string
			for _, id := range ed.EqualityFieldIDs() {
				c, ok := colByID(cols, id)
				if !ok {
					return nil, fmt.Errorf("cannot rewrite table %s: equality delete file %s matches on field %d, which the schema lacks", t.FullName(), ed.FilePath(), id)
				}
				eqCols = append(eqCols, c)
				q := QuoteIdent(c.name)
				on = append(on, fmt.Sprintf("e.%s IS NOT DISTINCT FROM d.%s", q, q))
			}
			if len(on) == 0 {
				return nil, fmt.Errorf("cannot rewrite table %s: equality delete file %s names no fields", t.FullName(), ed.FilePath())
			}
			conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM read_parquet([%s], schema = %s) e WHERE %s)",
				quoteString(dp), schemaParam(eqCols), strings.Join(on, " AND ")))
		}
		if len(conds) == 0 {
			conds = []string{"true"}
		}
		parts = append(parts, fmt.Sprintf("SELECT %s, %s AS %s, d.file_row_number AS %s FROM (%s) d WHERE %s",
			projection(cols, "d."), quoteString(f.FilePath()), IcebergFileColumn, IcebergPosColumn, base, strings.Join(conds, " AND ")))
	}
	for i := len(order) - 1; i >= 0; i-- {
		g := groups[order[i]]
		quoted := make([]string, len(g.paths))
		for j, p := range g.paths {
			quoted[j] = quoteString(p)
		}
		scan := fmt.Sprintf("(SELECT %s, __tarn_path, file_row_number FROM read_parquet([%s]%s, filename = '__tarn_path', file_row_number = true)) d",
			g.proj, strings.Join(quoted, ", "), g.opts)
		// Each row names its data file by URI: computed from the local path
		// when every file's path and URI differ only in a common prefix (the
		// object store's folder), else by a join on a small table of both.
		if expr, ok := uriOfPath(g.paths, g.uris, "d.__tarn_path"); ok {
			parts = append([]string{fmt.Sprintf("SELECT %s, %s AS %s, d.file_row_number AS %s FROM %s",
				projection(cols, "d."), expr, IcebergFileColumn, IcebergPosColumn, scan)}, parts...)
			continue
		}
		files := "__tarn_ice_files_" + sanitizeName(fmt.Sprint(len(s.temps), "_", i, "_", out.Snapshot.SnapshotID))
		if _, err := s.conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+files+" (path VARCHAR, uri VARCHAR)"); err != nil {
			return nil, err
		}
		s.dropLater("DROP TABLE IF EXISTS temp." + files)
		for j := 0; j < len(g.paths); j += 500 {
			k := min(j+500, len(g.paths))
			var ph []string
			var args []any
			for n := j; n < k; n++ {
				ph = append(ph, "(?, ?)")
				args = append(args, g.paths[n], g.uris[n])
			}
			if _, err := s.conn.ExecContext(ctx, "INSERT INTO "+files+" VALUES "+strings.Join(ph, ", "), args...); err != nil {
				return nil, err
			}
		}
		parts = append([]string{fmt.Sprintf("SELECT %s, f.uri AS %s, d.file_row_number AS %s FROM %s JOIN %s f ON d.__tarn_path = f.path",
			projection(cols, "d."), IcebergFileColumn, IcebergPosColumn, scan, files)}, parts...)
	}
	out.SQL = strings.Join(parts, " UNION ALL ")
	return out, nil
}

// uriOfPath is the SQL expression turning a scan's file name column (col)
// into the data file's URI, when each of paths differs from its URI only by
// one prefix common to all (P+S is the path, U+S the URI): U || the rest of
// the path after P. Cheaper per row than a join, and it keeps the scan
// directly under the statement's own joins.
func uriOfPath(paths, uris []string, col string) (string, bool) {
	if len(paths) == 0 || len(paths) != len(uris) {
		return "", false
	}
	split := func(p, u string) (string, string) {
		n := 0
		for n < len(p) && n < len(u) && p[len(p)-1-n] == u[len(u)-1-n] {
			n++
		}
		// Keep the split on a character boundary: substr counts characters.
		for n > 0 && !utf8.RuneStart(p[len(p)-n]) {
			n--
		}
		return p[:len(p)-n], u[:len(u)-n]
	}
	pp, up := split(paths[0], uris[0])
	for i := range paths {
		a, b := split(paths[i], uris[i])
		if a != pp || b != up {
			return "", false
		}
	}
	return fmt.Sprintf("(%s || substr(%s, %d))", quoteString(up), col, utf8.RuneCountInString(pp)+1), true
}

// TempTable creates a temporary table from a query (dropped when the
// session is released).
func (s *Session) TempTable(ctx context.Context, name, query string, args ...any) error {
	s.dropLater("DROP TABLE IF EXISTS temp." + QuoteIdent(name))
	if _, err := s.conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+QuoteIdent(name)+" AS "+query, args...); err != nil {
		return err
	}
	return nil
}

// IcebergDeleteGroup is the data files of one partition that one position
// delete file covers.
type IcebergDeleteGroup struct {
	Spec      iceberggo.PartitionSpec
	Partition map[int]any
	Files     []string
}

// Field ids of a position delete file's columns (Iceberg's reserved ids).
const (
	posDeleteFilePathID = 2147483546
	posDeletePosID      = 2147483545
)

// WriteIcebergDeletes writes position delete files (merge-on-read): query
// yields (file_path VARCHAR, pos BIGINT), and each group's rows go to one
// file in the group's partition, sorted by path and position as the spec
// requires. On error nothing written remains.
func (s *Session) WriteIcebergDeletes(ctx context.Context, query string, w IcebergWrite, groups []IcebergDeleteGroup) (*IcebergWriteResult, error) {
	comp, err := IcebergCompression(w.Properties)
	if err != nil {
		return nil, fmt.Errorf("cannot write: %w", err)
	}
	loc, err := storage.ParseURI(strings.TrimSuffix(w.Location, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("cannot write to %s: %w", w.Location, err)
	}
	target := loc.Dir().Join("data/")
	stagingKey := target.Join("_staging/" + w.RunID + "/").Key
	dir, local, err := s.stagingDir(ctx, target.Bucket, stagingKey, w.RunID)
	if err != nil {
		if dir, local, err = s.stagingDir(ctx, target.Bucket, stagingKey, w.RunID); err != nil {
			return nil, err
		}
	}
	defer os.RemoveAll(dir)
	res := &IcebergWriteResult{}
	var written []string
	fail := func(err error) (*IcebergWriteResult, error) {
		s.e.deleteURIs(context.WithoutCancel(ctx), written)
		return nil, err
	}
	for n, g := range groups {
		path := filepath.Join(dir, fmt.Sprintf("deletes-%05d.parquet", n))
		var rows int64
		copySQL := fmt.Sprintf("COPY (SELECT CAST(file_path AS VARCHAR) AS file_path, CAST(pos AS BIGINT) AS pos FROM (%s) WHERE file_path IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2) TO %s (FORMAT parquet, COMPRESSION %s, FIELD_IDS {file_path: %d, pos: %d})",
			query, quoteString(path), comp, posDeleteFilePathID, posDeletePosID)
		if err := s.conn.QueryRowContext(ctx, copySQL, g.Files).Scan(&rows); err != nil {
			return fail(fmt.Errorf("cannot write position deletes to %s: %w", target, err))
		}
		if rows == 0 {
			continue
		}
		md, err := readFooter(path)
		if err != nil {
			return fail(err)
		}
		rel := fmt.Sprintf("%s-deletes-%05d.parquet", w.RunID, n)
		if pp := g.Spec.PartitionToPath(partitionTuple(g.Spec, g.Partition), w.Schema); pp != "" {
			rel = pp + "/" + rel
		}
		final := target.Join(rel)
		info, err := s.e.importFile(ctx, final, path, local)
		if err != nil {
			return fail(fmt.Errorf("cannot publish %s: %w", final, err))
		}
		written = append(written, final.String())
		var ref *string
		if len(g.Files) == 1 {
			ref = &g.Files[0]
		}
		var pv map[int]any
		if len(g.Partition) > 0 {
			pv = g.Partition
		}
		df, err := table.DataFileFromMetadata(table.DataFileArgs{
			Schema: iceberggo.PositionalDeleteSchema, Spec: g.Spec, Format: iceberggo.ParquetFile, Metadata: md,
			FilePath: final.String(), FileSize: info.Size, Content: iceberggo.EntryContentPosDeletes,
			PartitionValues: pv, Properties: w.Properties, FormatVersion: w.FormatVersion, ReferencedDataFile: ref,
		})
		if err != nil {
			return fail(fmt.Errorf("cannot describe delete file %s: %w", final, err))
		}
		res.Files = append(res.Files, df)
		res.Rows += rows
		res.Bytes += info.Size
	}
	return res, nil
}

// partitionTuple orders a partition map by the spec's fields.
func partitionTuple(spec iceberggo.PartitionSpec, p map[int]any) structLike {
	var out structLike
	for _, f := range spec.Fields() {
		out = append(out, p[f.FieldID])
	}
	return out
}
