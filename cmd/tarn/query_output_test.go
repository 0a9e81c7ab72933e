package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// outputQueries cover every kind of value the typed result encoding has,
// Athena's names for unnamed columns, and a scan of partitions (for the
// statistics line).
var outputQueries = []string{
	`SELECT 999 AS n, CAST(9000000000 AS BIGINT) AS big, CAST(NULL AS INTEGER) AS z, 12345678.9::DOUBLE AS d,
	 round(10084778.6789::DOUBLE, 2) AS r, CAST(1.10 AS DECIMAL(10,2)) AS dec, DATE '2025-06-02' AS dt,
	 TIMESTAMP '2025-06-02 10:00:01.5' AS ts, 'a "quoted", text' AS s, '' AS empty, CAST(NULL AS VARCHAR) AS nul,
	 {'b': 1, 'a': DATE '2025-01-01'} AS st, [1.5, NULL] AS l, true AS yes, 'NaN'::DOUBLE AS nan, 1e-7::DOUBLE AS tiny`,
	`SELECT year, month, count(*), round(sum(total_amount), 2) AS total, max(total_amount) / 3
	 FROM etl_pipeline_db.orders WHERE year = 2025 AND month IN (1, 2) GROUP BY 1, 2 ORDER BY 1, 2`,
	`SELECT * FROM etl_pipeline_db.sales ORDER BY transaction_id LIMIT 3`,
}

// TestQueryOutputSameWithServer runs each query without a server and then
// through `tarn serve`, in each format: stdout must be the same bytes, and
// the statistics line the same but for the time, the id and "via".
func TestQueryOutputSameWithServer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result {
		t.Helper()
		return ok(t, tarnEnv(t, dir, nil, append([]string{"--data", data}, args...)...))
	}
	run("quickstart")
	formats := []string{"json", "csv", "table"}
	local := map[string]result{}
	for _, q := range outputQueries {
		for _, f := range formats {
			local[f+q] = run("query", "--format", f, q)
		}
	}

	// What the encoding prints, checked once on the local output.
	want := `{"n":999,"big":9000000000,"z":null,"d":12345678.9,"r":10084778.68,"dec":1.10,"dt":"2025-06-02",` +
		`"ts":"2025-06-02 10:00:01.5","s":"a \"quoted\", text","empty":"","nul":null,"st":{"b":1,"a":"2025-01-01"},` +
		`"l":[1.5,null],"yes":true,"nan":"NaN","tiny":1e-7}` + "\n"
	if got := local["json"+outputQueries[0]].stdout; got != want {
		t.Errorf("json:\n got %s\nwant %s", got, want)
	}
	if got := local["csv"+outputQueries[0]].stdout; !strings.Contains(got, `999,9000000000,,12345678.9,10084778.68,1.10,2025-06-02,2025-06-02 10:00:01.5,"a ""quoted"", text",,,`) {
		t.Errorf("csv: %s", got)
	}
	if got := local["table"+outputQueries[0]].stdout; !strings.Contains(got, "| NULL |") {
		t.Errorf("table without NULL: %s", got)
	}
	for _, f := range []string{"csv", "table"} {
		if got := local[f+outputQueries[1]].stdout; !strings.Contains(got, "_col2") || !strings.Contains(got, "_col4") || strings.Contains(got, "count_star") {
			t.Errorf("%s: unnamed columns are not Athena's _colN: %s", f, got)
		}
	}
	if got := local["table"+outputQueries[1]].stderr; !strings.Contains(got, ", partitions ") || !strings.Contains(got, "at Athena's price") {
		t.Errorf("statistics line: %s", got)
	}

	_, api := startServe(t, dir, data)
	waitServeJSON(t, data)
	stats := regexp.MustCompile(` in [0-9.]+[a-zµ]+,| via [^ ,]+|query id \S+`)
	for _, q := range outputQueries {
		for _, f := range formats {
			r := run("query", "--format", f, q)
			l := local[f+q]
			if !strings.Contains(r.stderr, "via "+api) {
				t.Fatalf("the query did not go through the server: %s", r.stderr)
			}
			if r.stdout != l.stdout {
				t.Errorf("--format %s %s\nthrough the server:\n%s\nwithout:\n%s", f, q, r.stdout, l.stdout)
			}
			if a, b := stats.ReplaceAllString(r.stderr, ""), stats.ReplaceAllString(l.stderr, ""); a != b {
				t.Errorf("--format %s %s: statistics through the server:\n%s\nwithout:\n%s", f, q, a, b)
			}
		}
	}
}

// TestFreshServeQueries: on a lake without a bucket "lake", the default
// result location is created on first use, so queries through `tarn serve`
// succeed; a statement that took effect is SUCCEEDED even when its result
// cannot be stored (a workgroup whose result bucket does not exist).
func TestFreshServeQueries(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result {
		t.Helper()
		return tarnEnv(t, dir, nil, append([]string{"--data", data}, args...)...)
	}
	startServe(t, dir, data)
	waitServeJSON(t, data)
	if r := run("query", "CREATE DATABASE fresh"); r.code != 0 || !strings.Contains(r.stderr, "SUCCEEDED") {
		t.Fatalf("CREATE DATABASE on a fresh server: %+v", r)
	}
	if r := ok(t, run("query", "--format", "csv", "SELECT 1 AS one")); r.stdout != "one\n1\n" {
		t.Fatalf("SELECT on a fresh server: %+v", r)
	}
	ok(t, run("workgroup", "create", "nowhere", "--result-location", "s3://no-such-bucket/results/"))
	if r := run("query", "--workgroup", "nowhere", "CREATE DATABASE elsewhere"); r.code != 0 || !strings.Contains(r.stderr, "SUCCEEDED") {
		t.Errorf("a DDL that took effect, result not stored: %+v", r)
	}
	if r := ok(t, run("catalog", "databases")); !strings.Contains(r.stdout, "elsewhere") {
		t.Errorf("CREATE DATABASE did not take effect: %s", r.stdout)
	}
	if r := run("query", "--workgroup", "nowhere", "SELECT 1"); r.code == 0 || !strings.Contains(r.stderr, "no-such-bucket") {
		t.Errorf("a SELECT whose result cannot be stored: %+v", r)
	}
}
