package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/query"
)

// While `tarn serve` runs, `tarn query` goes through its REST API (given
// --server URL, or found in the data folder's serve.json), so that queries
// obey the server's workgroup queues and land in one place. The other
// commands still open the lake's files, which is safe alongside the server.

// serveInfo is what `tarn serve` leaves in <data>/serve.json.
type serveInfo struct {
	API string `json:"api"`
	PID int    `json:"pid"`
}

const serveFile = "serve.json"

func writeServeInfo(home, api string) error {
	b, _ := json.Marshal(serveInfo{API: api, PID: os.Getpid()})
	return os.WriteFile(filepath.Join(home, serveFile), b, 0o600)
}

func removeServeInfo(home string) { os.Remove(filepath.Join(home, serveFile)) }

// remote is a REST API client.
type remote struct {
	base  string
	token string
}

// server returns the client for the server to use, or nil to work on the
// files: --server/TARN_SERVER, else a live `tarn serve` of the data folder.
func (g *globals) server() (*remote, error) {
	base := g.serverURL
	if base == "" {
		b, err := os.ReadFile(filepath.Join(g.data, serveFile))
		if err != nil {
			return nil, nil
		}
		var si serveInfo
		if json.Unmarshal(b, &si) != nil || si.API == "" || si.PID <= 0 || syscall.Kill(si.PID, 0) != nil {
			return nil, nil // a server that died: work on the files
		}
		base = si.API
	}
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("invalid --server %q: %w", base, err)
	}
	tok := os.Getenv("TARN_TOKEN")
	if tok == "" {
		id, secret := os.Getenv("TARN_ACCESS_KEY_ID"), os.Getenv("TARN_SECRET_ACCESS_KEY")
		if id == "" || secret == "" {
			k, err := lake.AdminKey(context.Background(), g.data)
			if err != nil {
				return nil, fmt.Errorf("cannot talk to the server at %s: set TARN_TOKEN (tarn keys token ACCESS_KEY_ID) or TARN_ACCESS_KEY_ID and TARN_SECRET_ACCESS_KEY (%v)", base, err)
			}
			id, secret = k.AccessKeyID, k.SecretAccessKey
		}
		tok = auth.Token(auth.Key{AccessKeyID: id, SecretAccessKey: secret})
	}
	return &remote{base: strings.TrimSuffix(base, "/"), token: tok}, nil
}

func (r *remote) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server at %s: %w", r.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// runRemoteQuery runs one statement through the server and prints it as
// runQuery does.
func runRemoteQuery(cmd *cobra.Command, r *remote, req query.Request, format string) error {
	ctx := cmd.Context()
	var started map[string]string
	if err := r.do(ctx, "POST", "/api/v1/queries", map[string]string{"sql": req.SQL, "database": req.Database, "workgroup": req.Workgroup}, &started); err != nil {
		return err
	}
	id := started["id"]
	prog := newProgress()
	start := time.Now()
	var ex query.Execution
	for {
		if err := r.do(ctx, "GET", "/api/v1/queries/"+id, nil, &ex); err != nil {
			return err
		}
		if ex.State != query.StateQueued && ex.State != query.StateRunning {
			break
		}
		prog.update("%s for %s on %s...", strings.ToLower(ex.State), time.Since(start).Round(time.Second), r.base)
		select {
		case <-ctx.Done():
			_ = r.do(context.Background(), "DELETE", "/api/v1/queries/"+id, nil, nil)
			prog.done()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	prog.done()
	sink, err := newSink(format, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	if ex.State == query.StateSucceeded {
		token := ""
		first := true
		for {
			var page query.ResultPage
			if err := r.do(ctx, "GET", "/api/v1/queries/"+id+"/results?max_results=1000&next_token="+url.QueryEscape(token), nil, &page); err != nil {
				return err
			}
			if first {
				if len(page.Columns) > 0 {
					if err := sink.Columns(page.Columns); err != nil {
						return err
					}
				}
				first = false
			}
			vals := make([]any, len(page.Columns))
			for _, row := range page.Rows {
				for i := range vals {
					vals[i] = nil
					if i < len(row) {
						vals[i] = row[i]
					}
				}
				if err := sink.Row(vals); err != nil {
					return err
				}
			}
			if page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
	}
	if err := sink.Flush(); err != nil {
		return err
	}
	st := ex.Stats
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d rows in %s, data scanned %s (%d bytes) via %s, query id %s\n",
		ex.State, st.Rows, ex.EndedAt.Sub(ex.SubmittedAt).Round(time.Millisecond), humanBytes(st.BytesScanned), st.BytesScanned, r.base, ex.ID)
	if ex.State != query.StateSucceeded {
		return errors.New(ex.Error)
	}
	return nil
}
