package pgwire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/query"
)

// conn is one client connection. Its command loop runs on one goroutine;
// cancelRunning and kill may be called from others.
type conn struct {
	srv    *Server
	nc     net.Conn
	be     *pgproto3.Backend
	params map[string]string
	pid    uint32
	secret uint32
	stop   context.CancelFunc

	principal *auth.Principal
	authorize func(string, query.Target) error
	database  string // the database the client connected to
	defaultDB string // the catalog database unqualified names use ("" if none)
	workgroup string
	settings  map[string]string
	// tx is the open transaction block (nil outside BEGIN ... COMMIT).
	tx     *query.Tx
	types  *pgtype.Map
	shadow *shadow

	stmts   map[string]*prepared
	portals map[string]*portal

	mu      sync.Mutex
	running context.CancelFunc
}

// prepared is a statement of the extended protocol.
type prepared struct {
	text      string
	st        statement
	paramOIDs []uint32
	cols      []query.Column // nil: no rows; described is false when unknown
	described bool
	// describeErr is why a query could not be described.
	describeErr error
}

// portal is a bound statement, with its parameters substituted.
type portal struct {
	stmt    *prepared
	text    string
	formats []int16
	// pending holds rows of a result fetched past an Execute's row limit.
	pending  [][][]byte
	started  bool
	complete string
}

func (c *conn) startup(ctx context.Context) error {
	user := c.params["user"]
	key, err := c.authenticate(ctx, user)
	if err != nil {
		return err
	}
	c.principal = &auth.Principal{Key: key, Service: "pgwire"}
	c.authorize = query.Authorizer(c.principal)
	c.types = pgtype.NewMap()
	c.settings = map[string]string{}
	c.database = c.params["database"]
	if c.database == "" {
		c.database = user
	}
	// The database names the default catalog database when there is one
	// of that name; any other name (postgres, a tool's default) is
	// accepted and leaves unqualified names unresolved.
	if _, err := c.srv.deps.Catalog.GetDatabase(ctx, strings.ToLower(c.database)); err == nil {
		c.defaultDB = strings.ToLower(c.database)
	} else if !errors.Is(err, catalog.ErrNoSuchDatabase) {
		fatal(c.be, codeInternal, err.Error(), "")
		return err
	}
	c.workgroup = query.PrimaryWorkgroup
	if wg := c.params["workgroup"]; wg != "" {
		c.workgroup = wg
	}
	for _, opt := range parseOptions(c.params["options"]) {
		if err := c.set(ctx, opt[0], opt[1]); err != nil {
			fatal(c.be, sqlState(err), err.Error(), "")
			return err
		}
	}
	if c.params["workgroup"] != "" {
		if _, err := c.srv.deps.Queries.Workgroup(ctx, c.workgroup); err != nil {
			fatal(c.be, sqlState(err), err.Error(), "")
			return err
		}
	}
	if c.shadow, err = openShadow(ctx, c.database, c.defaultDB); err != nil {
		fatal(c.be, codeInternal, err.Error(), "")
		return err
	}
	appName := c.params["application_name"]
	for _, p := range [][2]string{
		{"server_version", c.srv.cfg.ServerVersion}, {"server_encoding", "UTF8"}, {"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"}, {"IntervalStyle", "postgres"}, {"TimeZone", "UTC"}, {"integer_datetimes", "on"},
		{"standard_conforming_strings", "on"}, {"is_superuser", "off"}, {"session_authorization", user},
		{"application_name", appName},
	} {
		c.be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: binary.BigEndian.AppendUint32(nil, c.secret)})
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return c.be.Flush()
}

// parseOptions reads "-c name=value" pairs of the options startup parameter.
func parseOptions(s string) [][2]string {
	var out [][2]string
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		kv := f[i]
		switch {
		case kv == "-c" && i+1 < len(f):
			i++
			kv = f[i]
		case strings.HasPrefix(kv, "-c"):
			kv = kv[2:]
		case strings.HasPrefix(kv, "--"):
			kv = kv[2:]
		default:
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, [2]string{strings.ReplaceAll(k, "-", "_"), v})
		}
	}
	return out
}

