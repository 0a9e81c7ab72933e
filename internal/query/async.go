package query

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Athena runs queries asynchronously: StartQueryExecution returns an id at
// once, the query waits in QUEUED while the workgroup's concurrency is used
// up, and its results are kept as CSV (plus a metadata file) in the result
// location, where GetQueryResults pages through them.

// AsyncConfig configures asynchronous executions.
type AsyncConfig struct {
	// MaxConcurrent queries run at once; the rest wait QUEUED.
	MaxConcurrent int
	// ResultLocation is where results go: <location><id>.csv and
	// <id>.csv.metadata (Athena's default layout).
	ResultLocation storage.URI
	// CancelPoll is how often the runner looks in the metadata database
	// for stop requests that other servers recorded for its queries, and
	// how often a long-poll of a query running on another server looks at
	// its state; 0 means DefaultCancelPoll.
	CancelPoll time.Duration
}

// Submission is a query given to Submit.
type Submission struct {
	Request
	// QueuedAt is set by Submit.
	QueuedAt time.Time
}

// Async runs submitted queries in the background.
type Async struct {
	s   *Service
	cfg AsyncConfig
	sem chan struct{}

	mu      sync.Mutex
	running map[string]context.CancelFunc
	// done has a channel per query in flight, closed once its end is
	// recorded: long-polls (WaitDone) wait on it.
	done   map[string]chan struct{}
	wgSem  map[string]chan struct{}
	wg     sync.WaitGroup
	closed bool
	// stopWatch ends the watcher of stop requests (watchCancels).
	stopWatch chan struct{}
	watchDone chan struct{}
}

// NewAsync returns a runner of background queries over s.
func (s *Service) NewAsync(cfg AsyncConfig) *Async {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 2
	}
	if cfg.CancelPoll <= 0 {
		cfg.CancelPoll = DefaultCancelPoll
	}
	a := &Async{s: s, cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), running: map[string]context.CancelFunc{},
		done: map[string]chan struct{}{}, stopWatch: make(chan struct{}), watchDone: make(chan struct{})}
	go a.watchCancels()
	return a
}

// Submit records a query as QUEUED and runs it in the background; it returns
// the execution id at once.
func (a *Async) Submit(req Request) (string, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return "", errors.New("cannot submit query: the server is shutting down")
	}
	req.lane = "async"
	ex := newExecution(req, StateQueued)
	ctx, cancel := context.WithCancel(context.Background()) // the query outlives the HTTP request that submitted it
	a.running[ex.ID] = cancel
	a.done[ex.ID] = make(chan struct{})
	a.wg.Add(1)
	a.mu.Unlock()
	wg, err := a.s.Workgroup(ctx, ex.Workgroup)
	if err == nil && req.ResultLocation != "" && !wg.enforcesLocation() {
		var u storage.URI
		if u, err = storage.ParseURI(req.ResultLocation); err == nil {
			ex.ResultLocation = u.Dir().String()
			if t, found, terr := a.s.tableSharing(ctx, ex.ResultLocation); terr != nil {
				err = terr
			} else if found {
				err = fmt.Errorf("%w: result location %s shares a folder with table %s (%s): its result files would be read as the table's data; choose a folder outside every table",
					ErrSyntax, ex.ResultLocation, t.FullName(), t.Location)
			}
		} else {
			err = fmt.Errorf("%w: result location %q: %v", ErrSyntax, req.ResultLocation, err)
		}
	}
	if err == nil {
		err = a.s.insert(ctx, ex)
	}
	if err != nil {
		a.finish(ex.ID)
		return "", err
	}
	sem := a.semaphore(wg)
	go func() {
		defer a.finish(ex.ID)
		a.run(ctx, &ex, req, wg, sem)
	}()
	return ex.ID, nil
}

