// Package query runs SQL the way Athena does: SELECTs over catalog tables
// (bound and pruned by the engine), Athena's Hive DDL against the catalog,
// and a persisted history of every execution with its statistics.
package query

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/sqlscan"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// Sentinel errors.
var (
	ErrPermission  = engine.ErrPermission
	ErrUnsupported = errors.New("statement not supported")
	ErrSyntax      = engine.ErrSyntax
	ErrNoSuchQuery = errors.New("no such query execution")
)

// States of a query execution, as Athena names them.
const (
	StateQueued    = runs.Queued
	StateRunning   = runs.Running
	StateSucceeded = runs.Succeeded
	StateFailed    = runs.Failed
	StateCancelled = runs.Cancelled
)

// Migrations of the query history (component "query").
var Migrations = []meta.Migration{{Version: 1, Name: "query executions", SQL: `
CREATE TABLE query_executions (
	id TEXT PRIMARY KEY,
	sql TEXT NOT NULL,
	database_name TEXT NOT NULL DEFAULT '',
	statement_type TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	error TEXT NOT NULL DEFAULT '',
	submitted_at TEXT NOT NULL,
	ended_at TEXT NOT NULL DEFAULT '',
	rows_returned INTEGER NOT NULL DEFAULT 0,
	bytes_scanned INTEGER NOT NULL DEFAULT 0,
	files_scanned INTEGER NOT NULL DEFAULT 0,
	partitions_scanned INTEGER NOT NULL DEFAULT 0,
	partitions_total INTEGER NOT NULL DEFAULT 0,
	planning_ms INTEGER NOT NULL DEFAULT 0,
	engine_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX query_executions_submitted ON query_executions (submitted_at);
`}, {Version: 2, Name: "workgroups, cost attribution, owners", SQL: `
CREATE TABLE workgroups (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	created_at TEXT NOT NULL
);
ALTER TABLE query_executions ADD COLUMN workgroup TEXT NOT NULL DEFAULT 'primary';
ALTER TABLE query_executions ADD COLUMN access_key TEXT NOT NULL DEFAULT '';
ALTER TABLE query_executions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
`}, {Version: 3, Name: "result reuse", SQL: `
ALTER TABLE query_executions ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE query_executions ADD COLUMN reused_from TEXT NOT NULL DEFAULT '';
`}, {Version: 4, Name: "executions by state", SQL: `
-- New looks for the executions a stopped process left running; without
-- this it read the whole history at every start (every CLI query).
CREATE INDEX query_executions_state ON query_executions (state);
`}, {Version: 5, Name: "per-query result location", SQL: `
ALTER TABLE query_executions ADD COLUMN result_location TEXT NOT NULL DEFAULT '';
`}, {Version: 6, Name: "data manifests", SQL: `
ALTER TABLE query_executions ADD COLUMN manifest_location TEXT NOT NULL DEFAULT '';
`}, {Version: 7, Name: "stop requests from other servers", SQL: cancelMigration}}

// Request is one statement to run.
type Request struct {
	SQL string
	// Database is the default database for unqualified table names.
	Database string
	// Workgroup sets limits and the result location ("primary" if empty).
	Workgroup string
	// ResultLocation, for a background query (Async), is the folder its
	// result goes to unless its workgroup has a result location of its own
	// (Athena's client-side OutputLocation; a workgroup's own location is
	// enforced, as Athena's EnforceWorkGroupConfiguration does by default).
	ResultLocation string
	// AccessKey is who runs the query, for cost attribution ("" for the
	// local CLI).
	AccessKey string
	// ReuseMaxAge, when set, lets a background query (Async) reuse the
	// stored result of the same SQL in the same workgroup and database that
	// finished at most this long ago, if no table it read has changed since
	// (Athena does not check that).
	ReuseMaxAge time.Duration
	// Authorize, if set, is asked before a statement reads or changes a
	// table or database; an error stops the statement before it runs. Front
	// ends set it from the caller's access key (IAM actions such as
	// "glue:GetTable" on the table, "s3:GetObject" on its location); the
	// local CLI, which owns the lake's files, leaves it nil.
	Authorize func(action string, t Target) error

	// lane is the front end's queue for an engine session ("" for callers
	// of Execute, "async" for Async); see gate.
	lane string
	// tx is the client's transaction the statement runs in (Tx.Execute).
	tx *Tx
}

