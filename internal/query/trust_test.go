package query_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// TestLocationBackslash: a backslash in a location is refused with the
// reason, never dropped (UNLOAD ... TO 's3://lake/a\b/' once wrote to ab/).
func TestLocationBackslash(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	for _, stmt := range []string{
		`UNLOAD (SELECT 1 AS x) TO 's3://lake/a\b/'`,
		`CREATE TABLE testdb.t1 WITH (external_location = 's3://lake/c\d/') AS SELECT 1 AS x`,
		`CREATE EXTERNAL TABLE testdb.t2 (x int) LOCATION 's3://lake/e\f/'`,
		`CREATE DATABASE db2 LOCATION 's3://lake/g\h/'`,
		`ALTER TABLE testdb.t2 ADD PARTITION (p = '1') LOCATION 's3://lake/i\j/'`,
	} {
		_, _, err := l.Query.Run(ctx, stmt, "testdb")
		if err == nil || !strings.Contains(err.Error(), "backslash") {
			t.Errorf("%s: want a refusal naming the backslash, got %v", stmt, err)
		}
	}
	for _, prefix := range []string{"ab/", "cd/", "ef/", "gh/", "ij/"} {
		for o, err := range storage.Walk(ctx, l.Store, "lake", prefix) {
			if err != nil {
				t.Fatal(err)
			}
			t.Errorf("written to %s despite the refusal: %s", prefix, o.Key)
		}
	}
	// A tab escape in a delimiter still works as Hive's strings say.
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE testdb.tsv (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LOCATION 's3://lake/tsv/'`)
}
