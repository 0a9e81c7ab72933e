package meta_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

var copyMigrations = []meta.Migration{
	{Version: 1, Name: "base", SQL: `
CREATE TABLE zparent (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE achild (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	parent_id INTEGER NOT NULL REFERENCES zparent (id) ON DELETE CASCADE,
	n INTEGER NOT NULL DEFAULT 0, f REAL, b BLOB, note TEXT
);`},
	{Version: 2, Name: "col", SQL: `ALTER TABLE achild ADD COLUMN flag INTEGER NOT NULL DEFAULT 0`},
}

// tarn migrate-meta's copy: every row, in foreign-key order, ids continuing.
func TestCopySQLiteToPostgres(t *testing.T) {
	if !metatest.Postgres() {
		t.Skip("PostgreSQL only (TARN_TEST_META=postgres)")
	}
	ctx := t.Context()
	src, err := meta.Open(ctx, meta.DefaultConfig(filepath.Join(t.TempDir(), "src.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := metatest.Open(t)
	if err := src.Migrate(ctx, "c", copyMigrations); err != nil {
		t.Fatal(err)
	}
	// The target lacks a migration: refused.
	if err := dst.Migrate(ctx, "c", copyMigrations[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Copy(ctx, src, dst); err == nil {
		t.Fatal("copy to a target with fewer migrations succeeded")
	}
	if err := dst.Migrate(ctx, "c", copyMigrations); err != nil {
		t.Fatal(err)
	}
	q := src.SQL()
	for i := range 1203 { // more than two batches
		if _, err := q.ExecContext(ctx, `INSERT INTO zparent (name) VALUES (?)`, "p"+string(rune('a'+i%26))+string(rune('0'+i/26%10))+string(rune('0'+i/260))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO achild (parent_id, n, f, b, note, flag) VALUES (1, ?, 1.5, ?, NULL, 1), (2, 7, NULL, NULL, 'it''s ?', 0)`, int64(1)<<50, []byte{0, 255}); err != nil {
		t.Fatal(err)
	}
	res, err := meta.Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tables["zparent"] != 1203 || res.Tables["achild"] != 2 {
		t.Fatalf("copied %v", res.Tables)
	}
	var (
		n    int64
		b    []byte
		note *string
	)
	if err := dst.SQL().QueryRowContext(ctx, `SELECT n, b, note FROM achild WHERE id = 1`).Scan(&n, &b, &note); err != nil || n != 1<<50 || len(b) != 2 || b[1] != 255 || note != nil {
		t.Fatalf("row 1: %d %v %v %v", n, b, note, err)
	}
	// New rows continue after the copied ids.
	var id int64
	if err := dst.SQL().QueryRowContext(ctx, `INSERT INTO zparent (name) VALUES ('new') RETURNING id`).Scan(&id); err != nil || id != 1204 {
		t.Fatalf("next id %d %v, want 1204", id, err)
	}
	// A second copy is refused: the target has rows.
	if _, err := meta.Copy(ctx, src, dst); !errors.Is(err, meta.ErrNotEmpty) {
		t.Fatalf("second copy: %v", err)
	}
}