// close ends the connection's state. A transaction still open is rolled
// back, as PostgreSQL does when a client goes away mid-transaction.
func (c *conn) close(ctx context.Context) {
	if c.tx != nil {
		if err := c.tx.Rollback(ctx, c.request("ROLLBACK")); err != nil {
			c.srv.log.Warn("pgwire: cannot roll back the transaction of a closed connection", "err", err)
		}
		c.tx = nil
	}
	if c.shadow != nil {
		c.shadow.close()
	}
}

// kill ends the connection from another goroutine (server shutdown).
func (c *conn) kill() {
	c.cancelRunning()
	if c.stop != nil {
		c.stop()
	}
	c.nc.Close()
}

func (c *conn) cancelRunning() {
	c.mu.Lock()
	if c.running != nil {
		c.running()
	}
	c.mu.Unlock()
}

// statementContext is the context of one statement: a CancelRequest for
// this connection cancels it.
func (c *conn) statementContext(ctx context.Context) (context.Context, func()) {
	sctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.running = cancel
	c.mu.Unlock()
	return sctx, func() {
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
		cancel()
	}
}

// txStatus is ReadyForQuery's transaction status: idle, in a transaction
// block, or in a failed one.
func (c *conn) txStatus() byte {
	switch {
	case c.tx == nil:
		return 'I'
	case c.tx.Failed():
		return 'E'
	}
	return 'T'
}

// failTx puts an open transaction block in the failed state: in
// PostgreSQL any error inside one aborts it.
func (c *conn) failTx(err error) {
	if c.tx != nil {
		c.tx.Fail(err)
	}
}

// loop reads and answers messages until the client terminates.
func (c *conn) loop(ctx context.Context) error {
	skipToSync := false
	for {
		idle := c.srv.cfg.IdleInTransactionTimeout
		if idle <= 0 {
			idle = time.Minute
		}
		if c.tx != nil {
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		msg, err := c.be.Receive()
		if err != nil {
			var ne net.Error
			if c.tx != nil && errors.As(err, &ne) && ne.Timeout() {
				// The deferred end of the connection rolls the block back.
				c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "25P03",
					Message: fmt.Sprintf("terminating connection due to idle-in-transaction timeout (%s): end transaction blocks with COMMIT or ROLLBACK", idle)})
				_ = c.be.Flush()
				return nil
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.Terminate:
			return nil
		case *pgproto3.Sync:
			skipToSync = false
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
			if err := c.be.Flush(); err != nil {
				return err
			}
			continue
		case *pgproto3.Flush:
			if err := c.be.Flush(); err != nil {
				return err
			}
			continue
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			continue // left over from a COPY that failed
		case *pgproto3.Query:
			c.simpleQuery(ctx, m.String)
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
			if err := c.be.Flush(); err != nil {
				return err
			}
			continue
		}
		if skipToSync {
			continue
		}
		var xerr error
		switch m := msg.(type) {
		case *pgproto3.Parse:
			xerr = c.parse(ctx, m)
		case *pgproto3.Bind:
			xerr = c.bind(m)
		case *pgproto3.Describe:
			xerr = c.describe(ctx, m)
		case *pgproto3.Execute:
			xerr = c.execute(ctx, m)
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				delete(c.stmts, m.Name)
			} else {
				delete(c.portals, m.Name)
			}
			c.be.Send(&pgproto3.CloseComplete{})
		default:
			xerr = newError(codeProtocol, fmt.Sprintf("unexpected message %T", msg), "")
		}
		if xerr != nil {
			c.failTx(xerr)
			c.be.Send(errorResponse(xerr))
			skipToSync = true
		}
		if err := c.be.Flush(); err != nil {
			return err
		}
	}
}

// simpleQuery runs each statement of a simple Query message; the first
// error ends it.
func (c *conn) simpleQuery(ctx context.Context, text string) {
	stmts, err := splitStatements(text)
	if err != nil {
		err = newError(codeSyntax, err.Error(), "")
		c.failTx(err)
		c.be.Send(errorResponse(err))
		return
	}
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, s := range stmts {
		st, err := parseStatement(s)
		if err == nil {
			err = c.runStatement(ctx, st, s, &wire{c: c, describe: true}, 0)
		}
		if err != nil {
			c.failTx(err)
			c.be.Send(errorResponse(err))
			return
		}
	}
}

