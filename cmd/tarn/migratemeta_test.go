package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// tarn migrate-meta copies a lake's SQLite metadata into PostgreSQL; the
// lake opened on PostgreSQL then has its catalog; a second copy is refused.
func TestMigrateMeta(t *testing.T) {
	if !metatest.Postgres() {
		t.Skip("PostgreSQL only (TARN_TEST_META=postgres)")
	}
	ctx := t.Context()
	data := filepath.Join(t.TempDir(), "lake")
	l, err := lake.Open(ctx, lake.DefaultConfig(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Catalog.CreateDatabase(ctx, catalog.Database{Name: "sales_db", Description: "it's ?"}, false); err != nil {
		t.Fatal(err)
	}
	l.Close()
	to := metatest.NewPostgresDatabase(t)
	run := func(args ...string) (string, error) {
		g := &globals{data: data}
		cmd := migrateMetaCmd(g)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	if _, err := run("--to", "/not/a/url"); err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("bad --to: %v", err)
	}
	out, err := run("--to", to)
	if err != nil || !strings.Contains(out, "catalog_databases") {
		t.Fatalf("migrate-meta: %v\n%s", err, out)
	}
	cfg := lake.DefaultConfig(data)
	cfg.Meta = meta.ConfigFor(to)
	pl, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dbs, err := pl.Catalog.ListDatabases(ctx)
	pl.Close()
	if err != nil || len(dbs) != 1 || dbs[0].Name != "sales_db" || dbs[0].Description != "it's ?" {
		t.Fatalf("databases on PostgreSQL: %+v %v", dbs, err)
	}
	if _, err := run("--to", to); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second copy: %v", err)
	}
}
