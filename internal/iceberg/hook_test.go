package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
)

// TestCommitHookSharesTheSwap: what a commit hook writes commits with the
// new metadata_location, and a hook's error leaves the table as it was.
func TestCommitHookSharesTheSwap(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	_, err := l.db.SQL().ExecContext(ctx, `CREATE TABLE marks (v TEXT)`)
	mustNoErr(t, err)
	tbl, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema)
	mustNoErr(t, err)
	tbl = appendRows(t, tbl, `{"id": 1}`)
	before := tbl.MetadataLocation()

	boom := errors.New("boom")
	failing := WithCommitHook(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO marks VALUES ('lost')`); err != nil {
			return err
		}
		return boom
	})
	txn := tbl.NewTransaction()
	mustNoErr(t, txn.AppendTable(ctx, arrowRows(t, tbl, `{"id": 2}`), 1000, nil))
	if _, err := txn.Commit(failing); !errors.Is(err, boom) {
		t.Fatalf("commit with a failing hook: %v, want boom", err)
	}
	row, err := l.cat.GetTable(ctx, "sales", "orders")
	mustNoErr(t, err)
	if MetadataLocation(row) != before {
		t.Fatalf("a failed hook moved metadata_location to %s", MetadataLocation(row))
	}

	ran := 0
	ok := WithCommitHook(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ran++
		_, err := tx.ExecContext(ctx, `INSERT INTO marks VALUES ('kept')`)
		return err
	})
	txn = tbl.NewTransaction()
	mustNoErr(t, txn.AppendTable(ctx, arrowRows(t, tbl, `{"id": 3}`), 1000, nil))
	tbl, err = txn.Commit(ok)
	mustNoErr(t, err)
	if ran == 0 {
		t.Fatal("the hook did not run")
	}
	var marks []string
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT v FROM marks`)
	mustNoErr(t, err)
	for rows.Next() {
		var v string
		mustNoErr(t, rows.Scan(&v))
		marks = append(marks, v)
	}
	rows.Close()
	if !slices.Equal(marks, []string{"kept"}) {
		t.Fatalf("marks = %v, want [kept]", marks)
	}
	if ids := scanIDs(t, tbl); !slices.Equal(ids, []int64{1, 3}) {
		t.Fatalf("ids = %v, want [1 3]", ids)
	}
}
