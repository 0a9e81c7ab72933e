package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/sample"
	"github.com/tarn-lake/tarn/internal/storage"
)

// The quickstart's names, as in the guides.
const (
	QuickstartBucket   = "lake"
	QuickstartDatabase = "etl_pipeline_db"
	QuickstartCrawler  = "raw_crawler"
)

// Zones are the lake's conventional prefixes, created as folder markers.
var Zones = []string{"raw/", "staging/", "curated/", "analytics/"}

// QuickstartQueries are the example queries the quickstart runs.
var QuickstartQueries = []string{
	`SELECT region, count(*) AS transactions, round(sum(quantity * unit_price), 2) AS revenue
FROM etl_pipeline_db.sales GROUP BY region ORDER BY revenue DESC`,
	`SELECT year, month, count(*) AS orders, count(DISTINCT order_id) AS unique_orders, round(sum(total_amount), 2) AS total
FROM etl_pipeline_db.orders WHERE year = 2025 AND month = 2 GROUP BY year, month`,
	`SELECT o.customer.zip_code AS zip, count(*) AS orders
FROM etl_pipeline_db.orders o WHERE day = 15 GROUP BY zip ORDER BY orders DESC, zip LIMIT 5`,
}

// QuickstartJobs are the guides' two ETL jobs: sales CSV to curated Parquet
// partitioned by region, and orders JSON filtered, de-duplicated on order_id
// and partitioned by year/month/day.
var QuickstartJobs = []jobs.Spec{
	{
		Name:        "sales_to_curated",
		Description: "Sales CSV to curated Parquet with total_amount, partitioned by region",
		SQL: `SELECT transaction_id, customer_id, product_id, quantity, unit_price,
       round(quantity * unit_price, 2) AS total_amount,
       transaction_date, region, current_date AS processed_date
FROM etl_pipeline_db.sales`,
		Target: "s3://" + QuickstartBucket + "/curated/sales/", PartitionBy: []string{"region"},
		Table: "curated_db.sales", Bookmarks: true,
	},
	{
		Name:        "orders_to_curated",
		Description: "Orders JSON to curated Parquet: valid orders only, one row per order_id, partitioned by day",
		SQL: `SELECT order_id, customer_id, order_date AS order_ts, CAST(order_date AS DATE) AS order_day, status,
       customer.name AS customer_name, customer.zip_code AS zip_code, len(items) AS item_count,
       total_amount, current_date AS processed_date,
       year(order_date) AS year, month(order_date) AS month, day(order_date) AS day
FROM etl_pipeline_db.orders
WHERE order_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY order_date) = 1`,
		Target: "s3://" + QuickstartBucket + "/curated/orders/", PartitionBy: []string{"year", "month", "day"},
		Mode: jobs.ModeOverwritePartitions, Table: "curated_db.orders", Bookmarks: true,
	},
}

// QuickstartCuratedQueries query the jobs' output.
var QuickstartCuratedQueries = []string{
	`SELECT region, count(*) AS transactions, round(sum(total_amount), 2) AS revenue FROM curated_db.sales GROUP BY region ORDER BY revenue DESC`,
	`SELECT month, count(*) AS orders, count(DISTINCT order_id) AS unique_orders, round(sum(total_amount), 2) AS total
FROM curated_db.orders WHERE year = 2025 GROUP BY month ORDER BY month`,
}

// Init creates a bucket and its zones (folder markers), as a new lake's
// first step; what exists already is kept. It reports whether the bucket
// is new.
func (l *Lake) Init(ctx context.Context, bucket string) (created bool, err error) {
	return InitBucket(ctx, l.Store, bucket)
}

// InitBucket is Init on any object store (the lake's files, or a running
// server's S3 endpoint).
func InitBucket(ctx context.Context, store storage.ObjectStore, bucket string) (created bool, err error) {
	switch err := store.CreateBucket(ctx, bucket); {
	case err == nil:
		created = true
	case !errors.Is(err, storage.ErrBucketExists):
		return false, fmt.Errorf("cannot create bucket %q: %w", bucket, err)
	}
	for _, z := range Zones {
		if _, err := store.Head(ctx, bucket, z); err == nil {
			continue
		}
		if _, err := store.Put(ctx, bucket, z, bytes.NewReader(nil), storage.PutOptions{ContentType: "application/x-directory"}); err != nil {
			return created, fmt.Errorf("cannot create zone s3://%s/%s: %w", bucket, z, err)
		}
	}
	return created, nil
}

// DefineQuickstartJobs creates the quickstart's jobs (once).
func (l *Lake) DefineQuickstartJobs(ctx context.Context) error {
	for _, spec := range QuickstartJobs {
		if err := l.Jobs.Create(ctx, spec); err != nil && !errors.Is(err, jobs.ErrJobExists) {
			return err
		}
	}
	return nil
}

// SeedQuickstart writes the guides' sample data into s3://lake/raw/ and
// defines the raw crawler. It is safe to run twice: objects are rewritten
// with the same bytes and an existing crawler is kept.
func (l *Lake) SeedQuickstart(ctx context.Context) (objects int, bytesWritten int64, err error) {
	if _, err := l.Init(ctx, QuickstartBucket); err != nil {
		return 0, 0, err
	}
	objects = len(Zones)
	put := func(key string, data []byte, ctype string) error {
		if _, err := l.Store.Put(ctx, QuickstartBucket, key, bytes.NewReader(data), storage.PutOptions{ContentType: ctype}); err != nil {
			return err
		}
		objects++
		bytesWritten += int64(len(data))
		return nil
	}
	var buf bytes.Buffer
	if _, err := sample.Sales(&buf, 1000, 42); err != nil {
		return objects, bytesWritten, err
	}
	if err := put("raw/sales/sales_data.csv", buf.Bytes(), "text/csv"); err != nil {
		return objects, bytesWritten, err
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := start; d.Before(start.AddDate(0, 3, 0)); d = d.AddDate(0, 0, 1) {
		buf.Reset()
		if err := sample.OrdersDay(&buf, d, 20, 7); err != nil {
			return objects, bytesWritten, err
		}
		key := fmt.Sprintf("raw/orders/year=%d/month=%02d/day=%02d/orders.json", d.Year(), int(d.Month()), d.Day())
		if err := put(key, buf.Bytes(), "application/json"); err != nil {
			return objects, bytesWritten, err
		}
	}
	spec := crawler.Spec{
		Name:        QuickstartCrawler,
		Database:    QuickstartDatabase,
		Description: "Crawls the raw zone of the quickstart lake",
		Targets:     []string{"s3://" + QuickstartBucket + "/raw/"},
		Exclusions:  []string{"**/_temporary/**"},
	}
	if err := l.Crawlers.Create(ctx, spec); err != nil && !errors.Is(err, crawler.ErrCrawlerExists) {
		return objects, bytesWritten, err
	}
	return objects, bytesWritten, nil
}
