package query

import (
	"context"
	"sync"
	"time"
)

// gate admits statements to the engine's sessions fairly. The engine's pool
// serves waiters first come, first served, so a front end with many clients
// (25 pgwire connections querying in a loop) queues ahead of every REST query
// and REST waits behind all of them. The gate keeps one FIFO queue per lane
// (front end and access key) and shares the sessions by the time lanes hold
// them (start-time fair queuing): a freed slot goes to the waiting lane that
// has held sessions least. A lane whose clients spend most of their time
// elsewhere (REST clients storing results and polling between queries) is
// served first whenever it waits, instead of taking turns with a lane that
// always waits (plain turns left REST 37% of the reads against pgwire's
// 63% under the mixed load, with the same number of clients). A lane that
// was idle does not bank the time it did not use: it rejoins at the
// current virtual time.
type gate struct {
	mu    sync.Mutex
	free  int
	lanes map[string]*lane
	// vnow is the virtual time: the usage of the lane served last. A lane
	// that starts waiting again never counts as having used less than it.
	vnow time.Duration
	now  func() time.Time
}

type lane struct {
	queue   []*waiter
	used    time.Duration // virtual time: session time held, from vnow on rejoining
	holding int
}

type waiter struct {
	ready   chan struct{}
	granted bool
	slot    *slot
}

// slot is a held session slot: release gives it back and charges its lane.
type slot struct {
	lane  string
	since time.Time
}

func newGate(slots int) *gate {
	return &gate{free: max(1, slots), lanes: map[string]*lane{}, now: time.Now}
}

// acquire waits for a slot in lane until ctx ends; release(s) must follow
// a nil error.
func (g *gate) acquire(ctx context.Context, name string) (*slot, error) {
	g.mu.Lock()
	l := g.lane(name)
	if g.free > 0 && !g.anyWaiting() {
		g.free--
		if l.used > g.vnow {
			g.vnow = l.used
		}
		s := g.grant(name, l)
		g.mu.Unlock()
		return s, nil
	}
	w := &waiter{ready: make(chan struct{})}
	if len(l.queue) == 0 && l.holding == 0 && l.used < g.vnow {
		l.used = g.vnow
	}
	l.queue = append(l.queue, w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return w.slot, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted {
		// The slot came as ctx ended: pass it on.
		g.mu.Unlock()
		g.release(w.slot)
		return nil, ctx.Err()
	}
	for i, x := range l.queue {
		if x == w {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			break
		}
	}
	g.forget(name, l)
	g.mu.Unlock()
	return nil, ctx.Err()
}

// release frees a slot and charges its lane for the time it held it; the
// waiting lane that has held sessions least gets the slot.
func (g *gate) release(s *slot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s != nil {
		if l := g.lanes[s.lane]; l != nil {
			l.used += g.now().Sub(s.since)
			l.holding--
			g.forget(s.lane, l)
		}
	}
	var next *lane
	var nextName string
	for name, l := range g.lanes {
		if len(l.queue) > 0 && (next == nil || l.used < next.used || l.used == next.used && name < nextName) {
			next, nextName = l, name
		}
	}
	if next == nil {
		g.free++
		return
	}
	w := next.queue[0]
	next.queue = next.queue[1:]
	if next.used > g.vnow {
		g.vnow = next.used
	}
	w.slot = g.grant(nextName, next)
	w.granted = true
	close(w.ready)
}

func (g *gate) lane(name string) *lane {
	l := g.lanes[name]
	if l == nil {
		l = &lane{used: g.vnow}
		g.lanes[name] = l
	}
	return l
}

func (g *gate) grant(name string, l *lane) *slot {
	l.holding++
	return &slot{lane: name, since: g.now()}
}

func (g *gate) anyWaiting() bool {
	for _, l := range g.lanes {
		if len(l.queue) > 0 {
			return true
		}
	}
	return false
}

// forget drops a lane that neither waits nor holds a slot and has no
// usage beyond the virtual time: it would rejoin at vnow anyway, and keys
// come and go.
func (g *gate) forget(name string, l *lane) {
	if len(l.queue) == 0 && l.holding == 0 && l.used <= g.vnow {
		delete(g.lanes, name)
	}
}
