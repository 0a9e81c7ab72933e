package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/sample"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// TestMain starts versitygw (an external S3 store) for the tests that run
// a lake on it.
func TestMain(m *testing.M) { gatewaytest.Main(m) }

// s3Config is a lake in a temp folder whose objects live in a new bucket
// of versitygw, under the prefix "tarn/", reached at endpoint.
func s3Config(t *testing.T, gw *gatewaytest.Gateway, endpoint string) (lake.Config, string) {
	cfg := testConfig(t)
	bucket := gw.NewExternalBucket(t)
	cfg.Storage = lake.StorageConfig{
		URL:       fmt.Sprintf("s3://%s/tarn/?endpoint=%s&region=us-east-1&path_style=true", bucket, url.QueryEscape(endpoint)),
		AccessKey: gatewaytest.Access, SecretKey: gatewaytest.Secret,
	}
	return cfg, bucket
}

// serve runs the lake's S3 endpoint and REST API until stop (or the end
// of the test) and returns a client of its S3 endpoint with the admin key.
func serve(t *testing.T, l *lake.Lake) (*s3.Client, func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	s3l, api := listen(t), listen(t)
	var out strings.Builder
	ready := make(chan lake.Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, lake.ServeConfig{S3: s3l, API: api, Out: &out, Log: io.Discard,
			Listening: func(ep lake.Endpoints) error { ready <- ep; return nil }})
	}()
	var ep lake.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("Serve ended before listening: %v", err)
	}
	var once sync.Once
	end := func() {
		once.Do(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(end)
	id, secret := adminKey(t, out.String())
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.S3), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}), end
}

func query(t *testing.T, l *lake.Lake, sql string) string {
	t.Helper()
	c, _, err := l.Query.Run(context.Background(), sql, "")
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return fmt.Sprint(c.Rows)
}

// pipeline is the quickstart's flow through a served lake: CSV and JSON
// uploaded through tarn's S3 endpoint (recorded as events), a crawl, the
// queries, the two jobs (CSV and JSON to partitioned Parquet), a CTAS,
// the warehouse's COPY and UNLOAD, an Iceberg table's insert and query.
// It returns every result, for comparing the stores.
func pipeline(t *testing.T, l *lake.Lake) []string {
	ctx := context.Background()
	c, stop := serve(t, l)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(lake.QuickstartBucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(lake.QuickstartBucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("put %s through tarn's S3 endpoint: %v", key, err)
		}
	}
	var buf bytes.Buffer
	if _, err := sample.Sales(&buf, 1000, 42); err != nil {
		t.Fatal(err)
	}
	put("raw/sales/sales_data.csv", bytes.Clone(buf.Bytes()))
	uploads := 1
	for m := 1; m <= 2; m++ {
		for d := 1; d <= 6; d++ {
			buf.Reset()
			if err := sample.OrdersDay(&buf, time.Date(2025, time.Month(m), d, 0, 0, 0, 0, time.UTC), 20, 7); err != nil {
				t.Fatal(err)
			}
			put(fmt.Sprintf("raw/orders/year=2025/month=%02d/day=%02d/orders.json", m, d), bytes.Clone(buf.Bytes()))
			uploads++
		}
	}
	evs, err := l.Events.List(ctx, events.ListOptions{Prefix: storage.URI{Bucket: lake.QuickstartBucket, Key: "raw/"}})
	if err != nil || len(evs) != uploads {
		t.Fatalf("%d events of %d uploads: %v", len(evs), uploads, err)
	}
	stop() // the rest goes through the services

	if err := l.Crawlers.Create(ctx, crawler.Spec{Name: lake.QuickstartCrawler, Database: lake.QuickstartDatabase,
		Targets: []string{"s3://" + lake.QuickstartBucket + "/raw/"}}); err != nil {
		t.Fatal(err)
	}
	if run, err := l.Crawlers.Start(ctx, lake.QuickstartCrawler, crawler.StartOptions{}); err != nil {
		t.Fatalf("crawl: %v (%+v)", err, run)
	}
	var out []string
	for _, q := range lake.QuickstartQueries[:2] {
		out = append(out, query(t, l, q))
	}
	if err := l.DefineQuickstartJobs(ctx); err != nil {
		t.Fatal(err)
	}
	for _, spec := range lake.QuickstartJobs {
		if run, err := l.Jobs.Start(ctx, spec.Name, jobs.StartOptions{}); err != nil {
			t.Fatalf("job %s: %v (%+v)", spec.Name, err, run)
		}
	}
	for _, q := range lake.QuickstartCuratedQueries {
		out = append(out, query(t, l, q))
	}
	query(t, l, `CREATE TABLE curated_db.by_region WITH (format = 'PARQUET', external_location = 's3://lake/ctas/by_region/')
		AS SELECT region, count(*) AS n FROM etl_pipeline_db.sales GROUP BY region`)
	out = append(out, query(t, l, "SELECT * FROM curated_db.by_region ORDER BY region"))

	query(t, l, "CREATE SCHEMA staging")
	query(t, l, `CREATE TABLE staging.sales_raw (transaction_id VARCHAR(50), customer_id VARCHAR(50), product_id VARCHAR(50),
		quantity INTEGER, unit_price DECIMAL(10,2), transaction_date DATE, region VARCHAR(MAX))`)
	query(t, l, "COPY staging.sales_raw FROM 's3://lake/raw/sales/' FORMAT AS CSV IGNOREHEADER 1 DELIMITER ','")
	out = append(out, query(t, l, "SELECT count(*), sum(quantity), sum(unit_price) FROM staging.sales_raw"))
	query(t, l, "UNLOAD (SELECT * FROM staging.sales_raw WHERE region = 'North') TO 's3://lake/unload/north/' WITH (format = 'PARQUET')")
	query(t, l, "CREATE TABLE staging.north (transaction_id VARCHAR(50), customer_id VARCHAR(50), product_id VARCHAR(50), quantity INTEGER, unit_price DECIMAL(10,2), transaction_date DATE, region VARCHAR(MAX))")
	query(t, l, "COPY staging.north FROM 's3://lake/unload/north/' FORMAT AS PARQUET")
	out = append(out, query(t, l, "SELECT count(*), sum(quantity) FROM staging.north"))

	query(t, l, "CREATE TABLE curated_db.ice (region string, n bigint) TBLPROPERTIES ('table_type'='ICEBERG')")
	query(t, l, "INSERT INTO curated_db.ice SELECT region, count(*) FROM curated_db.sales GROUP BY region")
	query(t, l, "INSERT INTO curated_db.ice VALUES ('Nowhere', 0)")
	out = append(out, query(t, l, "SELECT region, n FROM curated_db.ice ORDER BY region"))
	return out
}

