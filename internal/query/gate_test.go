package query

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// fakeClock is the gate's clock in tests: slot times are what the test
// says, not what the machine took.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

type gateHarness struct {
	t     *testing.T
	g     *gate
	clk   *fakeClock
	order chan string
	slots chan *slot
}

func newGateHarness(t *testing.T, n int) *gateHarness {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := newGate(n)
	g.now = clk.now
	return &gateHarness{t: t, g: g, clk: clk, order: make(chan string, 16), slots: make(chan *slot, 16)}
}

// waiting waits until lane has n waiters.
func (h *gateHarness) waiting(name string, n int) {
	h.t.Helper()
	for {
		h.g.mu.Lock()
		got := 0
		if l := h.g.lanes[name]; l != nil {
			got = len(l.queue)
		}
		h.g.mu.Unlock()
		if got == n {
			return
		}
		if h.t.Context().Err() != nil {
			h.t.Fatalf("lane %s has %d waiters, want %d", name, got, n)
		}
		runtime.Gosched()
	}
}

// enqueue starts a statement waiting in lane; when it gets its slot, its
// name and slot are sent on order and slots.
func (h *gateHarness) enqueue(name, stmt string, n int) {
	h.t.Helper()
	go func() {
		s, err := h.g.acquire(h.t.Context(), name)
		if err != nil {
			h.order <- "error " + err.Error()
			return
		}
		h.order <- stmt
		h.slots <- s
	}()
	h.waiting(name, n)
}

// serve releases held after d, then takes the next statement served.
func (h *gateHarness) serve(held *slot, d time.Duration) (string, *slot) {
	h.clk.advance(d)
	h.g.release(held)
	return <-h.order, <-h.slots
}

// TestGateSharesByUse: a freed slot goes to the waiting lane that has held
// sessions least, not to lanes in turn: a lane that queries less often
// (REST clients between their polls) is served first when it waits, while
// a lane that always waits (25 pgwire clients) takes the rest.
func TestGateSharesByUse(t *testing.T) {
	h := newGateHarness(t, 1)
	held, err := h.g.acquire(t.Context(), "pgwire")
	if err != nil {
		t.Fatal(err)
	}
	h.enqueue("pgwire", "p1", 1)
	h.enqueue("pgwire", "p2", 2)
	h.enqueue("pgwire", "p3", 3)
	h.enqueue("rest", "r1", 1)
	var got []string
	for range 4 {
		var name string
		name, held = h.serve(held, 10*time.Millisecond)
		got = append(got, name)
	}
	h.g.release(held)
	if want := []string{"r1", "p1", "p2", "p3"}; !equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
	if h.g.free != 1 {
		t.Fatalf("free slots %d after every release, want 1", h.g.free)
	}
}

// TestGateIdleLaneBanksNothing: a lane that did not query while another
// used the sessions alone rejoins at the current virtual time, so it
// shares from then on instead of taking every slot until its unused time
// is spent.
func TestGateIdleLaneBanksNothing(t *testing.T) {
	h := newGateHarness(t, 1)
	ctx := t.Context()
	for range 5 { // b alone: 50 ms of sessions
		s, err := h.g.acquire(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		h.clk.advance(10 * time.Millisecond)
		h.g.release(s)
	}
	held, err := h.g.acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	h.enqueue("a", "a1", 1)
	h.enqueue("a", "a2", 2)
	h.enqueue("a", "a3", 3)
	h.enqueue("b", "b1", 1)
	h.enqueue("b", "b2", 2)
	h.enqueue("b", "b3", 3)
	var got []string
	for range 6 {
		var name string
		name, held = h.serve(held, 10*time.Millisecond)
		got = append(got, name)
	}
	h.g.release(held)
	if want := []string{"a1", "a2", "b1", "a3", "b2", "b3"}; !equal(got, want) {
		t.Fatalf("served %v, want %v (a must not bank the 50 ms it was idle)", got, want)
	}
}

// A waiter whose context ends leaves the queue; the slot goes on.
func TestGateCancelledWaiter(t *testing.T) {
	h := newGateHarness(t, 1)
	ctx := t.Context()
	held, _ := h.g.acquire(ctx, "a")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := h.g.acquire(cctx, "b")
		errc <- err
	}()
	h.waiting("b", 1)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("acquire after cancel returned nil")
	}
	h.g.release(held)
	s, err := h.g.acquire(ctx, "c")
	if err != nil || h.g.free != 0 {
		t.Fatalf("slot lost after a cancelled waiter: %v free=%d", err, h.g.free)
	}
	h.g.release(s)
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	if len(h.g.lanes) > 1 {
		t.Errorf("lanes kept after everything ended: %d", len(h.g.lanes))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
