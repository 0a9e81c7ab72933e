package crawler

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// env is a real lake in a temp folder: fs store, SQLite, catalog, DuckDB.
type env struct {
	t     *testing.T
	ctx   context.Context
	home  string
	db    *meta.DB
	meta  meta.Config // the same database on every open (SQLite or PostgreSQL)
	store storage.ObjectStore
	cat   *catalog.Catalog
	eng   *engine.Engine
	svc   *Service
}

const bucket = "lake"

func newEnv(t *testing.T) *env {
	t.Helper()
	home := t.TempDir()
	e := &env{t: t, ctx: t.Context(), home: home, meta: metatest.Config(t, filepath.Join(home, "meta.db"))}
	e.open()
	if err := e.store.CreateBucket(e.ctx, bucket); err != nil {
		t.Fatal(err)
	}
	return e
}

// open opens (or reopens, as after a restart) every service of the lake.
func (e *env) open() {
	t := e.t
	t.Helper()
	var err error
	if e.db, err = meta.Open(e.ctx, e.meta); err != nil {
		t.Fatal(err)
	}
	if e.cat, err = catalog.New(e.ctx, e.db); err != nil {
		t.Fatal(err)
	}
	if e.store, err = fs.New(fs.DefaultConfig(filepath.Join(e.home, "objects"))); err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig(e.home)
	cfg.Sessions = 4
	if e.eng, err = engine.New(e.ctx, cfg, e.store, e.cat); err != nil {
		t.Fatal(err)
	}
	if e.svc, err = New(e.ctx, e.db, e.store, e.cat, e.eng); err != nil {
		t.Fatal(err)
	}
	db, store, eng := e.db, e.store, e.eng
	t.Cleanup(func() {
		eng.Close()
		store.Close()
		db.Close()
	})
}

func (e *env) close() {
	e.eng.Close()
	e.store.Close()
	e.db.Close()
}

// put writes an object at key in the test bucket.
func (e *env) put(key string, data []byte) {
	e.t.Helper()
	if _, err := e.store.Put(e.ctx, bucket, key, bytes.NewReader(data), storage.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) putString(key, data string) { e.t.Helper(); e.put(key, []byte(data)) }

// putTestdata copies testdata/name to key.
func (e *env) putTestdata(key, name string) {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.put(key, b)
}

func (e *env) del(key string) {
	e.t.Helper()
	if err := e.store.Delete(e.ctx, bucket, key); err != nil {
		e.t.Fatal(err)
	}
}

// crawler creates a crawler on the given targets (keys under the bucket).
func (e *env) crawler(name string, spec Spec, targets ...string) {
	e.t.Helper()
	spec.Name = name
	if spec.Database == "" {
		spec.Database = "raw"
	}
	for _, t := range targets {
		spec.Targets = append(spec.Targets, "s3://"+bucket+"/"+t)
	}
	if err := e.svc.Create(e.ctx, spec); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) start(name string, opts StartOptions) Run {
	e.t.Helper()
	r, err := e.svc.Start(e.ctx, name, opts)
	if err != nil {
		e.t.Fatalf("crawl %s: %v", name, err)
	}
	return r
}

func (e *env) table(name string) catalog.Table {
	e.t.Helper()
	tb, err := e.cat.GetTable(e.ctx, "raw", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return tb
}

func (e *env) noTable(name string) {
	e.t.Helper()
	if _, err := e.cat.GetTable(e.ctx, "raw", name); !errors.Is(err, catalog.ErrNoSuchTable) && !errors.Is(err, catalog.ErrNoSuchDatabase) {
		e.t.Fatalf("table %s: want no such table, got %v", name, err)
	}
}

func (e *env) partitions(table string) []catalog.Partition {
	e.t.Helper()
	ps, err := e.cat.ListPartitions(e.ctx, "raw", table)
	if err != nil {
		e.t.Fatal(err)
	}
	return ps
}

// cols renders columns as "name type, ..." for compact comparisons.
func cols(cs []catalog.Column) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + " " + c.Type
	}
	return strings.Join(parts, ", ")
}

func result(t *testing.T, r Run, table string) TableResult {
	t.Helper()
	for _, tr := range r.Tables {
		if tr.Table == table {
			return tr
		}
	}
	t.Fatalf("run has no result for table %q: %+v", table, r.Tables)
	return TableResult{}
}

func noFileErrors(t *testing.T, r Run) {
	t.Helper()
	if len(r.FileErrors) > 0 {
		t.Fatalf("unexpected file errors: %+v", r.FileErrors)
	}
}

func tableNames(r Run) []string {
	var out []string
	for _, tr := range r.Tables {
		out = append(out, tr.Table)
	}
	slices.Sort(out)
	return out
}