func (c *conn) parse(ctx context.Context, m *pgproto3.Parse) error {
	if m.Name != "" {
		if _, ok := c.stmts[m.Name]; ok {
			return newError("42P05", fmt.Sprintf("prepared statement %q already exists", m.Name), "")
		}
	}
	text := strings.TrimSpace(m.Query)
	if stmts, err := splitStatements(text); err != nil {
		return newError(codeSyntax, err.Error(), "")
	} else if len(stmts) > 1 {
		return newError(codeSyntax, "cannot insert multiple commands into a prepared statement", "")
	} else if len(stmts) == 1 {
		text = stmts[0]
	}
	st, err := parseStatement(text)
	if err != nil {
		return err
	}
	if err := c.checkAborted(st); err != nil {
		return err
	}
	command := st.kind == kindQuery && commandVerb(text) != ""
	n, err := numParams(text)
	if err != nil {
		return newError(codeSyntax, err.Error(), "")
	}
	p := &prepared{text: text, st: st, paramOIDs: make([]uint32, n)}
	copy(p.paramOIDs, m.ParameterOIDs)
	switch st.kind {
	case kindQuery:
		// Describe on the shadow: parameter types the client left open and
		// the result columns.
		if err := c.refreshShadow(ctx); err != nil {
			return err
		}
		rewritten := rewriteIntrospection(text, c.shadow.cat)
		params, cols, err := c.shadow.describe(ctx, rewritten)
		if err != nil {
			// db.table is ambiguous on the mirror when its catalog has the
			// name of the schema db (the client connected to database db).
			if q, qerr := c.shadow.qualify(ctx, rewritten); qerr == nil && q != rewritten {
				if qp, qc, qerr := c.shadow.describe(ctx, q); qerr == nil {
					params, cols, err = qp, qc, nil
				}
			}
		}
		if err == nil {
			for i := range p.paramOIDs {
				if p.paramOIDs[i] == 0 && i < len(params) && params[i] != "" {
					p.paramOIDs[i] = oidFor(params[i])
				}
			}
			p.cols, p.described = cols, true
			if command {
				// A command's row count is its tag: it returns no rows.
				p.cols = nil
			}
			break
		}
		if command {
			// A command's row count is its tag: it returns no rows.
			p.described = true
			break
		}
		p.describeErr = err
		// The mirror cannot prepare it: a table the key may not read (the
		// mirror leaves it out), Athena DDL, or a function only the engine
		// has. EXPLAIN through the query service (parameters NULL) gives
		// the real error, authorization included, before any data is read.
		if w := words(text, 1); len(w) == 1 && (w[0] == "SELECT" || w[0] == "WITH" || w[0] == "(") {
			nulls := make([]string, n)
			for i := range nulls {
				nulls[i] = "NULL"
			}
			explain, serr := substitute(text, nulls)
			if serr == nil {
				if _, err := c.runLake(ctx, "EXPLAIN "+explain, &query.Collect{}); err != nil {
					return err
				}
			}
		}
	case kindShow:
		p.cols, p.described = []query.Column{{Name: st.name, Type: "VARCHAR"}}, true
	default:
		p.described = true
	}
	for i := range p.paramOIDs {
		if p.paramOIDs[i] == 0 {
			p.paramOIDs[i] = pgtype.TextOID
		}
	}
	c.stmts[m.Name] = p
	c.be.Send(&pgproto3.ParseComplete{})
	return nil
}

