package engine

import (
	"path/filepath"
	"strings"
)

// Redact rewrites the server's local paths in a message for a client: a
// file of the lake's objects folder becomes its s3:// URI, the engine's temp
// folder "<temp>". DuckDB's messages name the local files it read; a client
// knows objects by URI, and the server's folder layout is none of its
// business.
func (e *Engine) Redact(msg string) string {
	if e == nil {
		return msg
	}
	pairs := make([]string, 0, 2*len(e.cfg.AllowedDirs)+2)
	for _, d := range e.cfg.AllowedDirs {
		pairs = append(pairs, withSlash(filepath.Clean(d)), "s3://")
	}
	if e.cfg.TempDir != "" {
		pairs = append(pairs, filepath.Clean(e.cfg.TempDir), "<temp>")
	}
	return strings.NewReplacer(pairs...).Replace(dropScanContext(msg))
}

// dropScanContext removes DuckDB's "LINE n: ..." excerpt (and its caret
// line) when it quotes SQL the binder wrote, not the user: the file scans
// that replaced the user's table names. It would show truncated local paths
// and a statement the user never typed.
func dropScanContext(msg string) string {
	i := strings.Index(msg, "LINE ")
	if i < 0 {
		return msg
	}
	ctx := msg[i:]
	// COPY (...) TO is how writers run the user's SQL; users cannot send it.
	for _, fn := range []string{"read_csv(", "read_json(", "read_parquet(", scanMarker, "LINE 1: COPY ("} {
		if strings.Contains(ctx, fn) {
			return strings.TrimRight(msg[:i], " \n")
		}
	}
	return msg
}

// RedactError is Redact for an error: its message is redacted and it still
// wraps err (errors.Is and errors.As see the original).
func (e *Engine) RedactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := e.Redact(msg); red != msg {
		return &redacted{msg: red, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