// Target is what a statement acts on: a table (Table set), a database, or
// storage (Location set).
type Target struct {
	Database string
	Table    string
	Location string // s3:// URI
}

// Column describes a result column: its name and DuckDB type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// AthenaType is Athena's name of the type (AthenaTypeName), set where
	// a result leaves tarn for Athena's clients (the REST API's results).
	AthenaType string `json:"athena_type,omitempty"`
}

// Sink receives a statement's result. Columns is called once before any Row.
// The values slice passed to Row is reused; copy it to keep it.
type Sink interface {
	Columns(cols []Column) error
	Row(vals []any) error
}

// Stats are an execution's statistics.
type Stats struct {
	Rows              int64         `json:"rows"`
	BytesScanned      int64         `json:"data_scanned_bytes"`
	FilesScanned      int           `json:"files_scanned"`
	PartitionsScanned int           `json:"partitions_scanned"`
	PartitionsTotal   int           `json:"partitions_total"`
	Planning          time.Duration `json:"planning_ns"`
	Engine            time.Duration `json:"engine_ns"`
	Elapsed           time.Duration `json:"elapsed_ns"`
	// CostUSD is what Athena would charge for the data scanned.
	CostUSD float64 `json:"cost_usd"`
}

// Execution is one query execution as kept in the history.
type Execution struct {
	ID            string    `json:"id"`
	SQL           string    `json:"sql"`
	Database      string    `json:"database"`
	Workgroup     string    `json:"workgroup"`
	AccessKey     string    `json:"access_key,omitempty"`
	StatementType string    `json:"statement_type"` // DML, DDL, UTILITY (Athena's)
	State         string    `json:"state"`
	Error         string    `json:"error,omitempty"`
	SubmittedAt   time.Time `json:"submitted_at"`
	EndedAt       time.Time `json:"ended_at"`
	Stats         Stats     `json:"stats"`
	// ReusedFrom is the execution whose stored result this one reused.
	ReusedFrom string `json:"reused_from,omitempty"`
	// ResultLocation is the folder a background query's result was asked
	// to go to (Athena's ResultConfiguration.OutputLocation); "" means the
	// workgroup's.
	ResultLocation string `json:"result_location,omitempty"`
	// ManifestLocation is the object listing the data files a background
	// CTAS or INSERT INTO wrote (Athena's DataManifestLocation), which
	// clients such as awswrangler read to find them.
	ManifestLocation string `json:"manifest_location,omitempty"`

	fingerprint string   // of the tables' files when the query was bound
	wrote       bool     // the statement published data files (CTAS, INSERT)
	written     []string // their URIs

	lineageIn []catalog.DatasetRef // the tables a write's SELECT read (lineage.go)
}

// Service runs statements. It is safe for concurrent use.
type Service struct {
	db    *meta.DB
	eng   *engine.Engine
	cat   *catalog.Catalog
	store storage.ObjectStore
	wh    *warehouse.Service // nil: no warehouse statements
	gate  *gate
	// pinned counts the transactions holding an engine session.
	pinned atomic.Int32
	// ice is the Iceberg catalog (WithIceberg, else opened on first use).
	ice     *iceberg.Catalog
	iceOnce sync.Once
	iceErr  error
}

