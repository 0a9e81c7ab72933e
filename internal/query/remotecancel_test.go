package query_test

import (
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestAsyncAcrossServers: two query services over one metadata database
// and store are two servers of a lake behind a load balancer. A stop
// request through the one that does not run a query cancels it where it
// runs; a long-poll there follows it to its end; results are read there.
func TestAsyncAcrossServers(t *testing.T) {
	l := openLake(t)
	ctx := t.Context()
	other, err := query.New(ctx, l.Meta, l.Engine)
	if err != nil {
		t.Fatal(err)
	}
	cfg := query.AsyncConfig{MaxConcurrent: 2, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}, CancelPoll: 20 * time.Millisecond}
	a, b := l.Query.NewAsync(cfg), other.NewAsync(cfg)
	defer a.Close()
	defer b.Close()

	const slow = "SELECT count(*) FROM range(10000000000) a, range(1000) b"
	id, err := a.Submit(query.Request{SQL: slow})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, l.Query, id, query.StateRunning)
	// A long-poll through b waits for the query running on a.
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		b.WaitDone(ctx, id, 10*time.Minute)
	}()
	if err := b.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	<-waited
	ex, err := other.Get(ctx, id)
	if err != nil || ex.State != query.StateCancelled {
		t.Fatalf("after a stop through the other server: %+v, %v", ex, err)
	}

	// A query still QUEUED on a (its workgroup's one slot is taken) is
	// stopped from b too, and never runs.
	if err := l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "one", MaxConcurrent: 1}); err != nil {
		t.Fatal(err)
	}
	first, err := a.Submit(query.Request{SQL: slow, Workgroup: "one"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, l.Query, first, query.StateRunning)
	queued, err := a.Submit(query.Request{SQL: "SELECT 1", Workgroup: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Cancel(ctx, queued); err != nil {
		t.Fatal(err)
	}
	waitState(t, other, queued, query.StateCancelled)
	if err := b.Cancel(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitState(t, other, first, query.StateCancelled)

	// Results of a query a ran are read through b; stopping a finished
	// query changes nothing, an unknown one is an error.
	done, err := a.Submit(query.Request{SQL: "SELECT range AS n FROM range(5)"})
	if err != nil {
		t.Fatal(err)
	}
	b.WaitDone(ctx, done, 10*time.Minute)
	if ex := waitState(t, other, done, query.StateSucceeded, query.StateFailed); ex.State != query.StateSucceeded {
		t.Fatalf("%+v", ex)
	}
	page, err := b.Results(ctx, done, "", 10)
	if err != nil || len(page.Rows) != 5 || page.Rows[4][0] != "4" {
		t.Fatalf("results through the other server: %+v, %v", page, err)
	}
	if err := b.Cancel(ctx, done); err != nil {
		t.Errorf("stop of a finished query: %v", err)
	}
	if ex, _ := l.Query.Get(ctx, done); ex.State != query.StateSucceeded {
		t.Errorf("a finished query stopped: %+v", ex)
	}
	if err := b.Cancel(ctx, "no-such-query"); err == nil {
		t.Error("stop of an unknown query: no error")
	}
	// A long-poll of a finished or unknown query returns at once.
	b.WaitDone(ctx, done, 10*time.Minute)
	b.WaitDone(ctx, "no-such-query", 10*time.Minute)
}
