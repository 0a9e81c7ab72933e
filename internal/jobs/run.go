package jobs

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Stats are a run's figures. RowsRead = RowsWritten + RowsRejected +
// RowsFiltered: every input row is accounted for.
type Stats struct {
	RowsRead     int64 `json:"rows_read"`
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`
	// RowsFiltered are input rows the SQL removed (WHERE, DISTINCT, GROUP BY).
	RowsFiltered int64 `json:"rows_filtered"`
	// RowsDiscarded are rows a run that did not succeed had written, in
	// files it then removed unpublished (or a warehouse transaction it
	// rolled back): for such a run RowsRead = RowsWritten (0) +
	// RowsRejected + RowsFiltered + RowsDiscarded.
	RowsDiscarded int64    `json:"rows_discarded,omitempty"`
	BytesRead     int64    `json:"bytes_read"`
	BytesWritten  int64    `json:"bytes_written"`
	FilesRead     int      `json:"files_read"`
	FilesWritten  int      `json:"files_written"`
	Partitions    []string `json:"partitions,omitempty"`
	// RejectedURI is where rejected rows were stored, if any.
	RejectedURI string `json:"rejected_uri,omitempty"`
	// SnapshotID is the snapshot a run committed to its Iceberg target.
	SnapshotID int64 `json:"snapshot_id,omitempty"`
	// RowsUpdated are the output rows of a merge that replaced a table
	// row (the others, RowsWritten - RowsUpdated, were inserted).
	RowsUpdated int64 `json:"rows_updated,omitempty"`
}

// Run is one attempt of a job.
type Run struct {
	ID        string            `json:"id"`
	Job       string            `json:"job"`
	Attempt   int               `json:"attempt"`
	State     string            `json:"state"`
	StartedAt time.Time         `json:"started_at"`
	EndedAt   time.Time         `json:"ended_at"`
	Args      map[string]string `json:"args,omitempty"`
	Stats     Stats             `json:"stats"`
	Error     string            `json:"error,omitempty"`
	Log       []string          `json:"log,omitempty"`

	// onCommit runs in the transaction that publishes a succeeded run
	// (saveRunTx): it records the run's lineage with it (lineage.go).
	onCommit func(tx *sql.Tx)
}

// Duration is how long the run took (so far).
func (r Run) Duration() time.Duration {
	if r.EndedAt.IsZero() {
		return time.Since(r.StartedAt)
	}
	return r.EndedAt.Sub(r.StartedAt)
}

// StartOptions tune one start of a job.
type StartOptions struct {
	// Args override the job's default arguments.
	Args map[string]string
	// ListArgs names the arguments whose values are comma-separated lists
	// (an event trigger's objects): in SQL code each item is a literal of
	// its own, so "IN (${objects})" works.
	ListArgs []string
	// Progress receives each log line as the run goes.
	Progress func(line string)
	// Lineage is the run (a workflow run) this run is part of, recorded
	// in its lineage events' parent facet; nil if none.
	Lineage *LineageParent
}

// Start runs a job now and waits for it, retrying transient failures up to
// the job's max retries with exponential backoff. It returns the last
// attempt; err is set when that attempt did not succeed.
func (s *Service) Start(ctx context.Context, name string, opts StartOptions) (Run, error) {
	spec, err := s.Get(ctx, name)
	if err != nil {
		return Run{}, err
	}
	for attempt := 1; ; attempt++ {
		run, err := s.attempt(ctx, spec, attempt, opts)
		if err == nil || run.ID == "" || !retryable(err) || attempt > spec.MaxRetries || ctx.Err() != nil {
			return run, err
		}
		delay := s.Backoff << (attempt - 1)
		if s.db.Driver() == "postgres" {
			// Another server of the lake tells a client following the
			// failed attempt that one follows (RetryPending).
			line := time.Now().UTC().Format("15:04:05.000") + " " + fmt.Sprintf("%s%s", RetryLine, delay)
			_, _ = s.db.SQL().ExecContext(context.WithoutCancel(ctx), `UPDATE job_runs SET log = ? WHERE id = ?`,
				strings.Join(append(run.Log, line), "\n"), run.ID)
		}
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf("attempt %d failed (%v); retrying in %s", attempt, err, delay))
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return run, err
		}
	}
}

// RetryLine starts the last line of a failed attempt's stored log when
// another attempt follows after the delay written after it (on a lake
// whose metadata is in PostgreSQL).
const RetryLine = "another attempt follows in "

// RetryPending reports whether another attempt is to follow run, a
// failed attempt, as its stored log says (RetryLine), and the delay has
// not passed by more than grace (the server retrying it may be gone).
func RetryPending(run Run, now time.Time, grace time.Duration) bool {
	if len(run.Log) == 0 || run.State == StateSucceeded || run.State == StateStarting || run.State == StateRunning {
		return false
	}
	last := run.Log[len(run.Log)-1]
	_, after, ok := strings.Cut(last, RetryLine)
	if !ok {
		return false
	}
	d, err := time.ParseDuration(after)
	return err == nil && now.Before(run.EndedAt.Add(d+grace))
}

// retryable tells transient failures (I/O, a busy database) from those a
// retry cannot fix.
func retryable(err error) bool {
	for _, e := range []error{ErrInvalidJobSQL, ErrMissingArgument, ErrUnsafeArgument, ErrTooManyRejected, ErrTimeout, ErrStopped, ErrInvalidTarget, ErrLoadNotRecorded,
		ErrConcurrentRuns, ErrInvalidSpec, engine.ErrPermission, engine.ErrCorruptCompressed, ErrIdentity, auth.ErrAccessDenied, query.ErrPermission, engine.ErrSyntax, catalog.ErrNoSuchTable, catalog.ErrInvalidTable,
		catalog.ErrNoSuchDatabase, context.Canceled} {
		if errors.Is(err, e) {
			return false
		}
	}
	// DuckDB's errors about the SQL or the data fail the same way again.
	for _, kind := range []error{engine.ErrBinder, engine.ErrParser, engine.ErrConversion, engine.ErrCatalog, engine.ErrInvalidInput,
		engine.ErrNotImplemented, engine.ErrConstraint, engine.ErrOutOfRange} {
		if engine.Is(err, kind) {
			return false
		}
	}
	return true
}

func newRunID() string { return runs.NewID("jr-", "20060102T150405") }

// attempt runs the job once.
func (s *Service) attempt(ctx context.Context, spec Spec, attempt int, opts StartOptions) (Run, error) {
	run := Run{ID: newRunID(), Job: spec.Name, Attempt: attempt, State: StateStarting, StartedAt: time.Now().UTC(), Args: map[string]string{}}
	for k, v := range spec.Args {
		run.Args[k] = v
	}
	for k, v := range opts.Args {
		run.Args[k] = v
	}
	// On a lake shared by several servers (metadata in PostgreSQL) each
	// line is also recorded in the run's row as it is logged, so that a
	// client following the run through another server sees its log so far.
	shared := s.db.Driver() == "postgres"
	logf := func(format string, args ...any) {
		line := s.eng.Redact(fmt.Sprintf(format, args...))
		run.Log = append(run.Log, time.Now().UTC().Format("15:04:05.000")+" "+line)
		if shared {
			_, _ = s.db.SQL().ExecContext(context.WithoutCancel(ctx), `UPDATE job_runs SET log = ? WHERE id = ? AND state IN (?, ?)`,
				strings.Join(run.Log, "\n"), run.ID, StateStarting, StateRunning)
		}
		if opts.Progress != nil {
			opts.Progress(line)
		}
	}
	argsJSON, _ := json.Marshal(run.Args)
	// Claim a slot: count live runs and insert ours in one transaction.
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT owner FROM job_runs WHERE job = ? AND state IN (?, ?)`, spec.Name, StateStarting, StateRunning)
		if err != nil {
			return err
		}
		live := 0
		for rows.Next() {
			var owner string
			if err := rows.Scan(&owner); err != nil {
				rows.Close()
				return err
			}
			if !runs.OwnerGone(owner) {
				live++
			}
		}
		rows.Close()
		if live >= spec.MaxConcurrentRuns {
			return fmt.Errorf("cannot start job %q: %w: %d run(s) in progress, the job allows %d (--max-concurrent-runs)",
				spec.Name, ErrConcurrentRuns, live, spec.MaxConcurrentRuns)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO job_runs (id, job, attempt, state, started_at, args, owner) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			run.ID, run.Job, run.Attempt, run.State, meta.FormatTime(run.StartedAt), string(argsJSON), runs.Owner())
		return err
	})
	if err != nil {
		return Run{}, err
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, spec.Timeout,
		fmt.Errorf("%w after %s (--timeout)", ErrTimeout, spec.Timeout))
	defer cancelTimeout()
	defer cancel(nil)
	s.mu.Lock()
	s.cancels[run.ID] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.cancels, run.ID)
		s.mu.Unlock()
	}()
	// The watcher ends with the attempt: it reads the metadata database,
	// which may close once the attempt has returned.
	db := s.db.SQL()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		runTable.WatchStop(runCtx, db, run.ID, 300*time.Millisecond, func() { cancel(fmt.Errorf("%w by request", ErrStopped)) })
	}()
	defer func() { cancel(nil); <-watchDone }()

	logf("attempt %d of job %s started", attempt, spec.Name)
	var inputs []catalog.DatasetRef
	run.onCommit = func(tx *sql.Tx) { s.recordLineage(ctx, tx, spec, run, inputs, opts.Lineage) }
	removed, err := s.execute(runCtx, spec, &run, opts.ListArgs, logf, &inputs)
	if cause := context.Cause(runCtx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if err != nil && errors.Is(context.Cause(runCtx), ErrStopped) {
		err = context.Cause(runCtx)
	}
	run.EndedAt = time.Now().UTC()
	if err == nil {
		run.State = StateSucceeded
		// Replaced files are garbage in the catalog, deleted after a grace
		// period (readers may still hold them); collect what is due.
		if len(removed) > 0 {
			if _, gerr := s.eng.CollectGarbage(context.WithoutCancel(ctx)); gerr != nil {
				slog.Warn("jobs: cannot delete replaced files", "job", spec.Name, "error", gerr)
			}
		}
		return run, nil
	}
	switch {
	case errors.Is(err, ErrTimeout):
		run.State = StateTimeout
	case errors.Is(err, ErrStopped):
		run.State = StateStopped
	default:
		run.State = StateFailed
	}
	run.Error = s.eng.Redact(err.Error()) // URIs, not the server's paths
	logf("%s: %v", run.State, err)
	// What the run wrote is removed, not published: its figures say so,
	// rather than "written" for rows no reader will see. A warehouse load
	// that committed but was not recorded did write its rows.
	if !errors.Is(err, ErrLoadNotRecorded) && (run.Stats.RowsWritten > 0 || run.Stats.FilesWritten > 0) {
		if t, ok := spec.warehouseTarget(); ok {
			logf("discarded %d rows: the insert into %s was rolled back", run.Stats.RowsWritten, t)
		} else {
			logf("discarded %d rows in %d files (%d bytes): nothing was published", run.Stats.RowsWritten, run.Stats.FilesWritten, run.Stats.BytesWritten)
		}
		run.Stats.RowsDiscarded = run.Stats.RowsWritten
		run.Stats.RowsWritten, run.Stats.FilesWritten, run.Stats.BytesWritten, run.Stats.Partitions = 0, 0, 0, nil
	}
	// Whatever the cause, record the end and remove what was not published.
	bg := context.WithoutCancel(ctx)
	s.collectGarbage(bg, spec, run.ID)
	s.recordLineage(bg, nil, spec, run, inputs, opts.Lineage)
	s.saveRun(bg, &run)
	return run, fmt.Errorf("%w: job %s run %s: %w", ErrRunFailed, spec.Name, run.ID, err)
}

