package warehouse_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// TestStatementsRunAsWrittenReadNoFiles tries to read a file that no
// catalog table holds from the statements DuckDB runs as written (UPDATE,
// DELETE, MERGE, ALTER), with the spellings a tokenizer misses. Each must
// fail and leave the table as it was; the same statements over warehouse
// tables only still work.
func TestStatementsRunAsWrittenReadNoFiles(t *testing.T) {
	home := t.TempDir()
	l := openLake(t, home)
	ctx := context.Background()
	secret := filepath.Join(home, "objects", "lake", "raw", "secret.csv")
	if err := os.MkdirAll(filepath.Dir(secret), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("id,v\n1,42\n2,43\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, l, "CREATE TABLE public.t (id INT, v INT)")
	run(t, l, "INSERT INTO public.t VALUES (1, 0), (2, 0), (3, 0)")
	run(t, l, "CREATE TABLE public.u (id INT, v INT)")
	run(t, l, "INSERT INTO public.u VALUES (1, 7)")
	q := "'" + secret + "'"
	dq := `"` + secret + `"`
	for _, stmt := range []string{
		`UPDATE public.t SET v = (SELECT max(v) FROM "read_text"(` + q + `))`,
		`UPDATE public.t SET v = (SELECT count(*) FROM "READ_CSV"(` + q + `))`,
		`UPDATE public.t SET v = x.v FROM public.u JOIN public.u u2 ON true, ` + dq + ` x WHERE t.id = x.id`,
		`UPDATE public.t SET v = x.v FROM public.u JOIN public.u u2 ON true, ` + q + ` x WHERE t.id = x.id`,
		`DELETE FROM public.t USING public.u JOIN public.u u2 ON true, ` + dq + ` x WHERE t.id = x.id`,
		`DELETE FROM public.t WHERE id IN (SELECT id FROM ` + q + `)`,
		// Dollar-quoted and E'' strings are strings too (issue 13).
		`DELETE FROM public.t WHERE id IN (SELECT id FROM $$` + secret + `$$)`,
		`DELETE FROM public.t WHERE id IN (SELECT id FROM $x$` + secret + `$x$)`,
		`DELETE FROM public.t WHERE id IN (SELECT id FROM E` + q + `)`,
		`DELETE FROM public.t WHERE id IN (SELECT id FROM /* /* nested */ */ ` + q + `)`,
		// DuckDB reads a no-break or ideographic space as a space.
		"DELETE FROM public.t WHERE id IN (SELECT id FROM\u00a0" + q + ")",
		"DELETE FROM public.t WHERE id IN (SELECT id FROM\u3000" + q + ")",
		"UPDATE public.t SET v = (SELECT count(*) FROM read_csv\u00a0(" + q + "))",
		`DELETE FROM public.t WHERE id IN (WITH ` + dq + ` AS (SELECT 1) SELECT 1 UNION SELECT id FROM ` + dq + `)`,
		`MERGE INTO public.t USING (SELECT * FROM public.u JOIN public.u u2 USING (id), ` + dq + ` x) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 99`,
		`MERGE INTO public.t USING ` + dq + ` s ON t.id = s.id WHEN MATCHED THEN DELETE`,
		`UPDATE public.t SET v = (SELECT count(*) FROM glob(` + q + `))`,
		`UPDATE public.t SET v = (SELECT count(*) FROM warehouse.tarn.late_views)`,
		`UPDATE public.t SET v = (SELECT count(*) FROM "tarn".late_views)`,
		`UPDATE public.t SET v = (SELECT count(*) FROM duckdb_settings())`,
	} {
		_, _, err := l.Query.Run(ctx, stmt, "")
		if err == nil {
			t.Errorf("%s\nsucceeded; want it refused", stmt)
		} else {
			t.Logf("%s\n  -> %v", stmt, err)
		}
		rows := run(t, l, "SELECT count(*)::VARCHAR || '/' || sum(v)::VARCHAR FROM public.t")
		if got := rows[0][0].(string); got != "3/0" {
			t.Fatalf("%s\nchanged the table: %s rows/sum, want 3/0", stmt, got)
		}
	}
	// Warehouse-only statements are unaffected.
	for _, stmt := range []string{
		`UPDATE public.t SET v = u.v FROM public.u WHERE t.id = u.id`,
		`MERGE INTO public.t USING public.u s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v + 1`,
		`DELETE FROM public.t WHERE id IN (SELECT id FROM public.u WHERE v > 100)`,
		`UPDATE t SET v = getdate() IS NOT NULL::INT WHERE id = 3`,
		`ALTER TABLE public.t ADD COLUMN note VARCHAR`,
	} {
		if _, _, err := l.Query.Run(ctx, stmt, ""); err != nil && !strings.Contains(stmt, "getdate") {
			t.Errorf("%s: %v", stmt, err)
		}
	}
	rows := run(t, l, "SELECT v FROM public.t ORDER BY id")
	if len(rows) != 3 || rows[0][0].(int32) != 8 {
		t.Errorf("after the warehouse-only statements: %v", rows)
	}
}

// TestCopyRefusesDeepJSON: a JSON file nested deeper than DuckDB's reader
// survives fails the COPY with the file named, and the server lives on.
func TestCopyRefusesDeepJSON(t *testing.T) {
	home := t.TempDir()
	l := openLake(t, home)
	ctx := context.Background()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat(`{"a":`, 30000) + "1" + strings.Repeat("}", 30000)
	if _, err := l.Store.Put(ctx, "lake", "raw/deep/x.json", strings.NewReader(deep), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, l, "CREATE TABLE public.d (a VARCHAR)")
	_, _, err := l.Query.Run(ctx, "COPY public.d FROM 's3://lake/raw/deep/' FORMAT AS JSON 'auto'", "")
	if err == nil || !strings.Contains(err.Error(), "nested too deeply") || !strings.Contains(err.Error(), "s3://lake/raw/deep/x.json") {
		t.Fatalf("COPY of a deep JSON file: %v", err)
	}
	if rows := run(t, l, "SELECT count(*) FROM public.d"); rows[0][0].(int64) != 0 {
		t.Fatalf("rows loaded: %v", rows)
	}
}

// TestSystemSchemaNotReadable: tarn's bookkeeping in the warehouse (late
// views' definitions, external schemas) is not readable by queries; its
// Redshift system table stl_load_errors is.
func TestSystemSchemaNotReadable(t *testing.T) {
	l := openLake(t, t.TempDir())
	ctx := context.Background()
	for _, q := range []string{
		"SELECT * FROM warehouse.tarn.late_views",
		"SELECT * FROM tarn.external_schemas",
		`SELECT * FROM "warehouse"."tarn"."tables"`,
	} {
		if _, _, err := l.Query.Run(ctx, q, ""); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v", q, err)
		}
	}
	run(t, l, "SELECT count(*) FROM stl_load_errors")
}
