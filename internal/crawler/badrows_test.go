package crawler

import "testing"

// TestCSVWithAnExtraFieldRow: one row with an extra field must not turn
// the table into one column named after the whole header line.
func TestCSVWithAnExtraFieldRow(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/signups/a.csv", "id,email,plan,amount\n1,a@example.com,free,0\n2,b@example.com,pro,12.5\n3,c@example.com,pro,not-a-number\n4,d@example.com,team,49,extra-field\n5,e@example.com,free,0\n")
	e.crawler("c", Spec{Database: "raw"}, "raw/")
	if r := e.start("c", StartOptions{}); r.State != StateSucceeded {
		t.Fatalf("crawl: %+v", r)
	}
	if got := cols(e.table("signups").Columns); got != "id bigint, email string, plan string, amount string" {
		t.Errorf("columns: %s", got)
	}
	if d := e.table("signups").FormatOptions["delimiter"]; d != "," {
		t.Errorf("delimiter %q", d)
	}
}