// New migrates the history tables and returns the service. Executions left
// QUEUED or RUNNING by a process that died are marked FAILED.
func New(ctx context.Context, db *meta.DB, eng *engine.Engine, opts ...Option) (*Service, error) {
	if err := db.Migrate(ctx, "query", Migrations); err != nil {
		return nil, err
	}
	if _, err := runTable.Recover(ctx, db.SQL(), "interrupted: the server stopped before the query finished; run it again", StateQueued, StateRunning); err != nil {
		return nil, err
	}
	s := &Service{db: db, eng: eng, cat: eng.Catalog(), store: eng.Store(), gate: newGate(eng.Sessions())}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Execute runs one statement, streaming its result to sink, and records it
// in the history. The returned Execution is filled even when err != nil.
func (s *Service) Execute(ctx context.Context, req Request, sink Sink) (Execution, error) {
	ex := newExecution(req, StateRunning)
	if err := s.insert(context.WithoutCancel(ctx), ex); err != nil {
		return ex, err
	}
	err := s.runLimited(ctx, &ex, req, sink)
	return ex, s.record(ctx, &ex, err)
}

// runLimited runs a statement within its workgroup's query timeout, after
// waiting its turn for an engine session in its front end's lane.
func (s *Service) runLimited(ctx context.Context, ex *Execution, req Request, sink Sink) error {
	wg, err := s.Workgroup(ctx, req.Workgroup)
	if err != nil {
		return err
	}
	limit := wg.QueryTimeout()
	tctx, cancel := context.WithTimeoutCause(ctx, limit, ErrQueryTimeout)
	defer cancel()
	// A transaction that holds a session holds a gate slot with it; the
	// statement that pins the session hands its slot to the transaction.
	held := req.tx.pinned()
	var sl *slot
	if !held {
		sl, err = s.gate.acquire(tctx, req.lane+"/"+req.AccessKey)
	}
	if err == nil {
		err = s.run(tctx, ex, req, sink)
		switch {
		case held:
		case req.tx.pinned():
			req.tx.slot = sl
		default:
			s.gate.release(sl)
		}
	}
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), ErrQueryTimeout) {
		// Not context.DeadlineExceeded: the history says FAILED with the
		// limit that stopped it, not a bare "context deadline exceeded".
		return fmt.Errorf("%w: it ran longer than %s, the query timeout of workgroup %q (query_timeout_seconds); filter the data read, or raise the workgroup's timeout",
			ErrQueryTimeout, limit, wg.Name)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// Cancelled while DuckDB ran it: DuckDB answers its interrupt
		// ("INTERRUPT Error"), not the context's error, and the query
		// would be recorded FAILED rather than CANCELLED.
		return ctx.Err()
	}
	return err
}

func newExecution(req Request, state string) Execution {
	wg := req.Workgroup
	if wg == "" {
		wg = PrimaryWorkgroup
	}
	return Execution{ID: newID(), SQL: req.SQL, Database: strings.ToLower(req.Database), Workgroup: wg, AccessKey: req.AccessKey,
		State: state, SubmittedAt: time.Now()}
}

