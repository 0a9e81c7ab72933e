package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/icebergrest"
	"github.com/tarn-lake/tarn/internal/lake"
)

// benchIceberg measures Iceberg tables: a query through tarn against plain
// DuckDB on the same Parquet files, planning over many snapshots and files,
// and the REST catalog's loadTable among many tables.
func benchIceberg(ctx context.Context, l *lake.Lake, plain *sql.DB, objects string, rows, nfiles, snaps, ntables, reps int) []figure {
	ic := l.Iceberg
	if err := ic.CreateNamespace(ctx, table.Identifier{"icebench"}, nil); err != nil && !errors.Is(err, icecat.ErrNamespaceAlreadyExists) {
		check(err)
	}
	var figs []figure
	if rows > 0 {
		figs = append(figs, benchIcebergQuery(ctx, l, ic, plain, objects, rows, reps)...)
	}
	if nfiles > 0 && snaps > 0 {
		figs = append(figs, benchIcebergPlanning(ctx, l, ic, plain, objects, nfiles, snaps, reps))
	}
	if rows > 0 {
		figs = append(figs, benchIcebergMerge(ctx, l, plain, rows, min(reps, 3)))
	}
	if ntables > 0 {
		figs = append(figs, benchIcebergLoad(ctx, l, ic, ntables))
	}
	return figs
}

// addFiles commits data files already under the table's location (the
// bench knows they are new: iceberg-go's duplicate check would read every
// manifest of the table at each commit).
func addFiles(ctx context.Context, tbl *table.Table, uris []string) *table.Table {
	tx := tbl.NewTransaction()
	check(tx.AddFiles(ctx, uris, nil, true))
	out, err := tx.Commit(ctx)
	check(err)
	return out
}

func benchIcebergQuery(ctx context.Context, l *lake.Lake, ic *iceberg.Catalog, plain *sql.DB, objects string, rows, reps int) []figure {
	sc := ice.NewSchema(0,
		ice.NestedField{ID: 1, Name: "transaction_id", Type: ice.PrimitiveTypes.String},
		ice.NestedField{ID: 2, Name: "customer_id", Type: ice.PrimitiveTypes.String},
		ice.NestedField{ID: 3, Name: "quantity", Type: ice.PrimitiveTypes.Int64},
		ice.NestedField{ID: 4, Name: "unit_price", Type: ice.PrimitiveTypes.Float64},
		ice.NestedField{ID: 5, Name: "transaction_date", Type: ice.PrimitiveTypes.Date},
		ice.NestedField{ID: 6, Name: "region", Type: ice.PrimitiveTypes.String},
	)
	tbl, err := ic.CreateTable(ctx, table.Identifier{"icebench", "sales"}, sc, icecat.WithLocation("s3://lake/warehouse/icebench/sales"))
	check(err)
	dir := filepath.Join(objects, "warehouse", "icebench", "sales", "data")
	check(os.MkdirAll(dir, 0o755))
	const nfiles = 10
	per := rows / nfiles
	var uris []string
	start := time.Now()
	for i := 0; i < nfiles; i++ {
		exec(plain, fmt.Sprintf(`COPY (SELECT 'TXN' || lpad((r + %[1]d)::VARCHAR, 9, '0') AS transaction_id,
			'CUST' || lpad((hash(r) %% 5000)::VARCHAR, 5, '0') AS customer_id,
			(1 + hash(r * 3) %% 10)::BIGINT AS quantity,
			round(1 + (hash(r * 5) %% 50000) / 100.0, 2)::DOUBLE AS unit_price,
			DATE '2025-01-01' + (hash(r * 11) %% 365)::INTEGER AS transaction_date,
			['North', 'South', 'East', 'West', 'Central'][1 + (hash(r * 13) %% 5)::BIGINT] AS region
			FROM range(%[2]d) t(r)) TO '%[3]s/part-%02[4]d.parquet' (FORMAT parquet, COMPRESSION snappy,
			FIELD_IDS {transaction_id: 1, customer_id: 2, quantity: 3, unit_price: 4, transaction_date: 5, region: 6})`, i*per, per, dir, i))
		uris = append(uris, fmt.Sprintf("s3://lake/warehouse/icebench/sales/data/part-%02d.parquet", i))
	}
	addFiles(ctx, tbl, uris)
	fmt.Fprintf(os.Stderr, "bench: wrote an Iceberg table of %d rows in %s\n", rows, time.Since(start).Round(time.Millisecond))
	queries := []struct{ name, tarn, plain string }{
		{"aggregate by region", `SELECT region, count(*), sum(quantity * unit_price) FROM icebench.sales GROUP BY region`,
			`SELECT region, count(*), sum(quantity * unit_price) FROM read_parquet('%s/*.parquet') GROUP BY region`},
		{"filter + distinct count", `SELECT count(DISTINCT customer_id) FROM icebench.sales WHERE transaction_date >= DATE '2025-06-01' AND quantity > 5`,
			`SELECT count(DISTINCT customer_id) FROM read_parquet('%s/*.parquet') WHERE transaction_date >= DATE '2025-06-01' AND quantity > 5`},
	}
	var figs []figure
	for _, q := range queries {
		tarnQuery(ctx, l, q.tarn)
		exec(plain, fmt.Sprintf(q.plain, dir))
		var td, pd []time.Duration
		var planning []time.Duration
		for i := 0; i < reps; i++ {
			td = append(td, timeIt(func() {
				ex := tarnQuery(ctx, l, q.tarn)
				planning = append(planning, ex.Stats.Planning)
			}))
			pd = append(pd, timeIt(func() { exec(plain, fmt.Sprintf(q.plain, dir)) }))
		}
		t, p := median(td), median(pd)
		figs = append(figs, figure{
			name: fmt.Sprintf("Iceberg query %s, %dM rows", q.name, rows/1_000_000),
			tarn: t.Round(time.Millisecond).String(), base: p.Round(time.Millisecond).String() + " (plain DuckDB, same files)",
			ratio: fmt.Sprintf("%.3f", float64(t)/float64(p)), goal: "≤ 1.10",
			note: fmt.Sprintf("one snapshot, %d data files; tarn planning %s (metadata, manifest list, manifest, bind)", nfiles, median(planning).Round(time.Microsecond)),
		})
	}
	return figs
}

