package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	osexec "os/exec"

	"github.com/jackc/pgx/v5"
)

// benchDbt times `dbt build` of the example project (examples/dbt: a seed,
// a view over the raw sales CSV, a table, two incremental models over the
// raw orders JSON, a snapshot and 15 tests) as a whole dbt process: with
// dbt-postgres against `tarn serve`'s PostgreSQL endpoint over the
// quickstart lake, and with dbt-duckdb (the same DuckDB version as tarn's)
// on a local DuckDB file, its sources reading the same raw files
// (external_location). Each side's first build starts from an empty target;
// its second build is incremental (the incremental models' new rows, the
// snapshot's check). dbt and both adapters come from .venv (.ci/run).
func benchDbt(work string, reps int) []figure {
	dbt, err := filepath.Abs(filepath.Join(".venv", "bin", "dbt"))
	check(err)
	if _, err := os.Stat(dbt); err != nil {
		fmt.Fprintln(os.Stderr, "bench: dbt: no .venv/bin/dbt (.ci/run installs dbt-postgres and dbt-duckdb): skipped")
		return nil
	}
	dir := filepath.Join(work, "dbt")
	check(os.MkdirAll(dir, 0o755))
	bin := filepath.Join(dir, "tarn")
	build := osexec.Command("go", "build", "-o", bin, "./cmd/tarn")
	build.Stderr = os.Stderr
	check(build.Run())
	data := filepath.Join(dir, "home")
	check(osexec.Command(bin, "--data", data, "quickstart").Run())

	// tarn serve with an admin key.
	const keyID, secret = "TKBENCHDBTADMIN00001", "benchdbtsecretbenchdbtsecretbenchdbt0000"
	ports := make([]int, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	serve := osexec.Command(bin, "--data", data, "serve", "--pg-listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--s3-listen", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--api-listen", fmt.Sprintf("127.0.0.1:%d", ports[2]))
	serve.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+keyID, "TARN_SECRET_ACCESS_KEY="+secret)
	out, err := serve.StdoutPipe()
	check(err)
	serve.Stderr = serve.Stdout
	check(serve.Start())
	defer func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "PostgreSQL endpoint") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()

	// The two projects: the example as it is, and its dbt-duckdb variant
	// (profile, sources reading the raw files, no external schema hook).
	tarnProj := filepath.Join(dir, "tarn-project")
	duckProj := filepath.Join(dir, "duckdb-project")
	for _, p := range []string{tarnProj, duckProj} {
		cp := osexec.Command("cp", "-r", "examples/dbt", p)
		cp.Stderr = os.Stderr
		check(cp.Run())
		check(os.RemoveAll(filepath.Join(p, "target")))
		check(os.RemoveAll(filepath.Join(p, "logs")))
	}
	raw := filepath.Join(data, "objects", "lake", "raw")
	check(os.WriteFile(filepath.Join(duckProj, "profiles.yml"), []byte(`tarn:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('DBT_DUCKDB_PATH') }}"
      schema: analytics
      threads: 1
`), 0o644))
	proj, err := os.ReadFile(filepath.Join(duckProj, "dbt_project.yml"))
	check(err)
	proj = regexp.MustCompile(`(?m)^on-run-start:\n(  - .*\n)+`).ReplaceAll(proj, nil)
	check(os.WriteFile(filepath.Join(duckProj, "dbt_project.yml"), proj, 0o644))
	src, err := os.ReadFile(filepath.Join(duckProj, "models", "sources.yml"))
	check(err)
	s := string(src)
	for table, loc := range map[string]string{
		"sales":  fmt.Sprintf(`read_csv('%s/sales/*.csv')`, raw),
		"orders": fmt.Sprintf(`read_json('%s/orders/*/*/*/*.json', hive_partitioning = true)`, raw),
	} {
		from := "      - name: " + table + "\n"
		if !strings.Contains(s, from) {
			check(fmt.Errorf("examples/dbt/models/sources.yml has no source table %s", table))
		}
		s = strings.Replace(s, from, from+"        meta:\n          external_location: \""+loc+"\"\n", 1)
	}
	check(os.WriteFile(filepath.Join(duckProj, "models", "sources.yml"), []byte(s), 0o644))
	duckFile := filepath.Join(dir, "bench.duckdb")

	env := append(os.Environ(), "DBT_SEND_ANONYMOUS_USAGE_STATS=false", "DBT_USE_COLORS=false",
		fmt.Sprintf("TARN_PG_PORT=%d", ports[0]), "TARN_ACCESS_KEY_ID="+keyID, "TARN_SECRET_ACCESS_KEY="+secret,
		"DBT_DUCKDB_PATH="+duckFile)
	build1 := func(proj string) time.Duration {
		cmd := osexec.Command(dbt, "build", "--profiles-dir", ".")
		cmd.Dir, cmd.Env = proj, env
		start := time.Now()
		outp, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			os.Stderr.Write(outp)
			check(fmt.Errorf("dbt build in %s: %w", proj, err))
		}
		return d
	}
	ctx := context.Background()
	resetTarn := func() {
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/warehouse?sslmode=disable", keyID, secret, ports[0]))
		check(err)
		defer c.Close(ctx)
		for _, q := range []string{`DROP SCHEMA IF EXISTS analytics CASCADE`, `DROP SCHEMA IF EXISTS snapshots CASCADE`} {
			_, err := c.Exec(ctx, q)
			check(err)
		}
	}
	resetDuck := func() {
		for _, f := range []string{duckFile, duckFile + ".wal"} {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				check(err)
			}
		}
	}
	// A warm-up build on each side (Python's imports, the page cache).
	build1(tarnProj)
	build1(duckProj)
	var tFirst, tSecond, dFirst, dSecond []time.Duration
	for range reps {
		resetTarn()
		tFirst = append(tFirst, build1(tarnProj))
		tSecond = append(tSecond, build1(tarnProj))
		resetDuck()
		dFirst = append(dFirst, build1(duckProj))
		dSecond = append(dSecond, build1(duckProj))
	}
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	tf, ts, df, ds := median(tFirst), median(tSecond), median(dFirst), median(dSecond)
	note := "examples/dbt (seed, view, table, 2 incremental models, snapshot, 15 tests) over the quickstart lake, dbt-core 1.11 with threads 1, whole `dbt build` processes; baseline: dbt-duckdb 1.11.1 (DuckDB 1.5.6) on a local file, sources reading the same raw files"
	return []figure{{
		name:  "dbt: `dbt build`, first run (dbt-postgres → tarn serve vs dbt-duckdb → local DuckDB)",
		tarn:  r(tf),
		base:  r(df),
		ratio: fmt.Sprintf("%.1f", float64(tf)/float64(df)),
		goal:  "report",
		note:  note,
	}, {
		name:  "dbt: `dbt build`, second (incremental) run",
		tarn:  r(ts),
		base:  r(ds),
		ratio: fmt.Sprintf("%.1f", float64(ts)/float64(ds)),
		goal:  "report",
		note:  "the incremental models read only days newer than they hold; the view and table are rebuilt, the snapshot checked",
	}}
}