// The quickstart's flow gives the same results on an external S3 store
// (versitygw) as on the embedded local folder, and on S3 every object is
// in the external bucket under the lake's prefix, nothing staged is left,
// and the second reading of a table is served from the cache.
func TestS3StorageSameAsLocal(t *testing.T) {
	gw := gatewaytest.Need(t)
	ctx := context.Background()

	local, err := lake.Open(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	want := pipeline(t, local)

	cfg, bucket := s3Config(t, gw, gw.Endpoint)
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Cache == nil {
		t.Fatal("a lake on S3 has no read-through cache")
	}
	got := pipeline(t, l)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("results on S3:\n%s\non the local folder:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The objects are in the external bucket, under their own keys.
	keys := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(gw.Admin(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("tarn/lake/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys[aws.ToString(o.Key)] = true
		}
	}
	var curated, staged int
	for k := range keys {
		if strings.HasPrefix(k, "tarn/lake/curated/sales/region=") && strings.HasSuffix(k, ".parquet") {
			curated++
		}
		if strings.Contains(k, "_staging/") {
			staged++
		}
	}
	if !keys["tarn/lake/raw/sales/sales_data.csv"] || curated == 0 || staged != 0 {
		t.Fatalf("external bucket: raw csv %v, %d curated Parquet files, %d staged files left (of %d keys)", keys["tarn/lake/raw/sales/sales_data.csv"], curated, staged, len(keys))
	}
	if _, err := os.Stat(filepath.Join(cfg.Home, "objects")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(cfg.Home, "objects")); len(ents) > 0 {
			t.Fatalf("a lake on S3 wrote objects to its home folder: %v", ents)
		}
	}
	// Warm: a table read again downloads nothing.
	before := l.Cache.Stats()
	query(t, l, lake.QuickstartCuratedQueries[0])
	after := l.Cache.Stats()
	if after.Downloads != before.Downloads || after.Hits <= before.Hits {
		t.Fatalf("a second read of curated_db.sales: cache %+v then %+v", before, after)
	}

	// The home remembers its store: reopened without a URL, it is on S3;
	// another store's URL is refused.
	l.Close()
	cfg2 := testConfig(t)
	cfg2.Home, cfg2.Meta = cfg.Home, cfg.Meta
	cfg2.Storage.AccessKey, cfg2.Storage.SecretKey = gatewaytest.Access, gatewaytest.Secret
	l2, err := lake.Open(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l2.Store.(*s3store.Store); !ok {
		t.Fatalf("reopened without --storage: %T", l2.Store)
	}
	if got := query(t, l2, lake.QuickstartCuratedQueries[0]); got != want[2] {
		t.Fatalf("reopened: %s, want %s", got, want[2])
	}
	l2.Close()
	cfg2.Storage.URL = fmt.Sprintf("s3://%s/other/?endpoint=%s&path_style=true", bucket, url.QueryEscape(gw.Endpoint))
	if _, err := lake.Open(ctx, cfg2); !errors.Is(err, lake.ErrStorageMismatch) {
		t.Fatalf("reopened on another prefix: %v, want ErrStorageMismatch", err)
	}
}

// proxy stands between tarn and versitygw to make the store fail: down
// drops every request; cutGets cuts the bodies of GETs of keys ending
// so, half-way; failPuts fails PUTs whose path contains it, after the
// first that succeeds.
type proxy struct {
	*httptest.Server
	down     atomic.Bool
	cutGets  atomic.Value // string
	failPuts atomic.Value // string
	puts     atomic.Int32
}

func newProxy(t *testing.T, target string) *proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	p.cutGets.Store("")
	p.failPuts.Store("")
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host the client signed
	drop := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			drop(w)
			return
		}
		if s := p.failPuts.Load().(string); s != "" && r.Method == http.MethodPut && strings.Contains(r.URL.Path, s) && p.puts.Add(1) > 1 {
			drop(w)
			return
		}
		if s := p.cutGets.Load().(string); s != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, s) {
			out := r.Clone(r.Context())
			out.URL.Scheme, out.URL.Host, out.RequestURI = u.Scheme, u.Host, ""
			resp, err := http.DefaultTransport.RoundTrip(out)
			if err != nil {
				drop(w)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			io.CopyN(w, resp.Body, max(1, resp.ContentLength/2))
			panic(http.ErrAbortHandler) // the connection ends mid-body
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// The external store failing: wrong credentials fail the open naming the
// endpoint (and not the secret); a store that dies mid-query fails the
// query with the file it was reading and no rows, and leaves nothing bad
// in the cache; a job whose upload fails mid-way publishes nothing and
// leaves no file.
func TestS3StorageHostile(t *testing.T) {
	gw := gatewaytest.Need(t)
	ctx := context.Background()

	bad, _ := s3Config(t, gw, gw.Endpoint)
	bad.Storage.SecretKey = "not-the-secret-0123456789"
	_, err := lake.Open(ctx, bad)
	t.Logf("wrong credentials: %v", err)
	if !errors.Is(err, s3store.ErrAccessDenied) || !strings.Contains(err.Error(), gw.Endpoint) || strings.Contains(err.Error(), bad.Storage.SecretKey) {
		t.Fatalf("wrong credentials: %v, want ErrAccessDenied naming %s", err, gw.Endpoint)
	}
	if _, err := os.Stat(filepath.Join(bad.Home, lake.StorageFile)); err == nil {
		t.Fatal("a store that could not open was recorded as the lake's")
	}

	px := newProxy(t, gw.Endpoint)
	cfg, bucket := s3Config(t, gw, px.URL)
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	putSales := func(name string) {
		var buf bytes.Buffer
		if _, err := sample.Sales(&buf, 5000, uint64(len(name)+int(name[0]))); err != nil { // different bytes: the cache shares equal ones
			t.Fatal(err)
		}
		if _, err := l.Store.Put(ctx, "lake", "raw/sales/"+name+".csv", &buf, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	putSales("a")
	query(t, l, "CREATE DATABASE db")
	query(t, l, `CREATE EXTERNAL TABLE db.sales (transaction_id string, customer_id string, product_id string, quantity int,
		unit_price double, transaction_date date, region string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/' TBLPROPERTIES ('skip.header.line.count'='1')`)

	if got := query(t, l, "SELECT count(*) FROM db.sales"); got != "[[5000]]" {
		t.Fatalf("one file: %s", got)
	}
	putSales("b") // not in the cache yet
	px.cutGets.Store("/raw/sales/b.csv")
	c, _, err := l.Query.Run(ctx, "SELECT count(*) FROM db.sales", "")
	if err == nil || !strings.Contains(err.Error(), "s3://lake/raw/sales/b.csv") || (c != nil && len(c.Rows) > 0) {
		t.Fatalf("the store cut a body mid-query: %v, rows %v; want an error naming the file and no rows", err, c)
	}
	t.Logf("store cut mid-query: %v", err)
	px.cutGets.Store("")
	px.down.Store(true)
	c, _, err = l.Query.Run(ctx, "SELECT count(*) FROM db.sales", "")
	if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(px.URL, "http://")) || (c != nil && len(c.Rows) > 0) {
		t.Fatalf("the store down: %v, rows %v; want an error naming the endpoint and no rows", err, c)
	}
	t.Logf("store down: %v", err)
	px.down.Store(false)
	if got := query(t, l, "SELECT count(*) FROM db.sales"); got != "[[10000]]" {
		t.Fatalf("the store back: %s, want [[10000]]", got)
	}

	// A job whose second upload fails: the run fails, no table, no file.
	if err := l.Jobs.Create(ctx, jobs.Spec{Name: "j", SQL: "SELECT * FROM db.sales", Target: "s3://lake/curated/j/",
		PartitionBy: []string{"region"}, Table: "curated_db.j"}); err != nil {
		t.Fatal(err)
	}
	px.failPuts.Store("/curated/j/")
	if _, err := l.Jobs.Start(ctx, "j", jobs.StartOptions{}); err == nil {
		t.Fatal("a job whose upload failed succeeded")
	}
	if px.puts.Load() < 2 {
		t.Fatalf("the job made %d puts; the test wants a failure after one succeeded", px.puts.Load())
	}
	px.failPuts.Store("")
	if _, err := l.Catalog.GetTable(ctx, "curated_db", "j"); err == nil {
		t.Fatal("a failed job published its table")
	}
	out, err := gw.Admin().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("tarn/lake/curated/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		var ks []string
		for _, o := range out.Contents {
			ks = append(ks, aws.ToString(o.Key))
		}
		t.Fatalf("a failed job left files: %v", ks)
	}
	if run, err := l.Jobs.Start(ctx, "j", jobs.StartOptions{}); err != nil {
		t.Fatalf("the job again, the store well: %v (%+v)", err, run)
	}
	if got := query(t, l, "SELECT count(*) FROM curated_db.j"); got != "[[10000]]" {
		t.Fatalf("the job's table: %s", got)
	}

	// An Iceberg INSERT whose uploads fail after the first (its data file;
	// then manifests, metadata): no snapshot is committed.
	query(t, l, "CREATE TABLE db.ice (region string, n bigint) LOCATION 's3://lake/ice/t/' TBLPROPERTIES ('table_type'='ICEBERG')")
	query(t, l, "INSERT INTO db.ice VALUES ('a', 1)")
	px.puts.Store(0)
	px.failPuts.Store("/ice/t/")
	if _, _, err := l.Query.Run(ctx, "INSERT INTO db.ice SELECT region, count(*) FROM db.sales GROUP BY region", ""); err == nil || px.puts.Load() < 2 {
		t.Fatalf("an Iceberg INSERT whose second upload failed: %v after %d puts", err, px.puts.Load())
	} else {
		t.Logf("Iceberg INSERT, an upload failing: %v", err)
	}
	px.failPuts.Store("")
	if got := query(t, l, "SELECT count(*), sum(n) FROM db.ice"); got != "[[1 1]]" {
		t.Fatalf("after a failed Iceberg INSERT: %s, want the one row before it", got)
	}
	query(t, l, "INSERT INTO db.ice SELECT region, count(*) FROM db.sales GROUP BY region")
	if got := query(t, l, "SELECT sum(n) FROM db.ice"); got != "[[10001]]" {
		t.Fatalf("the Iceberg INSERT again: %s", got)
	}
}

// An external store sends no notifications: an object another client
// writes straight into the external bucket is found by an event
// trigger's poll of its prefix, and recorded once.
func TestS3StoragePollFindsObjectsWrittenBehind(t *testing.T) {
	gw := gatewaytest.Need(t)
	ctx := context.Background()
	cfg, bucket := s3Config(t, gw, gw.Endpoint)
	// The scheduler's clock runs a minute behind until the poll is due.
	var behind atomic.Int64
	behind.Store(int64(time.Minute))
	cfg.Workflow.Now = func() time.Time { return time.Now().Add(-time.Duration(behind.Load())) }
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	if err := l.Crawlers.Create(ctx, crawler.Spec{Name: "in", Database: "db", Targets: []string{"s3://lake/incoming/"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "on_incoming", Type: workflow.TriggerEvent, Crawler: "in",
		Prefix: "s3://lake/incoming/", Poll: workflow.Duration(time.Second), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// Written behind tarn's back, after the trigger's creation.
	if _, err := gw.Admin().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("tarn/lake/incoming/a.csv"),
		Body: strings.NewReader("id,v\n1,x\n")}); err != nil {
		t.Fatal(err)
	}
	in := events.ListOptions{Prefix: storage.URI{Bucket: "lake", Key: "incoming/"}}
	if evs, err := l.Events.List(ctx, in); err != nil || len(evs) != 0 {
		t.Fatalf("before the poll: %v %v", evs, err)
	}
	l.Workflows.Tick(ctx) // the poll is not due yet
	if evs, err := l.Events.List(ctx, in); err != nil || len(evs) != 0 {
		t.Fatalf("before the poll was due: %v %v", evs, err)
	}
	behind.Store(0)
	l.Workflows.Tick(ctx)
	evs, err := l.Events.List(ctx, in)
	if err != nil || len(evs) != 1 || evs[0].Key != "incoming/a.csv" || evs[0].Via != events.ViaPoll {
		t.Fatalf("after the poll: %+v %v, want one event of incoming/a.csv via poll", evs, err)
	}
}
