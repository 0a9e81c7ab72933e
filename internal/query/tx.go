package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/tarn-lake/tarn/internal/engine"
)

// Transactions of warehouse statements (PostgreSQL's BEGIN ... COMMIT over
// pgwire). The warehouse is one DuckDB database, so a client's transaction
// is one DuckDB transaction on one engine session, pinned to the Tx from its
// first warehouse change to its end. Lake writes (CTAS, INSERT INTO a lake
// table, UNLOAD, Athena DDL) publish through the catalog, not DuckDB, and
// could not be undone by a ROLLBACK: they are refused inside a transaction.
// Reads are allowed; after the first change they run on the pinned session
// and see the transaction's own changes.

// Transaction errors.
var (
	// ErrTxAborted is returned for statements after an error in a
	// transaction, until it ends (PostgreSQL's 25P02).
	ErrTxAborted = errors.New("current transaction is aborted, commands ignored until end of transaction block")
	// ErrTxLakeWrite refuses a lake write inside a transaction.
	ErrTxLakeWrite = errors.New("lake writes cannot run inside a transaction")
	// ErrTxLimit refuses a transaction's first change when half the engine's
	// sessions are already pinned by open transactions.
	ErrTxLimit = errors.New("too many open transactions")
)

// Tx is a client's transaction. It is not safe for concurrent use: one
// connection runs its statements in order. Commit or Rollback must end it;
// until then it may hold an engine session and a slot of the gate.
type Tx struct {
	s    *Service
	lane string
	// sess is pinned at the first warehouse change, with a gate slot.
	sess   *engine.Session
	slot   *slot
	failed error
	done   bool
}

// Begin starts a transaction. It takes nothing yet: a transaction that only
// reads never holds a session, so idle clients in a transaction (drivers
// that begin one for every query) do not take the engine's sessions.
func (s *Service) Begin() *Tx { return &Tx{s: s} }

// Execute runs one statement of the transaction, as Service.Execute does
// (history, policies, limits, routing). An error fails the transaction:
// the statements after it get ErrTxAborted until Rollback.
func (t *Tx) Execute(ctx context.Context, req Request, sink Sink) (Execution, error) {
	if t.done {
		return Execution{}, errors.New("cannot run a statement: the transaction has ended")
	}
	if t.failed != nil {
		return Execution{}, fmt.Errorf("%w (the earlier error: %v); end it with ROLLBACK", ErrTxAborted, t.failed)
	}
	req.tx = t
	ex, err := t.s.Execute(ctx, req, sink)
	if err != nil {
		t.failed = err
	}
	return ex, err
}

// Fail puts the transaction in the failed state for an error a front end
// raised itself (a statement that never reached Execute).
func (t *Tx) Fail(err error) {
	if t.failed == nil && err != nil {
		t.failed = err
	}
}

// Failed reports whether an error has aborted the transaction.
func (t *Tx) Failed() bool { return t.failed != nil }

// Commit makes the transaction's changes visible to everyone. A failed
// transaction is rolled back instead (PostgreSQL answers its COMMIT with
// ROLLBACK): committed reports which happened. If DuckDB refuses the commit
// (a conflicting change committed first) the changes are rolled back and
// the error says so. With changes, the COMMIT is recorded in the history
// under req's key and workgroup.
func (t *Tx) Commit(ctx context.Context, req Request) (committed bool, err error) {
	if t.done {
		return false, nil
	}
	if t.failed != nil {
		return false, t.Rollback(ctx, req)
	}
	t.done = true
	if t.sess == nil {
		return true, nil
	}
	err = t.end(ctx, req, "COMMIT", func() error {
		if err := t.sess.Commit(ctx); err != nil {
			return fmt.Errorf("cannot commit the transaction, its changes are rolled back: %w; run it again", engineError(err))
		}
		return nil
	})
	return err == nil, err
}

// Rollback undoes the transaction's changes. It runs even when ctx is done
// (a client that went away): a transaction never outlives its holder.
func (t *Tx) Rollback(ctx context.Context, req Request) error {
	if t.done {
		return nil
	}
	t.done = true
	if t.sess == nil {
		return nil
	}
	return t.end(context.WithoutCancel(ctx), req, "ROLLBACK", func() error { return t.sess.Rollback(ctx) })
}

// end runs COMMIT or ROLLBACK on the pinned session, records it, and gives
// the session and its gate slot back.
func (t *Tx) end(ctx context.Context, req Request, verb string, fn func() error) error {
	req.SQL = verb
	ex := newExecution(req, StateRunning)
	ex.StatementType = "UTILITY"
	herr := t.s.insert(context.WithoutCancel(ctx), ex)
	err := fn()
	t.sess.Release()
	t.sess = nil
	t.s.gate.release(t.slot)
	t.slot = nil
	t.s.pinned.Add(-1)
	if herr == nil {
		err = t.s.record(ctx, &ex, err)
	}
	return err
}

// pin takes an engine session for the transaction and opens its DuckDB
// transaction. The statement that pins holds a gate slot (runLimited): the
// slot passes to the transaction with the session.
func (t *Tx) pin(ctx context.Context) error {
	limit := int32(max(1, t.s.eng.Sessions()/2))
	if t.s.pinned.Add(1) > limit {
		t.s.pinned.Add(-1)
		return fmt.Errorf("%w: %d transactions with changes are open, the most the engine allows at once (half its sessions, so other queries still run); COMMIT or ROLLBACK open transactions, or retry",
			ErrTxLimit, limit)
	}
	sess, err := t.s.eng.Acquire(ctx)
	if err != nil {
		t.s.pinned.Add(-1)
		return err
	}
	if err := sess.Begin(ctx); err != nil {
		sess.Release()
		t.s.pinned.Add(-1)
		return err
	}
	t.sess = sess
	return nil
}

// TempTables lists the temporary tables the transaction created (none
// before its first change). Like the Tx, not safe for concurrent use.
func (t *Tx) TempTables(ctx context.Context) ([]engine.TempTable, error) {
	if !t.pinned() || t.done {
		return nil, nil
	}
	return t.sess.TempTables(ctx)
}

// pinned reports whether the transaction holds a session.
func (t *Tx) pinned() bool { return t != nil && t.sess != nil }

// session is the engine session a statement of req runs on: the
// transaction's pinned one (reset, not released, after the statement), or
// one from the pool.
func (s *Service) session(ctx context.Context, req Request) (*engine.Session, func(), error) {
	if req.tx.pinned() {
		return req.tx.sess, req.tx.sess.Reset, nil
	}
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return sess, sess.Release, nil
}

// lakeWriteInTx is the error for a lake write inside a transaction.
func lakeWriteInTx(what string) error {
	return fmt.Errorf("%w: %s publishes to the lake through the catalog, which a ROLLBACK could not undo; run it outside BEGIN ... COMMIT (warehouse statements and reads may run inside)",
		ErrTxLakeWrite, what)
}

// readOnlyDDL reports whether an Athena DDL statement only reads the
// catalog (SHOW, DESCRIBE), which a transaction allows.
func readOnlyDDL(stmt any) bool {
	switch stmt.(type) {
	case showDatabases, showTables, showPartitions, showCreateTable, describeTable:
		return true
	}
	return false
}