func (c *conn) bind(m *pgproto3.Bind) error {
	p, ok := c.stmts[m.PreparedStatement]
	if !ok {
		return newError(codeUndefinedPrepared, fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement), "")
	}
	if len(m.Parameters) != len(p.paramOIDs) {
		return newError(codeProtocol, fmt.Sprintf("bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), m.PreparedStatement, len(p.paramOIDs)), "")
	}
	lits := make([]string, len(m.Parameters))
	for i, v := range m.Parameters {
		format := int16(0)
		switch {
		case len(m.ParameterFormatCodes) == 1:
			format = m.ParameterFormatCodes[0]
		case len(m.ParameterFormatCodes) > i:
			format = m.ParameterFormatCodes[i]
		}
		lit, err := c.literal(p.paramOIDs[i], format, v)
		if err != nil {
			return newError(codeInvalidText, fmt.Sprintf("invalid value for parameter $%d: %v", i+1, err), "")
		}
		lits[i] = lit
	}
	text := p.text
	if len(lits) > 0 {
		var err error
		if text, err = substitute(text, lits); err != nil {
			return newError(codeProtocol, err.Error(), "")
		}
	}
	c.portals[m.DestinationPortal] = &portal{stmt: p, text: text, formats: m.ResultFormatCodes}
	c.be.Send(&pgproto3.BindComplete{})
	return nil
}

// literal renders a bound parameter as a SQL literal of its type: its
// text quoted as a string (the only escape DuckDB's strings have is the
// doubled quote) and cast to the type's DuckDB equivalent. Binary values
// are decoded with pgtype and rendered as text first. Parameters are thus
// substituted before the statement reaches the query service, which takes
// SQL text only; the quoting leaves no way out of the literal.
func (c *conn) literal(oid uint32, format int16, v []byte) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	if oid == pgtype.ByteaOID {
		var b []byte
		if err := c.types.Scan(oid, format, v, &b); err != nil {
			return "", err
		}
		return fmt.Sprintf("from_hex('%x')", b), nil
	}
	text := string(v)
	if format == 1 {
		typ, ok := c.types.TypeForOID(oid)
		if !ok {
			return "", fmt.Errorf("binary format is not supported for type %d", oid)
		}
		val, err := typ.Codec.DecodeValue(c.types, oid, 1, v)
		if err != nil {
			return "", err
		}
		tb, err := c.types.Encode(oid, 0, val, nil)
		if err != nil {
			return "", err
		}
		text = string(tb)
	}
	if strings.IndexByte(text, 0) >= 0 {
		return "", errors.New("text contains a NUL byte")
	}
	switch oid {
	case pgtype.BoolOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID, pgtype.Float8OID:
		// Numbers and booleans are checked here, so a wrong value is the
		// client's error (22P02), not DuckDB's.
		var v any
		if err := c.types.Scan(oid, 0, []byte(text), &v); err != nil {
			return "", err
		}
	case pgtype.NumericOID:
		scale := 0
		if i := strings.IndexByte(text, '.'); i >= 0 {
			scale = len(strings.TrimRight(text[i+1:], " "))
		}
		return fmt.Sprintf("CAST(%s AS DECIMAL(38,%d))", quoteLiteral(text), min(scale, 37)), nil
	}
	if t := duckTypeFor(oid); t != "" && t != "VARCHAR" {
		return "CAST(" + quoteLiteral(text) + " AS " + t + ")", nil
	}
	return quoteLiteral(text), nil
}

func (c *conn) describe(ctx context.Context, m *pgproto3.Describe) error {
	if m.ObjectType == 'S' {
		p, ok := c.stmts[m.Name]
		if !ok {
			return newError(codeUndefinedPrepared, fmt.Sprintf("prepared statement %q does not exist", m.Name), "")
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: p.paramOIDs})
		if !p.described {
			return undescribed(p)
		}
		c.sendRowDescription(p.cols, nil)
		return nil
	}
	pt, ok := c.portals[m.Name]
	if !ok {
		return newError(codeUndefinedCursor, fmt.Sprintf("portal %q does not exist", m.Name), "")
	}
	if !pt.stmt.described {
		return undescribed(pt.stmt)
	}
	c.sendRowDescription(pt.stmt.cols, pt.formats)
	return nil
}

func undescribed(p *prepared) error {
	msg := "cannot describe this statement's result before it runs"
	if p.describeErr != nil {
		msg += " (" + p.describeErr.Error() + ")"
	}
	return newError(codeNotSupported, msg, "run it with the simple query protocol (in pgx: QueryExecModeSimpleProtocol, or Exec without arguments)")
}

// sendRowDescription sends the columns' RowDescription, or NoData.
func (c *conn) sendRowDescription(cols []query.Column, formats []int16) {
	if len(cols) == 0 {
		c.be.Send(&pgproto3.NoData{})
		return
	}
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, col := range cols {
		oid := oidFor(col.Type)
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(col.Name), DataTypeOID: oid, DataTypeSize: typeSize(oid), TypeModifier: -1, Format: formatOf(formats, i)}
	}
	c.be.Send(rd)
}

func formatOf(formats []int16, i int) int16 {
	switch {
	case len(formats) == 1:
		return formats[0]
	case i < len(formats):
		return formats[i]
	}
	return 0
}

