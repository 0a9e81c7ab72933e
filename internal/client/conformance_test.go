package client

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/storagetest"
)

// serve runs the whole server (lake.Serve, as `tarn serve` does) on
// 127.0.0.1 until the test ends, and returns a client of it with the
// lake's admin key.
func serve(t *testing.T) *Client {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		stop()
		l.Close()
		t.Fatal(err)
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ready := make(chan lake.Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, lake.ServeConfig{S3: listen(), API: listen(), Out: io.Discard, Log: io.Discard,
			Listening: func(ep lake.Endpoints) error { ready <- ep; return nil }})
	}()
	var ep lake.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		stop()
		l.Close()
		t.Fatalf("the server ended before listening: %v", err)
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		l.Close()
	})
	c, err := New(Config{API: ep.API, S3: ep.S3, Key: creds(admin)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The client's object store passes the same conformance suite as the
// lake's own store, through a real server's S3 endpoint: a command that
// works on the files works the same through `tarn serve`.
func TestObjectsConformance(t *testing.T) {
	c := serve(t)
	storagetest.Run(t, func(t *testing.T) storage.ObjectStore {
		o, err := c.Objects()
		if err != nil {
			t.Fatal(err)
		}
		return o
	})
}

// creds are a key's credentials, for a client.
func creds(k auth.Key) apitypes.Credentials {
	return apitypes.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}

// lakeConfig is a lake in home with its metadata on the backend
// TARN_TEST_META names (metatest: SQLite in home, or a fresh PostgreSQL
// database).
func lakeConfig(t testing.TB, home string) lake.Config {
	t.Helper()
	cfg := lake.DefaultConfig(home)
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	return cfg
}
