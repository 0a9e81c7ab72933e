package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	osexec "os/exec"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/storage"
)

// benchScaleOut measures the report figures of "past one machine" (issue
// 17) in one run, each against its baseline measured in the same run:
//   - a job turning a CSV into Parquet with the lake's objects on an
//     external S3 store (versitygw) vs on the embedded local folder;
//   - catalog metadata operations (create tables, add partitions, read
//     them back) with the metadata on PostgreSQL vs the embedded SQLite;
//   - the S3 endpoint's throughput when tarn serve keeps its objects on
//     versitygw vs a client talking to versitygw directly (goal ≥ 0.8).
func benchScaleOut(ctx context.Context, dir string, plain *sql.DB, rows, sizeMiB, reps int) []figure {
	b := &s3Bench{work: filepath.Join(dir, "scaleout")}
	b.startVersity()
	defer b.stop()
	const ext = "ext"
	_, err := b.vgw.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ext)})
	b.must(err)
	endpoint := aws.ToString(b.vgw.c.Options().BaseEndpoint)
	storageURL := func(prefix string) string {
		return fmt.Sprintf("s3://%s/%s/?endpoint=%s&region=us-east-1&path_style=true", ext, prefix, url.QueryEscape(endpoint))
	}
	var figs []figure

	// The job: one CSV of rows, read through a Hive table, written as
	// Parquet with a catalog table, on each lake.
	csvPath := filepath.Join(b.work, "sales.csv")
	exec(plain, fmt.Sprintf(`COPY (SELECT 'TXN' || lpad(r::VARCHAR, 9, '0') AS transaction_id,
		'CUST' || lpad((hash(r) %% 5000)::VARCHAR, 5, '0') AS customer_id,
		(1 + hash(r * 3) %% 10)::BIGINT AS quantity,
		round(1 + (hash(r * 5) %% 50000) / 100.0, 2)::DOUBLE AS unit_price,
		['North', 'South', 'East', 'West', 'Central'][1 + (hash(r * 13) %% 5)::BIGINT] AS region
		FROM range(%d) t(r)) TO '%s' (HEADER)`, rows, csvPath))
	csvData, err := os.ReadFile(csvPath)
	b.must(err)
	openLake := func(name string, mut func(*lake.Config)) *lake.Lake {
		cfg := lake.DefaultConfig(filepath.Join(b.work, name))
		if mut != nil {
			mut(&cfg)
		}
		l, err := lake.Open(ctx, cfg)
		b.must(err)
		return l
	}
	jobOn := func(l *lake.Lake) time.Duration {
		b.must(l.Store.CreateBucket(ctx, "lake"))
		_, err := l.Store.Put(ctx, "lake", "raw/sales/sales.csv", bytes.NewReader(csvData), storage.PutOptions{})
		b.must(err)
		for _, st := range []string{"CREATE DATABASE raw", `CREATE EXTERNAL TABLE raw.sales (transaction_id string, customer_id string, quantity bigint, unit_price double, region string)
			ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/' TBLPROPERTIES ('skip.header.line.count'='1')`} {
			_, _, err := l.Query.Run(ctx, st, "")
			b.must(err)
		}
		var ds []time.Duration
		for i := range reps {
			name := fmt.Sprintf("curate_%d", i)
			b.must(l.Jobs.Create(ctx, jobs.Spec{Name: name, SQL: "SELECT * FROM raw.sales",
				Target: fmt.Sprintf("s3://lake/curated/sales_%d/", i), Table: fmt.Sprintf("curated.sales_%d", i), PartitionBy: []string{"region"}}))
			ds = append(ds, timeIt(func() {
				r, err := l.Jobs.Start(ctx, name, jobs.StartOptions{})
				b.must(err)
				if r.Stats.RowsWritten != int64(rows) {
					b.must(fmt.Errorf("job %s wrote %d rows, want %d", name, r.Stats.RowsWritten, rows))
				}
			}))
		}
		return median(ds)
	}
	local := openLake("job-local", nil)
	ld := jobOn(local)
	local.Close()
	remote := openLake("job-s3", func(c *lake.Config) {
		c.Storage = lake.StorageConfig{URL: storageURL("job"), AccessKey: s3KeyID, SecretKey: s3Secret}
	})
	rd := jobOn(remote)
	remote.Close()
	figs = append(figs, figure{
		name: fmt.Sprintf("job CSV → Parquet (partitioned by region), %dM rows, objects on S3 storage", rows/1_000_000),
		tarn: rd.Round(time.Millisecond).String(), base: ld.Round(time.Millisecond).String() + " (the same job on the embedded local folder)",
		ratio: fmt.Sprintf("%.2f", float64(rd)/float64(ld)), goal: "report",
		note: fmt.Sprintf("versitygw posix on loopback, same disk; %.0f MiB CSV; the job reads the CSV through the read-through cache (downloaded on the first run), stages its Parquet files locally and uploads them before the commit", float64(len(csvData))/(1<<20)),
	})

	// Metadata operations: the same catalog work on SQLite and PostgreSQL.
	empty := filepath.Join(b.work, "empty.csv")
	b.must(os.WriteFile(empty, nil, 0o644))
	pg, why := startPostgres(ctx, empty)
	if pg == nil {
		fmt.Fprintf(os.Stderr, "bench: scale-out: no PostgreSQL, metadata figure skipped: %s\n", why)
	} else {
		defer pg.stop()
		cc := pg.conn.Config()
		dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", cc.Port)
		const tables, partsPer = 50, 100
		metaOps := func(l *lake.Lake) time.Duration {
			return timeIt(func() {
				b.must(l.Catalog.CreateDatabase(ctx, catalog.Database{Name: "m"}, true))
				for i := range tables {
					t := catalog.Table{Database: "m", Name: fmt.Sprintf("t%d", i), Location: fmt.Sprintf("s3://lake/m/t%d/", i), Format: "parquet",
						Columns: []catalog.Column{{Name: "id", Type: "bigint"}, {Name: "v", Type: "string"}}, PartitionKeys: []catalog.Column{{Name: "day", Type: "string"}}}
					b.must(l.Catalog.CreateTable(ctx, t))
					for p := range partsPer {
						_, err := l.Catalog.AddPartitions(ctx, "m", t.Name, []catalog.Partition{{Values: []string{fmt.Sprintf("2026-%03d", p)}, Location: fmt.Sprintf("%sday=2026-%03d/", t.Location, p)}}, false)
						b.must(err)
					}
					got, err := l.Catalog.ListPartitions(ctx, "m", t.Name)
					b.must(err)
					if len(got) != partsPer {
						b.must(fmt.Errorf("table %s has %d partitions, want %d", t.Name, len(got), partsPer))
					}
					_, err = l.Catalog.GetTable(ctx, "m", t.Name)
					b.must(err)
				}
			})
		}
		sqliteLake := openLake("meta-sqlite", nil)
		sd := metaOps(sqliteLake)
		sqliteLake.Close()
		pgLake := openLake("meta-pg", func(c *lake.Config) { c.Meta = meta.ConfigFor(dsn) })
		pd := metaOps(pgLake)
		pgLake.Close()
		ops := tables * (partsPer + 3)
		figs = append(figs, figure{
			name:  fmt.Sprintf("metadata operations on PostgreSQL (%d: create %d tables, add %d partitions one call each, list and get)", ops, tables, tables*partsPer),
			tarn:  fmt.Sprintf("%s (%.2f ms/op)", pd.Round(time.Millisecond), float64(pd.Microseconds())/1000/float64(ops)),
			base:  fmt.Sprintf("%s (%.2f ms/op, embedded SQLite)", sd.Round(time.Millisecond), float64(sd.Microseconds())/1000/float64(ops)),
			ratio: fmt.Sprintf("%.2f", float64(pd)/float64(sd)), goal: "report",
			note: fmt.Sprintf("PostgreSQL %s on loopback, one connection pool, each call its own transaction (a network round trip per statement); SQLite in WAL mode on the same disk", pg.version),
		})
	}

	// The S3 endpoint with a remote backend: tarn serve on versitygw vs a
	// client on versitygw directly, PUT (multipart) and GET of one object.
	if sizeMiB > 0 {
		size := int64(sizeMiB) << 20
		src := filepath.Join(b.work, "src.bin")
		b.must(writeRandomFile(src, size))
		f, err := os.Open(src)
		b.must(err)
		defer f.Close()
		tarnC := b.startTarnOn(storageURL("serve"))
		_, err = tarnC.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)})
		b.must(err)
		_, err = b.vgw.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)})
		b.must(err)
		get := func(c *s3.Client) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/multipart")})
			b.must(err)
			n, err := io.CopyBuffer(io.Discard, out.Body, make([]byte, s3CopyBuf))
			out.Body.Close()
			b.must(err)
			if n != size {
				b.must(fmt.Errorf("GET returned %d bytes, want %d", n, size))
			}
		}
		for _, op := range []string{"PUT multipart", "GET"} {
			var td, vd []time.Duration
			for i := range reps {
				for j, c := range []*s3.Client{tarnC, b.vgw.c} {
					if i%2 == 1 {
						c = []*s3.Client{b.vgw.c, tarnC}[j]
					}
					var d time.Duration
					if op == "GET" {
						d = timeIt(func() { get(c) })
					} else {
						d = timeIt(func() { b.must(putMultipart(ctx, c, "large/multipart", f, size)) })
					}
					if c == tarnC {
						td = append(td, d)
					} else {
						vd = append(vd, d)
					}
				}
			}
			t, v := median(td), median(vd)
			figs = append(figs, figure{
				name:  fmt.Sprintf("S3 endpoint on S3 storage: %s of %d MiB", op, sizeMiB),
				tarn:  fmt.Sprintf("%.0f MB/s", mbps(size, t)),
				base:  fmt.Sprintf("%.0f MB/s (the same client on versitygw directly)", mbps(size, v)),
				ratio: fmt.Sprintf("%.2f", float64(v)/float64(t)), goal: "≥ 0.8",
				note: "throughput ratio tarn/direct; tarn checks the key's policy and checksums, streams the body through to versitygw (parts as backend parts) and records the object; both on loopback, one disk",
			})
		}
	}
	return figs
}

