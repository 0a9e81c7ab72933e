package crawler

import (
	"strings"
	"testing"
)

// count runs SELECT count(*) over a crawled table through the engine's
// binder, as every query does.
func (e *env) count(table string) (int64, error) {
	e.t.Helper()
	s, err := e.eng.Acquire(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Release()
	b, err := s.Bind(e.ctx, "SELECT count(*) FROM "+table, "raw")
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.Conn().QueryRowContext(e.ctx, b.SQL).Scan(&n)
	return n, err
}

// TestSkippedFilesLeaveTheTable: a file the crawler cannot read (malformed,
// or nested so deeply that DuckDB's reader would overflow its stack) is out
// of the table, so queries read the others; the catalog says which and why;
// once fixed, the next crawl puts it back.
func TestSkippedFilesLeaveTheTable(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/t/k=1/a.json", `{"a": 1}`)
	e.putString("raw/t/k=2/a.json", `{"a": 2}`)
	e.putString("raw/t/k=3/a.json", `{"a": 3`) // truncated
	e.putString("raw/t/k=4/deep.json", strings.Repeat(`{"a":`, 30000)+"1"+strings.Repeat("}", 30000))
	e.crawler("c", Spec{Database: "raw"}, "raw/")
	r := e.start("c", StartOptions{})
	if r.State != StateSucceeded {
		t.Fatalf("crawl: %+v", r)
	}
	reasons := map[string]string{}
	for _, fe := range r.FileErrors {
		reasons[fe.URI] = fe.Error
	}
	if !strings.Contains(reasons["s3://lake/raw/t/k=4/deep.json"], "nested too deeply") {
		t.Errorf("deep file's error: %q", reasons["s3://lake/raw/t/k=4/deep.json"])
	}
	skipped, err := e.cat.SkippedFiles(e.ctx, "raw", "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2 || skipped[0].URI != "s3://lake/raw/t/k=3/a.json" || skipped[1].URI != "s3://lake/raw/t/k=4/deep.json" ||
		skipped[0].Reason == "" || skipped[1].Reason != reasons[skipped[1].URI] {
		t.Fatalf("skipped files: %+v", skipped)
	}
	if n, err := e.count("t"); err != nil || n != 2 {
		t.Fatalf("count over the readable files: %d, %v", n, err)
	}

	// The malformed file is fixed: the next crawl reads it and it is back.
	e.putString("raw/t/k=3/a.json", `{"a": 3}`)
	r = e.start("c", StartOptions{})
	if r.State != StateSucceeded {
		t.Fatalf("second crawl: %+v", r)
	}
	skipped, err = e.cat.SkippedFiles(e.ctx, "raw", "t")
	if err != nil || len(skipped) != 1 || skipped[0].URI != "s3://lake/raw/t/k=4/deep.json" {
		t.Fatalf("skipped after the fix: %+v, %v", skipped, err)
	}
	if n, err := e.count("t"); err != nil || n != 3 {
		t.Fatalf("count after the fix: %d, %v", n, err)
	}

	// A deep file that arrives after the crawl fails the query, clearly,
	// and does not take the process down.
	e.putString("raw/t/k=1/late.json", strings.Repeat(`[`, 30000)+strings.Repeat("]", 30000))
	if _, err := e.count("t"); err == nil || !strings.Contains(err.Error(), "nested too deeply") || !strings.Contains(err.Error(), "s3://lake/raw/t/k=1/late.json") {
		t.Fatalf("query over a deep file: %v", err)
	}
}
