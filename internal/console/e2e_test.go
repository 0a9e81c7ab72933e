package console_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/auth"
)

// The console in a real browser (make test-console, .ci/console.sh):
// Debian's chromium driven by chromedp against a real `tarn serve` over the
// quickstart lake. It runs when TARN_CONSOLE_E2E names a built tarn binary;
// TARN_CONSOLE_SHOTS names a folder for the pages' screenshots
// (docs/console to refresh the docs'). axe-core, from web/node_modules, is
// injected by the test (the product does not serve it) and every serious or
// critical violation fails the test.

const (
	e2eAdminID     = "TKCONSOLETEST0000001"
	e2eAdminSecret = "consoletestsecretconsoletestsecretconsol"
)

type e2e struct {
	t       *testing.T
	ctx     context.Context
	url     string
	shots   string
	axe     string
	analyst auth.Key
}

func startTarn(t *testing.T, bin, data string) string {
	t.Helper()
	env := append(os.Environ(), "TARN_ACCESS_KEY_ID="+e2eAdminID, "TARN_SECRET_ACCESS_KEY="+e2eAdminSecret)
	qs := exec.Command(bin, "--data", data, "quickstart")
	qs.Env = env
	if out, err := qs.CombinedOutput(); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "REST API on "); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("tarn serve announced no REST API: %s", stderr.String())
	return ""
}

// createKey makes a key through the REST API as the admin (bearer token).
func createKey(t *testing.T, url, name, policy string) auth.Key {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "policy": json.RawMessage(policy)})
	req, _ := http.NewRequest("POST", url+"/api/v1/keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+auth.Token(auth.Key{AccessKeyID: e2eAdminID, SecretAccessKey: e2eAdminSecret}))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var k auth.Key
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &k) != nil || k.SecretAccessKey == "" {
		t.Fatalf("create key %s: %d %s", name, resp.StatusCode, raw)
	}
	return k
}

// adminPost sends a JSON body to the REST API as the admin.
func adminPost(t *testing.T, url, path, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+auth.Token(auth.Key{AccessKeyID: e2eAdminID, SecretAccessKey: e2eAdminSecret}))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
}