func benchIcebergPlanning(ctx context.Context, l *lake.Lake, ic *iceberg.Catalog, plain *sql.DB, objects string, nfiles, snaps, reps int) figure {
	sc := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.Int64})
	tbl, err := ic.CreateTable(ctx, table.Identifier{"icebench", "many"}, sc, icecat.WithLocation("s3://lake/warehouse/icebench/many"))
	check(err)
	dir := filepath.Join(objects, "warehouse", "icebench", "many", "data")
	check(os.MkdirAll(dir, 0o755))
	start := time.Now()
	exec(plain, fmt.Sprintf(`COPY (SELECT i::BIGINT AS id, i %% %d AS p FROM range(%d) t(i)) TO '%s' (FORMAT parquet, PARTITION_BY (p), FIELD_IDS {id: 1})`, nfiles, 2*nfiles, dir))
	var uris []string
	check(filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(dir, p)
			uris = append(uris, "s3://lake/warehouse/icebench/many/data/"+filepath.ToSlash(rel))
		}
		return err
	}))
	sort.Strings(uris)
	per := max(len(uris)/snaps, 1)
	for i := 0; i < len(uris); i += per {
		tbl = addFiles(ctx, tbl, uris[i:min(i+per, len(uris))])
	}
	nsnaps := len(tbl.Metadata().Snapshots())
	fmt.Fprintf(os.Stderr, "bench: committed %d files in %d snapshots in %s\n", len(uris), nsnaps, time.Since(start).Round(time.Millisecond))
	q := "SELECT count(*) FROM icebench.many"
	cold := tarnQuery(ctx, l, q).Stats.Planning
	var planning, total []time.Duration
	for i := 0; i < reps; i++ {
		total = append(total, timeIt(func() {
			ex := tarnQuery(ctx, l, q)
			planning = append(planning, ex.Stats.Planning)
		}))
	}
	return figure{
		name:  fmt.Sprintf("Iceberg planning, %d snapshots, %d data files", nsnaps, len(uris)),
		tarn:  median(planning).Round(time.Microsecond).String() + " planning (" + cold.Round(time.Millisecond).String() + " first after the last commit)",
		base:  median(total).Round(time.Millisecond).String() + " whole query (count(*))",
		ratio: "-", goal: "planning < 20 ms",
		note: "tables are created with manifest merging on (Java's default), so the 1,000 appends left a few merged manifests; the first query after a commit reads the metadata file, the manifest list and the manifests, and checks which files lack field ids (AddFiles gave the table a name mapping) from their footers; later ones find the snapshot's bound scan cached (metadata files never change), so planning is the query's own parse and bind",
	}
}

