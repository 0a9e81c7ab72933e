package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// TestServeTermCancelsRunaway: SIGTERM while a runaway query runs ends the
// process promptly (DuckDB is interrupted, not waited for) and the query is
// recorded CANCELLED.
func TestServeTermCancelsRunaway(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	cmd, api := startServe(t, dir, data)
	token := strings.TrimSpace(ok(t, tarn(t, dir, "--data", data, "keys", "token", "TKSERVETEST000000001")).stdout)
	call := func(method, path, body string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s", method, path, b)
		}
	}
	var started struct{ ID string }
	call("POST", "/api/v1/queries", `{"sql": "SELECT * FROM range(1000000) a CROSS JOIN range(1000000) b"}`, &started)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var ex struct{ State string }
		call("GET", "/api/v1/queries/"+started.ID, "", &ex)
		if ex.State == "RUNNING" {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("the query is %s, never RUNNING", ex.State)
		case <-tick.C:
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-t.Context().Done():
		t.Fatal("serve did not exit after SIGTERM")
	}
	h := ok(t, tarn(t, dir, "--data", data, "query", "history")).stdout
	if !strings.Contains(h, started.ID[:8]) && !strings.Contains(h, started.ID) || !strings.Contains(h, "CANCELLED") {
		t.Errorf("history after SIGTERM:\n%s", h)
	}
}

// TestEmptyMetadataRefused: a 0-byte tarn.db is never re-created as an
// empty lake; the error says how to restore it.
func TestEmptyMetadataRefused(t *testing.T) {
	if metatest.Postgres() {
		t.Skip("the metadata file is SQLite's")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	db := filepath.Join(data, "tarn.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	r := tarn(t, dir, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	if r.code == 0 || !strings.Contains(r.stderr, "restore it from a backup") {
		t.Errorf("serve over a 0-byte tarn.db: %+v", r)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("tarn.db changed: %v %v", fi, err)
	}
}
