package query_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// openLake opens a fresh lake in a temp folder with bucket "lake" holding
// the files of testdata/lake/ (as raw/...).
func openLake(t testing.TB) *lake.Lake {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("testdata", "lake")
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = l.Store.Put(ctx, "lake", filepath.ToSlash(rel), f, storage.PutOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Query.Warehouse() == nil {
		// Until internal/lake wires the warehouse into the query service.
		w, err := warehouse.New(ctx, warehouse.DefaultConfig(), l.Engine)
		if err != nil {
			t.Fatal(err)
		}
		if l.Query, err = query.New(ctx, l.Meta, l.Engine, query.WithWarehouse(w)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// duck runs statements on a plain, unsandboxed DuckDB: tests use it to write
// Parquet fixtures into the lake, as another engine would.
func duck(t testing.TB, stmts ...string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// runScript runs a test script: blocks separated by blank lines, each one
//
//	exec                      the statement must succeed
//	error <text>              the statement must fail with <text> in the error
//	query [scanned=N] [partitions=S/T] [files=F]
//	                          the result (values joined by "|", NULL as NULL) follows "----"
//
// followed by the SQL (and for query, "----" and the expected rows).
// "--" lines before a block are comments.
func runScript(t *testing.T, l *lake.Lake, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks [][]string
	var cur []string
	lineNo := map[int]int{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
			continue
		}
		if len(cur) == 0 && strings.HasPrefix(line, "#") {
			continue
		}
		if len(cur) == 0 {
			lineNo[len(blocks)] = n
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	ctx := context.Background()
	for bi, b := range blocks {
		where := fmt.Sprintf("%s:%d", path, lineNo[bi])
		head := strings.Fields(b[0])
		var sqlLines, want []string
		inResult := false
		for _, ln := range b[1:] {
			if ln == "----" {
				inResult = true
				continue
			}
			if inResult {
				want = append(want, ln)
			} else {
				sqlLines = append(sqlLines, ln)
			}
		}
		stmt := strings.Join(sqlLines, "\n")
		c := &query.Collect{}
		ex, err := l.Query.Execute(ctx, query.Request{SQL: stmt, Database: "testdb"}, c)
		switch head[0] {
		case "exec":
			if err != nil {
				t.Errorf("%s: %s\nunexpected error: %v", where, stmt, err)
			}
		case "error":
			text := strings.TrimSpace(strings.TrimPrefix(b[0], "error"))
			if err == nil {
				t.Errorf("%s: %s\nexpected an error containing %q, got none", where, stmt, text)
			} else if !strings.Contains(err.Error(), text) {
				t.Errorf("%s: %s\nexpected an error containing %q, got: %v", where, stmt, text, err)
			}
		case "query":
			if err != nil {
				t.Errorf("%s: %s\nunexpected error: %v", where, stmt, err)
				continue
			}
			got := render(c)
			for i := range got { // ids of this execution (rejected rows' folders)
				got[i] = strings.ReplaceAll(got[i], ex.ID, "ID")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: %s\nwant:\n%s\ngot:\n%s", where, stmt, strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
			for _, opt := range head[1:] {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "scanned":
					n, _ := strconv.ParseInt(v, 10, 64)
					if ex.Stats.BytesScanned != n {
						t.Errorf("%s: data scanned %d, want %d", where, ex.Stats.BytesScanned, n)
					}
				case "partitions":
					if g := fmt.Sprintf("%d/%d", ex.Stats.PartitionsScanned, ex.Stats.PartitionsTotal); g != v {
						t.Errorf("%s: partitions %s, want %s", where, g, v)
					}
				case "files":
					if g := strconv.Itoa(ex.Stats.FilesScanned); g != v {
						t.Errorf("%s: files %s, want %s", where, g, v)
					}
				default:
					t.Fatalf("%s: unknown query option %q", where, opt)
				}
			}
		default:
			t.Fatalf("%s: unknown directive %q", where, head[0])
		}
	}
}

// render formats a result as CSV-ish lines: values joined by ",", NULL for nil.
func render(c *query.Collect) []string {
	var out []string
	for _, r := range c.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = query.FormatValue(v, c.Cols[i].Type)
			if v == nil {
				cells[i] = "NULL"
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.test"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			l := openLake(t)
			if _, err := l.Catalog.GetDatabase(context.Background(), "testdb"); err != nil {
				if _, _, err := l.Query.Run(context.Background(), "CREATE DATABASE testdb", ""); err != nil {
					t.Fatal(err)
				}
			}
			writeParquetFixtures(t, l)
			runScript(t, l, f)
		})
	}
}

// writeParquetFixtures writes Parquet files into s3://lake/curated/ the way
// another engine would: partitioned sales (region, year), unnamed partition
// folders (2025/01/) and two partitions whose schemas differ.
func writeParquetFixtures(t testing.TB, l *lake.Lake) {
	t.Helper()
	dir := t.TempDir()
	q := func(s string) string {
		p := filepath.Join(dir, s)
		if filepath.Ext(p) != "" {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return "'" + p + "'"
	}
	duck(t,
		"COPY (SELECT i AS id, i * 1.5 AS amount, 'note' || i AS note, 'r' || (i % 3) AS region, 2024 + (i % 2) AS year FROM range(300) t(i)) TO "+q("sales")+" (FORMAT parquet, PARTITION_BY (region, year))",
		"CREATE TABLE p AS SELECT * FROM (VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 2)) v(id, v, m)",
		"COPY (SELECT id, v FROM p WHERE m = 1) TO "+q("plain/2025/01/part.parquet")+" (FORMAT parquet)",
		"COPY (SELECT id, v FROM p WHERE m = 2) TO "+q("plain/2025/02/part.parquet")+" (FORMAT parquet)",
		"COPY (SELECT 1::BIGINT AS id, 'x' AS a) TO "+q("drift/dt=2025-01-01/a.parquet")+" (FORMAT parquet)",
		"COPY (SELECT 2::BIGINT AS id, 'y' AS a, 2.5::DOUBLE AS b) TO "+q("drift/dt=2025-01-02/b.parquet")+" (FORMAT parquet)",
	)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = l.Store.Put(context.Background(), "lake", "curated/"+filepath.ToSlash(rel), f, storage.PutOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lakeConfig is a lake in home with its metadata on the backend
// TARN_TEST_META names (metatest: SQLite in home, or a fresh PostgreSQL
// database).
func lakeConfig(t testing.TB, home string) lake.Config {
	t.Helper()
	cfg := lake.DefaultConfig(home)
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	return cfg
}
