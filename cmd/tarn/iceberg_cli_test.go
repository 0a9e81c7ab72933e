package main

import (
	"strings"
	"testing"
)

// TestIcebergCLI drives an Iceberg table from the CLI as a user would:
// create, write, change, travel back, and see its health.
func TestIcebergCLI(t *testing.T) {
	dir := t.TempDir()
	ok(t, tarn(t, dir, "init"))
	ok(t, tarn(t, dir, "query", "CREATE DATABASE d"))
	ok(t, tarn(t, dir, "query", "CREATE TABLE d.t (id int, s string) PARTITIONED BY (bucket(4, id)) TBLPROPERTIES ('table_type'='ICEBERG')"))
	ok(t, tarn(t, dir, "query", "INSERT INTO d.t SELECT i, 'x' FROM range(100) t(i)"))
	ok(t, tarn(t, dir, "query", "DELETE FROM d.t WHERE id < 10"))
	r := ok(t, tarn(t, dir, "query", "--format", "csv", "SELECT count(*) FROM d.t"))
	if !strings.Contains(r.stdout, "90") {
		t.Fatalf("count: %s", r.stdout)
	}
	r = ok(t, tarn(t, dir, "query", "--format", "csv", `SELECT snapshot_id FROM "d"."t$snapshots" ORDER BY committed_at LIMIT 1`))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	first := lines[len(lines)-1]
	r = ok(t, tarn(t, dir, "query", "--format", "csv", "SELECT count(*) FROM d.t FOR VERSION AS OF "+first))
	if !strings.Contains(r.stdout, "100") {
		t.Fatalf("time travel: %s", r.stdout)
	}
	r = ok(t, tarn(t, dir, "catalog", "health", "d.t", "--format", "csv"))
	if !strings.Contains(r.stdout, "snapshots,data_files,small_files,delete_files,data_bytes,records") || !strings.Contains(r.stdout, "\n2,4,4,0,") || !strings.HasSuffix(strings.TrimSpace(r.stdout), ",90") {
		t.Fatalf("health:\n%s", r.stdout)
	}
	// Not an Iceberg table, a missing one, a bad name: clear errors.
	ok(t, tarn(t, dir, "query", "CREATE EXTERNAL TABLE d.h (a int) STORED AS PARQUET LOCATION 's3://lake/h/'"))
	for args, msg := range map[string]string{
		"d.h":    "not an Iceberg table",
		"d.nope": "nope",
		"nodot":  "write it as DATABASE.TABLE",
	} {
		r := tarn(t, dir, "catalog", "health", args)
		if r.code == 0 || !strings.Contains(r.stderr, msg) {
			t.Errorf("health %s: exit %d, stderr %q; want %q", args, r.code, r.stderr, msg)
		}
	}
}
