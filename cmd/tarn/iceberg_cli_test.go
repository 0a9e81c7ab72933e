package main

import (
	"os"
	"path/filepath"
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
	// Maintenance as a scheduled workflow: OPTIMIZE, then VACUUM.
	ok(t, tarn(t, dir, "query", "INSERT INTO d.t SELECT i, 'y' FROM range(100, 140) t(i)"))
	r = ok(t, tarn(t, dir, "catalog", "health", "d.t", "--format", "csv"))
	if !strings.Contains(r.stdout, "\n3,8,8,0,") {
		t.Fatalf("health before OPTIMIZE:\n%s", r.stdout)
	}
	yaml := `name: maintenance
workflows:
  - name: maintain_t
    steps:
      - name: optimize
        sql: OPTIMIZE d.t REWRITE DATA USING BIN_PACK
      - name: vacuum
        sql: VACUUM d.t
        depends_on: [optimize]
triggers:
  - name: nightly_maintenance
    type: SCHEDULED
    workflow: maintain_t
    schedule: cron(0 3 * * ? *)
`
	if err := os.WriteFile(filepath.Join(dir, "tarn.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, tarn(t, dir, "apply", "-f", "tarn.yaml"))
	r = ok(t, tarn(t, dir, "workflow", "start", "maintain_t"))
	if !strings.Contains(r.stdout+r.stderr, "SUCCEEDED") {
		t.Fatalf("workflow run:\n%s\n%s", r.stdout, r.stderr)
	}
	r = ok(t, tarn(t, dir, "catalog", "health", "d.t", "--format", "csv"))
	// Four partitions (buckets), one file each after OPTIMIZE; VACUUM keeps
	// the snapshots younger than its default age (5 days).
	if !strings.Contains(r.stdout, ",4,4,0,") || !strings.HasSuffix(strings.TrimSpace(r.stdout), ",130") {
		t.Fatalf("health after OPTIMIZE and VACUUM:\n%s", r.stdout)
	}
	r = ok(t, tarn(t, dir, "query", "--format", "csv", "SELECT count(*), count(DISTINCT id) FROM d.t"))
	if !strings.Contains(r.stdout, "130,130") {
		t.Fatalf("rows after maintenance: %s", r.stdout)
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
