package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/console"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
)

// clock is a settable time for expiring sessions.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	l     *lake.Lake
	url   string
	admin auth.Key
	clock *clock
	cons  *console.Console
}

// newFixture is a lake with two databases (open.sales and secret.payroll)
// served by the REST API behind the console, as tarn serve mounts them.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE DATABASE open", "CREATE DATABASE secret",
		"CREATE TABLE open.sales WITH (external_location = 's3://lake/open/sales/') AS SELECT 1 AS id, 'north' AS region",
		"CREATE TABLE secret.payroll WITH (external_location = 's3://lake/secret/payroll/') AS SELECT 'north' AS region, 100 AS salary",
	} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	cons, err := console.New(ctx, console.Config{TTL: time.Hour, Now: clk.now}, l.Meta, l.Auth)
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := storage.NewUploads(filepath.Join(t.TempDir(), "uploads"), l.Store)
	if err != nil {
		t.Fatal(err)
	}
	cons.SetS3(s3api.New(s3api.DefaultConfig(), l.Store, uploads, l.Auth, nil))
	async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 2, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	t.Cleanup(async.Close)
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Async: async, Catalog: l.Catalog,
		Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store, Sessions: cons})
	t.Cleanup(a.Close)
	srv := httptest.NewServer(cons.Mount(a))
	t.Cleanup(srv.Close)
	return &fixture{l: l, url: srv.URL, admin: admin, clock: clk, cons: cons}
}

// browser is an HTTP client with a cookie jar, as a browser has.
type browser struct {
	t    *testing.T
	url  string
	c    *http.Client
	csrf string
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: f.url, c: &http.Client{Jar: jar}}
}

// do sends a request; a header "-" is the browser's own CSRF token.
func (b *browser) do(method, path, body string, hdr map[string]string) (int, map[string]any) {
	b.t.Helper()
	st, raw := b.raw(method, path, body, hdr)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			b.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return st, out
}

// raw sends a request and returns the status and body.
func (b *browser) raw(method, path, body string, hdr map[string]string) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.url+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "-" {
			v = b.csrf
		}
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (b *browser) signIn(k auth.Key) {
	b.t.Helper()
	st, out := b.do("POST", console.SessionPath, `{"access_key_id": "`+k.AccessKeyID+`", "secret_access_key": "`+k.SecretAccessKey+`"}`, nil)
	if st != 200 {
		b.t.Fatalf("sign in: %d %v", st, out)
	}
	b.csrf, _ = out["csrf_token"].(string)
	if b.csrf == "" {
		b.t.Fatalf("sign in gave no CSRF token: %v", out)
	}
}

func (b *browser) cookies() []*http.Cookie {
	req, _ := http.NewRequest("GET", b.url+"/", nil)
	return b.c.Jar.Cookies(req.URL)
}

