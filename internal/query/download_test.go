package query_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// typesQuery covers what a stored result must carry back into Parquet:
// quotes, commas and newlines in text, an empty string beside a NULL, the
// temporal types, nested values, bytes and a repeated column name.
// (Parquet's INTERVAL holds milliseconds: microseconds of an interval are
// lost in any Parquet file, DuckDB's own COPY too.)
const typesQuery = `SELECT range::INTEGER AS i, 12345678901::BIGINT AS b, 1.5::DOUBLE AS d, 3.25::DECIMAL(18,3) AS dec,
	'x,"y"' || chr(10) || 'z' AS s, '' AS empty, NULL::VARCHAR AS nul, range % 2 = 0 AS bo, DATE '2024-02-29' AS dt,
	TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz,
	[1, 2, NULL]::INTEGER[] AS li, {'a': range, 'b': 'q"'} AS st, MAP {'k': 1} AS mp, '\xAB\x00'::BLOB AS bl,
	INTERVAL '1 month 2 days 3 milliseconds' AS iv, 'b0c1d2e3-f405-4617-8829-3a4b5c6d7e8f'::UUID AS u, range AS i
	FROM range(3)`

func TestResultParquet(t *testing.T) {
	l := openLake(t)
	a := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 1, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	defer a.Close()
	ctx := context.Background()
	id, err := a.Submit(query.Request{SQL: typesQuery})
	if err != nil {
		t.Fatal(err)
	}
	if ex := waitState(t, l.Query, id, query.StateSucceeded, query.StateFailed); ex.State != query.StateSucceeded {
		t.Fatalf("query: %+v", ex)
	}
	var buf bytes.Buffer
	if err := a.ResultParquet(ctx, id, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("PAR1")) {
		t.Fatalf("not Parquet: %q", buf.Bytes()[:min(16, buf.Len())])
	}
	file := filepath.Join(t.TempDir(), "r.parquet")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The same rows and types as the query itself gives (the repeated
	// name becomes i_1, as DuckDB names it).
	want := strings.Replace(typesQuery, "range AS i\n", "range AS i_1\n", 1)
	var types string
	if err := db.QueryRow(`SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM read_parquet(?))`, file).Scan(&types); err != nil {
		t.Fatal(err)
	}
	var wantTypes string
	if err := db.QueryRow(`SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE ` + want + `)`).Scan(&wantTypes); err != nil {
		t.Fatal(err)
	}
	if types != wantTypes {
		t.Errorf("Parquet columns:\n %s\nwant\n %s", types, wantTypes)
	}
	var diff int
	q := `SELECT count(*) FROM ((SELECT * FROM read_parquet('` + file + `') EXCEPT ALL (` + want + `)) UNION ALL ((` + want + `) EXCEPT ALL SELECT * FROM read_parquet('` + file + `')))`
	if err := db.QueryRow(q).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("%d rows differ between the Parquet download and the query", diff)
		for _, c := range strings.Split(wantTypes, ", ") {
			c = strings.Fields(c)[0]
			var n int
			db.QueryRow(`SELECT count(*) FROM (SELECT "` + c + `" FROM read_parquet('` + file + `') EXCEPT ALL SELECT "` + c + `" FROM (` + want + `))`).Scan(&n)
			if n > 0 {
				var got, exp string
				db.QueryRow(`SELECT "` + c + `"::VARCHAR FROM read_parquet('` + file + `') LIMIT 1`).Scan(&got)
				db.QueryRow(`SELECT "` + c + `"::VARCHAR FROM (` + want + `) LIMIT 1`).Scan(&exp)
				t.Errorf("column %s: %q, want %q", c, got, exp)
			}
		}
	}
	var empty, null sql.NullString
	if err := db.QueryRow(`SELECT empty, nul FROM read_parquet(?) LIMIT 1`, file).Scan(&empty, &null); err != nil || !empty.Valid || empty.String != "" || null.Valid {
		t.Errorf("empty string and NULL: %v %v %v", empty, null, err)
	}

	// A query that has not succeeded has no result to download.
	bad, err := a.Submit(query.Request{SQL: "SELECT * FROM no_such_table"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, l.Query, bad, query.StateFailed)
	if err := a.ResultParquet(ctx, bad, &bytes.Buffer{}); !errors.Is(err, query.ErrNotFinished) {
		t.Errorf("failed query: %v", err)
	}

	// The metadata is an object: whoever may write the result location
	// could replace it. Its types never reach SQL unless they are types.
	for _, hostile := range []string{
		`INTEGER) AS x, (SELECT content FROM read_text('/etc/passwd')) AS (y`,
		`VARCHAR); COPY (SELECT 1) TO '/tmp/pwned.csv'; --`,
		`INTEGER[1:2]`,
		`MAP(VARCHAR, read_text('/etc/passwd'))`,
		`STRUCT(a INTEGER) AS v FROM x`,
		`INTEGER /* x */ ) AS y, (1`,
		"ENUM('a' || 'b')",
		`STRUCT("a" INTEGER, 1 + 1)`,
	} {
		b, _ := json.Marshal(hostile)
		md := `{"Columns": [{"name": "i", "type": ` + string(b) + `}]}`
		if _, err := l.Store.Put(ctx, "lake", "athena-results/"+id+".csv.metadata", strings.NewReader(md), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := a.ResultParquet(ctx, id, &out)
		if err == nil || !strings.Contains(err.Error(), "not a type tarn writes") || out.Len() != 0 {
			t.Errorf("type %q: %v (%d bytes)", hostile, err, out.Len())
		}
	}
	// A comment in a type hides the rest of the statement's line; a line
	// break in the next column's name would end it and let the name's
	// text run as SQL. The type is rebuilt from its tokens: the comment
	// is gone, and the name stays a name.
	two, err := a.Submit(query.Request{SQL: "SELECT 1 AS x, 2 AS y"})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, l.Query, two, query.StateSucceeded)
	comment := `{"Columns": [{"name": "x\n) AS a, (SELECT string_agg(database_name, ',') FROM duckdb_databases()) AS leak, (1 --", "type": "INTEGER --"},
		{"name": "y", "type": "INTEGER\n"}]}`
	if _, err := l.Store.Put(ctx, "lake", "athena-results/"+two+".csv.metadata", strings.NewReader(comment), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := a.ResultParquet(ctx, two, &out); err != nil {
		t.Fatalf("download with a comment in a type: %v", err)
	}
	hostileFile := filepath.Join(t.TempDir(), "hostile.parquet")
	if err := os.WriteFile(hostileFile, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var cols string
	if err := db.QueryRow(`SELECT string_agg(column_name, '|') FROM (DESCRIBE SELECT * FROM read_parquet(?))`, hostileFile).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if cols != "x\n) AS a, (SELECT string_agg(database_name, ',') FROM duckdb_databases()) AS leak, (1 --|y" {
		t.Errorf("a comment in a type let a column name run as SQL: columns %q", cols)
	}
	if _, err := os.Stat("/tmp/pwned.csv"); err == nil {
		t.Error("a hostile type ran a statement")
	}
}
