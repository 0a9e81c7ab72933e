package jobs_test

import (
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// TestArgumentsAreValuesNotSQL: an argument that carries SQL reaches the
// job's SQL as one literal, so it cannot add a UNION over a table the job
// was not written to read, nor widen a WHERE.
func TestArgumentsAreValuesNotSQL(t *testing.T) {
	e := newEnv(t)
	e.sql(`CREATE EXTERNAL TABLE raw_db.orders (id bigint, amount double, region string, day date)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/orders/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.put("raw/orders/a.csv", "id,amount,region,day\n900,9999,Secret,2025-01-01\n")

	e.create(jobs.Spec{Name: "minimum", SQL: "SELECT id, amount FROM raw_db.sales WHERE amount >= ${min}", Args: map[string]string{"min": "1"},
		Target: "s3://lake/curated/minimum/", Table: "curated.minimum"})
	run, err := e.l.Jobs.Start(e.ctx, "minimum", jobs.StartOptions{Args: map[string]string{"min": "1e9 UNION ALL SELECT id, amount FROM raw_db.orders"}})
	if err == nil || run.State != jobs.StateFailed || !strings.Contains(run.Error, "Conversion Error") {
		t.Errorf("injected UNION: %v %+v", err, run)
	}
	if n := e.one("SELECT count(*) FROM raw_db.sales"); n != "2" {
		t.Fatal(n)
	}
	if _, err := e.l.Catalog.GetTable(e.ctx, "curated", "minimum"); err == nil {
		if got := e.one("SELECT count(*) FROM curated.minimum WHERE id = 900"); got != "0" {
			t.Errorf("the argument read raw_db.orders: %s rows", got)
		}
	}
	// A number is still a number.
	if r := e.start("minimum", map[string]string{"min": "1.5e1"}); r.Stats.RowsWritten != 1 {
		t.Errorf("min=1.5e1 wrote %d rows, want 1", r.Stats.RowsWritten)
	}

	e.create(jobs.Spec{Name: "region", SQL: "SELECT id, region FROM raw_db.sales WHERE region = '${region}'", Target: "s3://lake/curated/region/", Table: "curated.region"})
	for _, v := range hostileArgs(t) {
		r, err := e.l.Jobs.Start(e.ctx, "region", jobs.StartOptions{Args: map[string]string{"region": v}})
		if err != nil || r.Stats.RowsWritten != 0 {
			t.Errorf("region %q: wrote %d rows, err %v", v, r.Stats.RowsWritten, err)
		}
	}
	if r := e.start("region", map[string]string{"region": "North"}); r.Stats.RowsWritten != 1 {
		t.Errorf("region North wrote %d rows", r.Stats.RowsWritten)
	}
}
