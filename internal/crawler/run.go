package crawler

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Run is one crawl, persisted from its start.
type Run struct {
	ID      string `json:"id"`
	Crawler string `json:"crawler"`
	State   string `json:"state"` // RUNNING, SUCCEEDED, FAILED
	DryRun  bool   `json:"dry_run"`
	// AcceptDrift runs applied the schema changes that the crawler's "log"
	// policy had kept out of the catalog.
	AcceptDrift       bool          `json:"accept_drift,omitempty"`
	StartedAt         time.Time     `json:"started_at"`
	EndedAt           time.Time     `json:"ended_at"`
	FilesScanned      int           `json:"files_scanned"`
	BytesScanned      int64         `json:"bytes_scanned"`
	TablesCreated     []string      `json:"tables_created,omitempty"`
	TablesUpdated     []string      `json:"tables_updated,omitempty"`
	TablesDeprecated  []string      `json:"tables_deprecated,omitempty"`
	TablesDeleted     []string      `json:"tables_deleted,omitempty"`
	PartitionsAdded   int           `json:"partitions_added"`
	PartitionsRemoved int           `json:"partitions_removed"`
	Tables            []TableResult `json:"tables,omitempty"`
	FileErrors        []FileError   `json:"file_errors,omitempty"`
	Error             string        `json:"error,omitempty"`
}

// TableResult is what a run did (or, in a dry run, would do) to one table.
type TableResult struct {
	Table             string                 `json:"table"`
	Action            string                 `json:"action"` // create, update, unchanged, drift-logged, deprecate, delete, delete-logged
	Location          string                 `json:"location"`
	Format            string                 `json:"format,omitempty"`
	Columns           []catalog.Column       `json:"columns,omitempty"`
	PartitionKeys     []catalog.Column       `json:"partition_keys,omitempty"`
	Changes           []catalog.SchemaChange `json:"changes,omitempty"`
	PartitionsAdded   int                    `json:"partitions_added"`
	PartitionsRemoved int                    `json:"partitions_removed"`
}

// FileError is a file the crawl could not use; the crawl goes on without it.
type FileError struct {
	URI   string `json:"uri"`
	Error string `json:"error"`
}

// StartOptions tune one crawl.
type StartOptions struct {
	// DryRun computes everything without writing to the catalog or to the
	// crawler's memory of folders and tables; the run is still recorded.
	DryRun bool
	// AcceptDrift applies, in this run only, the schema changes that a
	// crawler with schema change policy "log" records without applying:
	// someone has reviewed the drift and accepts it.
	AcceptDrift bool
	// Progress, if set, is called after each file is read (never
	// concurrently).
	Progress func(Progress)
}

// Progress reports a running crawl.
type Progress struct {
	FilesDone  int    `json:"files_done"`
	FilesTotal int    `json:"files_total"`
	BytesDone  int64  `json:"bytes_done"`
	Current    string `json:"current"`
}

// Start runs the crawler synchronously and returns its run. A crawl that
// fails as a whole (a target cannot be listed, the catalog cannot be
// written) returns the FAILED run and an error wrapping ErrCrawlFailed;
// unreadable files do not fail a crawl, they are listed in Run.FileErrors.
// A crawler already running returns ErrCrawlerRunning.
func (s *Service) Start(ctx context.Context, name string, opts StartOptions) (Run, error) {
	spec, err := s.Get(ctx, name)
	if err != nil {
		return Run{}, err
	}
	s.mu.Lock()
	if s.running[spec.Name] {
		s.mu.Unlock()
		return Run{}, fmt.Errorf("cannot start crawler %q: %w", name, ErrCrawlerRunning)
	}
	s.running[spec.Name] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, spec.Name)
		s.mu.Unlock()
	}()

	if opts.AcceptDrift {
		spec.SchemaChangePolicy = SchemaChangeUpdate
	}
	run := Run{ID: newRunID(), Crawler: spec.Name, State: StateRunning, DryRun: opts.DryRun, AcceptDrift: opts.AcceptDrift, StartedAt: time.Now().UTC()}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM crawler_runs WHERE crawler = ? AND state = ?`,
			spec.Name, StateRunning).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrCrawlerRunning
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO crawler_runs (id, crawler, state, dry_run, started_at, owner) VALUES (?, ?, ?, ?, ?, ?)`,
			run.ID, run.Crawler, run.State, boolInt(run.DryRun), meta.FormatTime(run.StartedAt), runs.Owner())
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("cannot start crawler %q: %w", name, err)
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	s.cancels[spec.Name] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.cancels, spec.Name)
		s.mu.Unlock()
	}()
	// A stop request through another server of the lake (Stop there) is
	// the run's stop flag.
	go runTable.WatchStop(cctx, s.db.SQL(), run.ID, StopPoll, func() {
		cancel(ErrStopped)
		if stopSeen != nil {
			stopSeen()
		}
	})
	c := &crawl{s: s, spec: spec, opts: opts, run: &run}
	crawlErr := c.do(cctx)
	if crawlErr != nil && errors.Is(context.Cause(cctx), ErrStopped) {
		crawlErr = ErrStopped
	}
	run.EndedAt = time.Now().UTC()
	run.State = StateSucceeded
	switch {
	case errors.Is(crawlErr, ErrStopped):
		run.State, run.Error = StateCancelled, s.eng.Redact(crawlErr.Error())
	case crawlErr != nil:
		run.State, run.Error = StateFailed, s.eng.Redact(crawlErr.Error())
	}
	// Lineage first: once the run is saved as ended, a client that sees it
	// may delete the crawler at once.
	s.recordLineage(context.WithoutCancel(ctx), spec, run)
	// The run must be recorded even when ctx was cancelled.
	if err := s.saveRun(context.WithoutCancel(ctx), run); err != nil {
		return run, err
	}
	if crawlErr != nil {
		return run, fmt.Errorf("crawler %q run %s: %w: %w", spec.Name, run.ID, ErrCrawlFailed, crawlErr)
	}
	return run, nil
}

