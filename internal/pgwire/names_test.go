package pgwire_test

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/pgwire"
)

// TestPsqlColumnNames: an unnamed expression is headed _colN, as Athena
// heads it, not with DuckDB's text of it (count_star()); aliases and column
// references keep their names.
func TestPsqlColumnNames(t *testing.T) {
	psqlPath(t)
	e := newEnv(t, pgwire.DefaultConfig())
	out, errOut, err := e.psql(t, e.admin, e.admin.SecretAccessKey, "-A", "-c",
		`SELECT customer, count(*), sum(amount) AS total, max(day) FROM shop.orders WHERE paid GROUP BY customer ORDER BY customer LIMIT 1`)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if want := "customer|_col1|total|_col3\nalice|1|10.50|2025-01-01\n(1 row)\n"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}
