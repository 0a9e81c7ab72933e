package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// testEngine opens an engine over a real fs store and a SQLite catalog in a
// temp lake home.
func testEngine(t *testing.T) (*engine.Engine, *catalog.Catalog, storage.ObjectStore, string) {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(home, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := catalog.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig(home)
	cfg.Sessions = 2
	e, err := engine.New(ctx, cfg, store, cat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, cat, store, home
}

func newEngine(t *testing.T) (*engine.Engine, string) {
	t.Helper()
	e, _, _, home := testEngine(t)
	return e, home
}

// TestDuckDBSandbox runs escapes directly on a session, below tarn's own
// statement checks: DuckDB's locked configuration must refuse them too.
func TestDuckDBSandbox(t *testing.T) {
	e, home := newEngine(t)
	ctx := context.Background()
	s, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	outside := filepath.Join(t.TempDir(), "secret.csv")
	if err := os.WriteFile(outside, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(home, "objects", "b.csv")
	if err := os.WriteFile(inside, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT * FROM read_csv('" + outside + "')",
		"SELECT * FROM read_text('/etc/passwd')",
		"COPY (SELECT 1) TO '" + filepath.Join(t.TempDir(), "x.csv") + "'",
		"ATTACH '" + filepath.Join(t.TempDir(), "x.db") + "'",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SET allowed_directories = ['/']",
		"SET lock_configuration = false",
	} {
		if _, err := s.Conn().ExecContext(ctx, q); err == nil {
			t.Errorf("%s: succeeded inside the sandbox", q)
		} else if !strings.Contains(err.Error(), "Permission") && !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "disabled") {
			t.Errorf("%s: unexpected error %v", q, err)
		}
	}
	// The lake's own folder stays readable for tarn's bindings.
	var n int
	if err := s.Conn().QueryRowContext(ctx, "SELECT count(*) FROM read_csv('"+inside+"')").Scan(&n); err != nil || n != 1 {
		t.Errorf("reading inside the lake: %d, %v", n, err)
	}
}

func TestIsDataFile(t *testing.T) {
	for _, c := range []struct {
		rel  string
		size int64
		want bool
	}{
		{"part-0.parquet", 10, true},
		{"year=2025/part-0.parquet", 10, true},
		{"_SUCCESS", 0, false},
		{"_staging/run/part.parquet", 10, false},
		{"x/.hidden.crc", 10, false},
		{"sub/", 0, false},
		{"empty.csv", 0, false},
	} {
		if got := engine.IsDataFile(c.rel, c.size); got != c.want {
			t.Errorf("IsDataFile(%q, %d) = %v, want %v", c.rel, c.size, got, c.want)
		}
	}
}

// TestAcquireWaits checks the pool: with every session taken, Acquire waits
// until its context ends.
func TestAcquireWaits(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	a, _ := e.Acquire(ctx)
	b, _ := e.Acquire(ctx)
	short, cancel := context.WithTimeout(ctx, 50_000_000)
	defer cancel()
	if _, err := e.Acquire(short); err == nil {
		t.Fatal("a third session was handed out of a pool of two")
	}
	a.Release()
	c, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	c.Release()
}