// Stop asks the crawl of a crawler running in this process, or in another server of the lake, to stop (Glue's
// StopCrawler). The crawl ends CANCELLED (see ErrStopped). A crawl that
// another server of the lake runs is asked to stop through its run's stop
// flag, which that server watches (every StopPoll).
func (s *Service) Stop(ctx context.Context, name string) error {
	if _, err := s.Get(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	cancel := s.cancels[name]
	s.mu.Unlock()
	if cancel != nil {
		cancel(ErrStopped)
		return nil
	}
	var id string
	err := s.db.SQL().QueryRowContext(ctx, `SELECT id FROM crawler_runs WHERE crawler = ? AND state = ? ORDER BY started_at DESC LIMIT 1`,
		name, StateRunning).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("cannot stop crawler %q: %w", name, ErrNotRunning)
	}
	if err != nil {
		return fmt.Errorf("cannot stop crawler %q: %w", name, err)
	}
	ok, err := runTable.RequestStop(ctx, s.db.SQL(), id, StateRunning)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("cannot stop crawler %q: %w", name, ErrNotRunning)
	}
	return nil
}

// StopPoll is how often a crawl looks for a stop request made through
// another server.
const StopPoll = 300 * time.Millisecond

// stopSeen, if set (tests), is called once a crawl has been cancelled by
// a stop request made through another server.
var stopSeen func()

// runResult is the JSON-encoded part of a stored run.
type runResult struct {
	TablesCreated     []string      `json:"tables_created,omitempty"`
	TablesUpdated     []string      `json:"tables_updated,omitempty"`
	TablesDeprecated  []string      `json:"tables_deprecated,omitempty"`
	TablesDeleted     []string      `json:"tables_deleted,omitempty"`
	PartitionsAdded   int           `json:"partitions_added"`
	PartitionsRemoved int           `json:"partitions_removed"`
	Tables            []TableResult `json:"tables,omitempty"`
	FileErrors        []FileError   `json:"file_errors,omitempty"`
	AcceptDrift       bool          `json:"accept_drift,omitempty"`
}

func (s *Service) saveRun(ctx context.Context, r Run) error {
	res, err := json.Marshal(runResult{
		TablesCreated: r.TablesCreated, TablesUpdated: r.TablesUpdated, TablesDeprecated: r.TablesDeprecated,
		TablesDeleted: r.TablesDeleted, PartitionsAdded: r.PartitionsAdded, PartitionsRemoved: r.PartitionsRemoved,
		Tables: r.Tables, FileErrors: r.FileErrors, AcceptDrift: r.AcceptDrift,
	})
	if err != nil {
		return fmt.Errorf("cannot record crawler run %s: %w", r.ID, err)
	}
	_, err = s.db.SQL().ExecContext(ctx, `UPDATE crawler_runs SET state = ?, ended_at = ?, files_scanned = ?, bytes_scanned = ?,
		result = ?, error = ? WHERE id = ?`,
		r.State, meta.FormatTime(r.EndedAt), r.FilesScanned, r.BytesScanned, string(res), r.Error, r.ID)
	if err != nil {
		return fmt.Errorf("cannot record crawler run %s: %w", r.ID, err)
	}
	return nil
}

const runColumns = `id, crawler, state, dry_run, started_at, ended_at, files_scanned, bytes_scanned, result, error`

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var dry int
	var started, ended, res string
	if err := row.Scan(&r.ID, &r.Crawler, &r.State, &dry, &started, &ended, &r.FilesScanned, &r.BytesScanned, &res, &r.Error); err != nil {
		return Run{}, err
	}
	r.DryRun = dry != 0
	r.StartedAt, r.EndedAt = meta.ParseTime(started), meta.ParseTime(ended)
	var rr runResult
	if err := json.Unmarshal([]byte(res), &rr); err != nil {
		return Run{}, fmt.Errorf("crawler run %s has a corrupt result: %w", r.ID, err)
	}
	r.TablesCreated, r.TablesUpdated, r.TablesDeprecated, r.TablesDeleted = rr.TablesCreated, rr.TablesUpdated, rr.TablesDeprecated, rr.TablesDeleted
	r.PartitionsAdded, r.PartitionsRemoved = rr.PartitionsAdded, rr.PartitionsRemoved
	r.Tables, r.FileErrors, r.AcceptDrift = rr.Tables, rr.FileErrors, rr.AcceptDrift
	return r, nil
}

