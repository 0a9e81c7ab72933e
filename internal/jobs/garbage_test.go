package jobs_test

import (
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// TestReaderSurvivesOverwrite: a query bound to a table's files just before
// an overwrite job replaces them still reads them afterwards (they are
// garbage, deleted later), and the collector keeps a file while a session
// holds it.
func TestReaderSurvivesOverwrite(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.create(jobs.Spec{Name: "ow", SQL: "SELECT id, amount, region FROM raw_db.sales WHERE id >= ${min}", Target: "s3://lake/curated/ow/",
		Mode: jobs.ModeOverwrite, Table: "curated.ow"})
	e.start("ow", map[string]string{"min": "1"})

	// A reader plans on the published manifest...
	s, err := e.l.Engine.Acquire(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Bind(e.ctx, "SELECT count(*) FROM curated.ow", "")
	if err != nil {
		t.Fatal(err)
	}
	// ...the job replaces every file, and garbage is collected with no
	// grace at all...
	e.start("ow", map[string]string{"min": "2"})
	if got := e.one("SELECT count(*) FROM curated.ow"); got != "1" {
		t.Fatalf("after the overwrite: %s rows, want 1", got)
	}
	if n, err := e.l.Engine.CollectAllGarbage(e.ctx); err != nil || n != 0 {
		t.Fatalf("collected %d files held by a reader: %v", n, err)
	}
	// ...and the reader still reads what it planned on.
	var n int64
	if err := s.Conn().QueryRowContext(e.ctx, b.SQL).Scan(&n); err != nil || n != 2 {
		t.Fatalf("the reader planned before the overwrite: %d rows, %v", n, err)
	}
	s.Release()
	if n, err := e.l.Engine.CollectAllGarbage(e.ctx); err != nil || n != 1 {
		t.Fatalf("collected %d replaced files once released, want 1: %v", n, err)
	}
}

// TestGarbageKeepsNewObjects: an object written at a replaced file's key
// after the replace is someone's new data; the collector forgets the
// garbage entry and leaves the object.
func TestGarbageKeepsNewObjects(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n")
	e.create(jobs.Spec{Name: "ow", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "s3://lake/curated/ow/",
		Mode: jobs.ModeOverwrite, Table: "curated.ow"})
	e.start("ow", nil)
	files, err := e.l.Catalog.ListFiles(e.ctx, "curated", "ow")
	if err != nil || len(files) != 1 {
		t.Fatalf("files: %v %v", files, err)
	}
	old := strings.TrimPrefix(files[0].URI, "s3://lake/")
	e.start("ow", nil) // replaces the file: it is garbage now
	e.put(old, "someone's new object at the same key")
	if _, err := e.l.Engine.CollectAllGarbage(e.ctx); err != nil {
		t.Fatal(err)
	}
	rc, _, err := e.l.Store.Get(e.ctx, "lake", old, nil)
	if err != nil {
		t.Fatalf("the collector deleted a new object at a replaced key: %v", err)
	}
	rc.Close()
}
