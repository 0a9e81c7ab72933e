// Package runs is the run ledger shared by the services that record runs
// (crawls, jobs, queries, workflow runs): run ids, owner liveness, stop
// requests, recovery of runs whose process died, and the figures /metrics
// reports. Each service keeps its own table; a Table names its columns.
//
// The SQL here is portable (SQLite today, PostgreSQL next): no date
// functions and no JSON operators. Durations are computed in Go from the
// stored times, which meta.FormatTime writes.
package runs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Table names a service's run table and the columns the ledger reads. The
// names are constants of the services, never user values: they are written
// into SQL text.
type Table struct {
	Name  string // e.g. "job_runs"
	Start string // when the run started (or was submitted)
	End   string // when it ended; "" while it has not
	Owner string // the process running it (Owner), "" if none recorded
	Stop  string // the INTEGER stop-request flag, "" if the table has none
}

// Querier is what the ledger reads and writes through (*sql.DB, *sql.Tx).
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// NewID returns a unique run id that sorts by its creation time: prefix,
// the UTC time in layout, and 12 random hex digits.
func NewID(prefix, layout string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + time.Now().UTC().Format(layout) + "-" + hex.EncodeToString(b[:])
}

// NewUUID returns a random (version 4 layout) UUID, the shape of Athena's
// query execution ids.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Owner is this process, as recorded in a run's owner column.
func Owner() string { return meta.Owner() }

// OwnerGone reports whether the process that owns a run is known to have
// exited (see meta.OwnerGone).
func OwnerGone(owner string) bool { return meta.OwnerGone(owner) }

// OwnerLive reports whether a run's owner is another process still
// running, i.e. one that must be left to finish the run.
func OwnerLive(owner string) bool { return owner != Owner() && !OwnerGone(owner) }

// placeholders returns "?, ?, ..." for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// CountByState returns how many runs the table holds in each state.
func (t Table) CountByState(ctx context.Context, q Querier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT state, count(*) FROM `+t.Name+` GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("cannot count %s by state: %w", t.Name, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		out[state] = n
	}
	return out, rows.Err()
}

// Durations calls fn with the duration of every ended run, from Start to
// End. The times are stored as text, so they are subtracted here rather
// than with a database's own date functions.
func (t Table) Durations(ctx context.Context, q Querier, fn func(d time.Duration)) error {
	rows, err := q.QueryContext(ctx, `SELECT `+t.Start+`, `+t.End+` FROM `+t.Name+` WHERE `+t.End+` <> ''`)
	if err != nil {
		return fmt.Errorf("cannot read the durations of %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var start, end string
		if err := rows.Scan(&start, &end); err != nil {
			return err
		}
		s, e := meta.ParseTime(start), meta.ParseTime(end)
		if s.IsZero() || e.IsZero() {
			continue
		}
		fn(e.Sub(s))
	}
	return rows.Err()
}

// The states runs take. Each service uses the subset its API speaks (AWS
// Glue's for jobs and crawls, Athena's for queries); the names are shared so
// that a terminal state means the same everywhere.
const (
	Queued    = "QUEUED"
	Starting  = "STARTING"
	Running   = "RUNNING"
	Succeeded = "SUCCEEDED"
	Failed    = "FAILED"
	Cancelled = "CANCELLED"
	Stopped   = "STOPPED"
	Timeout   = "TIMEOUT"
)

// Terminal reports whether a run in state has ended: it will not change
// again, and nothing runs for it.
func Terminal(state string) bool {
	switch state {
	case Succeeded, Failed, Cancelled, Stopped, Timeout:
		return true
	}
	return false
}

// Orphan is a run whose owner is known to have exited.
type Orphan struct {
	ID, Owner string
}

// Orphans returns the runs in one of states whose owner is known to have
// exited (OwnerGone). Runs of live processes, this one's included, and of
// other hosts are not orphans. A run with no owner recorded is one, unless
// the table keeps owner empty for runs nobody has taken yet (keepUnowned).
func (t Table) Orphans(ctx context.Context, q Querier, keepUnowned bool, states ...string) ([]Orphan, error) {
	cond := ""
	if keepUnowned {
		cond = ` AND ` + t.Owner + ` <> ''`
	}
	rows, err := q.QueryContext(ctx, `SELECT id, `+t.Owner+` FROM `+t.Name+` WHERE state IN (`+placeholders(len(states))+`)`+cond, anys(states)...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the active runs of %s: %w", t.Name, err)
	}
	var out []Orphan
	for rows.Next() {
		var o Orphan
		if err := rows.Scan(&o.ID, &o.Owner); err != nil {
			rows.Close()
			return nil, err
		}
		if OwnerGone(o.Owner) {
			out = append(out, o)
		}
	}
	// Closed before the caller writes: SQLite would otherwise hold a read
	// transaction open across the writes.
	rows.Close()
	return out, rows.Err()
}

// Recover marks the orphaned runs in one of states FAILED with msg (the
// table's state, error and End columns), at start of a service: the process
// that ran them is gone, so they will never end otherwise. A run that a
// live process moved on meanwhile is left alone. It returns the ids marked.
func (t Table) Recover(ctx context.Context, q Querier, msg string, states ...string) ([]string, error) {
	orphans, err := t.Orphans(ctx, q, false, states...)
	if err != nil {
		return nil, err
	}
	var ids []string
	now := meta.Now()
	for _, o := range orphans {
		args := append([]any{Failed, msg, now, o.ID}, anys(states)...)
		res, err := q.ExecContext(ctx, `UPDATE `+t.Name+` SET state = ?, error = ?, `+t.End+` = ? WHERE id = ? AND state IN (`+placeholders(len(states))+`)`, args...)
		if err != nil {
			return ids, fmt.Errorf("cannot recover the interrupted run %q of %s: %w", o.ID, t.Name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			ids = append(ids, o.ID)
		}
	}
	return ids, nil
}

// RequestStop sets the stop flag of run id if it is in one of states, so
// that the process running it (this one or another) stops it. It reports
// whether the run was in one of states.
func (t Table) RequestStop(ctx context.Context, q Querier, id string, states ...string) (bool, error) {
	if t.Stop == "" {
		return false, fmt.Errorf("cannot ask run %q to stop: %s has no stop flag; stop it in the process that runs it", id, t.Name)
	}
	args := append([]any{id}, anys(states)...)
	res, err := q.ExecContext(ctx, `UPDATE `+t.Name+` SET `+t.Stop+` = 1 WHERE id = ? AND state IN (`+placeholders(len(states))+`)`, args...)
	if err != nil {
		return false, fmt.Errorf("cannot ask run %q to stop: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// StopRequested reports whether run id was asked to stop.
func (t Table) StopRequested(ctx context.Context, q Querier, id string) (bool, error) {
	if t.Stop == "" {
		return false, nil
	}
	var stop int
	if err := q.QueryRowContext(ctx, `SELECT `+t.Stop+` FROM `+t.Name+` WHERE id = ?`, id).Scan(&stop); err != nil {
		return false, err
	}
	return stop != 0, nil
}

// WatchStop polls run id's stop flag every interval until ctx ends, and
// calls stop once if the flag is set: a request made by another process
// reaches the one running the run within an interval.
func (t Table) WatchStop(ctx context.Context, q Querier, id string, every time.Duration, stop func()) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			if ok, err := t.StopRequested(ctx, q, id); err == nil && ok {
				stop()
				return
			}
		}
	}
}
