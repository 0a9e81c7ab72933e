package api_test

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/query"
)

// TestQueryLongPoll: GET /api/v1/queries/{id}?wait=SECONDS answers when
// the query has ended, so one request replaces a client's polling loop.
func TestQueryLongPoll(t *testing.T) {
	tl := openTrustLake(t)
	c := tl.admin
	// Long enough (hundreds of ms) that a plain GET right after the start
	// finds it QUEUED or RUNNING.
	id := start(t, c, map[string]any{"sql": "SELECT count(*) FROM range(400000000) a WHERE a.range % 7 = 1"})
	var ex query.Execution
	if code := c.do("GET", "/api/v1/queries/"+id+"?wait=20", nil, &ex); code != 200 || ex.State != query.StateSucceeded {
		t.Fatalf("long-poll answered %d, state %s; want the query SUCCEEDED", code, ex.State)
	}
	// A finished query answers at once; a bad wait is the client's error.
	if code := c.do("GET", "/api/v1/queries/"+id+"?wait=20", nil, &ex); code != 200 || ex.State != query.StateSucceeded {
		t.Fatalf("long-poll of a finished query: %d %s", code, ex.State)
	}
	id = start(t, c, map[string]any{"sql": "SELECT count(*) FROM range(400000000) a WHERE a.range % 7 = 1"})
	var e map[string]any
	if code := c.do("GET", "/api/v1/queries/"+id+"?wait=soon", nil, &e); code != 400 {
		t.Fatalf("wait=soon: %d %v, want 400", code, e)
	}
	waitFor(t, c, id, query.StateSucceeded)
}