func (s *Service) insert(ctx context.Context, ex Execution) error {
	_, err := s.db.SQL().ExecContext(ctx, `INSERT INTO query_executions (id, sql, database_name, state, submitted_at, workgroup, access_key, owner, result_location)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ex.ID, ex.SQL, ex.Database, ex.State, meta.FormatTime(ex.SubmittedAt), ex.Workgroup, ex.AccessKey, runs.Owner(), ex.ResultLocation)
	if err != nil {
		return fmt.Errorf("cannot record query: %w", err)
	}
	return nil
}

// record sets an execution's end state from err and writes it to the
// history (even when ctx is cancelled). It returns err, or the history's
// error if only that failed.
func (s *Service) record(ctx context.Context, ex *Execution, err error) error {
	// What reaches the history and the client names objects by URI, never
	// by the server's local path.
	err = s.eng.RedactError(err)
	ex.EndedAt = time.Now()
	ex.Stats.CostUSD = Cost(ex.Stats.BytesScanned)
	ex.Stats.Elapsed = ex.EndedAt.Sub(ex.SubmittedAt)
	switch {
	case err == nil:
		ex.State = StateSucceeded
	case errors.Is(err, context.Canceled):
		ex.State, ex.Error = StateCancelled, err.Error()
	default:
		ex.State, ex.Error = StateFailed, err.Error()
	}
	_, herr := s.db.SQL().ExecContext(context.WithoutCancel(ctx), `UPDATE query_executions SET statement_type = ?, state = ?, error = ?, ended_at = ?,
		rows_returned = ?, bytes_scanned = ?, files_scanned = ?, partitions_scanned = ?, partitions_total = ?, planning_ms = ?, engine_ms = ?,
		fingerprint = ?, reused_from = ?, manifest_location = ?
		WHERE id = ?`, ex.StatementType, ex.State, ex.Error, meta.FormatTime(ex.EndedAt), ex.Stats.Rows, ex.Stats.BytesScanned,
		ex.Stats.FilesScanned, ex.Stats.PartitionsScanned, ex.Stats.PartitionsTotal, ex.Stats.Planning.Milliseconds(), ex.Stats.Engine.Milliseconds(),
		ex.fingerprint, ex.ReusedFrom, ex.ManifestLocation, ex.ID)
	if err == nil && herr != nil {
		err = fmt.Errorf("cannot record query: %w", herr)
	}
	return err
}

func (s *Service) run(ctx context.Context, ex *Execution, req Request, sink Sink) error {
	text := strings.TrimSpace(req.SQL)
	if text == "" {
		return fmt.Errorf("%w: the query is empty", ErrSyntax)
	}
	if handled, err := s.runIceberg(ctx, ex, req, sink, text); handled {
		return err
	}
	if s.wh != nil {
		if handled, err := s.runWarehouse(ctx, ex, req, sink, text); handled {
			return s.catalogView(ctx, ex, req, text, err)
		}
	}
	stmt, isDDL, err := parseDDL(text)
	if isDDL {
		ex.StatementType = "DDL"
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		if req.tx != nil && !readOnlyDDL(stmt) {
			return lakeWriteInTx("Athena DDL (" + firstWord(text) + ")")
		}
		if err := authorizeDDL(req, stmt); err != nil {
			return err
		}
		return s.runDDL(ctx, stmt, req, sink, ex)
	}
	if wstmt, isWrite, err := parseWrite(text); isWrite {
		ex.StatementType = "DML"
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		if req.tx != nil {
			return lakeWriteInTx(firstWord(text) + " into a lake table")
		}
		return s.runWrite(ctx, wstmt, req, sink, ex)
	}
	if kw := firstWord(text); kw != "" {
		if denied[kw] {
			return fmt.Errorf("%w: %s statements are not allowed; tarn's SQL reaches lake data only through catalog tables", ErrPermission, kw)
		}
		if unsupported[kw] {
			return fmt.Errorf("%w: %s is not supported yet; query tables with SELECT and define them with CREATE EXTERNAL TABLE", ErrUnsupported, kw)
		}
	}
	ex.StatementType = "DML"
	explain := false
	if t, _ := sqlscan.NewScanner(text, sqlscan.DuckDB).Next(); t.Is("EXPLAIN") {
		explain = true
		text = strings.TrimSpace(text[t.End:])
		ex.StatementType = "UTILITY"
	}
	if rw, err := warehouse.RewriteExpressions(text); err == nil {
		text = rw // Redshift's GETDATE(), SYSDATE, DATEADD(day, ...), VARCHAR(MAX)
	}
	planStart := time.Now()
	sess, release, err := s.session(ctx, req)
	if err != nil {
		return err
	}
	defer release()
	b, err := sess.Bind(ctx, text, req.Database)
	if errors.Is(err, engine.ErrNotSelect) {
		return fmt.Errorf("%w: only SELECT, EXPLAIN and Athena DDL (CREATE EXTERNAL TABLE, MSCK REPAIR TABLE, ALTER TABLE ADD/DROP PARTITION, SHOW, DESCRIBE, DROP) are supported", ErrUnsupported)
	}
	if err != nil {
		return err
	}
	if err := authorizeScans(req, b); err != nil {
		return err
	}
	wg, err := s.Workgroup(ctx, req.Workgroup)
	if err != nil {
		return err
	}
	if err := checkLimits(wg, b); err != nil {
		return err
	}
	ex.fingerprint = fingerprint(b)
	if req.ReuseMaxAge > 0 && !explain {
		if prev, ok := s.reusable(ctx, *ex, req.ReuseMaxAge); ok {
			// Athena's result reuse, checked against the tables' current
			// files: the earlier result stands for this execution.
			ex.ReusedFrom = prev.ID
			ex.Stats.Rows = prev.Stats.Rows
			ex.Stats.Planning = time.Since(planStart)
			return nil
		}
	}
	for _, sc := range b.Scans {
		ex.Stats.FilesScanned += len(sc.Files)
		ex.Stats.PartitionsScanned += sc.PartitionsScanned
		ex.Stats.PartitionsTotal += sc.PartitionsTotal
	}
	ex.Stats.BytesScanned = b.BytesScanned()
	ex.Stats.Planning = time.Since(planStart)
	if !explain {
		if items, ok := selectItems(ctx, sess.Conn(), text); ok {
			sink = &renamingSink{Sink: sink, items: items}
		}
	}
	exec := func(q string) (int64, error) {
		if explain {
			return stream(ctx, sess.Conn(), "EXPLAIN "+q, sink)
		}
		return streamCapped(ctx, sess.Conn(), q, sink, wg.MaxResults(), wg.Name)
	}
	engStart := time.Now()
	n, err := exec(b.SQL)
	if engine.IsSerialCSVError(err) && n == 0 {
		// A CSV file with quoted newlines and short rows: read it serially.
		if b, err = sess.BindWith(ctx, text, req.Database, engine.BindOptions{SerialCSV: true}); err != nil {
			return err
		}
		n, err = exec(b.SQL)
	}
	ex.Stats.Engine = time.Since(engStart)
	ex.Stats.Rows = n
	if err != nil {
		return engineError(err)
	}
	return nil
}

// stream runs q and passes its rows to sink.
func stream(ctx context.Context, conn *sql.Conn, q string, sink Sink) (int64, error) {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return 0, err
	}
	cols := make([]Column, len(cts))
	for i, ct := range cts {
		cols[i] = Column{Name: ct.Name(), Type: ct.DatabaseTypeName()}
	}
	if err := sink.Columns(cols); err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if err := sink.Row(vals); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// engineError turns DuckDB's errors into tarn's, keeping DuckDB's message
// (and its engine error kinds, see engine.Classify).
func engineError(err error) error {
	err = engine.Classify(err)
	switch {
	case engine.Is(err, engine.ErrPermission):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	case engine.Is(err, engine.ErrParser):
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return err
}

var denied = map[string]bool{
	"COPY": true, "ATTACH": true, "DETACH": true, "INSTALL": true, "LOAD": true, "SET": true, "RESET": true,
	"PRAGMA": true, "EXPORT": true, "IMPORT": true, "CALL": true, "CHECKPOINT": true, "FORCE": true, "USE": true,
	"VACUUM": true, "UPDATE_EXTENSIONS": true,
}

var unsupported = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "UNLOAD": true, "CREATE": true,
	"ALTER": true, "DROP": true, "TRUNCATE": true, "PREPARE": true, "EXECUTE": true, "DEALLOCATE": true,
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "ANALYZE": true, "SUMMARIZE": true, "COMMENT": true,
}

// firstWord is the statement's first keyword, upper case, or "" when it
// does not start with one.
func firstWord(s string) string {
	t, err := sqlscan.NewScanner(s, sqlscan.DuckDB).Next()
	if err != nil || t.Kind != sqlscan.Ident {
		return ""
	}
	return strings.ToUpper(t.Value)
}

// History returns the most recent executions, newest first.
func (s *Service) History(ctx context.Context, limit int) ([]Execution, error) {
	if limit <= 0 {
		limit = 50
	}
	return s.history(ctx, "", nil, limit)
}

// HistoryVisible returns the most recent executions that visible accepts,
// newest first: a front end's listing for one key (see Execution.AccessKey).
func (s *Service) HistoryVisible(ctx context.Context, limit int, visible func(Execution) bool) ([]Execution, error) {
	if limit <= 0 {
		limit = 50
	}
	const batch = 500
	var out []Execution
	where, args := "", []any(nil)
	for {
		page, err := s.history(ctx, where, args, batch)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if visible(e) {
				out = append(out, e)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(page) < batch {
			return out, nil
		}
		last := page[len(page)-1]
		ts := meta.FormatTime(last.SubmittedAt)
		where, args = `WHERE submitted_at < ? OR (submitted_at = ? AND id < ?)`, []any{ts, ts, last.ID}
	}
}

func (s *Service) history(ctx context.Context, where string, args []any, limit int) ([]Execution, error) {
	args = append(append([]any(nil), args...), limit)
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, sql, database_name, statement_type, state, error, submitted_at, ended_at,
		rows_returned, bytes_scanned, files_scanned, partitions_scanned, partitions_total, planning_ms, engine_ms, workgroup, access_key, reused_from, result_location, manifest_location
		FROM query_executions `+where+` ORDER BY submitted_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read query history: %w", err)
	}
	defer rows.Close()
	var out []Execution
	for rows.Next() {
		var e Execution
		var sub, end string
		var planMS, engMS int64
		if err := rows.Scan(&e.ID, &e.SQL, &e.Database, &e.StatementType, &e.State, &e.Error, &sub, &end,
			&e.Stats.Rows, &e.Stats.BytesScanned, &e.Stats.FilesScanned, &e.Stats.PartitionsScanned, &e.Stats.PartitionsTotal, &planMS, &engMS,
			&e.Workgroup, &e.AccessKey, &e.ReusedFrom, &e.ResultLocation, &e.ManifestLocation); err != nil {
			return nil, err
		}
		e.Stats.CostUSD = Cost(e.Stats.BytesScanned)
		e.SubmittedAt, e.EndedAt = meta.ParseTime(sub), meta.ParseTime(end)
		e.Stats.Planning, e.Stats.Engine = time.Duration(planMS)*time.Millisecond, time.Duration(engMS)*time.Millisecond
		if !e.EndedAt.IsZero() {
			e.Stats.Elapsed = e.EndedAt.Sub(e.SubmittedAt)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Get returns one execution.
func (s *Service) Get(ctx context.Context, id string) (Execution, error) {
	exs, err := s.history(ctx, `WHERE id = ?`, []any{id}, 1)
	if err != nil {
		return Execution{}, err
	}
	if len(exs) == 0 {
		return Execution{}, fmt.Errorf("cannot get query execution %q: %w", id, ErrNoSuchQuery)
	}
	return exs[0], nil
}

// newID returns an execution id shaped as Athena's (a UUID).
func newID() string { return runs.NewUUID() }

// Collect is a Sink that keeps the whole result in memory.
type Collect struct {
	Cols []Column
	Rows [][]any
}

func (c *Collect) Columns(cols []Column) error { c.Cols = cols; return nil }
func (c *Collect) Row(vals []any) error {
	c.Rows = append(c.Rows, append([]any(nil), vals...))
	return nil
}

// Run executes a statement and collects its result.
func (s *Service) Run(ctx context.Context, sqlText, database string) (*Collect, Execution, error) {
	c := &Collect{}
	ex, err := s.Execute(ctx, Request{SQL: sqlText, Database: database}, c)
	return c, ex, err
}

// authorizeScans asks the request's authorizer about every table b reads.
func authorizeScans(req Request, b *engine.Bound) error {
	if req.Authorize == nil {
		return nil
	}
	for _, rel := range b.Relations {
		schema, name, _ := strings.Cut(rel, ".")
		if err := req.Authorize(warehouse.ActionReadData, Target{Database: schema, Table: name}); err != nil {
			return err
		}
	}
	for _, sc := range b.Scans {
		t := Target{Database: sc.Table.Database, Table: sc.Table.Name}
		if err := req.Authorize("glue:GetTable", t); err != nil {
			return err
		}
		t.Location = sc.Table.Location
		if err := req.Authorize("s3:GetObject", t); err != nil {
			return err
		}
	}
	return nil
}

// authorizeDDL asks the request's authorizer about a DDL statement, with
// the Glue action Athena needs for it.
func authorizeDDL(req Request, stmt any) error {
	if req.Authorize == nil {
		return nil
	}
	db := func(d string) string {
		if d == "" {
			d = req.Database
		}
		return strings.ToLower(d)
	}
	var action string
	var t Target
	switch st := stmt.(type) {
	case createDatabase:
		action, t = "glue:CreateDatabase", Target{Database: strings.ToLower(st.Name), Location: st.Location}
	case dropDatabase:
		action, t = "glue:DeleteDatabase", Target{Database: strings.ToLower(st.Name)}
	case createTable:
		action, t = "glue:CreateTable", Target{Database: db(st.DB), Table: strings.ToLower(st.Name), Location: st.Table.Location}
	case dropTable:
		action, t = "glue:DeleteTable", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case repairTable:
		action, t = "glue:BatchCreatePartition", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case addPartitions:
		action, t = "glue:BatchCreatePartition", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case dropPartitions:
		action, t = "glue:BatchDeletePartition", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case setTableProperties:
		action, t = "glue:UpdateTable", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case alterHiveColumns:
		action, t = "glue:UpdateTable", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case showDatabases:
		action = "glue:GetDatabases"
	case showTables:
		action, t = "glue:GetTables", Target{Database: db(st.DB)}
	case showPartitions:
		action, t = "glue:GetPartitions", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case showCreateTable:
		action, t = "glue:GetTable", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	case describeTable:
		action, t = "glue:GetTable", Target{Database: db(st.DB), Table: strings.ToLower(st.Name)}
	default:
		return fmt.Errorf("%w: %T", ErrUnsupported, stmt)
	}
	return req.Authorize(action, t)
}

// fingerprint identifies what a bound query reads: each table's schema
// version and every file with its size and ETag. Any new, removed or
// rewritten file, or a schema change, gives another fingerprint.
func fingerprint(b *engine.Bound) string {
	h := sha256.New()
	for _, sc := range b.Scans {
		fmt.Fprintf(h, "%s@%d\n", sc.Table.FullName(), sc.Table.Version)
		for _, f := range sc.Files {
			fmt.Fprintf(h, "%s %d %s\n", f.URI, f.Size, f.ETag)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reusable finds a succeeded execution of the same SQL, database and
// workgroup, ended within maxAge, that read exactly the same files.
func (s *Service) reusable(ctx context.Context, ex Execution, maxAge time.Duration) (Execution, bool) {
	since := meta.FormatTime(time.Now().Add(-maxAge))
	var id string
	err := s.db.SQL().QueryRowContext(ctx, `SELECT id FROM query_executions
		WHERE sql = ? AND database_name = ? AND workgroup = ? AND state = ? AND fingerprint = ? AND ended_at >= ? AND id <> ?
		ORDER BY ended_at DESC LIMIT 1`, ex.SQL, ex.Database, ex.Workgroup, StateSucceeded, ex.fingerprint, since, ex.ID).Scan(&id)
	if err != nil {
		return Execution{}, false
	}
	prev, err := s.Get(ctx, id)
	if err != nil {
		return Execution{}, false
	}
	if prev.ReusedFrom != "" { // point at the execution that holds the result
		if orig, err := s.Get(ctx, prev.ReusedFrom); err == nil {
			prev = orig
		}
	}
	return prev, true
}

// Redact rewrites the server's local paths in a message for a client
// (engine.Redact): front ends pass every error message through it.
func (s *Service) Redact(msg string) string { return s.eng.Redact(msg) }
