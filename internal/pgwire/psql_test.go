package pgwire_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/pgwire"
)

// psqlPath finds the real psql; CI installs Debian's postgresql-client.
func psqlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("psql")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("psql is not installed; CI must install postgresql-client (.ci/run)")
		}
		t.Skip("psql is not installed (apt-get install postgresql-client); skipping the psql tests")
	}
	return p
}

// psql runs psql with args against the server as key k, returning its
// output and error output.
func (e *env) psql(t *testing.T, k auth.Key, password string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(psqlPath(t), append([]string{"-X", "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = append(os.Environ(), "PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", e.addr.Port), "PGUSER="+k.AccessKeyID,
		"PGPASSWORD="+password, "PGDATABASE=shop", "PGSSLMODE=prefer", "PGCONNECT_TIMEOUT=10")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func TestPsql(t *testing.T) {
	psqlPath(t)
	e := newEnv(t, pgwire.DefaultConfig())
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := e.psql(t, e.admin, e.admin.SecretAccessKey, args...)
		if err != nil {
			t.Fatalf("psql %q: %v\n%s%s", args, err, out, errOut)
		}
		return out
	}
	want := func(got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Fatalf("want %q in:\n%s", p, got)
			}
		}
	}

	t.Run("dt", func(t *testing.T) {
		out := run("-c", `\dt`)
		want(out, "shop   | orders  | table", "shop   | secrets | table", "(2 rows)")
		if strings.Contains(out, "pg_tarn") {
			t.Fatalf("the introspection shims are listed:\n%s", out)
		}
	})
	t.Run("d table", func(t *testing.T) {
		out := run("-c", `\d orders`)
		want(out, `Table "shop.orders"`, "id       | int8", "customer | varchar", "amount   | numeric(10,2)", "day      | date", "paid     | bool")
		want(run("-c", `\d+ shop.orders`), `Table "shop.orders"`, "amount")
		want(run("-c", `\dn`), "shop")
	})
	t.Run("query", func(t *testing.T) {
		out := run("-A", "-t", "-c", `SELECT customer, amount FROM orders WHERE paid ORDER BY amount DESC`)
		if out != "dave, jr|100.00\nalice|10.50\ncarol|7.25\n" {
			t.Fatalf("got %q", out)
		}
		// Several statements in one simple query, session commands among them.
		out = run("-A", "-t", "-c", `SET workgroup = primary; SHOW workgroup; SELECT count(*) FROM shop.orders; BEGIN; COMMIT`)
		want(out, "primary\n5\n")
	})
	t.Run("copy", func(t *testing.T) {
		out := run("-c", `\copy (SELECT id, customer, amount FROM orders ORDER BY id) to stdout with csv header`)
		if out != "id,customer,amount\n1,alice,10.50\n2,bob,20.00\n3,carol,7.25\n4,\"dave, jr\",100.00\n5,,0.00\n" {
			t.Fatalf("csv: %q", out)
		}
		out = run("-c", `\copy orders to stdout`)
		want(out, "1\talice\t10.50\t2025-01-01\tt\n", "5\t\\N\t0.00\t2025-01-04\tf\n")
		out = run("-c", `COPY (SELECT id FROM orders WHERE id < 3 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)`)
		if out != "id\n1\n2\n" {
			t.Fatalf("COPY: %q", out)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		_, errOut, err := e.psql(t, e.admin, "not-the-secret", "-c", "SELECT 1")
		if err == nil {
			t.Fatal("logged in with a wrong password")
		}
		want(errOut, `password authentication failed for user "`+e.admin.AccessKeyID+`"`, "secret access key")
		_, errOut, err = e.psql(t, auth.Key{AccessKeyID: "TKNOSUCHKEY"}, "whatever", "-c", "SELECT 1")
		if err == nil {
			t.Fatal("logged in with an unknown key")
		}
		want(errOut, "password authentication failed")
	})
	t.Run("policy", func(t *testing.T) {
		out, errOut, err := e.psql(t, e.analyst, e.analyst.SecretAccessKey, "-c", `\dt`)
		if err != nil {
			t.Fatal(err, errOut)
		}
		want(out, "orders", "(1 row)")
		_, errOut, err = e.psql(t, e.analyst, e.analyst.SecretAccessKey, "-c", `SELECT * FROM shop.secrets`)
		if err == nil {
			t.Fatal("read a table the policy does not allow")
		}
		want(errOut, "access denied")
	})
	// Every statement that read the lake is in the history with the key.
	hist, err := e.l.Query.History(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, ex := range hist {
		keys[ex.AccessKey] = true
	}
	if !keys[e.admin.AccessKeyID] || !keys[e.analyst.AccessKeyID] {
		t.Fatalf("history does not attribute queries to the keys: %v", keys)
	}
}
