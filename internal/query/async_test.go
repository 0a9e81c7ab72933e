package query_test

import (
	"context"
	"errors"
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
