package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tarn-lake/tarn/internal/runs"
)

// Watching a workflow run: GET /api/v1/workflow-runs/{id}/events answers
// server-sent events (text/event-stream) — an "run" event with the run (as
// GET /api/v1/workflow-runs/{id} answers it) at once and at each change of
// it or of a step, and an "end" event once the run has ended, then the
// stream closes. The run is read from the metadata database, so the
// changes made by any server sharing it are seen. A stream lasts at most
// watchMaxAge; EventSource reconnects by itself. Needs glue:GetWorkflowRun
// on the run's workflow.

const (
	// watchEvery is how often a watched run is read again.
	watchEvery = 500 * time.Millisecond
	// watchKeepAlive keeps proxies from closing a quiet stream.
	watchKeepAlive = 15 * time.Second
	watchMaxAge    = 10 * time.Minute
)

func (s *Server) watchWorkflowRun(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) { s.writeError(w, err) }
	p, err := s.authenticate(r)
	if err != nil {
		fail(err)
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	run, err := s.workflows.GetRun(ctx, id)
	if err == nil {
		err = p.Authorize("glue:GetWorkflowRun", workflowResource(run.Workflow))
	}
	if err != nil {
		fail(err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		fail(fmt.Errorf("cannot stream events on this connection"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last []byte
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	quiet := time.Now()
	deadline := time.Now().Add(watchMaxAge)
	for {
		b, err := json.Marshal(wireWorkflowRun(run))
		if err != nil {
			return
		}
		if !bytes.Equal(b, last) {
			if _, err := fmt.Fprintf(w, "event: run\ndata: %s\n\n", b); err != nil {
				return
			}
			last, quiet = b, time.Now()
		} else if time.Since(quiet) > watchKeepAlive {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			quiet = time.Now()
		}
		if runs.Terminal(run.State) {
			_, _ = fmt.Fprint(w, "event: end\ndata: {}\n\n")
			fl.Flush()
			return
		}
		fl.Flush()
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.bgCtx.Done():
			return
		case <-tick.C:
		}
		if run, err = s.workflows.GetRun(ctx, id); err != nil {
			_, _ = fmt.Fprintf(w, "event: error\ndata: %q\n\n", s.redact(err.Error()))
			return
		}
	}
}
