package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBindFails: a serve whose address is taken exits 1 with that
// error alone: no endpoint announced, no admin key made, no log noise from
// background work stopped half-started.
func TestServeBindFails(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "init"))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"REST API", []string{"--s3-listen", "127.0.0.1:0", "--api-listen", addr}},
		{"S3 endpoint", []string{"--s3-listen", addr, "--api-listen", "127.0.0.1:0"}},
		{"PostgreSQL endpoint", []string{"--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--pg-listen", addr}},
	} {
		r := tarn(t, dir, append([]string{"--data", data, "serve"}, tc.args...)...)
		want := "tarn: cannot listen on " + addr + " for the " + tc.name + ": listen tcp " + addr + ": bind: address already in use\n"
		if r.code != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("serve with the %s's address taken: exit %d\nstdout %q\nstderr %q\nwant exit 1, no stdout, stderr %q", tc.name, r.code, r.stdout, r.stderr, want)
		}
	}
	if r := ok(t, tarn(t, dir, "--data", data, "status")); !strings.Contains(r.stdout, "server       none") || !strings.Contains(r.stdout, "key          none set") {
		t.Errorf("after the failed starts:\n%s", r.stdout)
	}
}
