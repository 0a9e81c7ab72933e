package query_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

func waitState(t *testing.T, s *query.Service, id string, states ...string) query.Execution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ex, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range states {
			if ex.State == st {
				return ex
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	ex, _ := s.Get(context.Background(), id)
	t.Fatalf("query %s is %s, want one of %v", id, ex.State, states)
	return ex
}

func TestAsyncQueries(t *testing.T) {
	l := openLake(t)
	a := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 1, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	defer a.Close()
	ctx := context.Background()

	// Results are stored as CSV with metadata and paged.
	id, err := a.Submit(query.Request{SQL: "SELECT range AS n, 'x' || range AS s FROM range(2500)"})
	if err != nil {
		t.Fatal(err)
	}
	ex := waitState(t, l.Query, id, query.StateSucceeded, query.StateFailed)
	if ex.State != query.StateSucceeded || ex.Stats.Rows != 2500 {
		t.Fatalf("execution: %+v", ex)
	}
	if _, err := l.Store.Head(ctx, "lake", "athena-results/"+id+".csv"); err != nil {
		t.Errorf("no result file: %v", err)
	}
	var rows int
	token := ""
	pages := 0
	for {
		p, err := a.Results(ctx, id, token, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 && (len(p.Columns) != 2 || p.Columns[0].Name != "n" || p.Rows[0][1] != "x0") {
			t.Errorf("first page: %+v %v", p.Columns, p.Rows[:1])
		}
		rows += len(p.Rows)
		pages++
		if p.NextToken == "" {
			break
		}
		token = p.NextToken
	}
	if rows != 2500 || pages != 3 {
		t.Errorf("paged %d rows in %d pages", rows, pages)
	}
	// A token carries the next row's offset; a row-number token (the older
	// form) still works, and tokens this server never issued are refused,
	// never read as rows.
	p2, err := a.Results(ctx, id, "", 1000)
	if err != nil || !strings.Contains(p2.NextToken, "@") {
		t.Fatalf("token %q %v", p2.NextToken, err)
	}
	byOffset, err := a.Results(ctx, id, p2.NextToken, 3)
	byRow, err2 := a.Results(ctx, id, "1000", 3)
	if err != nil || err2 != nil || len(byOffset.Rows) != 3 || byOffset.Rows[0][1] != "x1000" || byRow.Rows[0][1] != "x1000" || byRow.Rows[2][1] != byOffset.Rows[2][1] {
		t.Fatalf("page by offset %v %v, by row %v %v", byOffset.Rows, err, byRow.Rows, err2)
	}
	_, at, _ := strings.Cut(p2.NextToken, "@")
	for _, bad := range []string{"x", "-1", "5@0", "5@-3", "1000@" + at + "0000", "1000@2", "@", "1@2@3"} {
		if _, err := a.Results(ctx, id, bad, 10); !errors.Is(err, query.ErrSyntax) {
			t.Errorf("token %q: %v, want a syntax error", bad, err)
		}
	}

	// With one slot, a second query waits QUEUED; cancelling works for both.
	slow, _ := a.Submit(query.Request{SQL: "SELECT count(*) FROM range(10000000000) a WHERE a.range % 7 = 1"})
	waitState(t, l.Query, slow, query.StateRunning)
	queued, _ := a.Submit(query.Request{SQL: "SELECT 1"})
	if ex, _ := l.Query.Get(ctx, queued); ex.State != query.StateQueued {
		t.Errorf("second query is %s, want QUEUED", ex.State)
	}
	if err := a.Cancel(ctx, queued); err != nil {
		t.Fatal(err)
	}
	waitState(t, l.Query, queued, query.StateCancelled)
	if err := a.Cancel(ctx, slow); err != nil {
		t.Fatal(err)
	}
	waitState(t, l.Query, slow, query.StateCancelled)
	if _, err := a.Results(ctx, slow, "", 10); !errors.Is(err, query.ErrNotFinished) {
		t.Errorf("results of a cancelled query: %v", err)
	}
	// A failing query records its reason.
	bad, _ := a.Submit(query.Request{SQL: "SELECT * FROM nodb.nope"})
	ex = waitState(t, l.Query, bad, query.StateFailed)
	if ex.Error == "" {
		t.Error("failed query without a reason")
	}
}

// TestResultReuse: the same query reuses a recent stored result, until a
// table it read changes.
func TestResultReuse(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	a := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 1, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	defer a.Close()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE zips (zip string, city string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/zips/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	req := query.Request{SQL: "SELECT count(*) AS n FROM zips", Database: "testdb", ReuseMaxAge: time.Hour}
	run := func() query.Execution {
		id, err := a.Submit(req)
		if err != nil {
			t.Fatal(err)
		}
		return waitState(t, l.Query, id, query.StateSucceeded, query.StateFailed)
	}
	first := run()
	second := run()
	if second.ReusedFrom != first.ID {
		t.Errorf("second run did not reuse the first: %+v", second)
	}
	page, err := a.Results(ctx, second.ID, "", 10)
	if err != nil || len(page.Rows) != 1 || page.Rows[0][0] != "3" {
		t.Errorf("reused results: %+v %v", page, err)
	}
	// A new file in the table: the result is stale and the query runs again.
	if _, err := l.Store.Put(ctx, "lake", "raw/zips/more.csv", strings.NewReader("zip,city\n99999,Far\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	third := run()
	if third.ReusedFrom != "" {
		t.Errorf("reused a result although the table changed: %+v", third)
	}
	page, _ = a.Results(ctx, third.ID, "", 10)
	if len(page.Rows) != 1 || page.Rows[0][0] != "4" {
		t.Errorf("fresh results: %+v", page)
	}
	// Without opting in, nothing is reused.
	req.ReuseMaxAge = 0
	if fourth := run(); fourth.ReusedFrom != "" {
		t.Errorf("reuse without opting in: %+v", fourth)
	}
}

// TestAsyncLargeResult: a result too large to keep in memory is spilled to
// a temporary file and stored whole.
func TestAsyncLargeResult(t *testing.T) {
	l := openLake(t)
	a := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 1, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	defer a.Close()
	ctx := context.Background()
	// About 3 MB of CSV, over the 1 MiB kept in memory.
	id, err := a.Submit(query.Request{SQL: "SELECT range AS n, repeat('x', 20) AS s FROM range(100000)"})
	if err != nil {
		t.Fatal(err)
	}
	ex := waitState(t, l.Query, id, query.StateSucceeded, query.StateFailed)
	if ex.State != query.StateSucceeded {
		t.Fatalf("execution: %+v", ex)
	}
	var rows int
	token := ""
	var last []string
	for {
		p, err := a.Results(ctx, id, token, 1000)
		if err != nil {
			t.Fatal(err)
		}
		rows += len(p.Rows)
		if len(p.Rows) > 0 {
			last = p.Rows[len(p.Rows)-1]
		}
		if token = p.NextToken; token == "" {
			break
		}
	}
	if rows != 100000 || last[0] != "99999" || last[1] != strings.Repeat("x", 20) {
		t.Fatalf("%d rows, last %v; want 100000, the last 99999", rows, last)
	}
}
