package query

import (
	"context"
	"runtime"
	"testing"
)

// TestGateTakesLanesInTurn: with one lane's queue long and another's
// short, freed slots alternate between the lanes instead of serving the
// long queue first (REST queries starved behind 25 pgwire clients).
func TestGateTakesLanesInTurn(t *testing.T) {
	g := newGate(1)
	ctx := t.Context()
	if err := g.acquire(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	queued := func(lane string, n int) {
		t.Helper()
		for {
			g.mu.Lock()
			got := len(g.lanes[lane])
			g.mu.Unlock()
			if got == n {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("lane %s has %d waiters, want %d", lane, got, n)
			}
			runtime.Gosched()
		}
	}
	order := make(chan string, 8)
	enqueue := func(lane, name string, n int) {
		go func() {
			if err := g.acquire(ctx, lane); err != nil {
				order <- "error " + err.Error()
				return
			}
			order <- name
		}()
		queued(lane, n)
	}
	enqueue("pgwire", "p1", 1)
	enqueue("pgwire", "p2", 2)
	enqueue("pgwire", "p3", 3)
	enqueue("rest", "r1", 1)
	var got []string
	for range 4 {
		g.release()
		got = append(got, <-order)
	}
	want := []string{"p1", "r1", "p2", "p3"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("served %v, want %v", got, want)
		}
	}
	// A waiter whose context ends leaves the queue; the slot goes on.
	g2 := newGate(1)
	_ = g2.acquire(ctx, "a")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- g2.acquire(cctx, "b") }()
	for {
		g2.mu.Lock()
		n := len(g2.lanes["b"])
		g2.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("acquire after cancel returned nil")
	}
	g2.release()
	if err := g2.acquire(ctx, "c"); err != nil || g2.free != 0 {
		t.Fatalf("slot lost after a cancelled waiter: %v free=%d", err, g2.free)
	}
}