func (c *conn) execute(ctx context.Context, m *pgproto3.Execute) error {
	pt, ok := c.portals[m.Portal]
	if !ok {
		return newError(codeUndefinedCursor, fmt.Sprintf("portal %q does not exist", m.Portal), "")
	}
	if !pt.started {
		pt.started = true
		w := &wire{c: c, formats: pt.formats, described: pt.stmt.cols, maxRows: int(m.MaxRows), portal: pt}
		if err := c.runStatement(ctx, pt.stmt.st, pt.text, w, int(m.MaxRows)); err != nil {
			return err
		}
		if m.MaxRows == 0 || len(pt.pending) == 0 {
			return nil
		}
		c.be.Send(&pgproto3.PortalSuspended{})
		return nil
	}
	// A later Execute of a suspended portal: the rows kept from its result.
	n := len(pt.pending)
	if m.MaxRows > 0 && int(m.MaxRows) < n {
		n = int(m.MaxRows)
	}
	for _, r := range pt.pending[:n] {
		c.be.Send(&pgproto3.DataRow{Values: r})
	}
	pt.pending = pt.pending[n:]
	if len(pt.pending) > 0 {
		c.be.Send(&pgproto3.PortalSuspended{})
		return nil
	}
	if pt.complete != "" {
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(pt.complete)})
		pt.complete = ""
	}
	return nil
}

// runStatement runs one statement, writing its result through w.
func (c *conn) runStatement(ctx context.Context, st statement, text string, w *wire, maxRows int) error {
	switch st.kind {
	case kindEmpty:
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return nil
	case kindTx:
		return c.transaction(ctx, st.tag, w)
	}
	if err := c.checkAborted(st); err != nil {
		return err
	}
	switch st.kind {
	case kindNoop:
		return w.complete(st.tag)
	case kindSet:
		if err := c.set(ctx, st.name, st.value); err != nil {
			return err
		}
		return w.complete("SET")
	case kindReset:
		if st.name == "workgroup" || st.name == "all" {
			c.workgroup = query.PrimaryWorkgroup
		}
		delete(c.settings, st.name)
		return w.complete("RESET")
	case kindShow:
		if err := w.Columns([]query.Column{{Name: st.name, Type: "VARCHAR"}}); err != nil {
			return err
		}
		if err := w.Row([]any{c.show(st.name)}); err != nil {
			return err
		}
		return w.complete("SHOW")
	case kindCopy:
		w.copy = st.copy
		text = st.copy.query
	}
	sctx, done := c.statementContext(ctx)
	defer done()
	if err := c.refreshShadow(sctx); err != nil {
		return err
	}
	rewritten := rewriteIntrospection(text, c.shadow.cat)
	rt, err := c.shadow.classify(sctx, rewritten)
	if err != nil {
		return err
	}
	var tag string
	switch {
	case rt == routeShadow:
		err = c.shadow.run(sctx, rewritten, w)
	case w.copy == nil && commandVerb(text) != "":
		// A command (INSERT, COPY, CREATE TABLE, ...): its row count is
		// the command tag, not a result.
		cs := &commandSink{w: w}
		var ex query.Execution
		ex, err = c.runLake(sctx, text, cs)
		if err == nil {
			tag = cs.finish(text, ex)
		}
	default:
		_, err = c.runLake(sctx, text, w)
		if isDDL(text) && !w.columnsSent {
			tag = ddlTag(text)
		}
	}
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%w", context.Canceled)
		}
		return err
	}
	if w.copy != nil {
		return w.copyDone()
	}
	if tag == "" {
		tag = fmt.Sprintf("SELECT %d", w.rows)
	}
	return w.complete(tag)
}

// runLake runs a statement through the query service, as the
// connection's key, in its workgroup and default database.
func (c *conn) runLake(ctx context.Context, text string, sink query.Sink) (query.Execution, error) {
	// As the REST API does: the key must be allowed to start queries in
	// the workgroup.
	if err := c.principal.Authorize("athena:StartQueryExecution", auth.WorkgroupResource(c.workgroup)); err != nil {
		return query.Execution{}, err
	}
	run := c.srv.deps.Queries.Execute
	if c.tx != nil {
		run = c.tx.Execute
	}
	ex, err := run(ctx, c.request(text), sink)
	// A CTAS is Athena's DML but creates a table: the mirror is read again
	// after anything that may have changed the catalog.
	if ex.StatementType == "DDL" || isDDL(text) {
		c.shadow.dirty = true
	}
	return ex, err
}

