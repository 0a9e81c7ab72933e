package query

import (
	"context"

	"github.com/tarn-lake/tarn/internal/engine"
)

// ListWarehouse lists the warehouse as the transaction sees it: with its
// own uncommitted changes once it holds a session (PostgreSQL's catalog
// shows a block its own new tables), else ok is false and the caller
// lists the committed warehouse. Like the Tx, not safe for concurrent use.
func (t *Tx) ListWarehouse(ctx context.Context) (l *engine.WarehouseListing, ok bool, err error) {
	if !t.pinned() || t.done {
		return nil, false, nil
	}
	l, err = t.sess.ListWarehouse(ctx)
	return l, true, err
}
