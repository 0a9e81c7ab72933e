package crawler

import (
	"errors"
	"fmt"
	"testing"
)

// TestStopThroughAnotherServer: a crawl stopped through another server of
// the lake (another service over the same metadata database, which does
// not run it) stops where it runs, CANCELLED, through its run's stop flag.
func TestStopThroughAnotherServer(t *testing.T) {
	e := newEnv(t)
	other, err := New(e.ctx, e.db, e.store, e.cat, e.eng)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		e.putString(fmt.Sprintf("raw/t%02d/a.csv", i), "id,amount\n1,2.5\n")
	}
	e.crawler("c", Spec{}, "raw/")
	if err := other.Stop(e.ctx, "c"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stop of an idle crawler through the other server: %v", err)
	}
	seen := make(chan struct{})
	stopSeen = func() { close(seen) }
	defer func() { stopSeen = nil }()
	run, err := e.svc.Start(e.ctx, "c", StartOptions{Progress: func(p Progress) {
		if p.FilesDone == 1 {
			if err := other.Stop(e.ctx, "c"); err != nil {
				t.Errorf("stop through the other server: %v", err)
			}
			// The crawl goes on once the running server has seen it.
			select {
			case <-seen:
			case <-e.ctx.Done():
			}
		}
	}})
	if !errors.Is(err, ErrStopped) || run.State != StateCancelled {
		t.Fatalf("crawl stopped through the other server: %s %v", run.State, err)
	}
	if err := other.Stop(e.ctx, "c"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stop after the end: %v", err)
	}
	// The crawler runs again, to the end (the flag was the stopped run's).
	if run := e.start("c", StartOptions{}); run.State != StateSucceeded || len(run.TablesCreated) != 20 {
		t.Fatalf("crawl after a stop: %s %v", run.State, run.TablesCreated)
	}
}
