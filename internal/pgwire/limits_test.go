package pgwire_test

import (
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/query"
)

// TestWorkgroupLimitsSQLState: the workgroup's query timeout and result
// cap reach clients as PostgreSQL's codes for them, with messages naming
// the limit.
func TestWorkgroupLimitsSQLState(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	if err := e.l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "tight", QueryTimeoutSeconds: 1, MaxResultRows: 2}); err != nil {
		t.Fatal(err)
	}
	c := e.connect(t, e.admin, "&workgroup=tight")

	_, err := c.Exec(ctx, `SELECT * FROM orders`)
	if sqlState(err) != "54000" || !strings.Contains(err.Error(), `max_result_rows of workgroup "tight"`) {
		t.Fatalf("result over the cap: %v (%s), want 54000 naming the limit", err, sqlState(err))
	}
	_, err = c.Exec(ctx, `SELECT count(*) FROM range(10000000000) a, range(1000) b`)
	if sqlState(err) != "57014" || !strings.Contains(err.Error(), `query timeout of workgroup "tight"`) {
		t.Fatalf("query over the timeout: %v (%s), want 57014 naming the limit", err, sqlState(err))
	}
	hist, err := e.l.Query.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if hist[0].State != query.StateFailed {
		t.Fatalf("a timed-out query is %s in the history, want FAILED", hist[0].State)
	}
}
