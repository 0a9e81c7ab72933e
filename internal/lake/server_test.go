package lake_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// testConfig is a lake in a temp folder with its metadata on the backend
// TARN_TEST_META names (metatest).
func testConfig(t *testing.T) lake.Config {
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	return cfg
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// The whole server starts in process, answers on its three endpoints,
// and stops when its context ends: every actor returns, no error, and the
// ports are free again.
func TestServeStartsAndStops(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	l, err := lake.Open(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s3, api, pg := listen(t), listen(t), listen(t)
	var out strings.Builder
	ready := make(chan lake.Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, lake.ServeConfig{S3: s3, API: api, PG: pg, Out: &out, Log: io.Discard,
			Listening: func(ep lake.Endpoints) error { ready <- ep; return nil }})
	}()
	var ep lake.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("Serve ended before listening: %v", err)
	}
	if ep.S3 != "http://"+s3.Addr().String() || ep.API != "http://"+api.Addr().String() || ep.PG != pg.Addr().String() {
		t.Fatalf("endpoints %+v", ep)
	}
	// S3 and REST answer an unsigned request with their own refusals.
	for _, c := range []struct{ url, want string }{{ep.S3 + "/", "AccessDenied"}, {ep.API + "/api/v1/queries", "request is not signed"}} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized || !strings.Contains(strings.ToLower(string(b)), strings.ToLower(c.want)) {
			t.Fatalf("GET %s: %d %s", c.url, resp.StatusCode, b)
		}
	}
	// PostgreSQL runs a query with the admin key the server created.
	id, secret := adminKey(t, out.String())
	// The secret may hold '/' or '+': it goes into the URL escaped.
	pgURL := url.URL{Scheme: "postgres", User: url.UserPassword(id, secret), Host: ep.PG, Path: "/default", RawQuery: "sslmode=disable"}
	conn, err := pgx.Connect(ctx, pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT 40 + 2").Scan(&n); err != nil || n != 42 {
		t.Fatalf("pgwire: %d %v", n, err)
	}
	conn.Close(context.Background())

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve after its context ended: %v", err)
	}
	for _, a := range []string{s3.Addr().String(), api.Addr().String(), pg.Addr().String()} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after the server stopped", a)
		}
	}
}

// An endpoint that fails stops the whole server, and its error is the one
// returned.
func TestServeEndpointFailureStopsAll(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	api, pg := listen(t), listen(t)
	pg.Close() // the PostgreSQL endpoint's Accept fails at once
	err = l.Serve(ctx, lake.ServeConfig{API: api, PG: pg})
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL endpoint") {
		t.Fatalf("Serve with a broken listener: %v", err)
	}
	if c, derr := net.Dial("tcp", api.Addr().String()); derr == nil {
		c.Close()
		t.Fatal("the REST API still listens after the server stopped on an error")
	}
}

func adminKey(t *testing.T, out string) (string, string) {
	t.Helper()
	var id, secret string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "AWS_ACCESS_KEY_ID="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "AWS_SECRET_ACCESS_KEY="); ok {
			secret = v
		}
	}
	if id == "" || secret == "" {
		t.Fatalf("no admin key in %q", out)
	}
	return id, secret
}