// minimal is a policy that allows listing the catalog's databases only.
func minimal(t *testing.T) auth.Policy {
	t.Helper()
	p, err := auth.ParsePolicy([]byte(`{"Statement": {"Effect": "Allow", "Action": "glue:GetDatabases", "Resource": "*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignInCookie(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	req, _ := http.NewRequest("POST", f.url+console.SessionPath, strings.NewReader(`{"access_key_id": "`+f.admin.AccessKeyID+`", "secret_access_key": "`+f.admin.SecretAccessKey+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{console.CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	// The database keeps a hash of the session id, never the id.
	id := b.cookies()[0].Value
	var n int
	if err := f.l.Meta.SQL().QueryRow(`SELECT count(*) FROM console_sessions WHERE id_hash = ? OR access_key_id = ?`, id, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("the session id is stored in clear (%d rows, %v)", n, err)
	}
	// Signed in, the REST API answers as the key.
	if st, _ := b.do("GET", "/api/v1/databases", "", nil); st != 200 {
		t.Errorf("GET databases with the session: %d", st)
	}
	st, out := b.do("GET", console.SessionPath, "", nil)
	if st != 200 || out["access_key_id"] != f.admin.AccessKeyID || out["admin"] != true || out["csrf_token"] == "" {
		t.Errorf("GET session: %d %v", st, out)
	}
}

func TestSignInRefused(t *testing.T) {
	f := newFixture(t)
	other, err := f.l.Auth.CreateKey(context.Background(), "other", minimal(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"wrong secret", "application/json", `{"access_key_id": "` + f.admin.AccessKeyID + `", "secret_access_key": "` + other.SecretAccessKey + `"}`, 401, "InvalidCredentials"},
		{"another key's secret", "application/json", `{"access_key_id": "` + other.AccessKeyID + `", "secret_access_key": "` + f.admin.SecretAccessKey + `"}`, 401, "InvalidCredentials"},
		{"unknown key", "application/json", `{"access_key_id": "TKAAAAAAAAAAAAAAAAAA", "secret_access_key": "x"}`, 401, "InvalidCredentials"},
		{"empty secret", "application/json", `{"access_key_id": "` + f.admin.AccessKeyID + `", "secret_access_key": ""}`, 401, "InvalidCredentials"},
		{"form post (login CSRF)", "application/x-www-form-urlencoded", `access_key_id=` + f.admin.AccessKeyID, 415, "InvalidRequest"},
		{"unknown field", "application/json", `{"access_key_id": "x", "secret": "y"}`, 400, "InvalidRequest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := f.browser(t)
			req, _ := http.NewRequest("POST", f.url+console.SessionPath, strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ctype)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(raw), `"`+c.code+`"`) {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, raw, c.status, c.code)
			}
			if len(b.cookies()) != 0 || resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("a refused sign-in set a cookie: %q", resp.Header.Get("Set-Cookie"))
			}
			if c.code == "InvalidCredentials" && !strings.Contains(string(raw), "wrong access key id or secret access key") {
				t.Errorf("the error is not clear: %s", raw)
			}
		})
	}
	// Another site's page cannot sign a visitor in, even with JSON.
	b := f.browser(t)
	st, out := b.do("POST", console.SessionPath, `{"access_key_id": "`+f.admin.AccessKeyID+`", "secret_access_key": "`+f.admin.SecretAccessKey+`"}`,
		map[string]string{"Origin": "https://evil.example"})
	if st != 403 || errCode(out) != "InvalidCSRFToken" || len(b.cookies()) != 0 {
		t.Errorf("sign-in from another origin: %d %v", st, out)
	}
}