// Runs returns a crawler's runs, newest first.
func (s *Service) Runs(ctx context.Context, name string) ([]Run, error) {
	if _, err := s.Get(ctx, name); err != nil {
		return nil, err
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+runColumns+` FROM crawler_runs WHERE crawler = ? ORDER BY started_at DESC, id DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("cannot list runs of crawler %q: %w", name, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list runs of crawler %q: %w", name, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetRun returns one run by id.
func (s *Service) GetRun(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.SQL().QueryRowContext(ctx, `SELECT `+runColumns+` FROM crawler_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("cannot get crawler run %q: %w", id, ErrNoSuchRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("cannot get crawler run %q: %w", id, err)
	}
	return r, nil
}

// newRunID returns a time-ordered unique run id.
func newRunID() string { return runs.NewID("cr-", "20060102T150405.000000") }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// crawl is the state of one run.
type crawl struct {
	s    *Service
	spec Spec
	opts StartOptions
	run  *Run

	mu       sync.Mutex // guards run.FileErrors and progress during the read phase
	progress Progress
}

func (c *crawl) fileError(uri string, err error) {
	c.mu.Lock()
	c.run.FileErrors = append(c.run.FileErrors, FileError{URI: uri, Error: err.Error()})
	c.mu.Unlock()
}

// tableWork is one table found by the listing, with what was read of it.
type tableWork struct {
	g        *tableGroup
	name     string
	existing *catalog.Table
	read     []bool        // per g.files: chosen to be read
	schemas  []*fileSchema // per g.files: the inferred schema (nil if not read or failed)
}

func (c *crawl) do(ctx context.Context) error {
	s, spec, dry := c.s, c.spec, c.opts.DryRun
	if !dry {
		err := s.cat.CreateDatabase(ctx, catalog.Database{Name: spec.Database,
			Description: "created by crawler " + spec.Name}, true)
		if err != nil {
			return fmt.Errorf("cannot create database %q: %w", spec.Database, err)
		}
	}

	// List every target and group its files into tables.
	var groups []*tableGroup
	for _, t := range spec.Targets {
		u, err := storage.ParseURI(t)
		if err != nil {
			return err
		}
		u = u.Dir()
		var files []storage.ObjectInfo
		for obj, err := range storage.Walk(ctx, s.store, u.Bucket, u.Key) {
			if err != nil {
				return fmt.Errorf("cannot list target %s: %w", t, err)
			}
			if skipReason(obj, strings.TrimPrefix(obj.Key, u.Key), spec.Exclusions) != "" {
				continue
			}
			files = append(files, obj)
		}
		sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
		files = withoutIcebergTables(files)
		gs, errs := groupTarget(u, files)
		groups = append(groups, gs...)
		c.run.FileErrors = append(c.run.FileErrors, errs...)
	}

	// Name the tables: a name taken by another location (in this run or in
	// the catalog) gets a suffix from its location's hash, as Glue does.
	work := make([]*tableWork, 0, len(groups))
	taken := map[string]string{}
	for _, g := range groups {
		name := g.name
		if loc, ok := taken[name]; ok && loc != g.location() {
			name = suffixed(name, g.location())
		}
		existing, err := c.getTable(ctx, name)
		if err != nil {
			return err
		}
		if existing != nil && !sameLocation(existing.Location, g.location()) && name == g.name {
			name = suffixed(name, g.location())
			if existing, err = c.getTable(ctx, name); err != nil {
				return err
			}
		}
		if existing != nil && !sameLocation(existing.Location, g.location()) {
			return fmt.Errorf("cannot name the table at %s: tables %q and %q exist with other locations", g.location(), g.name, name)
		}
		if existing != nil && iceberg.IsIceberg(*existing) {
			// Its metadata, not its files, says what it holds; a crawl
			// must not turn it back into a Hive table.
			continue
		}
		taken[name] = g.location()
		work = append(work, &tableWork{g: g, name: name, existing: existing,
			read: make([]bool, len(g.files)), schemas: make([]*fileSchema, len(g.files))})
	}

	// Choose the files to read.
	var seen map[string]bool
	if spec.RecrawlPolicy == RecrawlNewFolders {
		var err error
		if seen, err = c.seenFolders(ctx); err != nil {
			return err
		}
	}
	type job struct {
		w *tableWork
		i int
	}
	var jobs []job
	for _, w := range work {
		readAll := spec.RecrawlPolicy == RecrawlAll || w.existing == nil
		for i, f := range w.g.files {
			if readAll || !seen[f.folder] {
				w.read[i] = true
				jobs = append(jobs, job{w, i})
			}
		}
	}

	// Read them, in parallel on engine sessions.
	c.progress.FilesTotal = len(jobs)
	workers := min(max(2, runtime.NumCPU()), 8, max(1, len(jobs)))
	ch := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				obj := j.w.g.files[j.i].obj
				fs, err := c.s.inferFile(ctx, obj, nil)
				if err != nil && ctx.Err() == nil {
					c.fileError(obj.URI(), err)
				} else if err == nil {
					j.w.schemas[j.i] = &fs
				}
				c.mu.Lock()
				c.run.FilesScanned++
				c.run.BytesScanned += obj.Size
				c.progress.FilesDone++
				c.progress.BytesDone += obj.Size
				c.progress.Current = obj.URI()
				if c.opts.Progress != nil {
					c.opts.Progress(c.progress)
				}
				c.mu.Unlock()
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	// Merge, compare and write each table.
	var writeErrs []error
	produced := map[string]bool{}
	for _, w := range work {
		produced[w.name] = true
		if err := c.table(ctx, w); err != nil {
			writeErrs = append(writeErrs, err)
		}
	}
	if err := c.vanished(ctx, produced); err != nil {
		writeErrs = append(writeErrs, err)
	}
	if !dry && len(writeErrs) == 0 {
		if err := c.remember(ctx, work); err != nil {
			writeErrs = append(writeErrs, err)
		}
	}
	sortFileErrors(c.run.FileErrors)
	if len(writeErrs) > 0 {
		return errors.Join(writeErrs...)
	}
	return nil
}

func sortFileErrors(errs []FileError) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].URI < errs[j].URI })
}

