package engine

import "testing"

func TestRewriteTimeTravel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT * FROM t", "SELECT * FROM t"},
		{"SELECT * FROM db.t FOR VERSION AS OF 123", "SELECT * FROM db.t AT (VERSION => 123)"},
		{"SELECT * FROM db.t FOR VERSION AS OF 123 x WHERE x.a = 1", "SELECT * FROM db.t AS x AT (VERSION => 123) WHERE x.a = 1"},
		{"SELECT * FROM db.t FOR TIMESTAMP AS OF TIMESTAMP '2025-01-02 03:04:05' AS y JOIN u ON true",
			"SELECT * FROM db.t AS y AT (TIMESTAMP => TIMESTAMP '2025-01-02 03:04:05') JOIN u ON true"},
		{"SELECT * FROM t for timestamp as of current_timestamp - interval '1' day WHERE a > 1",
			"SELECT * FROM t AT (TIMESTAMP => current_timestamp - interval '1' day) WHERE a > 1"},
		{"SELECT * FROM t FOR SYSTEM_TIME AS OF (now() - INTERVAL 1 HOUR), u", "SELECT * FROM t AT (TIMESTAMP => (now() - INTERVAL 1 HOUR)), u"},
		{"SELECT * FROM (SELECT * FROM t FOR VERSION AS OF 7) s", "SELECT * FROM (SELECT * FROM t AT (VERSION => 7)) s"},
		// Not a clause: strings and names are left alone.
		{"SELECT 'FOR VERSION AS OF 1' FROM t", "SELECT 'FOR VERSION AS OF 1' FROM t"},
		{"SELECT a AS of FROM t", "SELECT a AS of FROM t"},
	} {
		if got := rewriteTimeTravel(c.in); got != c.want {
			t.Errorf("rewriteTimeTravel(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
