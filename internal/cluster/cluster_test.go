package cluster

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// fast timings, so that a takeover takes a fraction of a second.
func testConfig(id, owner string) Config {
	return Config{ID: id, Owner: owner, Heartbeat: 20 * time.Millisecond, TTL: 200 * time.Millisecond}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newMember(t *testing.T, db *meta.DB, id, owner string) *Cluster {
	t.Helper()
	c, err := New(t.Context(), db, testConfig(id, owner))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Join(t.Context(), Addrs{S3: "http://" + id + ":9000", API: "http://" + id + ":8080"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs a member until stop; leading counts the lead calls running.
func run(t *testing.T, c *Cluster, leading *atomic.Int32) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context) error {
			leading.Add(1)
			<-ctx.Done()
			leading.Add(-1)
			return nil
		})
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run %s: %v", c.ID(), err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func fence(c *Cluster, db *meta.DB) error {
	return db.Tx(context.Background(), func(tx *sql.Tx) error { return c.Fence(context.Background(), tx) })
}

// One member leads at its first heartbeat; a second one does not; when the
// leader stops it releases the lease and the other leads at once.
func TestLeaseOneLeaderAndRelease(t *testing.T) {
	db := metatest.Open(t)
	a, b := newMember(t, db, "a", "hosta:1:1"), newMember(t, db, "b", "hostb:2:2")
	var la, lb atomic.Int32
	stopA := run(t, a, &la)
	eventually(t, "a leads", func() bool { return la.Load() == 1 })
	run(t, b, &lb)
	eventually(t, "b sees a as leader", func() bool {
		m, ok, err := b.Leader(t.Context())
		return err == nil && ok && m.ID == "a"
	})
	if lb.Load() != 0 || b.IsLeader() {
		t.Fatal("two leaders")
	}
	if err := fence(b, db); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fence of a follower: %v", err)
	}
	if err := fence(a, db); err != nil {
		t.Fatalf("fence of the leader: %v", err)
	}
	ms, err := b.Members(t.Context())
	if err != nil || len(ms) != 2 || !ms[0].Alive || !ms[1].Alive || !ms[0].Leader || ms[0].API != "http://a:8080" {
		t.Fatalf("members: %+v %v", ms, err)
	}
	epoch := a.Epoch()
	stopA()
	eventually(t, "b leads after a left", func() bool { return lb.Load() == 1 })
	if b.Epoch() != epoch+1 {
		t.Errorf("epoch %d after %d", b.Epoch(), epoch)
	}
	ms, err = b.Members(t.Context())
	if err != nil || len(ms) != 1 || ms[0].ID != "b" || !ms[0].Leader {
		t.Fatalf("members after a left: %+v %v", ms, err)
	}
}

// A leader that stops renewing (paused: no crash, no release) loses the
// lease once another member saw it unchanged for the TTL; its fence fails
// from then on, although it still believes it leads, and its runs' owner
// is gone for meta.OwnerGone (another host: no process to look at).
func TestLeaseTakeoverFencesPausedLeader(t *testing.T) {
	db := metatest.Open(t)
	ctx := t.Context()
	a, b := newMember(t, db, "a", "hosta:10:10"), newMember(t, db, "b", "hostb:20:20")
	if leading, err := a.tick(ctx); err != nil || !leading {
		t.Fatalf("a's first tick: %v %v", leading, err)
	}
	if meta.OwnerGone("hosta:10:10") {
		t.Fatal("a process of another host is gone before any heartbeat expired")
	}
	var lb atomic.Int32
	start := time.Now()
	run(t, b, &lb)
	eventually(t, "b takes the lease of the paused a", func() bool { return lb.Load() == 1 })
	if waited := time.Since(start); waited < a.cfg.TTL {
		t.Fatalf("b took the lease after %s, before the TTL", waited)
	}
	if !a.IsLeader() {
		t.Fatal("the paused a should still believe it leads")
	}
	if err := fence(a, db); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fence of the paused old leader: %v", err)
	}
	eventually(t, "a's runs are gone", func() bool { return meta.OwnerGone("hosta:10:10") })
	if meta.OwnerGone("hostb:20:20") {
		t.Fatal("the live b is gone")
	}
	// a resumes: its next heartbeat tells it it lost the lease.
	if leading, err := a.tick(ctx); err != nil || leading {
		t.Fatalf("a's tick after the takeover: %v %v", leading, err)
	}
	if err := fence(b, db); err != nil {
		t.Fatalf("fence of the new leader: %v", err)
	}
}

// A lease held by a process of this host that exited is taken at once: a
// single server restarted after kill -9 leads at its first heartbeat.
func TestLeaseOfDeadLocalProcessTakenAtOnce(t *testing.T) {
	db := metatest.Open(t)
	ctx := t.Context()
	old := newMember(t, db, "srv", meta.Owner()+"0") // this host, a start time no process has
	if leading, err := old.tick(ctx); err != nil || !leading {
		t.Fatalf("old: %v %v", leading, err)
	}
	c := newMember(t, db, "srv", meta.Owner())
	if leading, err := c.tick(ctx); err != nil || !leading {
		t.Fatalf("restarted server's first tick: leading %v, %v", leading, err)
	}
}

func TestConfigRejectsShortTTL(t *testing.T) {
	if _, err := New(t.Context(), metatest.Open(t), Config{Heartbeat: time.Second, TTL: time.Second}); err == nil {
		t.Fatal("a TTL of one heartbeat was accepted")
	}
}