func (s *Service) saveRun(ctx context.Context, run *Run) error {
	return s.saveRunTx(ctx, s.db.SQL(), run)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Service) saveRunTx(ctx context.Context, q execer, run *Run) error {
	if tx, ok := q.(*sql.Tx); ok && run.State == StateSucceeded && run.onCommit != nil {
		run.onCommit(tx)
	}
	stats, _ := json.Marshal(run.Stats)
	_, err := q.ExecContext(ctx, `UPDATE job_runs SET state = ?, ended_at = ?, stats = ?, error = ?, log = ? WHERE id = ?`,
		run.State, meta.FormatTime(run.EndedAt), string(stats), run.Error, strings.Join(run.Log, "\n"), run.ID)
	return err
}

// execute does the work of one attempt and publishes it. It returns the
// files the publish replaced, to delete once it is committed.
func (s *Service) execute(ctx context.Context, spec Spec, run *Run, lists []string, logf func(string, ...any), inputs *[]catalog.DatasetRef) ([]string, error) {
	query, err := Substitute(spec.SQL, spec.Args, run.Args, lists...)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.SQL().ExecContext(ctx, `UPDATE job_runs SET state = ? WHERE id = ?`, StateRunning, run.ID); err != nil {
		return nil, err
	}
	run.State = StateRunning
	if _, ok := spec.warehouseTarget(); ok {
		// A load of this job that committed in the warehouse but was not
		// recorded (crash between the commits) is recorded first, so its
		// files are not read again.
		if err := s.reconcileLoads(ctx, spec.Name); err != nil {
			return nil, err
		}
	}
	sess, err := s.eng.AcquireWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()

	var skip func(catalog.Table, engine.FileRef) bool
	if spec.Bookmarks {
		marks, err := s.Bookmarks(ctx, spec.Name)
		if err != nil {
			return nil, err
		}
		done := map[string]string{}
		for _, m := range marks {
			done[m.Source+"\x00"+m.URI] = m.ETag
		}
		skip = func(t catalog.Table, f engine.FileRef) bool {
			etag, ok := done[t.FullName()+"\x00"+f.URI]
			return ok && etag == f.ETag // a rewritten file counts as new
		}
		logf("bookmarks: %d files processed before", len(marks))
	}
	b, err := sess.BindWith(ctx, query, "", engine.BindOptions{Skip: skip, Rejects: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	// The identity is checked on every run: its key or its policy may have
	// changed since the job was created, and so may the tables.
	authz, err := s.authorizer(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := authorizeSources(authz, b); err != nil {
		return nil, fmt.Errorf("job %s runs as %s, which may not read its sources: %w", spec.Name, spec.RunAs, err)
	}
	if err := s.authorizeTarget(ctx, authz, spec); err != nil {
		return nil, fmt.Errorf("job %s runs as %s, which may not write its target: %w", spec.Name, spec.RunAs, err)
	}
	for _, sc := range b.Scans {
		d := catalog.TableDataset(sc.Table.Database, sc.Table.Name)
		if !slices.Contains(*inputs, d) {
			*inputs = append(*inputs, d)
		}
	}
	if authz != nil {
		logf("runs as access key %s", spec.RunAs)
	}
	// A truncated gzip file reads, through DuckDB's CSV reader, as its first
	// part and no error: check every compressed text file to its end.
	for _, sc := range b.Scans {
		if sc.Table.Format != catalog.FormatCSV {
			continue // JSON files are checked when bound; Parquet has footers
		}
		for _, f := range sc.Files {
			if err := engine.CheckCompressedFile(ctx, f.Path); err != nil {
				return nil, fmt.Errorf("cannot read %s of table %s: %w", f.URI, sc.Table.FullName(), err)
			}
		}
	}
	var parquetFiles []string
	for _, sc := range b.Scans {
		run.Stats.FilesRead += len(sc.Files)
		logf("source %s: %d new files, %d of %d partitions", sc.Table.FullName(), len(sc.Files), sc.PartitionsScanned, sc.PartitionsTotal)
		if sc.Table.Format == catalog.FormatParquet {
			for _, f := range sc.Files {
				parquetFiles = append(parquetFiles, f.Path)
			}
		}
	}
	run.Stats.BytesRead = b.BytesScanned()
	if _, _, ok := spec.icebergTarget(); ok {
		return nil, s.writeIceberg(ctx, sess, spec, b, parquetFiles, run, logf)
	}
	if t, ok := spec.warehouseTarget(); ok {
		return nil, s.load(ctx, sess, spec, t, b, parquetFiles, run, logf)
	}
	target, err := storage.ParseURI(spec.Target)
	if err != nil {
		return nil, err
	}
	if err := s.checkOutputSchema(ctx, sess, spec, b.SQL); err != nil {
		return nil, err
	}
	res, err := sess.Write(ctx, b.SQL, engine.WriteSpec{
		Target: target, Format: spec.Format, Compression: spec.Compression,
		PartitionBy: spec.PartitionBy, FileSize: spec.FileSize, RunID: run.ID,
	})
	if err != nil {
		return nil, err
	}
	run.Stats.RowsWritten = res.Rows
	run.Stats.FilesWritten = len(res.Files)
	run.Stats.BytesWritten = res.Bytes
	logf("wrote %d rows in %d files (%d bytes), not published yet", res.Rows, len(res.Files), res.Bytes)
	deadLetters := func([]engine.Rejected) (storage.URI, error) { return target, nil }
	if err := s.account(ctx, sess, b, parquetFiles, run, deadLetters, logf); err != nil {
		return nil, err
	}
	if err := s.checkRejected(spec, run); err != nil {
		return nil, err
	}
	parts := map[string]bool{}
	var replaceParts [][]string
	for _, f := range res.Files {
		if f.Values != nil {
			name := catalog.PartitionName(res.PartitionKeys, f.Values)
			if !parts[name] {
				parts[name] = true
				replaceParts = append(replaceParts, f.Values)
			}
		}
	}
	for p := range parts {
		run.Stats.Partitions = append(run.Stats.Partitions, p)
	}
	sort.Strings(run.Stats.Partitions)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Publish: manifest, partitions, bookmark and run state in one transaction.
	if spec.Table != "" {
		// As Glue jobs do with their target database: create it if missing.
		// (Outside the transaction: an empty database is harmless.)
		dbName, _, _ := strings.Cut(spec.Table, ".")
		if err := s.cat.CreateDatabase(ctx, catalog.Database{Name: dbName}, true); err != nil {
			return nil, err
		}
	}
	var removed []string
	run.State = StateSucceeded
	run.EndedAt = time.Now().UTC()
	logf("publishing %d files", len(res.Files))
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		removed = nil
		if spec.Table != "" {
			r, err := s.publishTable(ctx, tx, spec, res)
			if err != nil {
				return err
			}
			removed = r
		}
		if spec.Bookmarks {
			for _, sc := range b.Scans {
				for _, f := range sc.Files {
					if _, err := tx.ExecContext(ctx, `INSERT INTO job_bookmarks (job, source, uri, etag, run_id) VALUES (?, ?, ?, ?, ?)
						ON CONFLICT (job, source, uri) DO UPDATE SET etag = excluded.etag, run_id = excluded.run_id`,
						spec.Name, sc.Table.FullName(), f.URI, f.ETag, run.ID); err != nil {
						return err
					}
				}
			}
		}
		return s.saveRunTx(ctx, tx, run)
	})
	if err != nil {
		run.State = StateRunning
		return nil, fmt.Errorf("cannot publish job output: %w", err)
	}
	if spec.Table == "" && spec.Mode != ModeAppend {
		removed = s.replacedWithoutTable(ctx, target, res, replaceParts, spec.Mode)
	}
	return removed, nil
}

// account fills a run's rows read, rejected and filtered from the session's
// last statement (the one that read the sources; RowsWritten is set), and
// stores the rejected rows as JSON lines in <dir>/_rejected/<run>/, dir
// given by deadLetters.
func (s *Service) account(ctx context.Context, sess *engine.Session, b *engine.Bound, parquetFiles []string, run *Run,
	deadLetters func([]engine.Rejected) (storage.URI, error), logf func(string, ...any)) error {
	// Rows read: what the text readers produced (rejected rows are not among
	// them), Parquet row counts from the footers (filters pushed into the
	// Parquet reader hide rows from its output), and the rejected rows.
	scanned, err := sess.ScanRows()
	if err != nil {
		return err
	}
	for op, n := range scanned {
		if op != "READ_PARQUET" {
			run.Stats.RowsRead += n
		}
	}
	if len(parquetFiles) > 0 {
		n, err := parquetRows(ctx, sess, parquetFiles)
		if err != nil {
			return err
		}
		run.Stats.RowsRead += n
	}
	rejected, err := sess.Rejects(ctx, b)
	if err != nil {
		return err
	}
	run.Stats.RowsRejected = int64(len(rejected))
	run.Stats.RowsRead += run.Stats.RowsRejected
	run.Stats.RowsFiltered = max(0, run.Stats.RowsRead-run.Stats.RowsWritten-run.Stats.RowsRejected)
	if len(rejected) > 0 {
		dir, err := deadLetters(rejected)
		if err != nil {
			return fmt.Errorf("cannot store rejected rows: %w", err)
		}
		u := dir.Join("_rejected/" + run.ID + "/rejected.jsonl")
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, r := range rejected {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		if _, err := s.store.Put(ctx, u.Bucket, u.Key, &buf, storage.PutOptions{ContentType: "application/x-ndjson"}); err != nil {
			return fmt.Errorf("cannot store rejected rows: %w", err)
		}
		run.Stats.RejectedURI = u.String()
		logf("%d rows rejected, stored in %s", len(rejected), u)
	}
	logf("rows read %d = written %d + rejected %d + removed by the SQL %d", run.Stats.RowsRead, run.Stats.RowsWritten, run.Stats.RowsRejected, run.Stats.RowsFiltered)
	return nil
}

// checkRejected fails a run with more rejected rows than its max_rejected.
func (s *Service) checkRejected(spec Spec, run *Run) error {
	limit, pct, _ := ParseMaxRejected(spec.MaxRejected)
	if spec.MaxRejected == "" {
		return nil
	}
	over := float64(run.Stats.RowsRejected) > limit
	what := fmt.Sprintf("%d rows", int64(limit))
	if pct {
		share := 0.0
		if run.Stats.RowsRead > 0 {
			share = 100 * float64(run.Stats.RowsRejected) / float64(run.Stats.RowsRead)
		}
		over = share > limit
		what = fmt.Sprintf("%g%% of %d input rows", limit, run.Stats.RowsRead)
	}
	if over {
		return fmt.Errorf("%w: %d rejected, the limit is %s (--max-rejected); see %s", ErrTooManyRejected, run.Stats.RowsRejected, what, run.Stats.RejectedURI)
	}
	return nil
}

// checkOutputSchema fails a run whose output the existing table cannot
// take (see catalog.EvolveSchema) before it writes anything; the publish
// checks again, in its transaction, against the table as it is then.
func (s *Service) checkOutputSchema(ctx context.Context, sess *engine.Session, spec Spec, query string) error {
	if err := s.refuseIcebergTable(ctx, spec); err != nil {
		return err
	}
	if spec.Table == "" || spec.Mode == ModeOverwrite {
		return nil
	}
	dbName, tblName, _ := strings.Cut(spec.Table, ".")
	cur, err := s.cat.GetTable(ctx, dbName, tblName)
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase) {
		return nil
	}
	if err != nil || !cur.HasManifest() {
		return err // a table tarn does not write: the publish says so
	}
	cols, err := sess.Describe(ctx, query)
	if err != nil {
		return err
	}
	out := catalog.Table{Format: spec.Format}
	for _, pk := range spec.PartitionBy {
		for _, c := range cols {
			if strings.EqualFold(c.Name, pk) {
				out.PartitionKeys = append(out.PartitionKeys, c)
			}
		}
	}
	for _, c := range cols {
		if !slices.ContainsFunc(spec.PartitionBy, func(pk string) bool { return strings.EqualFold(pk, c.Name) }) {
			out.Columns = append(out.Columns, c)
		}
	}
	if _, err := catalog.EvolveSchema(cur, out); err != nil {
		return fmt.Errorf("cannot write to %q: %w", spec.Table, err)
	}
	return nil
}

// publishTable publishes the run's files to the job's output table.
func (s *Service) publishTable(ctx context.Context, tx *sql.Tx, spec Spec, res *engine.WriteResult) ([]string, error) {
	dbName, tblName, _ := strings.Cut(spec.Table, ".")
	var add []catalog.DataFile
	for _, f := range res.Files {
		add = append(add, catalog.DataFile{URI: f.URI, Values: f.Values, Size: f.Size, ETag: f.ETag})
	}
	old, err := s.cat.PublishOutputTx(ctx, tx, catalog.Output{
		Database: dbName, Name: tblName, Location: spec.Target, Format: spec.Format, Compression: spec.Compression,
		Columns: res.Columns, PartitionKeys: res.PartitionKeys, Properties: map[string]string{"tarn.job": spec.Name},
		Mode: spec.Mode, Create: true, Evolve: "job " + spec.Name + " added or widened columns",
	}, add, "job "+spec.Name+" overwrote the table")
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, f := range old {
		removed = append(removed, f.URI)
	}
	return removed, nil
}

// replacedWithoutTable finds the files an overwrite without a catalog table
// replaces: every data file under the target (or the written partitions)
// that this run did not write.
func (s *Service) replacedWithoutTable(ctx context.Context, target storage.URI, res *engine.WriteResult, parts [][]string, mode string) []string {
	mine := map[string]bool{}
	for _, f := range res.Files {
		mine[f.URI] = true
	}
	var prefixes []string
	if mode == ModeOverwrite {
		prefixes = []string{target.Dir().Key}
	} else {
		for _, p := range parts {
			prefixes = append(prefixes, target.Dir().Join(catalog.PartitionPath(res.PartitionKeys, p)+"/").Key)
		}
	}
	var out []string
	for _, prefix := range prefixes {
		for o, err := range storage.Walk(ctx, s.store, target.Bucket, prefix) {
			if err != nil {
				break
			}
			if !mine[o.URI()] && engine.IsDataFile(strings.TrimPrefix(o.Key, target.Dir().Key), o.Size) {
				out = append(out, o.URI())
			}
		}
	}
	return out
}

func parquetRows(ctx context.Context, sess *engine.Session, paths []string) (int64, error) {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = engine.QuoteString(p)
	}
	var n int64
	err := sess.Conn().QueryRowContext(ctx, "SELECT coalesce(sum(num_rows), 0)::BIGINT FROM parquet_file_metadata(["+strings.Join(quoted, ", ")+"])").Scan(&n)
	return n, err
}

