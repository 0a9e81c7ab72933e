package query_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/query"
)

// TestCTASDefaultLocation: as Athena, a CTAS without external_location in
// a database without LOCATION writes under the workgroup's result location
// (tables/<query id>/), and the key must be allowed to write exactly there.
func TestCTASDefaultLocation(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS nolocdb")
	ex, err := l.Query.Execute(ctx, query.Request{SQL: "CREATE TABLE nolocdb.t AS SELECT 1 AS x", Database: "nolocdb"}, &query.Collect{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := l.Catalog.GetTable(ctx, "nolocdb", "t")
	if err != nil {
		t.Fatal(err)
	}
	if want := query.DefaultResultLocation + "tables/" + ex.ID + "/"; tbl.Location != want {
		t.Errorf("location %q, want %q", tbl.Location, want)
	}
	c, _ := mustRun(t, l.Query, "SELECT x FROM nolocdb.t")
	if len(c.Rows) != 1 {
		t.Errorf("rows: %v", c.Rows)
	}

	// The write is checked on the location it really goes to.
	var where []string
	authz := func(action string, tg query.Target) error {
		if action == "s3:PutObject" {
			where = append(where, tg.Location)
			if strings.Contains(tg.Location, "/tables/") {
				return errors.New("AccessDenied: s3:PutObject on " + tg.Location)
			}
		}
		return nil
	}
	_, err = l.Query.Execute(ctx, query.Request{SQL: "CREATE TABLE nolocdb.u AS SELECT 1 AS x", Database: "nolocdb", Authorize: authz}, &query.Collect{})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("a key that may not write the default location created a table: %v (asked for %v)", err, where)
	}
	if _, err := l.Catalog.GetTable(ctx, "nolocdb", "u"); err == nil {
		t.Error("the refused CTAS created its table")
	}
}