// startTarnArgs builds tarn and starts `tarn serve` on the data folder
// home (in the work folder) with extra arguments, as b.tarn.
func (b *s3Bench) startTarnArgs(home string, extra ...string) {
	bin := filepath.Join(b.work, "tarn")
	build := osexec.Command("go", "build", "-o", bin, "./cmd/tarn")
	build.Stderr = os.Stderr
	check(build.Run())
	args := append([]string{"--data", filepath.Join(b.work, home), "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"}, extra...)
	cmd := osexec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+s3KeyID, "TARN_SECRET_ACCESS_KEY="+s3Secret)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	b.tarn = &s3Server{name: "tarn", srv: cmd, done: make(chan struct{})}
	endpoint := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "S3 endpoint on "); ok {
				endpoint <- u
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(b.tarn.done)
	}()
	select {
	case u := <-endpoint:
		b.tarn.c = s3Client(u)
	case <-b.tarn.done:
		b.must(fmt.Errorf("tarn serve exited before printing its S3 endpoint: %v", cmd.ProcessState))
	case <-time.After(60 * time.Second):
		b.must(fmt.Errorf("tarn serve printed no S3 endpoint in 60 s"))
	}
}

// startTarnOn starts `tarn serve` with its objects on the external S3
// store storageURL and returns a client of its S3 endpoint.
func (b *s3Bench) startTarnOn(storageURL string) *s3.Client {
	b.startTarnArgs("serve-home", "--storage", storageURL, "--storage-access-key", s3KeyID, "--storage-secret-key", s3Secret)
	return b.tarn.c
}