// getTable returns the catalog table, or nil if it (or its database) does
// not exist.
func (c *crawl) getTable(ctx context.Context, name string) (*catalog.Table, error) {
	t, err := c.s.cat.GetTable(ctx, c.spec.Database, name)
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func sameLocation(a, b string) bool { return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") }

func suffixed(name, location string) string {
	h := sha1.Sum([]byte(location))
	return name + "_" + hex.EncodeToString(h[:4])
}

// merged is the table inferred from the files read in this run.
type merged struct {
	format  string
	options map[string]string
	columns []catalog.Column
	rows    int64 // -1 unless every file of the table is Parquet and was read
}

// merge checks that the files read agree on format (and, for CSV, on the
// dialect, re-reading a file with the table's dialect if not) and merges
// their schemas. Files that do not fit are file errors. The format and the
// CSV dialect (delimiter and header) are each the one most files have (on a
// tie, the first in key order's), so that one odd file cannot decide how the
// others are read. Column types may be "" (known by name only, see
// fileSchema.noRows); knownTypes fills them in.
func (c *crawl) merge(ctx context.Context, w *tableWork) (*merged, error) {
	var idx []int
	count := map[string]int{}
	for i, fs := range w.schemas {
		if fs != nil {
			idx = append(idx, i)
			count[fs.format]++
		}
	}
	if len(idx) == 0 {
		return nil, nil
	}
	format := w.schemas[idx[0]].format
	for f, n := range count {
		if n > count[format] || n == count[format] && f < format {
			format = f
		}
	}
	m := &merged{format: format, options: map[string]string{}, rows: 0}
	var same []int // files of the table's format, in key order
	for _, i := range idx {
		fs := w.schemas[i]
		if fs.format != format {
			c.fileError(w.g.files[i].obj.URI(), fmt.Errorf("file is %s but the table %q is %s; skipped", fs.format, w.name, format))
			w.schemas[i] = nil
			continue
		}
		same = append(same, i)
	}
	var first *fileSchema // a file that has the table's dialect
	if format == catalog.FormatCSV {
		first = w.schemas[majorityDialect(w.schemas, same)]
	}
	var schemas []*fileSchema
	for _, i := range same {
		fs := w.schemas[i]
		uri := w.g.files[i].obj.URI()
		if first == nil {
			first = fs
		}
		if format == catalog.FormatCSV && (fs.csv.delimiter != first.csv.delimiter || fs.csv.header != first.csv.header) {
			forced := first.csv
			again, err := c.s.inferFile(ctx, w.g.files[i].obj, &forced)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				c.fileError(uri, fmt.Errorf("file does not read as the table's dialect (delimiter %q, header %t): %w",
					forced.delimiter, forced.header, err))
				w.schemas[i] = nil
				continue
			}
			fs = &again
			w.schemas[i] = fs
		}
		schemas = append(schemas, fs)
	}
	if len(schemas) == 0 {
		return nil, nil
	}
	cols := make([][]catalog.Column, len(schemas))
	compression, jsonFormat := schemas[0].compression, schemas[0].jsonFormat
	quote, escape := "", ""
	for i, fs := range schemas {
		cols[i] = fs.columns
		if fs.compression != compression {
			compression = ""
		}
		if fs.jsonFormat != jsonFormat {
			jsonFormat = ""
		}
		if quote == "" {
			quote = fs.csv.quote
		}
		if escape == "" {
			escape = fs.csv.escape
		}
		if fs.rows < 0 || m.rows < 0 {
			m.rows = -1
		} else {
			m.rows += fs.rows
		}
	}
	if len(schemas) != len(w.g.files) {
		m.rows = -1
	}
	m.columns = mergeColumns(cols...)
	switch format {
	case catalog.FormatCSV:
		m.options[catalog.OptDelimiter] = first.csv.delimiter
		m.options[catalog.OptHeader] = strconv.FormatBool(first.csv.header)
		if quote == "" {
			quote = `"`
		}
		m.options[catalog.OptQuote] = quote
		if escape != "" {
			m.options[catalog.OptEscape] = escape
		}
	case catalog.FormatJSON:
		if jsonFormat != "" {
			m.options[catalog.OptJSONFormat] = jsonFormat
		}
	}
	if compression != "" {
		m.options[catalog.OptCompression] = compression
	}
	return m, nil
}

// majorityDialect returns the index (among idx, files in key order) of the
// first file whose CSV delimiter and header most files share.
func majorityDialect(schemas []*fileSchema, idx []int) int {
	type dialect struct {
		delimiter string
		header    bool
	}
	count := map[dialect]int{}
	firstAt := map[dialect]int{}
	for _, i := range idx {
		d := dialect{schemas[i].csv.delimiter, schemas[i].csv.header}
		if _, ok := firstAt[d]; !ok {
			firstAt[d] = i
		}
		count[d]++
	}
	best := idx[0]
	bestN := 0
	for _, i := range idx {
		d := dialect{schemas[i].csv.delimiter, schemas[i].csv.header}
		if firstAt[d] != i {
			continue
		}
		if count[d] > bestN { // ties: the earlier in key order stays
			best, bestN = i, count[d]
		}
	}
	return best
}

// knownTypes returns cols with every type not known ("": a column seen only
// in header-only files) made string.
func knownTypes(cols []catalog.Column) []catalog.Column {
	out := slices.Clone(cols)
	for i := range out {
		if out[i].Type == "" {
			out[i].Type = "string"
		}
	}
	return out
}

// mergeColumns unions column lists: the first list's order, then columns
// first seen in later lists; names match case-insensitively and types widen
// with catalog.WidenTypes (an empty type is "not known" and widens nothing).
func mergeColumns(lists ...[]catalog.Column) []catalog.Column {
	var out []catalog.Column
	pos := map[string]int{}
	for _, cols := range lists {
		for _, col := range cols {
			k := strings.ToLower(col.Name)
			if i, ok := pos[k]; ok {
				out[i].Type = catalog.WidenTypes(out[i].Type, col.Type)
				continue
			}
			pos[k] = len(out)
			out = append(out, catalog.Column{Name: col.Name, Type: col.Type, Comment: col.Comment})
		}
	}
	return out
}

// withoutKeys drops data columns named like a partition key: the folder's
// value is the column (Hive and Athena refuse duplicates).
func withoutKeys(cols, keys []catalog.Column) []catalog.Column {
	if len(keys) == 0 {
		return cols
	}
	k := map[string]bool{}
	for _, c := range keys {
		k[strings.ToLower(c.Name)] = true
	}
	out := make([]catalog.Column, 0, len(cols))
	for _, c := range cols {
		if !k[strings.ToLower(c.Name)] {
			out = append(out, c)
		}
	}
	return out
}

func sameKeyNames(a, b []catalog.Column) bool {
	return slices.EqualFunc(a, b, func(x, y catalog.Column) bool { return strings.EqualFold(x.Name, y.Name) })
}

// table decides and applies what the run does to one table.
func (c *crawl) table(ctx context.Context, w *tableWork) error {
	spec, dry, g := c.spec, c.opts.DryRun, w.g
	m, err := c.merge(ctx, w)
	if err != nil {
		return err
	}
	res := TableResult{Table: w.name, Location: g.location()}
	reason := fmt.Sprintf("crawler %s run %s", spec.Name, c.run.ID)

	if w.existing == nil {
		if m == nil {
			return nil // every file failed: nothing to create (the file errors say why)
		}
		t := catalog.Table{
			Database: spec.Database, Name: w.name, Location: g.location(),
			Format: m.format, FormatOptions: m.options,
			PartitionKeys: g.partitionColumns(), TableType: catalog.TableTypeExternal,
			Properties: map[string]string{
				catalog.PropertyClassification: m.format,
				PropertyCrawler:                spec.Name,
				"compressionType":              compressionType(m.options[catalog.OptCompression]),
			},
		}
		t.Columns = knownTypes(withoutKeys(m.columns, t.PartitionKeys))
		if m.rows >= 0 {
			var bytes int64
			for _, f := range g.files {
				bytes += f.obj.Size
			}
			t.Properties["recordCount"] = strconv.FormatInt(m.rows, 10)
			if m.rows > 0 {
				t.Properties["averageRecordSize"] = strconv.FormatInt(bytes/m.rows, 10)
			}
		}
		res.Action, res.Format, res.Columns, res.PartitionKeys = ActionCreate, t.Format, t.Columns, t.PartitionKeys
		res.PartitionsAdded = len(g.parts)
		c.run.TablesCreated = append(c.run.TablesCreated, w.name)
		c.addResult(res)
		if dry {
			return nil
		}
		skipped, _ := c.skips(w, nil)
		// One transaction: a reader (or a crash) never sees the table without
		// its partitions or with files it cannot read.
		return c.s.db.Tx(ctx, func(tx *sql.Tx) error {
			if err := c.s.cat.CreateTableTx(ctx, tx, t); err != nil {
				return fmt.Errorf("cannot create table %q: %w", w.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO crawler_tables (crawler, database_name, table_name, location, created_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (crawler, database_name, table_name) DO UPDATE SET location = excluded.location`,
				spec.Name, spec.Database, w.name, g.location(), meta.Now()); err != nil {
				return fmt.Errorf("cannot remember table %q: %w", w.name, err)
			}
			if len(g.parts) > 0 {
				if _, err := c.s.cat.AddPartitionsTx(ctx, tx, spec.Database, w.name, partitions(g.parts), true); err != nil {
					return err
				}
			}
			if len(skipped) > 0 {
				if err := c.s.cat.UpdateSkippedFilesTx(ctx, tx, spec.Database, w.name, skipped, nil); err != nil {
					return err
				}
			}
			killPoint("crawler-publish")
			return nil
		})
	}

	// An existing table: merge what was read into its schema.
	cur := *w.existing
	next := cur
	next.FormatOptions = cloneMap(cur.FormatOptions)
	next.Properties = cloneMap(cur.Properties)
	keysChanged := false
	if m != nil {
		next.Format = m.format
		partial := spec.RecrawlPolicy == RecrawlNewFolders
		for k, v := range m.options {
			old, had := next.FormatOptions[k]
			switch {
			case had && (k == catalog.OptQuote || k == catalog.OptEscape):
				// A file without quoted fields sniffs no quote: keep the table's.
			case k == catalog.OptCompression && partial && had && old != v:
				delete(next.FormatOptions, k) // old and new files differ: mixed
			default:
				next.FormatOptions[k] = v
			}
		}
		if _, ok := m.options[catalog.OptCompression]; !ok {
			delete(next.FormatOptions, catalog.OptCompression) // mixed compression
		}
		keys := g.partitionColumns()
		if sameKeyNames(cur.PartitionKeys, keys) {
			widened := make([]catalog.Column, len(keys))
			for i, k := range cur.PartitionKeys {
				widened[i] = catalog.Column{Name: k.Name, Type: catalog.WidenTypes(k.Type, keys[i].Type), Comment: k.Comment}
			}
			next.PartitionKeys = widened
		} else {
			next.PartitionKeys, keysChanged = keys, true
		}
		next.Columns = knownTypes(withoutKeys(mergeColumns(cur.Columns, m.columns), next.PartitionKeys))
	} else if !sameKeyNames(cur.PartitionKeys, g.partitionColumns()) {
		// Nothing new was read, yet the folders no longer match the keys.
		next.PartitionKeys, keysChanged = g.partitionColumns(), true
	}
	changes := catalog.DiffSchemas(cur, next)
	undeprecate := cur.Properties[catalog.PropertyDeprecated] == "true"
	if undeprecate {
		delete(next.Properties, catalog.PropertyDeprecated)
	}
	res.Format, res.Columns, res.PartitionKeys, res.Changes = next.Format, next.Columns, next.PartitionKeys, changes
	apply := false
	switch {
	case len(changes) > 0 && spec.SchemaChangePolicy == SchemaChangeLog:
		res.Action = ActionDriftLogged
		res.Format, res.Columns, res.PartitionKeys = cur.Format, cur.Columns, cur.PartitionKeys
		if undeprecate {
			next = cur
			next.Properties = cloneMap(cur.Properties)
			delete(next.Properties, catalog.PropertyDeprecated)
			apply = true
		}
		keysChanged = false
	case len(changes) > 0 || undeprecate:
		res.Action, apply = ActionUpdate, true
		next.Properties[PropertyCrawler] = spec.Name
		c.run.TablesUpdated = append(c.run.TablesUpdated, w.name)
	default:
		res.Action = ActionUnchanged
	}
	// The partition keys the table has after this run decide which folders
	// can be partitions.
	keysAfter := cur.PartitionKeys
	if res.Action == ActionUpdate {
		keysAfter = next.PartitionKeys
	}

	var existingParts []catalog.Partition
	if w.existing != nil && len(cur.PartitionKeys) > 0 {
		if existingParts, err = c.s.cat.ListPartitions(ctx, spec.Database, w.name); err != nil {
			return err
		}
	}
	var add []catalog.Partition
	var drop [][]string
	var stats []catalog.Partition
	canSync := sameKeyNames(keysAfter, g.partitionColumns())
	if keysChanged && res.Action == ActionUpdate {
		// New partition keys: the old partitions cannot stay.
		for _, p := range existingParts {
			drop = append(drop, p.Values)
		}
		add = partitions(g.parts)
	} else if canSync && len(keysAfter) > 0 {
		have := map[string]catalog.Partition{}
		for _, p := range existingParts {
			have[partKey(p.Values)] = p
		}
		for _, pg := range g.parts {
			p, ok := have[partKey(pg.values)]
			switch {
			case !ok:
				if why := misfit(keysAfter, pg.values); why != "" {
					c.fileError(pg.location, fmt.Errorf("partition not added: %s (the table keeps its schema: schema change policy %q)",
						why, spec.SchemaChangePolicy))
					continue
				}
				add = append(add, partitions([]*partGroup{pg})...)
			case p.FileCount != pg.files || p.Bytes != pg.bytes:
				stats = append(stats, catalog.Partition{Values: p.Values, FileCount: pg.files, Bytes: pg.bytes})
			}
		}
		root := strings.TrimSuffix(g.location(), "/") + "/"
		for _, p := range existingParts {
			if _, ok := g.partIndex[partKey(p.Values)]; !ok && strings.HasPrefix(p.Location, root) {
				drop = append(drop, p.Values)
			}
		}
	}
	res.PartitionsAdded, res.PartitionsRemoved = len(add), len(drop)
	c.addResult(res)
	if dry {
		return nil
	}
	before, err := c.s.cat.SkippedFiles(ctx, spec.Database, w.name)
	if err != nil {
		return err
	}
	skipped, readable := c.skips(w, before)
	if !apply && len(drop) == 0 && len(add) == 0 && len(stats) == 0 && len(skipped) == 0 && len(readable) == 0 {
		return nil
	}
	// The table and its partitions change in one metadata transaction, so
	// that readers never see a torn table (new partition keys without
	// partitions, new keys with the old partitions) and a failure changes
	// nothing.
	return c.s.db.Tx(ctx, func(tx *sql.Tx) error {
		t, err := c.s.cat.GetTableTx(ctx, tx, spec.Database, w.name)
		if err != nil {
			return err
		}
		switch {
		case apply && t.Version != cur.Version:
			return fmt.Errorf("cannot update table %q: %w: the crawl read version %d, the table is at version %d",
				t.FullName(), catalog.ErrConcurrentUpdate, cur.Version, t.Version)
		case !apply && !sameKeyNames(t.PartitionKeys, keysAfter):
			names := make([]string, len(t.PartitionKeys))
			for i, k := range t.PartitionKeys {
				names[i] = k.Name
			}
			return fmt.Errorf("cannot update the partitions of table %q: %w: its partition keys are now (%s)",
				t.FullName(), catalog.ErrConcurrentUpdate, strings.Join(names, ", "))
		}
		// Partitions are dropped first: the catalog refuses new partition
		// keys while the table has partitions.
		if len(drop) > 0 {
			if _, err := c.s.cat.DropPartitionsTx(ctx, tx, spec.Database, w.name, drop); err != nil {
				return err
			}
		}
		if apply {
			if _, err := c.s.cat.UpdateTableTx(ctx, tx, next, reason); err != nil {
				return err
			}
		}
		// Added after the update, so that they are checked against the keys
		// the table has after this run.
		if len(add) > 0 {
			if _, err := c.s.cat.AddPartitionsTx(ctx, tx, spec.Database, w.name, add, true); err != nil {
				return err
			}
		}
		for _, p := range stats {
			if err := c.s.cat.UpdatePartitionStatsTx(ctx, tx, spec.Database, w.name, p); err != nil {
				return err
			}
		}
		if len(skipped) > 0 || len(readable) > 0 {
			return c.s.cat.UpdateSkippedFilesTx(ctx, tx, spec.Database, w.name, skipped, readable)
		}
		return nil
	})
}

// skips compares what this crawl read of a table's files with the files
// the catalog leaves out of it (before): skipped are files read without
// success whose state is new (with the reason, from the crawl's file
// errors), readable those left out before that read fine now.
func (c *crawl) skips(w *tableWork, before []catalog.SkippedFile) (skipped map[string]string, readable []string) {
	was := map[string]string{}
	for _, f := range before {
		was[f.URI] = f.Reason
	}
	c.mu.Lock()
	why := map[string]string{}
	for _, fe := range c.run.FileErrors {
		why[fe.URI] = fe.Error
	}
	c.mu.Unlock()
	skipped = map[string]string{}
	for i, f := range w.g.files {
		if !w.read[i] {
			continue
		}
		uri := f.obj.URI()
		if w.schemas[i] != nil {
			if _, ok := was[uri]; ok {
				readable = append(readable, uri)
			}
			continue
		}
		reason := why[uri]
		if reason == "" {
			reason = "the crawler could not read it"
		}
		if was[uri] != reason {
			skipped[uri] = reason
		}
	}
	return skipped, readable
}

// misfit says why partition values do not fit the keys' types ("" if they
// do), for tables whose schema the crawl does not change.
func misfit(keys []catalog.Column, values []string) string {
	for i, k := range keys {
		v := values[i]
		if v == catalog.DefaultPartitionValue {
			continue
		}
		if got := catalog.WidenTypes(k.Type, inferPartitionType([]string{v})); got != catalog.WidenTypes(k.Type, "") {
			return fmt.Sprintf("value %q of key %q is not a %s", v, k.Name, k.Type)
		}
	}
	return ""
}

func (c *crawl) addResult(r TableResult) {
	c.run.Tables = append(c.run.Tables, r)
	c.run.PartitionsAdded += r.PartitionsAdded
	c.run.PartitionsRemoved += r.PartitionsRemoved
}

func partitions(pgs []*partGroup) []catalog.Partition {
	out := make([]catalog.Partition, len(pgs))
	for i, pg := range pgs {
		out[i] = catalog.Partition{Values: pg.values, Location: pg.location, FileCount: pg.files, Bytes: pg.bytes}
	}
	return out
}

func compressionType(c string) string {
	if c == "" {
		return "mixed"
	}
	return c
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// vanished applies the delete behaviour to tables this crawler created under
// its targets that no longer have any file.
func (c *crawl) vanished(ctx context.Context, produced map[string]bool) error {
	spec, dry := c.spec, c.opts.DryRun
	rows, err := c.s.db.SQL().QueryContext(ctx, `SELECT table_name, location FROM crawler_tables
		WHERE crawler = ? AND database_name = ? ORDER BY table_name`, spec.Name, spec.Database)
	if err != nil {
		return fmt.Errorf("cannot read the tables of crawler %q: %w", spec.Name, err)
	}
	type tracked struct{ name, location string }
	var all []tracked
	for rows.Next() {
		var t tracked
		if err := rows.Scan(&t.name, &t.location); err != nil {
			rows.Close()
			return err
		}
		all = append(all, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	forget := func(name string) error {
		if dry {
			return nil
		}
		_, err := c.s.db.SQL().ExecContext(ctx, `DELETE FROM crawler_tables WHERE crawler = ? AND database_name = ? AND table_name = ?`,
			spec.Name, spec.Database, name)
		return err
	}
	var errs []error
	for _, t := range all {
		if produced[t.name] || !underTargets(t.location, spec.Targets) {
			continue
		}
		cur, err := c.getTable(ctx, t.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur == nil || !sameLocation(cur.Location, t.location) {
			// Dropped (or replaced) by someone else: no longer ours.
			if err := forget(t.name); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		res := TableResult{Table: t.name, Location: cur.Location, Format: cur.Format, Columns: cur.Columns, PartitionKeys: cur.PartitionKeys}
		switch spec.DeleteBehavior {
		case DeleteLog:
			res.Action = ActionDeleteLogged
		case DeleteDeprecate:
			if cur.Properties[catalog.PropertyDeprecated] == "true" {
				continue
			}
			res.Action = ActionDeprecate
			c.run.TablesDeprecated = append(c.run.TablesDeprecated, t.name)
			if !dry {
				next := *cur
				next.Properties = cloneMap(cur.Properties)
				next.Properties[catalog.PropertyDeprecated] = "true"
				if _, err := c.s.cat.UpdateTable(ctx, next, fmt.Sprintf("crawler %s run %s: files gone", spec.Name, c.run.ID)); err != nil {
					errs = append(errs, err)
					continue
				}
			}
		case DeleteDelete:
			res.Action = ActionDelete
			c.run.TablesDeleted = append(c.run.TablesDeleted, t.name)
			if !dry {
				if err := c.s.cat.DropTable(ctx, spec.Database, t.name); err != nil && !errors.Is(err, catalog.ErrNoSuchTable) {
					errs = append(errs, err)
					continue
				}
				if err := forget(t.name); err != nil {
					errs = append(errs, err)
				}
			}
		}
		c.addResult(res)
	}
	return errors.Join(errs...)
}

func underTargets(location string, targets []string) bool {
	loc := strings.TrimSuffix(location, "/") + "/"
	for _, t := range targets {
		if strings.HasPrefix(loc, t) {
			return true
		}
	}
	return false
}

// seenFolders returns the folders this crawler has read before.
func (c *crawl) seenFolders(ctx context.Context) (map[string]bool, error) {
	rows, err := c.s.db.SQL().QueryContext(ctx, `SELECT uri FROM crawler_folders WHERE crawler = ?`, c.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("cannot read the folders of crawler %q: %w", c.spec.Name, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		seen[u] = true
	}
	return seen, rows.Err()
}

// remember records the folders read successfully in this run (a folder whose
// files all failed is read again next time).
func (c *crawl) remember(ctx context.Context, work []*tableWork) error {
	folders := map[string]bool{}
	for _, w := range work {
		for i, fs := range w.schemas {
			if fs != nil {
				folders[w.g.files[i].folder] = true
			}
		}
	}
	if len(folders) == 0 {
		return nil
	}
	at := meta.Now()
	return c.s.db.Tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO crawler_folders (crawler, uri, first_seen) VALUES (?, ?, ?)
			ON CONFLICT (crawler, uri) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for f := range folders {
			if _, err := stmt.ExecContext(ctx, c.spec.Name, f, at); err != nil {
				return fmt.Errorf("cannot remember folder %s: %w", f, err)
			}
		}
		return nil
	})
}
