package pgwire_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/storage"
)

// env is a lake with a catalog table, keys, and a pgwire server over it.
type env struct {
	l       *lake.Lake
	addr    *net.TCPAddr
	admin   auth.Key
	analyst auth.Key // may read shop.orders only
	nobody  auth.Key // may start queries, read nothing
	srv     *pgwire.Server
}

const ordersCSV = `id,customer,amount,day,paid
1,alice,10.50,2025-01-01,true
2,bob,20.00,2025-01-02,false
3,carol,7.25,2025-01-02,true
4,"dave, jr",100.00,2025-01-03,true
5,,0.00,2025-01-04,false
`

func newEnv(t *testing.T, cfg pgwire.Config) *env {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Store.Put(ctx, "lake", "raw/orders/orders.csv", strings.NewReader(ordersCSV), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE DATABASE shop`,
		`CREATE EXTERNAL TABLE shop.orders (id bigint, customer string, amount decimal(10,2), day date, paid boolean)
			ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
			LOCATION 's3://lake/raw/orders/'
			TBLPROPERTIES ('skip.header.line.count'='1')`,
		`CREATE EXTERNAL TABLE shop.secrets (id bigint, note string)
			ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
			LOCATION 's3://lake/raw/secrets/'`,
	} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := auth.ParsePolicy([]byte(`{"Statement": [
		{"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"},
		{"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "arn:aws:glue:*:*:table/shop/orders"},
		{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/orders/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	analyst, err := l.Auth.CreateKey(ctx, "analyst", pol)
	if err != nil {
		t.Fatal(err)
	}
	pol2, _ := auth.ParsePolicy([]byte(`{"Statement": [{"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"}]}`))
	nobody, err := l.Auth.CreateKey(ctx, "nobody", pol2)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pgwire.New(cfg, pgwire.Deps{Auth: l.Auth, Queries: l.Query, Catalog: l.Catalog, Engine: l.Engine})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &env{l: l, addr: ln.Addr().(*net.TCPAddr), admin: admin, analyst: analyst, nobody: nobody, srv: srv}
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
