package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
)

// GET /api/v1/queries/{id}/download?format=csv|parquet answers a succeeded
// query's whole result as a file (Content-Disposition: attachment): CSV is
// the stored result as it is (Athena's form: every value quoted, NULL an
// empty unquoted field); Parquet has the result's column types. Needs what
// GET .../results needs (athena:GetQueryResults on another key's query).
// An error found before the first byte is the usual JSON error; one after
// it aborts the response, so a client never takes a cut file for a whole.
func (s *Server) downloadResult(w http.ResponseWriter, r *http.Request) {
	const route = "GET /api/v1/queries/{id}/download"
	fail := func(err error) {
		s.requests.WithLabelValues(route, strconv.Itoa(s.writeError(w, err))).Inc()
	}
	p, err := s.authenticate(r)
	if err != nil {
		fail(err)
		return
	}
	ctx := r.Context()
	ex, err := s.execution(ctx, p, r, "athena:GetQueryResults")
	if err != nil {
		fail(err)
		return
	}
	format := r.URL.Query().Get("format")
	ctype := ""
	switch format {
	case "", "csv":
		format, ctype = "csv", "text/csv; charset=utf-8"
	case "parquet":
		ctype = "application/vnd.apache.parquet"
	default:
		fail(badRequest("format=%q: want csv or parquet", format))
		return
	}
	lw := &lazyWriter{w: w, start: func() {
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, ex.ID, format))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}}
	if format == "parquet" {
		err = s.async.ResultParquet(ctx, ex.ID, lw)
	} else {
		err = s.async.ResultCSV(ctx, ex.ID, lw)
	}
	switch {
	case err != nil && !lw.started:
		fail(err)
	case err != nil:
		// Headers and part of the body are gone: only a broken
		// connection tells the client the file is not whole.
		s.requests.WithLabelValues(route, "aborted").Inc()
		panic(http.ErrAbortHandler)
	default:
		if !lw.started {
			lw.start()
		}
		s.requests.WithLabelValues(route, "200").Inc()
	}
}

// writeError answers err as the JSON error every route answers, for the
// handlers that write their own responses (streams and files), and
// returns the status.
func (s *Server) writeError(w http.ResponseWriter, err error) int {
	code, c := status(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(apitypes.ErrorBody{Error: apitypes.ErrorDetail{Code: c, Message: s.redact(err.Error())}})
	return code
}

// lazyWriter sends the response's headers at its first write, so that an
// error before any byte can still be answered as an error.
type lazyWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(b)
}
