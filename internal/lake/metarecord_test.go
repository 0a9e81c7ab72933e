package lake_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// A home that keeps its metadata in its SQLite file refuses a PostgreSQL
// database (before connecting to it), and says how to move.
func TestMetaRecordRefusesSQLiteHome(t *testing.T) {
	ctx := t.Context()
	home := t.TempDir()
	l, err := lake.Open(ctx, lake.DefaultConfig(home))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	cfg := lake.DefaultConfig(home)
	cfg.Meta = meta.ConfigFor("postgres://tarn:s3cret@127.0.0.1:1/lake")
	_, err = lake.Open(ctx, cfg)
	if !errors.Is(err, lake.ErrMetaMismatch) || !strings.Contains(err.Error(), "migrate-meta") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("open a SQLite home on PostgreSQL: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, lake.MetaFile)); !os.IsNotExist(err) {
		t.Fatalf("meta.json written for a refused open: %v", err)
	}
	// A broken record is an error, not a silent fallback to SQLite.
	if err := os.WriteFile(filepath.Join(home, lake.MetaFile), []byte(`{"driver":"mysql"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lake.Open(ctx, lake.DefaultConfig(home)); err == nil || !strings.Contains(err.Error(), lake.MetaFile) {
		t.Fatalf("broken record: %v", err)
	}
}

// A home opened on PostgreSQL records the database without its password;
// a later open without --meta uses it, another database is refused.
func TestMetaRecordPostgres(t *testing.T) {
	if !metatest.Postgres() {
		t.Skip("PostgreSQL only (TARN_TEST_META=postgres)")
	}
	ctx := t.Context()
	home := filepath.Join(t.TempDir(), "lake")
	dsn := metatest.NewPostgresDatabase(t)
	// The harness's server trusts every password: give one to check that
	// it is not written.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "pw-not-recorded")
	cfg := lake.DefaultConfig(home)
	cfg.Meta = meta.ConfigFor(u.String())
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Catalog.CreateDatabase(ctx, catalog.Database{Name: "on_pg"}, false); err != nil {
		t.Fatal(err)
	}
	l.Close()
	b, err := os.ReadFile(filepath.Join(home, lake.MetaFile))
	if err != nil || strings.Contains(string(b), "pw-not-recorded") || !strings.Contains(string(b), "postgres") {
		t.Fatalf("meta.json: %s %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(home, "tarn.db")); !os.IsNotExist(err) {
		t.Fatalf("a SQLite file was made beside PostgreSQL: %v", err)
	}
	l, err = lake.Open(ctx, lake.DefaultConfig(home))
	if err != nil {
		t.Fatal(err)
	}
	dbs, err := l.Catalog.ListDatabases(ctx)
	driver := l.Meta.Driver()
	l.Close()
	if err != nil || driver != "postgres" || len(dbs) != 1 || dbs[0].Name != "on_pg" {
		t.Fatalf("reopened without --meta: %s %+v %v", driver, dbs, err)
	}
	other := lake.DefaultConfig(home)
	other.Meta = meta.ConfigFor(metatest.NewPostgresDatabase(t))
	if _, err := lake.Open(ctx, other); !errors.Is(err, lake.ErrMetaMismatch) {
		t.Fatalf("another database: %v", err)
	}
}
