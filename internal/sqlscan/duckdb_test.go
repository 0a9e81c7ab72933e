package sqlscan_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// serialized is what DuckDB's parser makes of a script: its statements'
// trees (positions removed, as a piece sits elsewhere than in the script),
// or its parse error.
type serialized struct {
	Error      bool              `json:"error"`
	Message    string            `json:"error_message"`
	Statements []json.RawMessage `json:"statements"`
}

func serialize(t *testing.T, db *sql.DB, script string) (serialized, []any) {
	t.Helper()
	var raw string
	if err := db.QueryRow("SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", script).Scan(&raw); err != nil {
		t.Fatalf("%q: %v", script, err)
	}
	var s serialized
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	trees := make([]any, len(s.Statements))
	for i, r := range s.Statements {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		trees[i] = dropLocations(v)
	}
	return s, trees
}

func dropLocations(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "query_location")
		for k, e := range x {
			x[k] = dropLocations(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropLocations(e)
		}
	}
	return v
}

// TestDuckDBAgrees is the differential test: on every script of the corpus,
// DuckDB's own parser finds the same statements as Split (each piece parses
// to the tree DuckDB built for it inside the whole script), and each string
// literal decodes to the value DuckDB gives it.
func TestDuckDBAgrees(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, script := range corpus(t) {
		whole, trees := serialize(t, db, script)
		st, err := sqlscan.Split(script, sqlscan.DuckDB)
		if err != nil {
			if !errors.Is(err, sqlscan.ErrUnterminated) || !whole.Error {
				t.Errorf("%q: Split failed (%v) where DuckDB parsed it", script, err)
			}
			continue
		}
		if whole.Error {
			t.Errorf("%q: DuckDB cannot parse the corpus script: %s", script, whole.Message)
			continue
		}
		if len(st) != len(trees) {
			t.Errorf("%q: Split found %d statements %q, DuckDB %d", script, len(st), texts(st), len(trees))
			continue
		}
		for i, s := range st {
			one, piece := serialize(t, db, s.Text)
			if one.Error || len(piece) != 1 || !reflect.DeepEqual(piece[0], trees[i]) {
				t.Errorf("%q: statement %d %q parses differently alone (%s)", script, i, s.Text, one.Message)
			}
			for _, tk := range s.Tokens {
				if tk.Kind != sqlscan.String {
					continue
				}
				var v string
				if err := db.QueryRow("SELECT " + script[tk.Start:tk.End]).Scan(&v); err != nil {
					t.Errorf("%q: %v", script[tk.Start:tk.End], err)
				} else if v != tk.Value {
					t.Errorf("%s: DuckDB reads %q, Scan %q", script[tk.Start:tk.End], v, tk.Value)
				}
			}
		}
	}
}
