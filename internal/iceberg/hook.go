package iceberg

import (
	"context"
	"database/sql"
)

// CommitHook runs inside the metadata transaction that swaps the
// metadata_location of a commit (see WithCommitHook).
type CommitHook func(ctx context.Context, tx *sql.Tx) error

type hookKey struct{}

// WithCommitHook returns a context whose commits through the Catalog
// (CommitTable, CommitTransaction, and so iceberg-go's Transaction.Commit)
// also run hook in the metadata transaction that swaps the tables'
// metadata_location, after the swaps: what hook writes is committed if and
// only if the new metadata is (a job's bookmark with its snapshot). An
// error from hook aborts the commit (it is returned wrapped; it does not
// wrap table.ErrCommitFailed unless hook's error does). The transaction may
// run more than once (busy database), so hook must be idempotent. A commit
// that changes nothing does not run it. Other calls ignore the hook.
func WithCommitHook(ctx context.Context, hook CommitHook) context.Context {
	return context.WithValue(ctx, hookKey{}, hook)
}

func commitHook(ctx context.Context) CommitHook {
	h, _ := ctx.Value(hookKey{}).(CommitHook)
	return h
}