// request is a statement of the connection: its key, workgroup and
// default database.
func (c *conn) request(text string) query.Request {
	return query.Request{SQL: text, Database: c.defaultDB, Workgroup: c.workgroup,
		AccessKey: c.principal.Key.AccessKeyID, Authorize: c.authorize}
}

// transaction runs BEGIN, COMMIT or ROLLBACK (and their synonyms). The
// block's statements run in one query.Tx: warehouse changes are one DuckDB
// transaction that COMMIT publishes and ROLLBACK undoes.
func (c *conn) transaction(ctx context.Context, tag string, w *wire) error {
	switch tag {
	case "BEGIN":
		if c.tx != nil {
			c.notice("25001", "there is already a transaction in progress")
			return w.complete(tag)
		}
		c.tx = c.srv.deps.Queries.Begin()
		return w.complete(tag)
	case "COMMIT":
		if c.tx == nil {
			c.notice("25P01", "there is no transaction in progress")
			return w.complete(tag)
		}
		tx := c.tx
		c.tx = nil
		committed, err := tx.Commit(ctx, c.request("COMMIT"))
		c.shadow.dirty = true // DDL of the block shows once committed
		if err != nil {
			return err
		}
		if !committed {
			// A failed block: PostgreSQL rolls it back and says so.
			tag = "ROLLBACK"
		}
		return w.complete(tag)
	default:
		if c.tx == nil {
			c.notice("25P01", "there is no transaction in progress")
			return w.complete(tag)
		}
		tx := c.tx
		c.tx = nil
		c.shadow.dirty = true
		if err := tx.Rollback(ctx, c.request("ROLLBACK")); err != nil {
			return err
		}
		return w.complete(tag)
	}
}

// checkAborted refuses every statement but COMMIT and ROLLBACK in a
// failed transaction block, as PostgreSQL does.
func (c *conn) checkAborted(st statement) error {
	if c.tx == nil || !c.tx.Failed() || st.kind == kindTx || st.kind == kindEmpty {
		return nil
	}
	return newError(codeInFailedTx, "current transaction is aborted, commands ignored until end of transaction block",
		"an earlier statement of the transaction failed and nothing of it will commit; send ROLLBACK, then run the transaction again")
}

// notice sends a WARNING, as PostgreSQL does for a BEGIN inside a block or
// a COMMIT outside one.
func (c *conn) notice(code, msg string) {
	c.be.Send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: code, Message: msg})
}

// refreshShadow brings the connection's catalog mirror up to date: the
// lake catalog and, when the server has the engine, the warehouse.
func (c *conn) refreshShadow(ctx context.Context) error {
	var wh warehouseLister
	if e := c.srv.deps.Engine; e != nil {
		wh = func(ctx context.Context) (*engine.WarehouseListing, error) {
			// A transaction block with changes sees them (its pinned
			// session's snapshot), as PostgreSQL's catalog does.
			if c.tx != nil {
				if l, ok, err := c.tx.ListWarehouse(ctx); ok || err != nil {
					return l, err
				}
			}
			sess, err := e.Acquire(ctx)
			if err != nil {
				return nil, err
			}
			defer sess.Release()
			return sess.ListWarehouse(ctx)
		}
	}
	if err := c.shadow.refresh(ctx, c.srv.deps.Catalog, wh, c.authorize); err != nil {
		return err
	}
	// The transaction block's temporary tables, which dbt-postgres
	// describes through information_schema.columns.
	var temps []engine.TempTable
	if c.tx != nil {
		var err error
		if temps, err = c.tx.TempTables(ctx); err != nil {
			return err
		}
	}
	return c.shadow.syncTemps(ctx, temps)
}

func isDDL(text string) bool {
	w := words(text, 1)
	return len(w) == 1 && (w[0] == "CREATE" || w[0] == "DROP" || w[0] == "ALTER" || w[0] == "MSCK")
}

