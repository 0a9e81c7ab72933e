package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	osexec "os/exec"
)

// benchCLI times whole CLI processes, as a user feels them: `tarn query
// "SELECT 1"` on the quickstart lake against `tarn --help`, which opens
// nothing (the cost of starting the binary itself).
func benchCLI(work string, reps int) []figure {
	dir := filepath.Join(work, "cli")
	check(os.MkdirAll(dir, 0o755))
	bin := filepath.Join(dir, "tarn")
	build := osexec.Command("go", "build", "-o", bin, "./cmd/tarn")
	build.Stderr = os.Stderr
	check(build.Run())
	data := filepath.Join(dir, "home")
	check(osexec.Command(bin, "--data", data, "quickstart").Run())
	run := func(args ...string) time.Duration {
		var ds []time.Duration
		for range reps {
			cmd := osexec.Command(bin, append([]string{"--data", data}, args...)...)
			start := time.Now()
			check(cmd.Run())
			ds = append(ds, time.Since(start))
		}
		return median(ds)
	}
	run("--help") // warm the page cache
	help := run("--help")
	q := run("query", "SELECT 1")
	lakeQ := run("query", "SELECT count(*) FROM etl_pipeline_db.sales")
	base := fmt.Sprintf("%s (tarn --help)", help.Round(100*time.Microsecond))
	return []figure{{
		name:  `CLI: tarn query "SELECT 1" as a whole process (quickstart lake)`,
		tarn:  q.Round(100 * time.Microsecond).String(),
		base:  base,
		ratio: fmt.Sprintf("%.1f", float64(q)/float64(help)),
		goal:  "≤ 3×",
		note:  "opens the metadata and DuckDB (one reader session and the writers; no warehouse and no macros, which a SELECT of constants cannot reach), runs the query and records it in the history",
	}, {
		name:  "CLI: tarn query over a lake table as a whole process (count(*) of etl_pipeline_db.sales, 1,000 CSV rows)",
		tarn:  lakeQ.Round(100 * time.Microsecond).String(),
		base:  base,
		ratio: fmt.Sprintf("%.1f", float64(lakeQ)/float64(help)),
		goal:  "report",
		note:  "also attaches the warehouse (a name could be a warehouse table) and defines the macros, while the metadata opens; reads the catalog and the CSV file",
	}}
}
