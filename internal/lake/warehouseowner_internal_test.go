package lake

import (
	"os"
	"testing"
)

// TestReachable: a listener on every address is advertised under the
// host's name; a specific address as it is.
func TestReachable(t *testing.T) {
	host, _ := os.Hostname()
	for _, c := range []struct{ pg, api, wantPG, wantAPI string }{
		{"127.0.0.1:5433", "http://127.0.0.1:8080", "127.0.0.1:5433", "http://127.0.0.1:8080"},
		{"0.0.0.0:5433", "https://[::]:8080", host + ":5433", "https://" + host + ":8080"},
		{"[::]:5433", "", host + ":5433", ""},
		{"", "", "", ""},
		{"db.internal:5433", "http://api.internal:8080", "db.internal:5433", "http://api.internal:8080"},
	} {
		pg, api := reachable(Endpoints{PG: c.pg, API: c.api})
		if pg != c.wantPG || api != c.wantAPI {
			t.Errorf("reachable(%q, %q) = %q, %q; want %q, %q", c.pg, c.api, pg, api, c.wantPG, c.wantAPI)
		}
	}
}
