package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	osexec "os/exec"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

// benchS3Storage measures a lake whose objects live in an external S3
// store (versitygw's POSIX gateway, a server process on loopback, on the
// same disk) against the embedded local folder, on the same Parquet files
// (the query benchmark's data) and the same query:
//   - warm: the S3 lake with its read-through cache warm vs the local lake
//     (goal ≤ 1.10);
//   - cold: the S3 lake with its cache emptied before each query vs `aws s3
//     cp --recursive` of the same files into a local lake's folder, then
//     the same query there (goal ≤ 1.0).
func benchS3Storage(ctx context.Context, dir string, plain *sql.DB, rows, reps int) []figure {
	b := &s3Bench{work: filepath.Join(dir, "s3storage")}
	b.startVersity()
	defer b.stop()
	const ext = "ext"
	_, err := b.vgw.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ext)})
	b.must(err)
	endpoint := aws.ToString(b.vgw.c.Options().BaseEndpoint)

	// The data: 10 Parquet files, written once by plain DuckDB.
	src := filepath.Join(b.work, "src")
	b.must(os.MkdirAll(src, 0o755))
	const nfiles = 10
	per := rows / nfiles
	for i := range nfiles {
		exec(plain, fmt.Sprintf(`COPY (SELECT 'TXN' || lpad((r + %[1]d)::VARCHAR, 9, '0') AS transaction_id,
			'CUST' || lpad((hash(r) %% 5000)::VARCHAR, 5, '0') AS customer_id,
			(1 + hash(r * 3) %% 10)::BIGINT AS quantity,
			round(1 + (hash(r * 5) %% 50000) / 100.0, 2)::DOUBLE AS unit_price,
			['North', 'South', 'East', 'West', 'Central'][1 + (hash(r * 13) %% 5)::BIGINT] AS region
			FROM range(%[2]d) t(r)) TO '%[3]s/part-%02[4]d.parquet' (FORMAT parquet, COMPRESSION snappy)`, i*per, per, src, i))
	}
	open := func(name, storageURL string) *lake.Lake {
		cfg := lake.DefaultConfig(filepath.Join(b.work, name))
		if storageURL != "" {
			cfg.Storage = lake.StorageConfig{URL: storageURL, AccessKey: s3KeyID, SecretKey: s3Secret}
		}
		l, err := lake.Open(ctx, cfg)
		b.must(err)
		b.must(l.Store.CreateBucket(ctx, "lake"))
		for i := range nfiles {
			data, err := os.ReadFile(filepath.Join(src, fmt.Sprintf("part-%02d.parquet", i)))
			b.must(err)
			_, err = l.Store.Put(ctx, "lake", fmt.Sprintf("sales/part-%02d.parquet", i), bytes.NewReader(data), storage.PutOptions{})
			b.must(err)
		}
		for _, st := range []string{"CREATE DATABASE bench",
			`CREATE EXTERNAL TABLE bench.sales (transaction_id string, customer_id string, quantity bigint, unit_price double, region string)
				STORED AS PARQUET LOCATION 's3://lake/sales/'`,
			`CREATE EXTERNAL TABLE bench.dl (transaction_id string, customer_id string, quantity bigint, unit_price double, region string)
				STORED AS PARQUET LOCATION 's3://lake/dl/'`} {
			_, _, err := l.Query.Run(ctx, st, "")
			b.must(err)
		}
		return l
	}
	local := open("local", "")
	defer local.Close()
	remote := open("remote", fmt.Sprintf("s3://%s/tarn/?endpoint=%s&region=us-east-1&path_style=true", ext, url.QueryEscape(endpoint)))
	defer remote.Close()

	const q = `SELECT region, count(*), sum(quantity * unit_price) FROM bench.%s GROUP BY region`
	var figs []figure

	// Warm: both lakes have read the files once.
	tarnQuery(ctx, local, fmt.Sprintf(q, "sales"))
	tarnQuery(ctx, remote, fmt.Sprintf(q, "sales"))
	var ld, rd []time.Duration
	for range reps {
		rd = append(rd, timeIt(func() { tarnQuery(ctx, remote, fmt.Sprintf(q, "sales")) }))
		ld = append(ld, timeIt(func() { tarnQuery(ctx, local, fmt.Sprintf(q, "sales")) }))
	}
	r, l := median(rd), median(ld)
	st := remote.Cache.Stats()
	figs = append(figs, figure{
		name: fmt.Sprintf("query on S3 storage, warm cache, %dM rows Parquet (%d files)", rows/1_000_000, nfiles),
		tarn: r.Round(time.Millisecond).String(), base: l.Round(time.Millisecond).String() + " (embedded local folder)",
		ratio: fmt.Sprintf("%.3f", float64(r)/float64(l)), goal: "≤ 1.10",
		note: fmt.Sprintf("versitygw posix on loopback, same disk; each query lists the table's prefix and finds the listed versions (ETag, size) in the cache, no request per file; cache: %d hits, %d downloads", st.Hits, st.Downloads),
	})

	// Cold: the cache emptied before each query, against the aws CLI's
	// download of the same files followed by the same query.
	awsCLI, err := osexec.LookPath("aws")
	b.must(err)
	cacheObjects := filepath.Join(remote.Home, lake.CacheDir, "objects")
	dl := filepath.Join(local.Home, "objects", "lake", "dl")
	var cd, ad []time.Duration
	for range reps {
		b.must(os.RemoveAll(cacheObjects))
		cd = append(cd, timeIt(func() { tarnQuery(ctx, remote, fmt.Sprintf(q, "sales")) }))
		b.must(os.RemoveAll(dl))
		ad = append(ad, timeIt(func() {
			cmd := osexec.Command(awsCLI, "--endpoint-url", endpoint, "s3", "cp", "--recursive", "--only-show-errors",
				fmt.Sprintf("s3://%s/tarn/lake/sales/", ext), dl+"/")
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3KeyID, "AWS_SECRET_ACCESS_KEY="+s3Secret, "AWS_DEFAULT_REGION=us-east-1")
			cmd.Stderr = os.Stderr
			b.must(cmd.Run())
			tarnQuery(ctx, local, fmt.Sprintf(q, "dl"))
		}))
	}
	c, a := median(cd), median(ad)
	var size int64
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
	}
	figs = append(figs, figure{
		name: fmt.Sprintf("query on S3 storage, cold cache, %dM rows Parquet (%d files, %.0f MiB)", rows/1_000_000, nfiles, float64(size)/(1<<20)),
		tarn: c.Round(time.Millisecond).String(), base: a.Round(time.Millisecond).String() + " (aws s3 cp --recursive, then the query on the local folder)",
		ratio: fmt.Sprintf("%.3f", float64(c)/float64(a)), goal: "≤ 1.0",
		note: "tarn fetches the files the scan selected, 8 at once (ranged GETs for files of 16 MiB and more), into the cache, then queries; the aws CLI's time includes its process start",
	})
	return figs
}
