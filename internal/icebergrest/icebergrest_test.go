package icebergrest_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/icebergrest"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// env is a running REST catalog over iceberg-go's SQL catalog on a real
// SQLite file, with data files in a local warehouse folder, mounted at
// /iceberg on a real HTTP server on 127.0.0.1, as tarn mounts it.
type env struct {
	url       string // catalog URI (…/iceberg)
	warehouse string // folder
	auth      *auth.Service
	admin     auth.Key
	cat       catalog.Catalog
}

// warehouseBucket is the bucket the local warehouse stands for in policies.
const warehouseBucket = "warehouse"

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(dir, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(ctx, db, auth.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wh := filepath.Join(dir, "warehouse")
	if err := os.MkdirAll(wh, 0o755); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "iceberg.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	cat, err := sqlcat.NewCatalog("tarn", sdb, sqlcat.SQLite, iceberg.Properties{"warehouse": "file://" + wh})
	if err != nil {
		t.Fatal(err)
	}
	cfg := icebergrest.DefaultConfig("http://127.0.0.1:1")
	cfg.Warehouse = "file://" + wh
	cfg.LocationResource = func(loc string) (string, error) {
		rest, ok := strings.CutPrefix(loc, "file://"+wh+"/")
		if !ok {
			return "", fmt.Errorf("location %q is outside the warehouse", loc)
		}
		return auth.S3Resource(warehouseBucket, strings.TrimSuffix(rest, "/")+"/"), nil
	}
	srv, err := icebergrest.New(cfg, icebergrest.Deps{Auth: a, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(icebergrest.Mount("/iceberg", srv, http.NotFoundHandler()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &env{url: hs.URL + "/iceberg", warehouse: wh, auth: a, admin: admin, cat: cat}
}

// key creates a key with a policy document.
func (e *env) key(t *testing.T, name, policy string) auth.Key {
	t.Helper()
	p, err := auth.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(context.Background(), name, p)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// client is iceberg-go's REST client logged in with a key's id and secret
// (the OAuth2 client credentials flow).
func (e *env) client(t *testing.T, k auth.Key, opts ...rest.Option) *rest.Catalog {
	t.Helper()
	opts = append([]rest.Option{rest.WithCredential(k.AccessKeyID + ":" + k.SecretAccessKey)}, opts...)
	c, err := rest.NewCatalog(context.Background(), "tarn", e.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sigv4Client signs every request with the key for the signing name.
func (e *env) sigv4Client(t *testing.T, k auth.Key, service string) (*rest.Catalog, error) {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, nil
	})}
	c, err := rest.NewCatalog(context.Background(), "tarn", e.url, rest.WithSigV4RegionSvc("us-east-1", service), rest.WithAwsConfig(cfg))
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

var testSchema = iceberg.NewSchema(0,
	iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
	iceberg.NestedField{ID: 2, Name: "name", Type: iceberg.PrimitiveTypes.String},
)

// rows builds an Arrow table of ids from..to-1 with the test schema.
func rows(t *testing.T, from, to int64) arrow.Table {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	ids := array.NewInt64Builder(memory.DefaultAllocator)
	names := array.NewStringBuilder(memory.DefaultAllocator)
	for i := from; i < to; i++ {
		ids.Append(i)
		names.Append(fmt.Sprintf("row %d", i))
	}
	rec := array.NewRecordBatch(sc, []arrow.Array{ids.NewArray(), names.NewArray()}, to-from)
	tbl := array.NewTableFromRecords(sc, []arrow.RecordBatch{rec})
	t.Cleanup(tbl.Release)
	return tbl
}

// ids reads a table back through the client and returns its ids.
func ids(t *testing.T, tbl *table.Table) map[int64]bool {
	t.Helper()
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	out := map[int64]bool{}
	col := at.Column(0)
	for _, ch := range col.Data().Chunks() {
		a := ch.(*array.Int64)
		for i := 0; i < a.Len(); i++ {
			if out[a.Value(i)] {
				t.Fatalf("id %d read twice", a.Value(i))
			}
			out[a.Value(i)] = true
		}
	}
	return out
}

func wantIDs(t *testing.T, got map[int64]bool, n int64) {
	t.Helper()
	if int64(len(got)) != n {
		t.Fatalf("read %d rows, want %d", len(got), n)
	}
	for i := int64(0); i < n; i++ {
		if !got[i] {
			t.Fatalf("id %d is missing", i)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, e.admin)

	ns := table.Identifier{"sales"}
	if err := c.CreateNamespace(ctx, ns, iceberg.Properties{"owner": "data-eng"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateNamespace(ctx, ns, nil); !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		t.Fatalf("creating it again: %v, want ErrNamespaceAlreadyExists", err)
	}
	// A nested namespace travels with the spec's unit separator.
	nested := table.Identifier{"sales", "eu west"}
	if err := c.CreateNamespace(ctx, nested, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.CheckNamespaceExists(ctx, nested); err != nil || !ok {
		t.Fatalf("nested namespace exists: %v %v", ok, err)
	}
	kids, err := c.ListNamespaces(ctx, ns)
	if err != nil || len(kids) != 1 || strings.Join(kids[0], "/") != "sales/eu west" {
		t.Fatalf("children of sales: %v %v", kids, err)
	}
	props, err := c.LoadNamespaceProperties(ctx, ns)
	if err != nil || props["owner"] != "data-eng" {
		t.Fatalf("properties: %v %v", props, err)
	}
	sum, err := c.UpdateNamespaceProperties(ctx, ns, []string{"owner", "nope"}, iceberg.Properties{"team": "a"})
	if err != nil || len(sum.Removed) != 1 || len(sum.Updated) != 1 || len(sum.Missing) != 1 {
		t.Fatalf("property update: %+v %v", sum, err)
	}

	ident := table.Identifier{"sales", "orders"}
	tbl, err := c.CreateTable(ctx, ident, testSchema, catalog.WithProperties(iceberg.Properties{"purpose": "test"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTable(ctx, ident, testSchema); !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Fatalf("creating it again: %v, want ErrTableAlreadyExists", err)
	}
	if !strings.HasPrefix(tbl.Location(), "file://"+e.warehouse+"/sales/orders") {
		t.Fatalf("location %s is not under the warehouse", tbl.Location())
	}

	// Append through the client's transaction: data files written by the
	// client, the commit by the catalog.
	tx := tbl.NewTransaction()
	if err := tx.AppendTable(ctx, rows(t, 0, 100), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if tbl, err = tbl.AppendTable(ctx, rows(t, 100, 150), 1024, nil); err != nil {
		t.Fatal(err)
	}
	loaded, err := c.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.MetadataLocation() != tbl.MetadataLocation() || len(loaded.Metadata().Snapshots()) != 2 {
		t.Fatalf("loaded %s with %d snapshots, want %s with 2", loaded.MetadataLocation(), len(loaded.Metadata().Snapshots()), tbl.MetadataLocation())
	}
	wantIDs(t, ids(t, loaded), 150)
	// The server's own catalog sees the same table.
	if direct, err := e.cat.LoadTable(ctx, ident); err != nil || direct.MetadataLocation() != tbl.MetadataLocation() {
		t.Fatalf("the catalog behind has %v, %v", direct, err)
	}

	// Two transactions from the same base: one commits, the other is
	// refused with CommitFailedException, and nothing is lost.
	base := loaded
	tx1, tx2 := base.NewTransaction(), base.NewTransaction()
	if err := tx1.AppendTable(ctx, rows(t, 150, 160), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx2.AppendTable(ctx, rows(t, 1000, 1010), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx2.Commit(ctx); !errors.Is(err, table.ErrCommitFailed) || !errors.Is(err, rest.ErrCommitFailed) {
		t.Fatalf("the second commit from the same base: %v, want CommitFailedException (409)", err)
	}
	after, err := c.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, ids(t, after), 160)

	// Schema evolution through a commit.
	utx := after.NewTransaction()
	if err := utx.UpdateSchema(true, false).AddColumn([]string{"note"}, iceberg.PrimitiveTypes.String, "", false, nil).Commit(); err != nil {
		t.Fatal(err)
	}
	if after, err = utx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := after.Schema().FindFieldByName("note"); !ok {
		t.Fatalf("schema after the commit: %v", after.Schema())
	}

	// Listing, rename, drop.
	var names []string
	for id, err := range c.ListTables(ctx, ns) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.Join(id, "."))
	}
	if strings.Join(names, ",") != "sales.orders" {
		t.Fatalf("tables: %v", names)
	}
	to := table.Identifier{"sales", "orders_v2"}
	if _, err := c.RenameTable(ctx, ident, to); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.CheckTableExists(ctx, ident); err != nil || ok {
		t.Fatalf("old name exists after the rename: %v %v", ok, err)
	}
	renamed, err := c.LoadTable(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, ids(t, renamed), 160)
	if _, err := c.LoadTable(ctx, table.Identifier{"sales", "nope"}); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("loading a missing table: %v, want ErrNoSuchTable", err)
	}
	if err := c.DropNamespace(ctx, ns); !errors.Is(err, catalog.ErrNamespaceNotEmpty) {
		t.Fatalf("dropping a namespace with tables: %v, want ErrNamespaceNotEmpty", err)
	}
	if err := c.DropTable(ctx, to); err != nil {
		t.Fatal(err)
	}
	if err := c.DropTable(ctx, to); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("dropping it again: %v, want ErrNoSuchTable", err)
	}
	if err := c.DropNamespace(ctx, nested); err != nil {
		t.Fatal(err)
	}
	if err := c.DropNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadNamespaceProperties(ctx, ns); !errors.Is(err, catalog.ErrNoSuchNamespace) {
		t.Fatalf("loading a dropped namespace: %v, want ErrNoSuchNamespace", err)
	}
}

// TestStagedCreate: a create with staged updates is staged (nothing
// created), then committed with assert-create.
func TestStagedCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, e.admin)
	if err := c.CreateNamespace(ctx, table.Identifier{"db"}, nil); err != nil {
		t.Fatal(err)
	}
	ident := table.Identifier{"db", "staged"}
	tbl, err := c.CreateTable(ctx, ident, testSchema, catalog.WithStagedUpdates(table.NewSetPropertiesUpdate(iceberg.Properties{"k": "v"})))
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Properties()["k"] != "v" {
		t.Fatalf("staged table properties: %v", tbl.Properties())
	}
	loaded, err := c.LoadTable(ctx, ident)
	if err != nil || loaded.Properties()["k"] != "v" {
		t.Fatalf("loaded staged table: %v %v", loaded, err)
	}
}

// TestSigV4 signs requests with a key, for both signing names clients use.
func TestSigV4(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, svc := range []string{"execute-api", "glue"} {
		c, err := e.sigv4Client(t, e.admin, svc)
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		ns := table.Identifier{"ns_" + strings.ReplaceAll(svc, "-", "_")}
		if err := c.CreateNamespace(ctx, ns, nil); err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		tbl, err := c.CreateTable(ctx, append(ns, "t"), testSchema)
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		if _, err := tbl.AppendTable(ctx, rows(t, 0, 10), 1024, nil); err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
	}
	if _, err := e.sigv4Client(t, e.admin, "s3"); !errors.Is(err, rest.ErrUnauthorized) {
		t.Fatalf("signed for s3: %v, want 401", err)
	}
	wrong := e.admin
	wrong.SecretAccessKey = "not-the-secret-not-the-secret-not-the-se"
	if _, err := e.sigv4Client(t, wrong, "execute-api"); !errors.Is(err, rest.ErrUnauthorized) {
		t.Fatalf("signed with a wrong secret: %v, want 401", err)
	}
}

// call makes a raw request and decodes the spec's error model.
func call(t *testing.T, method, u string, hdr http.Header, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(rsp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %q", method, u, rsp.StatusCode, data)
		}
	}
	return rsp.StatusCode, out
}

// errType checks an answer is the spec's ErrorModel and returns its type.
func errType(t *testing.T, code int, out map[string]any) string {
	t.Helper()
	e, ok := out["error"].(map[string]any)
	if !ok {
		t.Fatalf("answer %v has no error object", out)
	}
	if c, _ := e["code"].(float64); int(c) != code || e["message"] == "" {
		t.Fatalf("error %v: code is not %d or no message", e, code)
	}
	typ, _ := e["type"].(string)
	return typ
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	code, out := call(t, "GET", e.url+"/v1/config", nil, nil)
	if code != 401 || errType(t, code, out) != "NotAuthorizedException" {
		t.Fatalf("no credentials: %d %v", code, out)
	}
	code, out = call(t, "GET", e.url+"/v1/namespaces", bearer("tarn_"+e.admin.AccessKeyID+"_00"), nil)
	if code != 401 || errType(t, code, out) != "NotAuthorizedException" {
		t.Fatalf("forged token: %d %v", code, out)
	}
	code, out = call(t, "GET", e.url+"/v1/namespaces", bearer("not-a-token"), nil)
	if code != 401 {
		t.Fatalf("foreign token: %d %v", code, out)
	}
	// tarn's own token (tarn keys token) works as is.
	code, out = call(t, "GET", e.url+"/v1/config", bearer(auth.Token(e.admin)), nil)
	if code != 200 || out["defaults"].(map[string]any)["s3.endpoint"] != "http://127.0.0.1:1" ||
		out["defaults"].(map[string]any)["s3.path-style-access"] != "true" {
		t.Fatalf("config with a tarn token: %d %v", code, out)
	}

	// The OAuth2 client credentials flow.
	form := func(v url.Values) (int, map[string]any) {
		return call(t, "POST", e.url+"/v1/oauth/tokens", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(v.Encode()))
	}
	code, out = form(url.Values{"grant_type": {"client_credentials"}, "client_id": {e.admin.AccessKeyID}, "client_secret": {e.admin.SecretAccessKey}, "scope": {"catalog"}})
	if code != 200 || out["access_token"] != auth.Token(e.admin) || out["token_type"] != "bearer" || out["expires_in"].(float64) <= 0 {
		t.Fatalf("client credentials: %d %v", code, out)
	}
	code, out = form(url.Values{"grant_type": {"client_credentials"}, "client_id": {e.admin.AccessKeyID}, "client_secret": {"wrong"}})
	if code != 401 || out["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v", code, out)
	}
	code, out = form(url.Values{"grant_type": {"client_credentials"}, "client_id": {"TKNOSUCHKEY000000000"}, "client_secret": {e.admin.SecretAccessKey}})
	if code != 401 || out["error"] != "invalid_client" {
		t.Fatalf("unknown key: %d %v", code, out)
	}
	code, out = form(url.Values{"grant_type": {grantExchange}, "subject_token": {auth.Token(e.admin)}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}})
	if code != 200 || out["access_token"] != auth.Token(e.admin) {
		t.Fatalf("token exchange: %d %v", code, out)
	}
	code, out = form(url.Values{"grant_type": {grantExchange}, "subject_token": {"tarn_" + e.admin.AccessKeyID + "_ff"}})
	if code != 401 {
		t.Fatalf("token exchange of a forged token: %d %v", code, out)
	}
	code, out = form(url.Values{"grant_type": {"password"}})
	if code != 400 || out["error"] != "unsupported_grant_type" {
		t.Fatalf("password grant: %d %v", code, out)
	}

	// iceberg-go's client with a wrong secret cannot start.
	bad := e.admin
	bad.SecretAccessKey = "wrong"
	if _, err := rest.NewCatalog(context.Background(), "tarn", e.url, rest.WithCredential(bad.AccessKeyID+":"+bad.SecretAccessKey)); err == nil {
		t.Fatal("a client with a wrong secret started")
	}
}

const grantExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// TestAuthorization: every call is checked against the key's policy with
// Glue's actions, and a table's location against s3:PutObject.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(t, e.admin)
	if err := admin.CreateNamespace(ctx, table.Identifier{"db"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateNamespace(ctx, table.Identifier{"secret"}, nil); err != nil {
		t.Fatal(err)
	}
	tbl, err := admin.CreateTable(ctx, table.Identifier{"db", "t"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if tbl, err = tbl.AppendTable(ctx, rows(t, 0, 10), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateTable(ctx, table.Identifier{"secret", "s"}, testSchema); err != nil {
		t.Fatal(err)
	}

	reader := e.key(t, "reader", `{"Statement":[{"Effect":"Allow","Action":["glue:GetDatabase*","glue:GetTable*"],"Resource":"*"},
		{"Effect":"Deny","Action":"glue:*","Resource":["arn:aws:glue:*:*:table/secret/*","arn:aws:glue:*:*:database/secret"]}]}`)
	rc := e.client(t, reader)
	rt, err := rc.LoadTable(ctx, table.Identifier{"db", "t"})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, ids(t, rt), 10)
	if _, err := rc.LoadTable(ctx, table.Identifier{"secret", "s"}); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("reading a denied table: %v, want 403", err)
	}
	for id, err := range rc.ListTables(ctx, table.Identifier{"secret"}) {
		if !errors.Is(err, rest.ErrForbidden) {
			t.Fatalf("listing a denied namespace gave %v %v, want 403", id, err)
		}
	}
	// Without glue:UpdateTable a commit is refused and nothing changes.
	before := rt.MetadataLocation()
	if _, err := rt.AppendTable(ctx, rows(t, 10, 20), 1024, nil); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("commit without glue:UpdateTable: %v, want 403", err)
	}
	if cur, err := e.cat.LoadTable(ctx, table.Identifier{"db", "t"}); err != nil || cur.MetadataLocation() != before {
		t.Fatalf("the table changed after a refused commit: %v %v", cur, err)
	}
	if _, err := rc.CreateTable(ctx, table.Identifier{"db", "new"}, testSchema); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("create without glue:CreateTable: %v, want 403", err)
	}
	if err := rc.DropTable(ctx, table.Identifier{"db", "t"}); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("drop without glue:DeleteTable: %v, want 403", err)
	}
	if err := rc.CreateNamespace(ctx, table.Identifier{"other"}, nil); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("create namespace without glue:CreateDatabase: %v, want 403", err)
	}

	// A writer may create and commit only where it may write.
	writer := e.key(t, "writer", `{"Statement":[{"Effect":"Allow","Action":"glue:*","Resource":"*"},
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::warehouse/db/*"}]}`)
	wc := e.client(t, writer)
	wt, err := wc.CreateTable(ctx, table.Identifier{"db", "w"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.AppendTable(ctx, rows(t, 0, 5), 1024, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := wc.CreateTable(ctx, table.Identifier{"secret", "w"}, testSchema); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("create outside the writable location: %v, want 403", err)
	}
	if _, err := wc.CreateTable(ctx, table.Identifier{"db", "elsewhere"}, testSchema, catalog.WithLocation("file://"+e.warehouse+"/secret/x")); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("create with a location outside the writable one: %v, want 403", err)
	}
	if _, err := wc.CreateTable(ctx, table.Identifier{"db", "redirected"}, testSchema,
		catalog.WithProperties(iceberg.Properties{"write.data.path": "file://" + e.warehouse + "/secret/data"})); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("create with write.data.path outside the writable location: %v, want 403", err)
	}
	// Moving a table it may write to where it may not is refused.
	wt, err = wc.LoadTable(ctx, table.Identifier{"db", "w"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wc.CommitTable(ctx, table.Identifier{"db", "w"}, []table.Requirement{table.AssertTableUUID(wt.Metadata().TableUUID())},
		[]table.Update{table.NewSetLocationUpdate("file://" + e.warehouse + "/secret/w")}); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("set-location outside the writable location: %v, want 403", err)
	}
	// The admin's table in secret/ is written under secret/: the writer
	// may not commit to it even with glue:UpdateTable.
	st, err := wc.LoadTable(ctx, table.Identifier{"secret", "s"})
	if err != nil {
		t.Fatal(err)
	}
	ptx := st.NewTransaction()
	if err := ptx.SetProperties(iceberg.Properties{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ptx.Commit(ctx); !errors.Is(err, rest.ErrForbidden) {
		t.Fatalf("commit to a table whose location the key may not write: %v, want 403", err)
	}
}

// TestHostile: malformed requests get 400 in the spec's error model.
func TestHostile(t *testing.T) {
	e := newEnv(t)
	h := bearer(auth.Token(e.admin))
	c := e.client(t, e.admin)
	if err := c.CreateNamespace(context.Background(), table.Identifier{"db"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		typ                string
	}{
		{"GET", "/v1/namespaces/..%2Fetc/tables", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/%2E%2E/tables", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db/tables/..", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db/../db/tables", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db//tables", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/a%2Fb", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db%1F%1Fx", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db%00", "", 400, "BadRequestException"},
		{"POST", "/v1/namespaces", `{"namespace": ["x"`, 400, "BadRequestException"},
		{"POST", "/v1/namespaces", `{"namespace": []}`, 400, "BadRequestException"},
		{"POST", "/v1/namespaces", `[1,2]`, 400, "BadRequestException"},
		{"POST", "/v1/namespaces/db/tables", `{"name":"t"}`, 400, "BadRequestException"},
		{"POST", "/v1/namespaces/db/tables", `{"name":"../t","schema":{"type":"struct","fields":[]}}`, 400, "BadRequestException"},
		{"POST", "/v1/namespaces/db/tables/t", `{"requirements":[{"type":"assert-nonsense"}],"updates":[]}`, 400, "BadRequestException"},
		{"POST", "/v1/tables/rename", `{"source":{"namespace":["db"],"name":"t"}}`, 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db/tables?pageToken=%%%", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/db/tables/t?snapshots=some", "", 400, "BadRequestException"},
		{"GET", "/v1/namespaces/nope/tables/t", "", 404, "NoSuchTableException"},
		{"GET", "/v1/namespaces/nope", "", 404, "NoSuchNamespaceException"},
		{"GET", "/v1/namespaces/db/views/v", "", 404, "NoSuchViewException"},
		{"GET", "/v1/nothing/here", "", 404, "NotFoundException"},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, err := http.NewRequest(tc.method, e.url+"/v1/x", body)
		if err != nil {
			t.Fatal(err)
		}
		// The path as written, not cleaned or re-escaped by the client.
		p, q, _ := strings.Cut(tc.path, "?")
		req.URL.Opaque = "//" + req.URL.Host + "/iceberg" + p
		req.URL.RawQuery = q
		req.Header = h.Clone()
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		var out map[string]any
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", tc.method, tc.path, rsp.StatusCode, data)
		}
		if rsp.StatusCode != tc.code || errType(t, rsp.StatusCode, out) != tc.typ {
			t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, rsp.StatusCode, out, tc.code, tc.typ)
		}
	}
	// An oversized body is refused before it is read whole.
	big := `{"namespace":["x"],"properties":{"p":"` + strings.Repeat("a", icebergrest.DefaultMaxBody) + `"}}`
	code, out := call(t, "POST", e.url+"/v1/namespaces", h, strings.NewReader(big))
	if code != 400 || errType(t, code, out) != "BadRequestException" {
		t.Fatalf("oversized body: %d %v", code, out)
	}
	// …also when it comes chunked, without a Content-Length.
	code, out = call(t, "POST", e.url+"/v1/namespaces", h, io.MultiReader(strings.NewReader(big)))
	if code != 400 || errType(t, code, out) != "BadRequestException" {
		t.Fatalf("oversized chunked body: %d %v", code, out)
	}
	if ok, err := c.CheckNamespaceExists(context.Background(), table.Identifier{"x"}); err != nil || ok {
		t.Fatalf("a refused namespace exists: %v %v", ok, err)
	}
}

// TestPagingAndSmallEndpoints: listings page with pageSize/pageToken, and
// the endpoints clients call on the side answer as the spec says.
func TestPagingAndSmallEndpoints(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, e.admin)
	if err := c.CreateNamespace(ctx, table.Identifier{"db"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"e", "a", "d", "c", "b"} {
		if _, err := c.CreateTable(ctx, table.Identifier{"db", n}, testSchema); err != nil {
			t.Fatal(err)
		}
	}
	h := bearer(auth.Token(e.admin))
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		u := e.url + "/v1/namespaces/db/tables?pageSize=2"
		if token != "" {
			u += "&pageToken=" + url.QueryEscape(token)
		}
		code, out := call(t, "GET", u, h, nil)
		if code != 200 {
			t.Fatalf("list: %d %v", code, out)
		}
		ids := out["identifiers"].([]any)
		if len(ids) > 2 {
			t.Fatalf("page of %d", len(ids))
		}
		for _, id := range ids {
			got = append(got, id.(map[string]any)["name"].(string))
		}
		next, _ := out["next-page-token"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if strings.Join(got, ",") != "a,b,c,d,e" {
		t.Fatalf("paged listing %v", got)
	}
	// The client pages too (its page size is 20 by default).
	var all []string
	for id, err := range c.ListTables(c.SetPageSize(ctx, 2), table.Identifier{"db"}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, id[len(id)-1])
	}
	if strings.Join(all, ",") != "a,b,c,d,e" {
		t.Fatalf("client listing %v", all)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"HEAD", "/v1/namespaces/db", "", 204},
		{"HEAD", "/v1/namespaces/nope", "", 404},
		{"HEAD", "/v1/namespaces/db/tables/a", "", 204},
		{"HEAD", "/v1/namespaces/db/tables/zz", "", 404},
		{"POST", "/v1/namespaces/db/tables/a/metrics", `{"report-type":"scan-report"}`, 204},
		{"GET", "/v1/namespaces/db/views", "", 200},
		{"GET", "/v1/namespaces/db/tables/a?snapshots=refs", "", 200},
		{"POST", "/v1/namespaces/db/views", `{}`, 501},
		{"POST", "/v1/transactions/commit", `{"table-changes":[]}`, 501}, // the SQL catalog has no transactions
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		if code, out := call(t, tc.method, e.url+tc.path, h, body); code != tc.code {
			t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, code, out, tc.code)
		}
	}
	code, out := call(t, "GET", e.url+"/v1/config", h, nil)
	eps := fmt.Sprint(out["endpoints"])
	if code != 200 || !strings.Contains(eps, "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}") || strings.Contains(eps, "transactions") {
		t.Fatalf("config endpoints: %d %v", code, eps)
	}
}
