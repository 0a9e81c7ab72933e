package query

import (
	"strings"
	"testing"
)

// FuzzParseIceberg: the Iceberg statement parser never panics, and the
// spans it hands to the rewriter lie within the text, in order, with the
// subqueries outside the target and the source.
func FuzzParseIceberg(f *testing.F) {
	for _, s := range []string{
		`UPDATE db.t SET v = 1 WHERE id IN (SELECT id FROM db.o)`,
		`DELETE FROM db.t x WHERE x.id = 1`,
		`MERGE INTO db.t t USING (VALUES (1, 'a')) AS s(id, v) ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)`,
		`MERGE INTO t USING src ON t.id = src.id WHEN MATCHED AND src.op = 'd' THEN DELETE`,
		`CREATE TABLE db.t (id int) PARTITIONED BY (bucket(4, id)) TBLPROPERTIES ('table_type'='ICEBERG')`,
		`CREATE TABLE db.t WITH (table_type='ICEBERG', partitioning=ARRAY['day(ts)']) AS SELECT 1`,
		`ALTER TABLE db.t ADD PARTITION FIELD truncate(2, s) AS s2`,
		`ALTER TABLE db.t CHANGE COLUMN a b decimal(10, 2) COMMENT 'x'`,
		`OPTIMIZE db.t REWRITE DATA USING BIN_PACK WHERE a > 1`,
		`INSERT INTO db.t (a, b) VALUES (1, 2)`,
		`UPDATE t SET v = ')' WHERE (a = 1`,
		`MERGE INTO t USING (SELECT 1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		stmt, ok, err := parseIceberg(text)
		if !ok || err != nil {
			return
		}
		d, isDML := stmt.(iceDML)
		if !isDML {
			return
		}
		in := func(a, b int) bool { return 0 <= a && a <= b && b <= len(text) }
		if !in(d.TargetStart, d.TargetEnd) {
			t.Fatalf("target span %d..%d of %q", d.TargetStart, d.TargetEnd, text)
		}
		if d.Kind == "MERGE" && d.SourceStart != 0 && !in(d.SourceStart, d.SourceEnd) {
			t.Fatalf("source span %d..%d of %q", d.SourceStart, d.SourceEnd, text)
		}
		for _, sp := range d.Subqueries {
			if !in(sp[0], sp[1]) || sp[0] < d.TargetEnd || sp[1]-sp[0] < 2 || text[sp[0]] != '(' || text[sp[1]-1] != ')' {
				t.Fatalf("subquery span %v of %q", sp, text)
			}
			if d.Kind == "MERGE" && sp[0] < d.SourceEnd && sp[1] > d.SourceStart {
				t.Fatalf("subquery %v overlaps the source of %q", sp, text)
			}
		}
		if d.Where != "" && !strings.Contains(text, strings.TrimSpace(d.Where)) {
			t.Fatalf("where %q not in %q", d.Where, text)
		}
	})
}
