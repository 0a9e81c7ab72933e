package pgwire_test

import (
	"context"
	"slices"
	"strings"
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

// TestPgxColumnNames: the extended protocol (pgx, BI tools) describes a
// lake query's columns with the names the query returns: _colN too.
func TestPgxColumnNames(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	conn := e.connect(t, e.admin, "")
	rows, err := conn.Query(context.Background(), `SELECT customer, count(*), sum(amount) AS total FROM shop.orders WHERE paid GROUP BY customer`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for _, f := range rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "customer,_col1,total" {
		t.Fatalf("columns %s, want customer,_col1,total", got)
	}
}

// A lake CTAS (Athena's statement type DML) creates a catalog table: the
// connection's catalog mirror shows it to the next introspection query,
// not only after the mirror's age runs out.
func TestLakeCTASShowsAtOnce(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	_, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	q := `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'orders_copy'`
	if got := rowsOf(q); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("before: %q", got)
	}
	exec(`CREATE TABLE shop.orders_copy WITH (format = 'PARQUET', external_location = 's3://lake/curated/orders_copy/') AS SELECT * FROM shop.orders`)
	if got := rowsOf(q); !slices.Equal(got, []string{"1"}) {
		t.Errorf("after the CTAS: %q", got)
	}
}