func TestSessionHostile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// No cookie: the REST API wants a signature, as before.
	anon := f.browser(t)
	if st, out := anon.do("GET", "/api/v1/databases", "", nil); st != 403 || errCode(out) != "AccessDenied" {
		t.Errorf("no cookie: %d %v", st, out)
	}
	if st, out := anon.do("GET", console.SessionPath, "", nil); st != 401 || errCode(out) != "SessionRequired" {
		t.Errorf("GET session without a cookie: %d %v", st, out)
	}

	// A forged cookie.
	forged := f.browser(t)
	req, _ := http.NewRequest("GET", f.url+"/", nil)
	forged.c.Jar.SetCookies(req.URL, []*http.Cookie{{Name: console.CookieName, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Path: "/"}})
	if st, out := forged.do("GET", "/api/v1/databases", "", nil); st != 401 || errCode(out) != "SessionRequired" {
		t.Errorf("forged cookie: %d %v", st, out)
	}

	// A request that carries a signature or token is authenticated by
	// it, whatever cookie rides along: a forged cookie does not spoil a
	// good token, and a good session does not rescue a bad token.
	if st, out := forged.do("GET", "/api/v1/databases", "", map[string]string{"Authorization": "Bearer " + auth.Token(f.admin)}); st != 200 {
		t.Errorf("a token beside a forged cookie: %d %v", st, out)
	}
	b := f.browser(t)
	b.signIn(f.admin)
	if st, out := b.do("GET", "/api/v1/databases", "", map[string]string{"Authorization": "Bearer tarn_" + f.admin.AccessKeyID + "_00"}); st != 403 || errCode(out) != "SignatureDoesNotMatch" {
		t.Errorf("a bad token beside a good session: %d %v", st, out)
	}
	// Non-GET requests need the CSRF token.
	q := `{"sql": "SELECT 1"}`
	if st, out := b.do("POST", "/api/v1/queries", q, nil); st != 403 || errCode(out) != "InvalidCSRFToken" {
		t.Errorf("POST without CSRF: %d %v", st, out)
	}
	if st, out := b.do("POST", "/api/v1/queries", q, map[string]string{console.CSRFHeader: "wrong"}); st != 403 || errCode(out) != "InvalidCSRFToken" {
		t.Errorf("POST with a wrong CSRF token: %d %v", st, out)
	}
	if st, out := b.do("POST", "/api/v1/queries", q, map[string]string{console.CSRFHeader: "-", "Origin": "http://evil.example"}); st != 403 || errCode(out) != "InvalidCSRFToken" {
		t.Errorf("POST from another origin: %d %v", st, out)
	}
	// Another session's token is not this one's.
	b2 := f.browser(t)
	b2.signIn(f.admin)
	if st, out := b.do("POST", "/api/v1/queries", q, map[string]string{console.CSRFHeader: b2.csrf}); st != 403 || errCode(out) != "InvalidCSRFToken" {
		t.Errorf("POST with another session's token: %d %v", st, out)
	}
	st, out := b.do("POST", "/api/v1/queries", q, map[string]string{console.CSRFHeader: "-", "Origin": f.url})
	if st != 200 || out["id"] == nil {
		t.Fatalf("POST with the CSRF token: %d %v", st, out)
	}
	// The execution is the key's.
	st, ex := b.do("GET", "/api/v1/queries/"+out["id"].(string)+"?wait=20", "", nil)
	if st != 200 || ex["access_key"] != f.admin.AccessKeyID {
		t.Errorf("execution: %d %v", st, ex)
	}
	if st, out := b.do("DELETE", console.SessionPath, "", nil); st != 403 || errCode(out) != "InvalidCSRFToken" {
		t.Errorf("sign out without CSRF: %d %v", st, out)
	}

	// Signed out: the cookie is cleared and the old one, replayed, is dead.
	old := b.cookies()
	if st, out := b.do("DELETE", console.SessionPath, "", map[string]string{console.CSRFHeader: "-"}); st != 200 {
		t.Fatalf("sign out: %d %v", st, out)
	}
	if len(b.cookies()) != 0 {
		t.Errorf("sign out left the cookie")
	}
	replay := f.browser(t)
	replay.c.Jar.SetCookies(req.URL, old)
	if st, out := replay.do("GET", "/api/v1/databases", "", nil); st != 401 || errCode(out) != "SessionRequired" {
		t.Errorf("signed-out session replayed: %d %v", st, out)
	}

	// Expiry: b2's session ends with its TTL.
	if st, _ := b2.do("GET", "/api/v1/databases", "", nil); st != 200 {
		t.Fatalf("live session: %d", st)
	}
	f.clock.add(time.Hour + time.Second)
	if st, out := b2.do("GET", "/api/v1/databases", "", nil); st != 401 || errCode(out) != "SessionRequired" || !strings.Contains(out["error"].(map[string]any)["message"].(string), "expired") {
		t.Errorf("expired session: %d %v", st, out)
	}
	var rows int
	if err := f.l.Meta.SQL().QueryRow(`SELECT count(*) FROM console_sessions`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("sessions left after sign-out and expiry: %d %v", rows, err)
	}

	// A key deleted after sign-in ends its sessions.
	k, err := f.l.Auth.CreateKey(ctx, "temp", minimal(t))
	if err != nil {
		t.Fatal(err)
	}
	b3 := f.browser(t)
	b3.signIn(k)
	if err := f.l.Auth.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if st, out := b3.do("GET", console.SessionPath, "", nil); st != 401 || errCode(out) != "SessionRequired" {
		t.Errorf("deleted key's session: %d %v", st, out)
	}
}