func benchIcebergLoad(ctx context.Context, l *lake.Lake, ic *iceberg.Catalog, n int) figure {
	sc := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.Int64})
	start := time.Now()
	for i := 0; i < n; i++ {
		_, err := ic.CreateTable(ctx, table.Identifier{"icebench", fmt.Sprintf("t%05d", i)}, sc)
		check(err)
	}
	fmt.Fprintf(os.Stderr, "bench: created %d Iceberg tables in %s\n", n, time.Since(start).Round(time.Millisecond))
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	check(err)
	srv, err := icebergrest.New(icebergrest.DefaultConfig("http://127.0.0.1:9000"), icebergrest.Deps{Auth: l.Auth, Catalog: ic})
	check(err)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {admin.AccessKeyID}, "client_secret": {admin.SecretAccessKey}, "scope": {"catalog"}}
	resp, err := http.PostForm(hs.URL+"/v1/oauth/tokens", form)
	check(err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	check(json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	if tok.AccessToken == "" {
		check(fmt.Errorf("no token from the REST catalog (status %s)", resp.Status))
	}
	client := &http.Client{}
	load := func(i int) time.Duration {
		req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/namespaces/icebench/tables/t%05d", hs.URL, i), nil)
		check(err)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return timeIt(func() {
			resp, err := client.Do(req)
			check(err)
			_, err = io.Copy(io.Discard, resp.Body)
			check(err)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				check(fmt.Errorf("loadTable: %s", resp.Status))
			}
		})
	}
	for i := 0; i < 50; i++ {
		load(rand.IntN(n))
	}
	var ds []time.Duration
	for i := 0; i < 1000; i++ {
		ds = append(ds, load(rand.IntN(n)))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return figure{
		name:  fmt.Sprintf("Iceberg REST loadTable among %d tables", n),
		tarn:  fmt.Sprintf("p50 %s, p99 %s", ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)*99/100].Round(10*time.Microsecond)),
		base:  "-",
		ratio: "-", goal: "p50 < 5 ms",
		note: "1,000 GETs of random tables over HTTP on 127.0.0.1 with a bearer token from /v1/oauth/tokens; each reads the catalog row and the table's metadata file",
	}
}

// benchIcebergMerge MERGEs 1% of the rows of an Iceberg table (spread over
// every file, so copy-on-write rewrites the whole table) and compares it
// with plain DuckDB rewriting the same table's files with the change.
func benchIcebergMerge(ctx context.Context, l *lake.Lake, plain *sql.DB, rows, reps int) figure {
	_, _, err := l.Query.Run(ctx, `CREATE TABLE icebench.merged (id bigint, v double, s string)
		LOCATION 's3://lake/warehouse/icebench/merged' TBLPROPERTIES ('table_type'='ICEBERG')`, "")
	check(err)
	start := time.Now()
	_, _, err = l.Query.Run(ctx, fmt.Sprintf(`INSERT INTO icebench.merged SELECT i, i / 7.0, 'row ' || i FROM range(%d) t(i)`, rows), "")
	check(err)
	fmt.Fprintf(os.Stderr, "bench: inserted %d rows into an Iceberg table in %s\n", rows, time.Since(start).Round(time.Millisecond))
	merge := fmt.Sprintf(`MERGE INTO icebench.merged t USING (SELECT i AS id, -1.0 AS v FROM range(0, %d, 100) r(i)) s
		ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v`, rows)
	out := filepath.Join(os.TempDir(), fmt.Sprintf("tarn-bench-merge-%d.parquet", os.Getpid()))
	defer os.Remove(out)
	var td, pd []time.Duration
	for i := 0; i < reps; i++ {
		td = append(td, timeIt(func() { tarnQuery(ctx, l, merge) }))
		c, _, err := l.Query.Run(ctx, `SELECT "file_path" FROM icebench."merged$files"`, "")
		check(err)
		var files []string
		for _, r := range c.Rows {
			u := fmt.Sprint(r[0])
			files = append(files, "'"+filepath.Join(l.Home, "objects", strings.TrimPrefix(u, "s3://"))+"'")
		}
		pd = append(pd, timeIt(func() {
			exec(plain, fmt.Sprintf(`COPY (SELECT t.id, coalesce(s.v, t.v) AS v, t.s FROM read_parquet([%s]) t
				LEFT JOIN (SELECT i AS id, -1.0 AS v FROM range(0, %d, 100) r(i)) s ON t.id = s.id) TO '%s' (FORMAT parquet)`,
				strings.Join(files, ", "), rows, out))
		}))
	}
	c, _, err := l.Query.Run(ctx, `SELECT count(*), count(*) FILTER (WHERE v = -1.0) FROM icebench.merged`, "")
	check(err)
	if fmt.Sprint(c.Rows[0][0]) != fmt.Sprint(rows) || fmt.Sprint(c.Rows[0][1]) != fmt.Sprint(rows/100) {
		check(fmt.Errorf("after the MERGE: %v rows, %v changed; want %d and %d", c.Rows[0][0], c.Rows[0][1], rows, rows/100))
	}
	t, p := median(td), median(pd)
	return figure{
		name: fmt.Sprintf("Iceberg MERGE of 1%% of %dM rows", rows/1_000_000),
		tarn: t.Round(time.Millisecond).String(), base: p.Round(time.Millisecond).String() + " (plain DuckDB rewriting the table's files)",
		ratio: fmt.Sprintf("%.3f", float64(t)/float64(p)), goal: "report",
		note: "copy-on-write: every data file holds matched rows, so the MERGE rewrites them all and commits one overwrite snapshot; the baseline writes one Parquet file and commits nothing; rows checked after",
	}
}
