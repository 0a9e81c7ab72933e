package query_test

import "testing"

// TestIcebergRewriteConvertedPartitions: a converted Hive table's files lack
// their partition columns (they are in the folder names); rewriting such a
// file (UPDATE, MERGE) keeps each row's partition value from the file's
// partition tuple instead of writing NULL.
func TestIcebergRewriteConvertedPartitions(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, `CREATE TABLE testdb.hp WITH (external_location = 's3://lake/hive/hp/', format = 'parquet', partitioned_by = ARRAY['p'])
		AS SELECT range AS id, 'x' || range AS v, CASE WHEN range < 2 THEN 'a' ELSE 'b' END AS p FROM range(4)`)
	mustRun(t, l.Query, `ALTER TABLE testdb.hp CONVERT TO ICEBERG`)
	mustRun(t, l.Query, `UPDATE testdb.hp SET v = 'y' WHERE id = 1`)
	wantRows(t, "updated", queryRows(t, l, "SELECT id, v, p FROM testdb.hp ORDER BY id"), "0|x0|a", "1|y|a", "2|x2|b", "3|x3|b")
	mustRun(t, l.Query, `MERGE INTO testdb.hp t USING (SELECT 3 AS id, 'z' AS v) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v`)
	wantRows(t, "merged", queryRows(t, l, "SELECT id, v, p FROM testdb.hp ORDER BY id"), "0|x0|a", "1|y|a", "2|x2|b", "3|z|b")
	if got := queryRows(t, l, "SELECT count(*) FROM testdb.hp WHERE p IS NULL"); len(got) != 1 || got[0] != "0" {
		t.Errorf("rows without a partition value: %v", got)
	}
}