// adminQuery runs a statement through the REST API as the admin.
func adminQuery(t *testing.T, url, sql string) {
	t.Helper()
	tok := "Bearer " + auth.Token(auth.Key{AccessKeyID: e2eAdminID, SecretAccessKey: e2eAdminSecret})
	body, _ := json.Marshal(map[string]string{"sql": sql})
	req, _ := http.NewRequest("POST", url+"/api/v1/queries", bytes.NewReader(body))
	req.Header.Set("Authorization", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if err != nil || started.ID == "" {
		t.Fatalf("%s: %d %v", sql, resp.StatusCode, err)
	}
	for {
		req, _ := http.NewRequest("GET", url+"/api/v1/queries/"+started.ID+"?wait=20", nil)
		req.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ex struct{ State, Error string }
		err = json.NewDecoder(resp.Body).Decode(&ex)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch ex.State {
		case "SUCCEEDED":
			return
		case "FAILED", "CANCELLED":
			t.Fatalf("%s: %s %s", sql, ex.State, ex.Error)
		}
	}
}

func chromiumPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

func TestConsoleBrowser(t *testing.T) {
	bin := os.Getenv("TARN_CONSOLE_E2E")
	if bin == "" {
		t.Skip("TARN_CONSOLE_E2E names no tarn binary (make test-console runs this test)")
	}
	chromium := chromiumPath()
	if chromium == "" {
		t.Fatal("no chromium (apt-get install chromium; .ci/run does)")
	}
	axe, err := os.ReadFile("../../web/node_modules/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core: %v (npm ci in web/)", err)
	}
	data := filepath.Join(t.TempDir(), "data")
	url := startTarn(t, bin, data)
	e := &e2e{t: t, url: url, shots: os.Getenv("TARN_CONSOLE_SHOTS"), axe: string(axe)}
	// Schema drift for the versions page: a CSV table crawled, then a file
	// with a wider type and one more column, crawled again (the CLI works
	// through the running server).
	dir := t.TempDir()
	cli := func(args ...string) {
		t.Helper()
		c := exec.Command(bin, append([]string{"--data", data}, args...)...)
		c.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+e2eAdminID, "TARN_SECRET_ACCESS_KEY="+e2eAdminSecret)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("tarn %v: %v\n%s", args, err, out)
		}
	}
	// A returns table whose second file has a bad row, and a job that
	// allows no rejected row: its run fails with a dead letter.
	put := func(name, body, uri string) {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cli("cp", f, uri)
	}
	put("good.csv", "id,qty\n1,5\n2,7\n", "s3://lake/raw/returns/good.csv")
	for i, body := range []string{"id,amount,city\n1,10,Oslo\n2,20,Bergen\n", "id,amount,city,discount\n3,30.5,Oslo,0.1\n"} {
		f := filepath.Join(dir, fmt.Sprintf("%d.csv", i))
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cli("cp", f, fmt.Sprintf("s3://lake/raw/drift/%d.csv", i))
		cli("crawler", "start", "raw_crawler")
	}
	put("bad.csv", "id,qty\n3,many\n4,9\n", "s3://lake/raw/returns/bad.csv")
	if e.shots != "" {
		if err := os.MkdirAll(e.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The analyst reads the sales table only (and may run queries).
	e.analyst = createKey(t, url, "analyst", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["glue:GetDatabases", "glue:GetDatabase"], "Resource": "*"},
		{"Effect": "Allow", "Action": ["glue:GetTables", "glue:GetTable", "glue:GetPartitions"], "Resource": ["arn:aws:glue:*:*:database/etl_pipeline_db", "arn:aws:glue:*:*:table/etl_pipeline_db/sales"]},
		{"Effect": "Allow", "Action": "athena:*", "Resource": "*"},
		{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/raw/sales/*"]},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/athena-results/*"}]}`)

	// A workflow that a new object under s3://lake/incoming/ starts.
	adminPost(t, url, "/api/v1/workflows", `{"name": "on_upload", "description": "Counts the raw tables when a file lands in incoming/", "steps": [
		{"name": "count_sales", "sql": "SELECT count(*) FROM etl_pipeline_db.sales"},
		{"name": "count_orders", "sql": "SELECT count(*) FROM etl_pipeline_db.orders"},
		{"name": "summary", "sql": "SELECT 1", "depends_on": ["count_sales", "count_orders"]}]}`)
	adminPost(t, url, "/api/v1/jobs", `{"name": "strict_returns", "description": "Returns to curated Parquet; no bad row allowed",
		"sql": "SELECT id, qty FROM etl_pipeline_db.returns", "target": "s3://lake/curated/returns/", "max_rejected": "0"}`)
	adminPost(t, url, "/api/v1/alarms", `{"name": "returns_rejected", "description": "A run of strict_returns rejected rows", "rule": "rows_rejected", "target": "strict_returns", "threshold": 0}`)
	adminPost(t, url, "/api/v1/triggers", `{"name": "on_incoming", "type": "EVENT", "workflow": "on_upload", "prefix": "s3://lake/incoming/", "enabled": true}`)

	// The warehouse: a table loaded from the lake, a view and a
	// materialized view.
	for _, q := range []string{
		"CREATE SCHEMA reporting",
		"CREATE TABLE reporting.sales AS SELECT region, quantity * unit_price AS amount FROM etl_pipeline_db.sales",
		"CREATE VIEW reporting.big_sales AS SELECT * FROM reporting.sales WHERE amount > 500",
		"CREATE MATERIALIZED VIEW reporting.revenue_by_region AS SELECT region, sum(amount) AS revenue FROM reporting.sales GROUP BY region",
	} {
		adminQuery(t, url, q)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1360, 860), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	e.ctx = ctx
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}

	for _, s := range []struct {
		name string
		f    func(*testing.T)
	}{{"first load", e.firstLoad}, {"sign in", e.signIn}, {"catalog", e.catalog}, {"query and chart", e.query}, {"100k rows", e.bigResult},
		{"error position", e.errorPosition}, {"cancel", e.cancel}, {"objects", e.objects}, {"workflow", e.workflow}, {"jobs and crawlers", e.jobsAndCrawlers}, {"alarms and metrics", e.monitoring}, {"warehouse", e.warehouse}, {"sign out", e.signOut}, {"restricted key", e.restricted}} {
		// The steps share the browser and go on from where the last left
		// the page: one stopped by a fatal error stops the rest.
		stopped := true
		t.Run(s.name, func(t *testing.T) { e.t = t; s.f(t); stopped = false })
		if stopped {
			break
		}
	}
}

// do runs actions with a bound on the whole step (a hung page fails, not
// hangs, the test).
func (e *e2e) do(actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		e.t.Fatalf("browser: %v", err)
	}
}

func evalJS[T any](e *e2e, js string) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		e.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// until waits, in the page, for a JavaScript condition to hold.
func (e *e2e) until(js string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 90*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(80*time.Second))); err != nil {
		body, _ := chromedp.Run(e.ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		e.t.Fatalf("waiting for %s: %v\npage: %s", js, err, body)
	}
}

func (e *e2e) text(sel string) string {
	e.t.Helper()
	return evalJS[string](e, fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ""`, sel))
}

func (e *e2e) shot(name string) {
	e.t.Helper()
	if e.shots == "" {
		return
	}
	b, err := chromedp.Run(e.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.shots, name+".png"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// checkA11y runs axe-core on the page as it is and fails on serious and
// critical violations.
func (e *e2e) checkA11y(page string) {
	e.t.Helper()
	if !evalJS[bool](e, `typeof axe !== "undefined"`) {
		if _, err := chromedp.Run(e.ctx, chromedp.Evaluate[chromedp.Void](e.axe)); err != nil {
			e.t.Fatalf("inject axe-core: %v", err)
		}
	}
	type violation struct {
		ID, Impact, Help string
		Nodes            []string
	}
	vs := evalJS[[]violation](e, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.slice(0, 4).map(n => n.target.join(" "))})))`)
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			e.t.Errorf("axe on %s: %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
		} else {
			e.t.Logf("axe on %s: %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}

func (e *e2e) insertText(s string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: s})
		return err
	})
}

func (e *e2e) cookies() []*network.Cookie {
	e.t.Helper()
	var out []*network.Cookie
	e.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{e.url + "/"}})
		out = r.Cookies
		return err
	}))
	return out
}

func (e *e2e) firstLoad(t *testing.T) {
	start := time.Now()
	e.do(chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.ID("akid")))
	ready := time.Since(start)
	nav := evalJS[map[string]float64](e, `(() => { const n = performance.getEntriesByType("navigation")[0];
		return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()`)
	t.Logf("first load on localhost: sign-in form usable after %v (DOMContentLoaded %.0f ms, load %.0f ms)", ready.Round(time.Millisecond), nav["dcl"], nav["load"])
	// Every resource the page loaded came from tarn (no CDN).
	others := evalJS[[]string](e, `performance.getEntriesByType("resource").map(r => r.name).filter(n => !n.startsWith(location.origin))`)
	if len(others) > 0 {
		t.Errorf("resources from elsewhere: %v", others)
	}
	e.checkA11y("sign-in")
	e.shot("signin")
}

func (e *e2e) signIn(t *testing.T) {
	// A wrong secret: a clear error, no cookie.
	e.do(chromedp.SendKeys(chromedp.ID("akid"), e2eAdminID), chromedp.SendKeys(chromedp.ID("secret"), "not-the-secret"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("signin-error")))
	if msg := e.text("#signin-error"); !strings.Contains(msg, "wrong access key id or secret access key") {
		t.Errorf("wrong secret says %q", msg)
	}
	if c := e.cookies(); len(c) != 0 {
		t.Errorf("a refused sign-in left cookies: %v", c)
	}
	// By keyboard only: the secret field, the right secret, Enter.
	e.do(chromedp.Clear(chromedp.ID("secret")), chromedp.Focus(chromedp.ID("akid")), chromedp.KeyEvent(kb.Tab))
	if id := evalJS[string](e, `document.activeElement.id`); id != "secret" {
		t.Errorf("Tab from the key id went to %q, not the secret", id)
	}
	e.do(chromedp.KeyEvent(e2eAdminSecret), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("signout")))
	cs := e.cookies()
	if len(cs) != 1 || !cs[0].HTTPOnly || cs[0].SameSite != network.CookieSameSiteStrict {
		t.Errorf("session cookie: %+v", cs)
	}
	// The page's script cannot read it.
	if c := evalJS[string](e, `document.cookie`); c != "" {
		t.Errorf("document.cookie = %q", c)
	}
}

func (e *e2e) catalog(t *testing.T) {
	e.do(chromedp.Navigate(e.url+"/#/catalog"), chromedp.WaitVisible(chromedp.CSS(`a[href="#/catalog/etl_pipeline_db/orders"]`)))
	e.checkA11y("catalog")
	// Browse a table.
	e.do(chromedp.Click(chromedp.CSS(`a[href="#/catalog/etl_pipeline_db/orders"]`)), chromedp.WaitVisible(chromedp.ID("columns")))
	cols := e.text("#columns")
	for _, want := range []string{"order_id", "timestamp", "struct<name:string", "year"} {
		if !strings.Contains(cols, want) {
			t.Errorf("columns lack %q: %s", want, cols)
		}
	}
	e.shot("catalog")
	// Tabs by keyboard: ArrowRight moves to Partitions.
	e.do(chromedp.Focus(chromedp.ID("tab-columns")), chromedp.KeyEvent(kb.ArrowRight))
	e.until(`document.querySelector("#tab-partitions")?.getAttribute("aria-selected") === "true" && document.activeElement?.id === "tab-partitions"`)
	e.until(`/\d+ partitions, \d+ files/.test(document.querySelector("#tabpanel")?.innerText ?? "")`)
	e.checkA11y("partitions")
	e.do(chromedp.Click(chromedp.ID("tab-versions")), chromedp.WaitVisible(chromedp.ID("schema-diff")))
	e.do(chromedp.Click(chromedp.ID("tab-properties")))
	e.until(`(document.querySelector("#tabpanel")?.innerText ?? "").includes("classification")`)
	e.do(chromedp.Click(chromedp.ID("tab-preview")), chromedp.WaitVisible(chromedp.ID("preview")))
	if n := evalJS[int](e, `document.querySelectorAll("#preview tbody tr").length`); n != 100 {
		t.Errorf("preview has %d rows, want 100", n)
	}
	e.checkA11y("preview")
	e.shot("catalog-preview")
	// Search across names: a column.
	e.do(chromedp.SendKeys(chromedp.ID("catalog-search"), "zip"))
	e.until(`(document.querySelector(".hits")?.innerText ?? "").includes("curated_db.orders · zip_code")`)
	e.checkA11y("search")
	e.do(chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Backspace), chromedp.WaitVisible(chromedp.CSS(".tree")))
	// The drift's typed diff, version 1 beside version 2.
	e.do(chromedp.Navigate(e.url+"/#/catalog/etl_pipeline_db/drift/versions"), chromedp.WaitVisible(chromedp.ID("schema-diff")))
	e.until(`document.querySelector("#schema-diff tr.changed")?.innerText.replace(/\s+/g, " ").trim() === "amount bigint double changed"`)
	if added := e.text("#schema-diff tr.added"); !strings.Contains(added, "discount") {
		t.Errorf("added column: %q", added)
	}
	e.checkA11y("versions")
	e.shot("catalog-versions")
	// Lineage: the curated orders table, written by the quickstart's job
	// from the crawled raw table.
	e.do(chromedp.Navigate(e.url+"/#/catalog/curated_db/orders/lineage"), chromedp.WaitVisible(chromedp.ID("lineage-edges")))
	if l := e.text("#lineage-edges"); !strings.Contains(l, "etl_pipeline_db.orders") || !strings.Contains(l, "job orders_to_curated") || !strings.Contains(l, "crawler raw_crawler") {
		t.Errorf("lineage: %q", l)
	}
	e.checkA11y("lineage")
	e.shot("catalog-lineage")
}

// setSQL replaces the editor's text.
func (e *e2e) setSQL(sql string) {
	e.t.Helper()
	e.do(chromedp.Click(chromedp.CSS(".cm-content")), chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), e.insertText(sql),
		chromedp.KeyEvent(kb.Escape))
	e.until(fmt.Sprintf(`document.querySelector(".cm-content").innerText.replace(/\s+/g, " ").trim() === %q`, strings.Join(strings.Fields(sql), " ")))
}

func (e *e2e) runSQL(sql, state string) {
	e.t.Helper()
	e.setSQL(sql)
	e.do(chromedp.Click(chromedp.ID("run")))
	e.until(fmt.Sprintf(`document.querySelector("#q-status .state")?.innerText === %q`, state))
}

func (e *e2e) query(t *testing.T) {
	e.do(chromedp.Navigate(e.url+"/#/query"), chromedp.WaitVisible(chromedp.CSS(".cm-content")))
	// Completion of a database's tables and a table's columns.
	e.setSQL("SELECT * FROM etl_pipeline_db.")
	e.do(chromedp.KeyEvent("o"))
	e.until(`[...document.querySelectorAll(".cm-tooltip-autocomplete li")].some(li => li.innerText.startsWith("orders"))`)
	e.do(chromedp.KeyEvent(kb.Escape))
	e.setSQL("SELECT etl_pipeline_db.orders.")
	e.do(chromedp.KeyEvent("t"))
	e.until(`[...document.querySelectorAll(".cm-tooltip-autocomplete li")].some(li => li.innerText.startsWith("total_amount"))`)
	e.do(chromedp.KeyEvent(kb.Escape))
	// The highlighted keywords.
	if n := evalJS[int](e, `document.querySelectorAll(".cm-content span[class^='ͼ']").length`); n == 0 {
		t.Errorf("no highlighted tokens in the editor")
	}
	// Run by keyboard (Ctrl+Enter), the quickstart's first query.
	e.setSQL("SELECT region, count(*) AS transactions, round(sum(quantity * unit_price), 2) AS revenue FROM etl_pipeline_db.sales GROUP BY region ORDER BY revenue DESC")
	e.do(chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	e.until(`document.querySelector("#q-status .state")?.innerText === "SUCCEEDED" && document.querySelectorAll(".gbody .gr").length > 0`)
	if s := e.text("#q-scanned"); s == "" || s == "0 B" {
		t.Errorf("data scanned: %q", s)
	}
	if g := e.text(".grid"); !strings.Contains(g, "region") || !strings.Contains(g, "revenue") {
		t.Errorf("grid: %q", g)
	}
	e.checkA11y("query results")
	e.shot("query")
	// Its chart: bars of the numeric columns by region.
	e.do(chromedp.Click(chromedp.ID("tab-chart")), chromedp.WaitVisible(chromedp.ID("result-chart")))
	label := evalJS[string](e, `document.querySelector("#result-chart").getAttribute("aria-label")`)
	if !strings.HasPrefix(label, "Bar chart of transactions, revenue by region") {
		t.Errorf("chart: %q", label)
	}
	// Drawn: the canvas gets coloured pixels (Chart.js sizes it first).
	e.until(`(() => { const c = document.querySelector("#result-chart"); if (!c.width || !c.height) return false;
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && (d[i] !== d[i+1] || d[i+1] !== d[i+2])) return true; return false; })()`)
	e.checkA11y("chart")
	e.shot("query-chart")
	e.do(chromedp.SetValue(chromedp.ID("chart-kind"), "line"))
	e.until(`document.querySelector("#result-chart").getAttribute("aria-label").startsWith("Line chart")`)
	// Download CSV: the file's text, caught as the page hands it over.
	csv := evalJS[string](e, `new Promise((resolve) => {
		const orig = URL.createObjectURL;
		URL.createObjectURL = (blob) => { URL.createObjectURL = orig; blob.text().then(resolve); return orig(blob); };
		document.querySelector("#download").click(); })`)
	if !strings.HasPrefix(csv, "region,transactions,revenue\r\n") || strings.Count(csv, "\r\n") < 3 {
		t.Errorf("CSV: %q", csv)
	}
	// Download Parquet: the whole result from the server, with its types,
	// fetched by the page with its session.
	b64 := evalJS[string](e, `fetch(document.querySelector("#download-parquet").href).then(async (r) => {
		if (!r.ok) return "HTTP " + r.status + ": " + await r.text();
		const b = new Uint8Array(await r.arrayBuffer()); let s = ""; for (const x of b) s += String.fromCharCode(x); return btoa(s); })`)
	pq, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("Parquet download: %q", b64)
	}
	file := filepath.Join(t.TempDir(), "result.parquet")
	if err := os.WriteFile(file, pq, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := parquetSummary(t, file); got != "region VARCHAR, transactions BIGINT, revenue DOUBLE; "+strconv.Itoa(strings.Count(csv, "\r\n")-1)+" rows" {
		t.Errorf("Parquet download: %s", got)
	}
	// A partitioned table's query: partitions scanned of the total.
	e.do(chromedp.Click(chromedp.ID("tab-results")))
	e.runSQL("SELECT count(*) AS orders FROM etl_pipeline_db.orders WHERE year = 2025 AND month = 2", "SUCCEEDED")
	if st := e.text("#q-stats"); !strings.Contains(st, "Partitions") || !strings.Contains(st, "pruned") {
		t.Errorf("stats of a pruned query: %q", st)
	}
	// The history has it; opening it loads the SQL back.
	e.until(`[...document.querySelectorAll(".hist code")].some(c => c.innerText.includes("GROUP BY region ORDER BY revenue"))`)
}

func (e *e2e) bigResult(t *testing.T) {
	e.do(chromedp.Click(chromedp.ID("tab-results")))
	start := time.Now()
	e.runSQL("SELECT i, i * 2 AS doubled, 'row ' || i AS label FROM range(100000) t(i)", "SUCCEEDED")
	e.until(`document.querySelector("#q-loaded")?.innerText === "100,000 rows"`)
	t.Logf("100,000 rows run and loaded into the grid in %v", time.Since(start).Round(time.Millisecond))
	// Virtualized: a few dozen rows in the DOM, whatever the result.
	if n := evalJS[int](e, `document.querySelectorAll(".gbody .gr").length`); n > 100 {
		t.Errorf("%d rows in the DOM", n)
	}
	// Keyboard: End goes to the last row.
	e.do(chromedp.Focus(chromedp.CSS(".grid")), chromedp.KeyEvent(kb.End))
	e.until(`[...document.querySelectorAll(".gbody .gr .rn")].some(c => c.innerText === "100000")`)
	// Scrolling through all of it: frames stay short.
	ms := evalJS[float64](e, `new Promise((resolve) => {
		const g = document.querySelector(".grid"); g.scrollTop = 0; let worst = 0, last = performance.now(), n = 0;
		const step = () => { const now = performance.now(); worst = Math.max(worst, now - last); last = now;
			g.scrollTop += g.scrollHeight / 60; if (++n < 60) requestAnimationFrame(step); else resolve(worst); };
		requestAnimationFrame(step); })`)
	t.Logf("scrolling 100,000 rows in 60 steps: longest frame %.0f ms", ms)
}

func (e *e2e) errorPosition(t *testing.T) {
	e.runSQL("SELECT region, regoin FROM etl_pipeline_db.sales", "FAILED")
	if msg := e.text("#q-error"); !strings.Contains(msg, "line 1, column 16") || !strings.Contains(msg, "regoin") {
		t.Errorf("error: %q", msg)
	}
	if m := e.text(".cm-sql-error"); m != "regoin" {
		t.Errorf("marked %q, want regoin", m)
	}
	e.checkA11y("query error")
	e.shot("query-error")
}

func (e *e2e) cancel(t *testing.T) {
	e.setSQL("SELECT count(*) FROM range(1000000000000) t(i)")
	e.do(chromedp.Click(chromedp.ID("run")))
	e.until(`document.querySelector("#q-status")?.innerText.startsWith("Running") && !document.querySelector("#cancel").disabled`)
	e.do(chromedp.Click(chromedp.ID("cancel")))
	e.until(`document.querySelector("#q-status .state")?.innerText === "CANCELLED"`)
}

func (e *e2e) objects(t *testing.T) {
	e.do(chromedp.Navigate(e.url+"/#/objects"), chromedp.WaitVisible(chromedp.CSS(`a[href="#/objects/lake/"]`)))
	e.do(chromedp.Click(chromedp.CSS(`a[href="#/objects/lake/"]`)))
	e.until(`(document.querySelector("#objects")?.innerText ?? "").includes("raw/")`)
	e.do(chromedp.Navigate(e.url + "/#/objects/lake/console/uploads/"))
	e.until(`(document.querySelector(".content")?.innerText ?? "").includes("This folder is empty.")`)
	// Two files through the file input (a drop calls the same code): a
	// small one in one PUT, a 20 MiB one in three multipart parts.
	dir := t.TempDir()
	small, big := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "big file.bin")
	if err := os.WriteFile(small, []byte("hello, lake\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16), 0o644); err != nil {
		t.Fatal(err)
	}
	e.do(chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{small, big}))
	e.until(`document.querySelectorAll(".uploads li.done").length === 2`)
	if !evalJS[bool](e, `[...document.querySelectorAll(".uploads progress")].every(p => p.value === p.max)`) {
		t.Errorf("progress bars not full")
	}
	e.until(`(document.querySelector("#objects")?.innerText ?? "").includes("big file.bin") && document.querySelector("#objects").innerText.includes("notes.txt")`)
	e.checkA11y("objects")
	e.shot("objects")
	// Download: the same bytes, through a link; the big one is multipart.
	got := evalJS[map[string]any](e, `(async () => { const a = document.querySelector('a[aria-label="Download big file.bin"]');
		const r = await fetch(a.href); const b = await r.blob(); return {size: b.size, etag: r.headers.get("ETag"), disp: r.headers.get("Content-Disposition")}; })()`)
	if got["size"] != float64(20<<20) || !strings.HasSuffix(fmt.Sprint(got["etag"]), `-3"`) || !strings.Contains(fmt.Sprint(got["disp"]), "attachment") {
		t.Errorf("download: %v", got)
	}
	// Delete, confirmed.
	e.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`), chromedp.Click(chromedp.CSS(`button[aria-label="Delete notes.txt"]`)))
	e.until(`!(document.querySelector("#objects")?.innerText ?? "").includes("notes.txt")`)
}

func (e *e2e) workflow(t *testing.T) {
	e.do(chromedp.Navigate(e.url+"/#/workflows"), chromedp.WaitVisible(chromedp.CSS(`a[href="#/workflows/on_upload"]`)),
		chromedp.Click(chromedp.CSS(`a[href="#/workflows/on_upload"]`)), chromedp.WaitVisible(chromedp.ID("wf-dag")))
	if n := evalJS[int](e, `document.querySelectorAll("#wf-dag g.node").length`); n != 3 {
		t.Errorf("%d nodes, want 3", n)
	}
	e.until(`(document.querySelector(".content")?.innerText ?? "").includes("No runs yet.")`)
	e.checkA11y("workflow")
	// Upload a file into incoming/: its event starts the workflow, and its
	// DAG turns green on the page (no reload: the page is the same one).
	e.do(chromedp.Evaluate[chromedp.Void](`window.tarnSamePage = true`), chromedp.Navigate(e.url+"/#/objects/lake/incoming/"))
	e.until(`(document.querySelector(".content")?.innerText ?? "").includes("This folder is empty.")`)
	f := filepath.Join(t.TempDir(), "new-orders.csv")
	if err := os.WriteFile(f, []byte("id\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.do(chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{f}))
	e.until(`document.querySelectorAll(".uploads li.done").length === 1`)
	e.do(chromedp.Navigate(e.url + "/#/workflows/on_upload"))
	e.until(`[...document.querySelectorAll("#wf-dag g.node")].every(g => g.dataset.state === "SUCCEEDED") && document.querySelector("#wf-state .state")?.innerText === "SUCCEEDED"`)
	if !evalJS[bool](e, `window.tarnSamePage === true`) {
		t.Errorf("the page was reloaded")
	}
	if tr := e.text("#wf-runs tbody"); !strings.Contains(tr, "on_incoming") {
		t.Errorf("the run's trigger: %q", tr)
	}
	// Start one by hand; it is followed live (server-sent events).
	e.do(chromedp.Click(chromedp.ID("wf-start")))
	e.until(`document.querySelectorAll("#wf-runs tbody tr").length === 2 && document.querySelector("#wf-state .state")?.innerText === "SUCCEEDED" && [...document.querySelectorAll("#wf-dag g.node")].every(g => g.dataset.state === "SUCCEEDED")`)
	e.checkA11y("workflow run")
	e.shot("workflow")
}

func (e *e2e) jobsAndCrawlers(t *testing.T) {
	// A failed job's dead letters.
	e.do(chromedp.Navigate(e.url+"/#/jobs"), chromedp.WaitVisible(chromedp.CSS(`a[href="#/jobs/strict_returns"]`)),
		chromedp.Click(chromedp.CSS(`a[href="#/jobs/strict_returns"]`)), chromedp.WaitVisible(chromedp.ID("job-start")))
	e.until(`(document.querySelector(".content")?.innerText ?? "").includes("No runs yet.")`)
	e.do(chromedp.Click(chromedp.ID("job-start")))
	e.until(`document.querySelector("#job-run-state")?.innerText === "FAILED" && document.querySelector("#dead-letters") !== null`)
	if f := e.text("#job-figures"); !strings.Contains(f, "Rejected\n1") && !strings.Contains(f, "Rejected 1") && !strings.Contains(f, "Rejected\t1") {
		t.Errorf("figures: %q", f)
	}
	if dl := e.text("#dead-letters"); !strings.Contains(dl, "raw/returns/bad.csv") || !strings.Contains(dl, "3,many") || !strings.Contains(dl, "qty") {
		t.Errorf("dead letters: %q", dl)
	}
	if l := e.text("#job-log"); !strings.Contains(l, "rows read 4 = written 3 + rejected 1") {
		t.Errorf("log: %q", l)
	}
	e.checkA11y("job run")
	e.shot("job")
	// A crawl, followed to its end.
	e.do(chromedp.Navigate(e.url+"/#/crawlers"), chromedp.WaitVisible(chromedp.CSS(`a[href="#/crawlers/raw_crawler"]`)),
		chromedp.Click(chromedp.CSS(`a[href="#/crawlers/raw_crawler"]`)), chromedp.WaitVisible(chromedp.ID("crawler-start")))
	e.do(chromedp.Click(chromedp.ID("crawler-start")))
	e.until(`document.querySelector("#crawl-state")?.innerText === "SUCCEEDED" && document.querySelectorAll("#crawler-runs tbody tr").length >= 4`)
	if tb := e.text("#crawl-tables"); !strings.Contains(tb, "returns") {
		t.Errorf("crawl tables: %q", tb)
	}
	e.checkA11y("crawler")
	e.shot("crawler")
}

func (e *e2e) monitoring(t *testing.T) {
	e.do(chromedp.Navigate(e.url+"/#/monitoring"), chromedp.WaitVisible(chromedp.ID("alarms")))
	// The failed job's rejected row sets the alarm off (the evaluator runs
	// every 5 s; the page reads the alarms again as often).
	e.until(`document.querySelector("#alarms tbody")?.innerText.includes("ALARM")`)
	e.do(chromedp.Click(chromedp.CSS(`#alarms button`)), chromedp.WaitVisible(chromedp.ID("alarm-history")))
	e.until(`document.querySelector("#alarm-history")?.innerText.includes("ALARM")`)
	for _, id := range []string{"m-queries", "m-scanned", "m-jobs", "m-events"} {
		e.until(fmt.Sprintf(`document.querySelector("#%s") !== null`, id))
	}
	if l := evalJS[string](e, `document.querySelector("#m-scanned").getAttribute("aria-label")`); !strings.Contains(l, "primary") {
		t.Errorf("data scanned chart: %q", l)
	}
	if l := evalJS[string](e, `document.querySelector("#m-jobs").getAttribute("aria-label")`); !strings.Contains(l, "strict_returns") {
		t.Errorf("job run time chart: %q", l)
	}
	e.checkA11y("alarms and metrics")
	e.shot("monitoring")
}

func (e *e2e) warehouse(t *testing.T) {
	e.do(chromedp.Navigate(e.url+"/#/warehouse"), chromedp.WaitVisible(chromedp.ID("warehouse")))
	if w := e.text("#warehouse"); !strings.Contains(w, "reporting.revenue_by_region") || !strings.Contains(w, "materialized view") || !strings.Contains(w, "reporting.big_sales") {
		t.Errorf("warehouse: %q", w)
	}
	e.checkA11y("warehouse")
	e.do(chromedp.Click(chromedp.CSS(`#warehouse a[href="#/warehouse/reporting/revenue_by_region"]`)), chromedp.WaitVisible(chromedp.ID("warehouse-facts")))
	if f := e.text("#warehouse-facts"); !strings.Contains(f, "Last refresh") || !strings.Contains(f, "(5 rows)") {
		t.Errorf("materialized view: %q", f)
	}
	if c := e.text("#warehouse-columns"); !strings.Contains(c, "revenue") {
		t.Errorf("columns: %q", c)
	}
	e.checkA11y("warehouse relation")
	e.shot("warehouse")
}

func (e *e2e) signOut(t *testing.T) {
	e.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("akid")))
	if c := e.cookies(); len(c) != 0 {
		t.Errorf("cookies after sign-out: %v", c)
	}
	if st := evalJS[int](e, `fetch("/api/v1/databases").then(r => r.status)`); st != 403 {
		t.Errorf("the API after sign-out: %d", st)
	}
}

func (e *e2e) restricted(t *testing.T) {
	e.do(chromedp.SendKeys(chromedp.ID("akid"), e.analyst.AccessKeyID), chromedp.SendKeys(chromedp.ID("secret"), e.analyst.SecretAccessKey),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("signout")))
	// The tree shows what the key may list: the tables of etl_pipeline_db
	// (glue:GetTables, as in Glue, lists a database's tables), not those
	// of curated_db.
	e.do(chromedp.Navigate(e.url+"/#/catalog"), chromedp.WaitVisible(chromedp.CSS(`a[href="#/catalog/etl_pipeline_db/sales"]`)))
	if n := evalJS[int](e, `document.querySelectorAll('a[href^="#/catalog/curated_db/"]').length`); n != 0 {
		t.Errorf("the analyst's tree lists %d tables of curated_db", n)
	}
	e.do(chromedp.Navigate(e.url+"/#/catalog/etl_pipeline_db/orders"), chromedp.WaitVisible(chromedp.ID("table-error")))
	if msg := e.text("#table-error"); !strings.Contains(msg, "Access denied") || !strings.Contains(msg, "glue:GetTable") {
		t.Errorf("orders for the analyst: %q", msg)
	}
	e.shot("denied")
	// A query of it fails the same way; sales works.
	e.do(chromedp.Navigate(e.url+"/#/query"), chromedp.WaitVisible(chromedp.CSS(".cm-content")))
	e.runSQL("SELECT count(*) FROM etl_pipeline_db.orders", "FAILED")
	if msg := e.text("#q-error"); !strings.Contains(msg, "access denied") {
		t.Errorf("the analyst's query of orders: %q", msg)
	}
	e.runSQL("SELECT count(*) AS n FROM etl_pipeline_db.sales", "SUCCEEDED")
	// Its history holds its own queries only.
	e.until(`document.querySelectorAll(".hist").length === 2`)
	// It may read raw/sales/ but not write there: S3 refuses the upload.
	e.do(chromedp.Navigate(e.url + "/#/objects/lake/raw/sales/"))
	e.until(`(document.querySelector("#objects")?.innerText ?? "").includes(".csv")`)
	f := filepath.Join(t.TempDir(), "x.csv")
	if err := os.WriteFile(f, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.do(chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{f}))
	e.until(`document.querySelector(".uploads li.failed")?.innerText.includes("AccessDenied")`)
	e.shot("objects-denied")
}

// parquetSummary is a Parquet file's columns with their types and its row
// count, as DuckDB reads them.
func parquetSummary(t *testing.T, file string) string {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cols string
	var n int
	if err := db.QueryRow(`SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM read_parquet(?))`, file).Scan(&cols); err != nil {
		return err.Error()
	}
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)`, file).Scan(&n); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s; %d rows", cols, n)
}