// TestSessionPolicy: a session is bounded by its key's policy exactly as
// the key's signed requests are.
func TestSessionPolicy(t *testing.T) {
	f := newFixture(t)
	pol, err := auth.ParsePolicy([]byte(`{"Statement": [
		{"Effect": "Allow", "Action": ["glue:GetDatabases", "glue:GetTables", "glue:GetTable", "glue:GetPartitions"], "Resource": ["arn:aws:glue:*:*:catalog", "arn:aws:glue:*:*:database/open", "arn:aws:glue:*:*:table/open/*"]},
		{"Effect": "Allow", "Action": "athena:*", "Resource": "*"},
		{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::lake/open/*", "arn:aws:s3:::lake"]},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/athena-results/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.l.Auth.CreateKey(context.Background(), "analyst", pol)
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.signIn(k)
	if st, out := b.do("GET", "/api/v1/databases/open/tables/sales", "", nil); st != 200 {
		t.Errorf("open table: %d %v", st, out)
	}
	if st, out := b.do("GET", "/api/v1/databases/secret/tables/payroll", "", nil); st != 403 || errCode(out) != "AccessDenied" {
		t.Errorf("secret table: %d %v", st, out)
	}
	if st, out := b.do("GET", "/api/v1/databases/secret/tables", "", nil); st != 403 || errCode(out) != "AccessDenied" {
		t.Errorf("secret database: %d %v", st, out)
	}
	if st, out := b.do("GET", "/api/v1/keys", "", nil); st != 403 {
		t.Errorf("keys: %d %v", st, out)
	}
	run := func(sql string) map[string]any {
		t.Helper()
		st, out := b.do("POST", "/api/v1/queries", `{"sql": "`+sql+`"}`, map[string]string{console.CSRFHeader: "-"})
		if st != 200 {
			t.Fatalf("%s: %d %v", sql, st, out)
		}
		_, ex := b.do("GET", "/api/v1/queries/"+out["id"].(string)+"?wait=20", "", nil)
		return ex
	}
	if ex := run("SELECT region FROM open.sales"); ex["state"] != "SUCCEEDED" {
		t.Errorf("query of the open table: %v", ex)
	}
	if ex := run("SELECT salary FROM secret.payroll"); ex["state"] != "FAILED" || !strings.Contains(ex["error"].(string), "access denied") {
		t.Errorf("query of the secret table: %v", ex)
	}
}

// TestConsolePage: the page and its assets are served with their headers;
// unknown console routes are 404 and the REST API still answers beside.
func TestConsolePage(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("GET /: %d %.200s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP: %q", csp)
	}
	if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
		t.Errorf("the page names another host (no CDN): %s", body)
	}
	if resp, err := http.Get(f.url + "/console/api/nothing"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown console route: %v %v", resp.StatusCode, err)
	}
	if resp, err := http.Get(f.url + "/assets/nothing.js"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown asset: %v %v", resp.StatusCode, err)
	}
	if resp, err := http.Get(f.url + "/api/openapi.json"); err != nil || resp.StatusCode != 200 {
		t.Errorf("REST API beside the console: %v %v", resp.StatusCode, err)
	}
	// Assets: named by content, cached for good, gzipped when accepted,
	// 304 for a known ETag.
	m := regexp.MustCompile(`/assets/[^"]+\.js`).FindString(string(body))
	if m == "" {
		t.Fatalf("no script in the page: %s", body)
	}
	req, _ := http.NewRequest("GET", f.url+m, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("asset: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, err := http.DefaultTransport.RoundTrip(req); err != nil || resp.StatusCode != 304 {
		t.Errorf("asset with its ETag: %v %v", resp.StatusCode, err)
	}
	if n := f.cons.GzippedJS(); n > 1<<20 {
		t.Errorf("the console's JavaScript is %d bytes gzipped, over 1 MB", n)
	}
}

// TestSessionSharedAcrossServers: a session lives in the metadata
// database, not in one server's memory: another server over the same
// database (a second console and REST API) honours its cookie, and a sign
// out on either ends it for both.
func TestSessionSharedAcrossServers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cons2, err := console.New(ctx, console.DefaultConfig(), f.l.Meta, f.l.Auth)
	if err != nil {
		t.Fatal(err)
	}
	a2 := api.New(api.DefaultConfig(), api.Deps{DB: f.l.Meta.SQL(), Auth: f.l.Auth, Queries: f.l.Query, Catalog: f.l.Catalog,
		Crawlers: f.l.Crawlers, Jobs: f.l.Jobs, Store: f.l.Store, Sessions: cons2})
	t.Cleanup(a2.Close)
	srv2 := httptest.NewServer(cons2.Mount(a2))
	t.Cleanup(srv2.Close)

	b := f.browser(t)
	b.signIn(f.admin)
	other := &browser{t: t, url: srv2.URL, c: &http.Client{}, csrf: b.csrf}
	jar, _ := cookiejar.New(nil)
	other.c.Jar = jar
	u, _ := http.NewRequest("GET", srv2.URL+"/", nil)
	jar.SetCookies(u.URL, b.cookies())
	if st, out := other.do("GET", "/api/v1/databases", "", nil); st != 200 {
		t.Fatalf("the session on the second server: %d %v", st, out)
	}
	if st, out := other.do("DELETE", console.SessionPath, "", map[string]string{console.CSRFHeader: "-"}); st != 200 {
		t.Fatalf("sign out on the second server: %d %v", st, out)
	}
	if st, out := b.do("GET", "/api/v1/databases", "", nil); st != 401 || errCode(out) != "SessionRequired" {
		t.Errorf("the first server after a sign out on the second: %d %v", st, out)
	}
}

// TestObjectsThroughSession: the console's S3 requests are signed in the
// server as the session's key and served by the S3 endpoint, so S3's rules
// hold: the key's policy, bucket policies, CSRF on writes.
func TestObjectsThroughSession(t *testing.T) {
	f := newFixture(t)
	anon := f.browser(t)
	if st, out := anon.do("GET", console.S3Path+"/", "", nil); st != 401 || errCode(out) != "SessionRequired" {
		t.Errorf("no session: %d %v", st, out)
	}
	b := f.browser(t)
	b.signIn(f.admin)
	csrf := map[string]string{console.CSRFHeader: "-", "Content-Type": "text/plain"}
	if st, raw := b.raw("PUT", console.S3Path+"/lake/up/a.txt", "hello", map[string]string{"Content-Type": "text/plain"}); st != 403 || !strings.Contains(string(raw), "InvalidCSRFToken") {
		t.Errorf("PUT without CSRF: %d %s", st, raw)
	}
	// The page's own signature headers are dropped, not passed on.
	hdr := map[string]string{console.CSRFHeader: "-", "Authorization": "AWS4-HMAC-SHA256 Credential=nobody", "X-Amz-Meta-Evil": "1"}
	if st, raw := b.raw("PUT", console.S3Path+"/lake/up/a.txt", "hello", hdr); st != 200 {
		t.Fatalf("PUT: %d %s", st, raw)
	}
	if st, raw := b.raw("GET", console.S3Path+"/lake/up/a.txt", "", nil); st != 200 || string(raw) != "hello" {
		t.Errorf("GET: %d %q", st, raw)
	}
	info, err := f.l.Store.Head(context.Background(), "lake", "up/a.txt")
	if err != nil || info.Metadata["evil"] != "" || info.Metadata["Evil"] != "" {
		t.Errorf("stored %v %v: the page's x-amz-meta header got through", info.Metadata, err)
	}
	if st, raw := b.raw("GET", console.S3Path+"/lake?list-type=2&prefix=up/&delimiter=/", "", nil); st != 200 || !strings.Contains(string(raw), "<Key>up/a.txt</Key>") {
		t.Errorf("list: %d %s", st, raw)
	}
	// A bucket policy binds the session as it binds a signed request (its
	// Deny binds admin keys too).
	pol := `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::lake/up/*"}]}`
	if st, raw := b.raw("PUT", console.S3Path+"/lake?policy", pol, csrf); st != 204 && st != 200 {
		t.Fatalf("put bucket policy: %d %s", st, raw)
	}
	if st, raw := b.raw("DELETE", console.S3Path+"/lake/up/a.txt", "", csrf); st != 403 || !strings.Contains(string(raw), "AccessDenied") {
		t.Errorf("DELETE under a bucket policy's Deny: %d %s", st, raw)
	}
	if st, raw := b.raw("DELETE", console.S3Path+"/lake?policy", "", csrf); st != 204 {
		t.Fatalf("delete bucket policy: %d %s", st, raw)
	}
	if st, raw := b.raw("DELETE", console.S3Path+"/lake/up/a.txt", "", csrf); st != 204 {
		t.Errorf("DELETE: %d %s", st, raw)
	}

	// A key that may read open/ only.
	rp, err := auth.ParsePolicy([]byte(`{"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/open/*"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.l.Auth.CreateKey(context.Background(), "reader", rp)
	if err != nil {
		t.Fatal(err)
	}
	r := f.browser(t)
	r.signIn(k)
	if st, raw := r.raw("PUT", console.S3Path+"/lake/open/x.txt", "x", csrf); st != 403 || !strings.Contains(string(raw), "AccessDenied") {
		t.Errorf("reader's PUT: %d %s", st, raw)
	}
	if st, raw := r.raw("GET", console.S3Path+"/lake/secret/payroll/", "", nil); st != 403 {
		t.Errorf("reader's GET outside open/: %d %s", st, raw)
	}
	if st, _ := r.raw("GET", console.S3Path+"/lake?list-type=2&prefix=open/", "", nil); st != 200 {
		t.Errorf("reader's list: %d", st)
	}
}