// set changes a session setting. workgroup selects the workgroup of the
// following queries (it must exist); search_path naming a catalog database
// makes it the default database; other settings clients send
// (extra_float_digits, application_name, DateStyle, ...) are kept and
// shown but change nothing.
func (c *conn) set(ctx context.Context, name, value string) error {
	name = strings.ToLower(name)
	value = strings.Trim(strings.TrimSpace(value), `'"`)
	switch name {
	case "workgroup":
		if value == "" || strings.EqualFold(value, "default") {
			value = query.PrimaryWorkgroup
		}
		if _, err := c.srv.deps.Queries.Workgroup(ctx, value); err != nil {
			return err
		}
		c.workgroup = value
		return nil
	case "search_path":
		first := strings.Trim(strings.TrimSpace(strings.Split(value, ",")[0]), `'"`)
		if _, err := c.srv.deps.Catalog.GetDatabase(ctx, strings.ToLower(first)); err == nil {
			c.defaultDB = strings.ToLower(first)
			if c.shadow != nil {
				c.shadow.defaultDB, c.shadow.dirty = c.defaultDB, true
			}
		}
	}
	c.settings[name] = value
	return nil
}

func (c *conn) show(name string) string {
	switch strings.ToLower(name) {
	case "workgroup":
		return c.workgroup
	case "search_path":
		if c.defaultDB != "" {
			return c.defaultDB
		}
		return `"$user", public`
	case "server_version":
		return c.srv.cfg.ServerVersion
	case "server_version_num":
		return serverVersionNum(c.srv.cfg.ServerVersion)
	case "transaction_isolation", "transaction isolation level", "default_transaction_isolation":
		return "read committed"
	case "standard_conforming_strings", "integer_datetimes":
		return "on"
	case "timezone":
		return "UTC"
	case "datestyle":
		return "ISO, MDY"
	case "client_encoding", "server_encoding":
		return "UTF8"
	case "max_identifier_length":
		return "63"
	}
	if v, ok := c.settings[strings.ToLower(name)]; ok {
		return v
	}
	return ""
}

func serverVersionNum(v string) string {
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, " ")
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return strconv.Itoa(a*10000 + b)
}

// rowsPerFlush bounds the rows buffered before they are written out.
const rowsPerFlush = 256

// wire is the query.Sink that writes a result to the client: a
// RowDescription (simple protocol), DataRows in the requested formats, or
// COPY data.
type wire struct {
	c         *conn
	describe  bool           // send RowDescription when the columns are known (simple protocol)
	formats   []int16        // result formats (extended protocol)
	described []query.Column // the columns announced by Describe (extended protocol)
	maxRows   int
	portal    *portal
	copy      *copySpec

	cols        []query.Column
	oids        []uint32
	columnsSent bool
	rows        int64
	buf         []byte
}

func (w *wire) Columns(cols []query.Column) error {
	w.cols = cols
	if w.columnsSent {
		return errors.New("result columns announced twice")
	}
	w.columnsSent = true
	if w.described != nil && len(w.described) != len(cols) {
		return newError(codeInternal, fmt.Sprintf("the statement returned %d columns, %d were described", len(cols), len(w.described)),
			"prepare the statement again")
	}
	w.oids = make([]uint32, len(cols))
	for i, col := range cols {
		if w.described != nil {
			col = w.described[i]
		}
		w.oids[i] = oidFor(col.Type)
	}
	if w.copy != nil {
		return w.copyStart()
	}
	if w.describe {
		w.c.sendRowDescription(cols, nil)
	}
	return nil
}

func (w *wire) Row(vals []any) error {
	if w.copy != nil {
		return w.copyRow(vals)
	}
	row := make([][]byte, len(vals))
	for i, v := range vals {
		b, err := encodeValue(w.c.types, v, w.oids[i], w.cols[i].Type, formatOf(w.formats, i))
		if err != nil {
			return err
		}
		row[i] = b
	}
	w.rows++
	if w.maxRows > 0 && w.rows > int64(w.maxRows) {
		w.portal.pending = append(w.portal.pending, row)
		return nil
	}
	w.c.be.Send(&pgproto3.DataRow{Values: row})
	if w.rows%rowsPerFlush == 0 {
		return w.c.be.Flush()
	}
	return nil
}

// complete ends a command with its tag, unless rows are left for a later
// Execute of the portal.
func (w *wire) complete(tag string) error {
	if w.portal != nil && len(w.portal.pending) > 0 {
		w.portal.complete = tag
		return nil
	}
	w.c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
	return nil
}
