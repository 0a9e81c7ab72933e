package jobs_test

import (
	"database/sql"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/jobs"
)

func hostileArgs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/hostile_args.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.HasPrefix(l, "# ") {
			out = append(out, l)
		}
	}
	return out
}

// TestSubstituteHostileValuesWithDuckDB runs each hostile value through
// every place a placeholder can stand and checks, with DuckDB, that the SQL
// yields exactly that value: it stayed one literal and never became SQL.
func TestSubstituteHostileValuesWithDuckDB(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	one := func(q string) (string, error) {
		rows, err := db.Query(q)
		if err != nil {
			return "", err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v sql.NullString
			if err := rows.Scan(&v); err != nil {
				return "", err
			}
			out = append(out, v.String)
		}
		if len(out) != 1 {
			return "", errors.New("not one row: " + strings.Join(out, " | "))
		}
		return out[0], rows.Err()
	}
	sub := func(tmpl, v string) (string, error) {
		return jobs.Substitute(tmpl, map[string]string{"v": v}, nil)
	}
	for _, v := range hostileArgs(t) {
		// In SQL code: a number stays a number, anything else is a string.
		q, err := sub("SELECT CAST(${v} AS VARCHAR)", v)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		got, err := one(q)
		if f, perr := strconv.ParseFloat(v, 64); perr == nil && !strings.EqualFold(v, "nan") && !strings.HasPrefix(v, "0x") {
			if g, _ := strconv.ParseFloat(got, 64); err != nil || g != f {
				t.Errorf("code %q: %q -> %q %v", v, q, got, err)
			}
		} else if err != nil || got != v {
			t.Errorf("code %q: %q -> %q %v", v, q, got, err)
		}
		// In strings and identifiers: the value, exactly.
		for _, tmpl := range []string{"SELECT '${v}'", "SELECT E'${v}'", "SELECT 'a${v}b' AS x", "SELECT '${v}' -- ${v}\n", "/* ${v} /* ${v} */ */ SELECT '${v}'"} {
			q, err := sub(tmpl, v)
			if err != nil {
				t.Fatalf("%q in %q: %v", v, tmpl, err)
			}
			want := v
			if strings.Contains(tmpl, "a${v}b") {
				want = "a" + v + "b"
			}
			if got, err := one(q); err != nil || got != want {
				t.Errorf("%q in %q: %q -> %q %v", v, tmpl, q, got, err)
			}
		}
		q, err = sub(`SELECT 1 AS "${v}"`, v)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Errorf("identifier %q: %q: %v", v, q, err)
		} else {
			cols, _ := rows.Columns()
			rows.Close()
			if len(cols) != 1 || cols[0] != v {
				t.Errorf("identifier %q: %q -> columns %q", v, q, cols)
			}
		}
		q, err = sub("SELECT $$${v}$$", v)
		switch {
		case strings.Contains(v, "$"):
			if !errors.Is(err, jobs.ErrUnsafeArgument) {
				t.Errorf("dollar-quoted %q: %q %v, want ErrUnsafeArgument", v, q, err)
			}
		case err != nil:
			t.Errorf("dollar-quoted %q: %v", v, err)
		default:
			if got, err := one(q); err != nil || got != v {
				t.Errorf("dollar-quoted %q: %q -> %q %v", v, q, got, err)
			}
		}
	}
	// A placeholder next to a name cannot make a prefixed string (E'...').
	for _, v := range []string{`\' OR 1=1 --`, `x`} {
		q, err := sub("SELECT E${v}", v)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := one(q); err == nil {
			t.Errorf("E${v} with %q: %q ran and gave %q", v, q, got)
		}
	}
	if q, _ := sub("SELECT 2-${v}", "-1"); q != "SELECT 2-(-1)" {
		t.Errorf("negative number: %q", q)
	}
	// A list (an event trigger's objects) is one literal per item in code,
	// and one string inside quotes.
	objects := "s3://lake/incoming/x' OR 'a'='a,s3://lake/b.csv"
	list := func(tmpl string) (string, error) {
		q, err := jobs.Substitute(tmpl, map[string]string{"objects": objects}, nil, "objects")
		if err != nil {
			return "", err
		}
		return one(q)
	}
	for tmpl, want := range map[string]string{
		"SELECT count(*) FROM (VALUES ('s3://lake/b.csv'), ('x'), ('s3://lake/incoming/x')) t(u) WHERE u IN (${objects})": "1",
		"SELECT len([${objects}])": "2",
		"SELECT '${objects}'":      objects,
	} {
		if got, err := list(tmpl); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", tmpl, got, err, want)
		}
	}
	if q, err := jobs.Substitute("SELECT 1 WHERE 'a' IN (${objects})", map[string]string{"objects": ""}, nil, "objects"); err != nil || q != "SELECT 1 WHERE 'a' IN (NULL)" {
		t.Errorf("empty list: %q %v", q, err)
	}
}
