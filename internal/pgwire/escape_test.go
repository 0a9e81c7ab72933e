package pgwire_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestSandboxEscapesOverPgwire: the analyst may read shop.orders only; a
// file path disguised as a CTE name in another scope, or a file read from a
// warehouse UPDATE, must not return shop.secrets' rows through psql's
// protocol either (simple and extended query protocols).
func TestSandboxEscapesOverPgwire(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := context.Background()
	if _, err := e.l.Store.Put(ctx, "lake", "raw/secrets/s.csv", strings.NewReader("1,top secret\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	file := `"` + filepath.Join(e.l.Home, "objects", "lake", "raw", "secrets", "s.csv") + `"`
	c := e.connect(t, e.analyst, "")
	if _, err := c.Exec(ctx, "SELECT * FROM shop.secrets"); err == nil {
		t.Fatal("the analyst read shop.secrets")
	}
	for _, q := range []string{
		`SELECT * FROM (WITH ` + file + ` AS (SELECT 1) SELECT 1) a, ` + file + ` b`,
		`WITH a AS (SELECT * FROM ` + file + `), ` + file + ` AS (SELECT 1) SELECT * FROM a`,
	} {
		for _, mode := range []string{"simple", "extended"} {
			var rows int
			var err error
			if mode == "simple" {
				_, err = c.Exec(ctx, q) // simple protocol for statements without arguments
			} else {
				r, qerr := c.Query(ctx, q)
				if qerr == nil {
					for r.Next() {
						rows++
					}
					r.Close()
					qerr = r.Err()
				}
				err = qerr
			}
			if err == nil || rows > 0 {
				t.Errorf("%s (%s): %d rows, error %v; want refused", q, mode, rows, err)
			}
		}
	}
}
