package events_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

func setup(t *testing.T) (*events.Ledger, storage.ObjectStore, *meta.DB) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(dir + "/objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := meta.Open(ctx, metatest.Config(t, dir+"/tarn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := events.New(ctx, db, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	return l, store, db
}

func TestRecordingStoreAndPrefixes(t *testing.T) {
	ctx := context.Background()
	l, store, db := setup(t)
	rec := events.Recording{ObjectStore: store, Ledger: l, Via: events.ViaCLI}
	// Keys with LIKE's wildcards must not match other keys.
	for _, k := range []string{"raw/a_b/1.csv", "raw/axb/2.csv", "raw/a%/3.csv"} {
		if _, err := rec.Put(ctx, "lake", k, strings.NewReader(k), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rec.Copy(ctx, "lake", "raw/axb/2.csv", "lake", "copy/2.csv"); err != nil {
		t.Fatal(err)
	}
	// The same content again is not a new event.
	if _, err := rec.Put(ctx, "lake", "raw/axb/2.csv", strings.NewReader("raw/axb/2.csv"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	all, err := l.List(ctx, events.ListOptions{})
	if err != nil || len(all) != 4 {
		t.Fatalf("events = %d %v, want 4", len(all), err)
	}
	for _, c := range []struct {
		prefix string
		want   int
	}{{"raw/a_b/", 1}, {"raw/a%/", 1}, {"raw/", 3}, {"copy/", 1}, {"", 4}} {
		evs, err := l.Scan(ctx, events.ListOptions{Prefix: storage.URI{Bucket: "lake", Key: c.prefix}})
		if err != nil || len(evs) != c.want {
			t.Errorf("prefix %q: %d events %v, want %d", c.prefix, len(evs), err, c.want)
		}
	}
	if last, err := l.LastID(ctx); err != nil || last != all[len(all)-1].ID {
		t.Errorf("LastID = %d %v", last, err)
	}
	// A delivery is recorded in the run's transaction and clears a replay.
	first := all[0].ID
	if err := l.Replay(ctx, "t", []int64{first}); err != nil {
		t.Fatal(err)
	}
	if trs, _ := l.ReplayTriggers(ctx); !trs["t"] {
		t.Fatalf("replay triggers = %v", trs)
	}
	if err := db.Tx(ctx, func(tx *sql.Tx) error { return events.Deliver(ctx, tx, "t", "wr-1", []int64{first}) }); err != nil {
		t.Fatal(err)
	}
	if reps, _ := l.Replays(ctx, "t"); len(reps) != 0 {
		t.Errorf("replays after delivery = %v", reps)
	}
	e, err := l.Get(ctx, first)
	if err != nil || len(e.Deliveries) != 1 || e.Deliveries[0].RunID != "wr-1" || e.Via != events.ViaCLI {
		t.Fatalf("event = %+v %v", e, err)
	}
	if _, err := l.Get(ctx, 12345); !errors.Is(err, events.ErrNoSuchEvent) {
		t.Errorf("missing event: %v", err)
	}
}

// Record returns the new event's id (RETURNING, on SQLite and PostgreSQL
// alike), and a duplicate returns the first event with its id.
func TestRecordReturnsID(t *testing.T) {
	ctx := context.Background()
	l, store, _ := setup(t)
	put := func(key string) storage.ObjectInfo {
		info, err := store.Put(ctx, "lake", key, strings.NewReader(key), storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	info := put("raw/x.csv")
	ev, isNew, err := l.Record(ctx, info, events.ViaCLI)
	if err != nil || !isNew || ev.ID <= 0 {
		t.Fatalf("Record = %+v %v %v", ev, isNew, err)
	}
	again, isNew, err := l.Record(ctx, info, events.ViaCLI)
	if err != nil || isNew || again.ID != ev.ID {
		t.Fatalf("duplicate Record = %d %v %v, want id %d", again.ID, isNew, err, ev.ID)
	}
	next, _, err := l.Record(ctx, put("raw/y.csv"), events.ViaCLI)
	if err != nil || next.ID <= ev.ID {
		t.Fatalf("second event id %d %v, want > %d", next.ID, err, ev.ID)
	}
	if got, err := l.Get(ctx, next.ID); err != nil || got.Key != "raw/y.csv" {
		t.Fatalf("Get(%d) = %+v %v", next.ID, got, err)
	}
}