// Stop asks a running run to stop. A run of this process stops at once; a
// run of another process stops within a second.
func (s *Service) Stop(ctx context.Context, id string) error {
	run, err := s.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if run.State != StateStarting && run.State != StateRunning {
		return fmt.Errorf("cannot stop job run %s: %w (it is %s)", id, ErrRunNotActive, run.State)
	}
	if _, err := runTable.RequestStop(ctx, s.db.SQL(), id, StateStarting, StateRunning); err != nil {
		return err
	}
	s.mu.Lock()
	cancel := s.cancels[id]
	s.mu.Unlock()
	if cancel != nil {
		cancel(fmt.Errorf("%w by request", ErrStopped))
	}
	return nil
}

const runColumns = `id, job, attempt, state, started_at, ended_at, args, stats, error, log`

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started, ended, args, stats, log string
	if err := row.Scan(&r.ID, &r.Job, &r.Attempt, &r.State, &started, &ended, &args, &stats, &r.Error, &log); err != nil {
		return Run{}, err
	}
	r.StartedAt, r.EndedAt = meta.ParseTime(started), meta.ParseTime(ended)
	_ = json.Unmarshal([]byte(args), &r.Args)
	_ = json.Unmarshal([]byte(stats), &r.Stats)
	if log != "" {
		r.Log = strings.Split(log, "\n")
	}
	return r, nil
}

// GetRun returns one run.
func (s *Service) GetRun(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.SQL().QueryRowContext(ctx, `SELECT `+runColumns+` FROM job_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("cannot get job run %q: %w", id, ErrNoSuchRun)
	}
	return r, err
}

// Runs lists a job's runs, newest first.
func (s *Service) Runs(ctx context.Context, job string) ([]Run, error) {
	if _, err := s.Get(ctx, job); err != nil {
		return nil, err
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+runColumns+` FROM job_runs WHERE job = ? ORDER BY started_at DESC, id DESC`, job)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
