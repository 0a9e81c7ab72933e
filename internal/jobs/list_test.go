package jobs_test

import (
	"database/sql"
	"slices"
	"testing"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// TestListItemsKeepCommas: an object key may hold a comma (and "%2C"); a
// list property such as ${objects} still gives one literal per key.
func TestListItemsKeepCommas(t *testing.T) {
	var items []string
	for _, v := range append(hostileArgs(t), "a,b.csv", "100%2C.csv", "%25", ",", "") {
		items = append(items, "s3://lake/in/"+v) // object URIs, as an event trigger lists them
	}
	joined := jobs.JoinList(items)
	if got := jobs.SplitList(joined); !slices.Equal(got, items) {
		t.Fatalf("round trip:\n got %q\nwant %q", got, items)
	}
	out, _, err := jobs.SubstituteSQL("SELECT unnest([${objects}])", func(string) bool { return true },
		func(string) (jobs.Arg, bool) { return jobs.Arg{Value: joined, List: true}, true })
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(out)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v.String)
	}
	if !slices.Equal(got, items) {
		t.Fatalf("DuckDB read back:\n got %q\nwant %q", got, items)
	}
}
