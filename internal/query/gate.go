package query

import (
	"context"
	"sync"
)

// gate admits statements to the engine's sessions fairly. The engine's pool
// serves waiters first come, first served, so a front end with many clients
// (25 pgwire connections querying in a loop) queues ahead of every REST query
// and REST waits behind all of them. The gate keeps one FIFO queue per lane
// (front end and access key) and hands a freed slot to the lanes in turn, so
// each lane with work waiting gets an equal share of the sessions whatever
// the other lanes' queue lengths.
type gate struct {
	mu    sync.Mutex
	free  int
	lanes map[string][]*waiter
	ring  []string // lanes with waiters, in turn order
	next  int      // index in ring of the lane served next
}

type waiter struct {
	ready   chan struct{}
	granted bool
}

func newGate(slots int) *gate {
	return &gate{free: max(1, slots), lanes: map[string][]*waiter{}}
}

// acquire waits for a slot in lane until ctx ends; release must follow a
// nil return.
func (g *gate) acquire(ctx context.Context, lane string) error {
	g.mu.Lock()
	if g.free > 0 && len(g.ring) == 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{})}
	if len(g.lanes[lane]) == 0 {
		g.ring = append(g.ring, lane)
	}
	g.lanes[lane] = append(g.lanes[lane], w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted {
		// The slot came as ctx ended: pass it on.
		g.mu.Unlock()
		g.release()
		return ctx.Err()
	}
	q := g.lanes[lane]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	g.lanes[lane] = q
	if len(q) == 0 {
		g.dropLane(lane)
	}
	g.mu.Unlock()
	return ctx.Err()
}

// release frees a slot: the next lane in turn with a waiter gets it.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ring) == 0 {
		g.free++
		return
	}
	if g.next >= len(g.ring) {
		g.next = 0
	}
	lane := g.ring[g.next]
	q := g.lanes[lane]
	w := q[0]
	g.lanes[lane] = q[1:]
	if len(q) == 1 {
		g.dropLane(lane) // the lane after it moves to index next
	} else {
		g.next++
	}
	w.granted = true
	close(w.ready)
}

func (g *gate) dropLane(lane string) {
	delete(g.lanes, lane)
	for i, l := range g.ring {
		if l == lane {
			g.ring = append(g.ring[:i], g.ring[i+1:]...)
			if i < g.next {
				g.next--
			}
			return
		}
	}
}