// semaphore returns the slots of a workgroup: its own if it sets
// MaxConcurrent, else the server's shared ones.
func (a *Async) semaphore(wg Workgroup) chan struct{} {
	if wg.MaxConcurrent <= 0 {
		return a.sem
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wgSem == nil {
		a.wgSem = map[string]chan struct{}{}
	}
	sem := a.wgSem[wg.Name]
	if sem == nil || cap(sem) != wg.MaxConcurrent {
		sem = make(chan struct{}, wg.MaxConcurrent)
		a.wgSem[wg.Name] = sem
	}
	return sem
}

func (a *Async) finish(id string) {
	a.mu.Lock()
	if c := a.running[id]; c != nil {
		c()
	}
	delete(a.running, id)
	if d := a.done[id]; d != nil {
		close(d)
		delete(a.done, id)
	}
	a.mu.Unlock()
	a.wg.Done()
}

// run executes a submitted query, writing its result as CSV to the result
// location. The query holds one of sem's slots while it runs in the engine
// only: storing its result and recording its end (fsyncs that take as long
// as a small query under load) do not keep the next query QUEUED.
func (a *Async) run(ctx context.Context, ex *Execution, req Request, wg Workgroup, sem chan struct{}) {
	loc := a.resultLocation(wg, *ex)
	if err := authorizeResult(req, loc, ex.ID); err != nil {
		a.s.record(context.WithoutCancel(ctx), ex, err)
		return
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		a.s.record(context.WithoutCancel(ctx), ex, context.Canceled)
		return
	}
	res := &spillBuffer{}
	defer res.remove()
	sink := &resultSink{w: bufio.NewWriter(res)}
	ex.State = StateRunning
	// RUNNING is recorded beside the run, not before it: under load the
	// write waits its turn for the metadata database while holding one of
	// the background slots. Only a QUEUED execution becomes RUNNING, so a
	// late write never hides its end.
	running := make(chan struct{})
	go func() {
		defer close(running)
		a.s.db.SQL().ExecContext(context.WithoutCancel(ctx), `UPDATE query_executions SET state = ? WHERE id = ? AND state = ?`, StateRunning, ex.ID, StateQueued)
	}()
	runErr := a.s.runLimited(ctx, ex, req, sink)
	<-sem
	defer func() { <-running }()
	if ferr := sink.w.Flush(); runErr == nil {
		runErr = ferr
	}
	if runErr == nil && ex.ReusedFrom == "" {
		err := a.storeResult(ctx, loc, ex.ID, res, sink.cols)
		if err == nil && ex.wrote {
			err = a.storeManifest(ctx, loc, ex)
		}
		if err != nil {
			if !changesState(req.SQL) {
				runErr = err
			} else {
				// The statement took effect: FAILED would tell the caller
				// to run it again, which would fail (or do it twice).
				ex.Error = "the statement succeeded, but its result could not be stored: " + a.s.eng.Redact(err.Error())
			}
		}
	}
	a.s.record(context.WithoutCancel(ctx), ex, runErr)
}

// authorizeResult asks, before a query runs, whether its key may write its
// result where the workgroup keeps results: the write is the key's
// s3:PutObject, as in Athena, so a workgroup cannot be used to write where
// its users could not (a raw table's folder, say).
func authorizeResult(req Request, loc storage.URI, id string) error {
	if req.Authorize == nil {
		return nil
	}
	for _, name := range []string{id + ".csv", id + ".csv.metadata", id + "-manifest.csv"} {
		if err := req.Authorize("s3:PutObject", Target{Location: loc.Join(name).String()}); err != nil {
			return fmt.Errorf("cannot write the query's result to %s: %w", loc, err)
		}
	}
	return nil
}

// resultLocation is where ex's result is: a workgroup's own result
// location (enforced, as Athena's EnforceWorkGroupConfiguration does by
// default), else the one the query asked for, else the workgroup's default
// or the server's.
func (a *Async) resultLocation(wg Workgroup, ex Execution) storage.URI {
	if ex.ResultLocation != "" && !wg.enforcesLocation() {
		if u, err := storage.ParseURI(ex.ResultLocation); err == nil {
			return u.Dir()
		}
	}
	if wg.ResultLocation != "" {
		if u, err := storage.ParseURI(wg.ResultLocation); err == nil {
			return u.Dir()
		}
	}
	return a.cfg.ResultLocation.Dir()
}

// storeResult puts <id>.csv and <id>.csv.metadata in the result location.
// The two puts run at once: each is durable (fsyncs) before the query is
// recorded SUCCEEDED, and clients (awswrangler, say) read the CSV straight
// from storage once it is, so neither may be left for later.
func (a *Async) storeResult(ctx context.Context, loc storage.URI, id string, res *spillBuffer, cols []Column) error {
	r, err := res.reader()
	if err != nil {
		return err
	}
	if err := a.s.ensureResultBucket(ctx, loc); err != nil {
		return err
	}
	md, _ := json.Marshal(map[string]any{"columns": cols})
	m := loc.Join(id + ".csv.metadata")
	mdErr := make(chan error, 1)
	go func() {
		_, err := a.s.store.Put(ctx, m.Bucket, m.Key, bytes.NewReader(md), storage.PutOptions{ContentType: "application/json"})
		mdErr <- err
	}()
	u := loc.Join(id + ".csv")
	_, err = a.s.store.Put(ctx, u.Bucket, u.Key, r, storage.PutOptions{ContentType: "text/csv"})
	if merr := <-mdErr; err == nil && merr != nil {
		return fmt.Errorf("cannot store the result metadata in %s: %w", m, merr)
	}
	if err != nil {
		return fmt.Errorf("cannot store the result in %s: %w", u, err)
	}
	return nil
}

// storeManifest puts <id>-manifest.csv beside the result: the URIs of the
// data files a CTAS or INSERT INTO wrote, one per line, as Athena writes
// it (awswrangler's CTAS approach reads its result through it).
func (a *Async) storeManifest(ctx context.Context, loc storage.URI, ex *Execution) error {
	var b strings.Builder
	for _, u := range ex.written {
		b.WriteString(u)
		b.WriteByte('\n')
	}
	m := loc.Join(ex.ID + "-manifest.csv")
	if _, err := a.s.store.Put(ctx, m.Bucket, m.Key, strings.NewReader(b.String()), storage.PutOptions{ContentType: "text/csv"}); err != nil {
		return fmt.Errorf("cannot store the data manifest in %s: %w", m, err)
	}
	ex.ManifestLocation = m.String()
	return nil
}

// spillBuffer keeps a result in memory up to spillAt bytes, then in a
// temporary file: most results are a few rows, which need no file of
// their own before they are stored.
type spillBuffer struct {
	buf  bytes.Buffer
	file *os.File
}

const spillAt = 1 << 20

func (b *spillBuffer) Write(p []byte) (int, error) {
	if b.file == nil && b.buf.Len()+len(p) > spillAt {
		f, err := os.CreateTemp("", "tarn-result-*.csv")
		if err != nil {
			return 0, err
		}
		b.file = f
		if _, err := f.Write(b.buf.Bytes()); err != nil {
			return 0, err
		}
		b.buf = bytes.Buffer{}
	}
	if b.file != nil {
		return b.file.Write(p)
	}
	return b.buf.Write(p)
}

// reader reads the result from its start.
func (b *spillBuffer) reader() (io.Reader, error) {
	if b.file == nil {
		return bytes.NewReader(b.buf.Bytes()), nil
	}
	if _, err := b.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return b.file, nil
}

func (b *spillBuffer) remove() {
	if b.file != nil {
		b.file.Close()
		os.Remove(b.file.Name())
	}
}

// WaitDone waits until query id has ended (its end recorded), ctx ends or
// max has passed, whichever comes first: a long-poll for clients that would
// otherwise poll the execution's state. A query running on another server
// of the lake is waited for by its recorded state; a finished or unknown
// one returns at once.
func (a *Async) WaitDone(ctx context.Context, id string, max time.Duration) {
	a.mu.Lock()
	d := a.done[id]
	a.mu.Unlock()
	if d == nil {
		a.waitElsewhere(ctx, id, max)
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-d:
	case <-ctx.Done():
	case <-t.C:
	}
}

// Cancel stops a queued or running query (StopQueryExecution), on this
// server or on the one of the lake that runs it.
func (a *Async) Cancel(ctx context.Context, id string) error {
	ex, err := a.s.Get(ctx, id)
	if err != nil {
		return err
	}
	if ex.State != StateQueued && ex.State != StateRunning {
		return nil // already finished: nothing to stop, as Athena answers
	}
	a.mu.Lock()
	cancel := a.running[id]
	a.mu.Unlock()
	if cancel == nil {
		// Running on another server of the lake: it sees the request in
		// the execution's row and stops the query.
		return a.requestCancel(ctx, id)
	}
	cancel()
	return nil
}

// Wait blocks until every submitted query has finished.
func (a *Async) Wait() { a.wg.Wait() }

// Close refuses new queries, cancels those in flight and waits for them to
// record their end.
func (a *Async) Close() {
	a.mu.Lock()
	first := !a.closed
	a.closed = true
	for _, c := range a.running {
		c()
	}
	a.mu.Unlock()
	a.wg.Wait()
	if first {
		close(a.stopWatch)
	}
	<-a.watchDone
}

// ResultPage is one page of a query's result.
type ResultPage struct {
	Columns []Column `json:"columns"`
	// Values are the rows in the typed result encoding (EncodeValue), as
	// the REST API sends them.
	Values [][]any `json:"rows"`
	// Rows are the same rows as text (TextValue: NULL is ""), for front
	// ends that answer text, such as Athena's GetQueryResults.
	Rows      [][]string `json:"-"`
	NextToken string     `json:"next_token,omitempty"`
}

// Results pages through a finished query's stored result: max rows from the
// position a token names (the first page when empty).
func (a *Async) Results(ctx context.Context, id, token string, max int) (ResultPage, error) {
	if max <= 0 || max > 1000 {
		max = 1000
	}
	start, offset, err := parseResultToken(token)
	if err != nil {
		return ResultPage{}, err
	}
	loc, id, cols, err := a.storedResult(ctx, id)
	if err != nil {
		return ResultPage{}, err
	}
	page := ResultPage{Columns: cols}
	u := loc.Join(id + ".csv")
	// A token that carries the next row's byte offset reads from there: a
	// large result is paged in one pass over its CSV, not re-read from
	// its start for every page.
	var rng *storage.Range
	if offset > 0 {
		rng = &storage.Range{Offset: offset, Length: -1}
	}
	rc, _, err := a.s.store.Get(ctx, u.Bucket, u.Key, rng)
	if err != nil {
		if offset > 0 && errors.Is(err, storage.ErrInvalidRange) {
			return ResultPage{}, fmt.Errorf("%w: next token %q is past the end of the result", ErrSyntax, token)
		}
		return ResultPage{}, fmt.Errorf("cannot read the result of %s: %w", id, err)
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	r := bufio.NewReader(cr)
	pos := func() int64 { return offset + cr.n - int64(r.Buffered()) }
	i := 0
	if offset == 0 {
		if _, _, err := ReadStoredRecord(r); err != nil && err != io.EOF { // header
			return ResultPage{}, err
		}
	} else {
		i = start
	}
	for ; ; i++ {
		at := pos()
		rec, nulls, err := ReadStoredRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil && offset > 0 {
			return ResultPage{}, fmt.Errorf("%w: next token %q is not one this server issued; start again without it", ErrSyntax, token)
		}
		if err != nil {
			return ResultPage{}, err
		}
		if i < start {
			continue
		}
		if len(page.Rows) == max {
			page.NextToken = fmt.Sprintf("%d@%d", i, at)
			break
		}
		if len(page.Columns) > 0 && len(rec) != len(page.Columns) {
			// Only a token pointing inside a record gets here.
			return ResultPage{}, fmt.Errorf("%w: next token %q is not one this server issued; start again without it", ErrSyntax, token)
		}
		vals := make([]any, len(rec))
		for j := range rec {
			typ := ""
			if j < len(page.Columns) {
				typ = page.Columns[j].Type
			}
			vals[j] = DecodeStored(rec[j], nulls[j], typ)
		}
		page.Rows = append(page.Rows, rec)
		page.Values = append(page.Values, vals)
	}
	return page, nil
}

// storedResult is where a succeeded query's result is stored (the folder
// of <id>.csv; id is the reused execution's when it reused one) and its
// columns (nil when the metadata file is missing).
func (a *Async) storedResult(ctx context.Context, id string) (loc storage.URI, resultID string, cols []Column, err error) {
	ex, err := a.s.Get(ctx, id)
	if err != nil {
		return loc, "", nil, err
	}
	if ex.State != StateSucceeded {
		return loc, "", nil, fmt.Errorf("%w: query %s is %s", ErrNotFinished, id, ex.State)
	}
	if ex.ReusedFrom != "" {
		// The result is the reused execution's, where it was stored.
		if ex, err = a.s.Get(ctx, ex.ReusedFrom); err != nil {
			return loc, "", nil, err
		}
	}
	wg, err := a.s.Workgroup(ctx, ex.Workgroup)
	if err != nil {
		return loc, "", nil, err
	}
	loc = a.resultLocation(wg, ex)
	m := loc.Join(ex.ID + ".csv.metadata")
	if rc, _, err := a.s.store.Get(ctx, m.Bucket, m.Key, nil); err == nil {
		var md struct{ Columns []Column }
		_ = json.NewDecoder(rc).Decode(&md)
		rc.Close()
		cols = md.Columns
		for i := range cols {
			cols[i].AthenaType = AthenaTypeName(cols[i].Type)
		}
	}
	return loc, ex.ID, cols, nil
}

// parseResultToken reads a results page token: "<row>" (the next data
// row's number, read by scanning from the start) or "<row>@<offset>" (the
// same row and the byte offset where it starts, as Results issues them).
func parseResultToken(token string) (row int, offset int64, err error) {
	if token == "" {
		return 0, 0, nil
	}
	rs, offs, hasOff := strings.Cut(token, "@")
	row, err = strconv.Atoi(rs)
	if err == nil && hasOff {
		offset, err = strconv.ParseInt(offs, 10, 64)
	}
	if err != nil || row < 0 || offset < 0 || (hasOff && offset == 0) {
		return 0, 0, fmt.Errorf("%w: bad next token %q", ErrSyntax, token)
	}
	return row, offset, nil
}

// ValidResultToken reports whether token has the shape of a results page
// token (front ends with their own error for a bad one check first).
func ValidResultToken(token string) bool {
	_, _, err := parseResultToken(token)
	return err == nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ErrNotFinished is returned for the results of a query that has not
// succeeded (yet).
var ErrNotFinished = errors.New("query has not succeeded")

// resultSink writes a result as CSV with a header, in the typed result
// encoding's text (WriteStoredRecord).
type resultSink struct {
	w    *bufio.Writer
	cols []Column
	rec  []*string
}

func (r *resultSink) Columns(cols []Column) error {
	r.cols = cols
	h := make([]*string, len(cols))
	for i := range cols {
		h[i] = &cols[i].Name
	}
	r.rec = make([]*string, len(cols))
	return WriteStoredRecord(r.w, h)
}

func (r *resultSink) Row(vals []any) error {
	for i, v := range vals {
		r.rec[i] = nil
		if e := EncodeValue(v, r.cols[i].Type); e != nil {
			s := TextTyped(e, r.cols[i].Type)
			r.rec[i] = &s
		}
	}
	return WriteStoredRecord(r.w, r.rec)
}

// ResultURI is the URI of ex's stored result CSV (the reused execution's
// for a reused result), as Athena reports OutputLocation.
func (a *Async) ResultURI(ctx context.Context, ex Execution) (string, error) {
	if ex.ReusedFrom != "" {
		var err error
		if ex, err = a.s.Get(ctx, ex.ReusedFrom); err != nil {
			return "", err
		}
	}
	wg, err := a.s.Workgroup(ctx, ex.Workgroup)
	if err != nil {
		return "", err
	}
	return a.resultLocation(wg, ex).Join(ex.ID + ".csv").String(), nil
}

// enforcesLocation reports whether a workgroup's result location was set
// for it (rather than left at the default): queries cannot send their
// results elsewhere.
func (w Workgroup) enforcesLocation() bool {
	return w.ResultLocation != "" && strings.TrimSuffix(w.ResultLocation, "/") != strings.TrimSuffix(DefaultResultLocation, "/")
}
