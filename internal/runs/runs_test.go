package runs_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/runs"
)

var table = runs.Table{Name: "test_runs", Start: "started_at", End: "ended_at", Owner: "owner", Stop: "stop_requested"}

func open(t *testing.T) *meta.DB {
	t.Helper()
	ctx := context.Background()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(t.TempDir(), "meta.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, "runstest", []meta.Migration{{Version: 1, Name: "runs", SQL: `
CREATE TABLE test_runs (
	id TEXT PRIMARY KEY,
	state TEXT NOT NULL,
	started_at TEXT NOT NULL,
	ended_at TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	owner TEXT NOT NULL DEFAULT '',
	stop_requested INTEGER NOT NULL DEFAULT 0
);`}}); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(t *testing.T, db *meta.DB, id, state, owner string) {
	t.Helper()
	if _, err := db.SQL().Exec(`INSERT INTO test_runs (id, state, started_at, owner) VALUES (?, ?, ?, ?)`, id, state, meta.Now(), owner); err != nil {
		t.Fatal(err)
	}
}

func TestIDs(t *testing.T) {
	id := runs.NewID("jr-", "20060102T150405")
	if !regexp.MustCompile(`^jr-\d{8}T\d{6}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("NewID = %q", id)
	}
	if id == runs.NewID("jr-", "20060102T150405") {
		t.Error("two ids are equal")
	}
	if u := runs.NewUUID(); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(u) {
		t.Errorf("NewUUID = %q", u)
	}
}

func TestTerminal(t *testing.T) {
	for _, s := range []string{runs.Succeeded, runs.Failed, runs.Cancelled, runs.Stopped, runs.Timeout} {
		if !runs.Terminal(s) {
			t.Errorf("%s is not terminal", s)
		}
	}
	for _, s := range []string{runs.Queued, runs.Starting, runs.Running, "", "succeeded"} {
		if runs.Terminal(s) {
			t.Errorf("%q is terminal", s)
		}
	}
}

// TestRecover: only runs whose owner is known to have exited are failed;
// runs of this process and of other hosts are left, and so are ended runs.
func TestRecover(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	host, _ := os.Hostname()
	dead := host + ":999999999:1" // no such PID
	insert(t, db, "self", runs.Running, runs.Owner())
	insert(t, db, "remote", runs.Running, "elsewhere.example:1:1")
	insert(t, db, "dead", runs.Running, dead)
	insert(t, db, "dead-queued", runs.Queued, dead)
	insert(t, db, "unowned", runs.Starting, "")
	insert(t, db, "ended", runs.Succeeded, dead)
	insert(t, db, "x' OR '1'='1", runs.Running, runs.Owner()) // an id is a parameter

	orphans, err := table.Orphans(ctx, db.SQL(), true, runs.Queued, runs.Running, runs.Starting)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range orphans {
		ids = append(ids, o.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"dead", "dead-queued"}) {
		t.Errorf("orphans keeping unowned = %v", ids)
	}

	got, err := table.Recover(ctx, db.SQL(), "interrupted", runs.Running, runs.Starting)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"dead", "unowned"}) {
		t.Errorf("recovered %v", got)
	}
	want := map[string]string{"self": runs.Running, "remote": runs.Running, "dead": runs.Failed, "dead-queued": runs.Queued,
		"unowned": runs.Failed, "ended": runs.Succeeded, "x' OR '1'='1": runs.Running}
	rows, err := db.SQL().Query(`SELECT id, state, error, ended_at FROM test_runs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, state, msg, ended string
		if err := rows.Scan(&id, &state, &msg, &ended); err != nil {
			t.Fatal(err)
		}
		if state != want[id] {
			t.Errorf("%s is %s, want %s", id, state, want[id])
		}
		if state == runs.Failed && (msg != "interrupted" || ended == "") {
			t.Errorf("%s failed with error %q at %q", id, msg, ended)
		}
	}
	if !runs.OwnerLive("elsewhere.example:1:1") || runs.OwnerLive(runs.Owner()) || runs.OwnerLive(dead) {
		t.Error("OwnerLive: a live other process is live; this process and a dead one are not")
	}
}

func TestStop(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	insert(t, db, "r", runs.Running, runs.Owner())
	insert(t, db, "done", runs.Succeeded, runs.Owner())
	if ok, err := table.RequestStop(ctx, db.SQL(), "done", runs.Queued, runs.Running); err != nil || ok {
		t.Errorf("stop of an ended run: %v %v", ok, err)
	}
	if ok, err := table.RequestStop(ctx, db.SQL(), "r' OR 1=1 --", runs.Running); err != nil || ok {
		t.Errorf("stop of a hostile id: %v %v", ok, err)
	}
	if ok, _ := table.StopRequested(ctx, db.SQL(), "r"); ok {
		t.Fatal("stop requested before asked")
	}
	stopped := make(chan struct{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go table.WatchStop(wctx, db.SQL(), "r", time.Millisecond, func() { close(stopped) })
	if ok, err := table.RequestStop(ctx, db.SQL(), "r", runs.Queued, runs.Running); err != nil || !ok {
		t.Fatalf("stop of a running run: %v %v", ok, err)
	}
	<-stopped // the watcher saw the flag (a hang here fails by the test timeout)
	noFlag := runs.Table{Name: "test_runs", Start: "started_at", End: "ended_at", Owner: "owner"}
	if ok, err := noFlag.RequestStop(ctx, db.SQL(), "r", runs.Running); err == nil || ok {
		t.Errorf("stop through a table without a stop flag: %v %v", ok, err)
	}
	if ok, err := table.StopRequested(ctx, db.SQL(), "done"); err != nil || ok {
		t.Errorf("the ended run was marked: %v %v", ok, err)
	}
}

// TestDurationsAndCounts: durations come from the stored times, across a
// day boundary, and runs that have not ended are not counted.
func TestDurationsAndCounts(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	for _, r := range [][3]string{
		{"a", "2026-01-01T23:59:59.500000000Z", "2026-01-02T00:00:01.000000000Z"},
		{"b", "2026-01-01T00:00:00.000000000Z", "2026-01-01T00:00:00.250000000Z"},
		{"c", "2026-01-01T00:00:00.000000000Z", ""},
	} {
		state := runs.Succeeded
		if r[2] == "" {
			state = runs.Running
		}
		if _, err := db.SQL().Exec(`INSERT INTO test_runs (id, state, started_at, ended_at) VALUES (?, ?, ?, ?)`, r[0], state, r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
	var ds []time.Duration
	if err := table.Durations(ctx, db.SQL(), func(d time.Duration) { ds = append(ds, d) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ds)
	if !slices.Equal(ds, []time.Duration{250 * time.Millisecond, 1500 * time.Millisecond}) {
		t.Errorf("durations %v", ds)
	}
	counts, err := table.CountByState(ctx, db.SQL())
	if err != nil {
		t.Fatal(err)
	}
	if counts[runs.Succeeded] != 2 || counts[runs.Running] != 1 || len(counts) != 2 {
		t.Errorf("counts %v", counts)
	}
}
