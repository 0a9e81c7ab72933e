package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/sample"
)

func quickstartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "quickstart",
		Short: "Create a sample lake: raw sales and orders data, a crawler, the catalog and example queries",
		Example: `  tarn quickstart
  tarn --data /tmp/demo quickstart`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			start := time.Now()
			l, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer l.Close()
			fmt.Fprintf(out, "== lake home %s\n", l.Home)
			n, size, err := l.SeedQuickstart(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "== wrote %d objects (%s) to s3://%s/: zones %v, raw/sales/sales_data.csv, raw/orders/year=2025/month=../day=../orders.json\n",
				n, humanBytes(size), lake.QuickstartBucket, lake.Zones)
			fmt.Fprintf(out, "\n== crawler %s (s3://%s/raw/ -> database %s)\n", lake.QuickstartCrawler, lake.QuickstartBucket, lake.QuickstartDatabase)
			prog := newProgress()
			run, err := l.Crawlers.Start(ctx, lake.QuickstartCrawler, crawler.StartOptions{Progress: func(p crawler.Progress) {
				prog.update("crawling %d/%d files: %s", p.FilesDone, p.FilesTotal, p.Current)
			}})
			prog.done()
			if run.ID != "" {
				printRun(out, run)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\n== tables in %s\n", lake.QuickstartDatabase)
			tables, err := l.Catalog.ListTables(ctx, lake.QuickstartDatabase)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range tables {
				parts, err := l.Catalog.ListPartitions(ctx, t.Database, t.Name)
				if err != nil {
					return err
				}
				rows = append(rows, []string{t.FullName(), t.Format, fmt.Sprint(len(t.Columns)), fmt.Sprint(len(parts)), t.Location})
			}
			printTable(out, []string{"table", "format", "columns", "partitions", "location"}, rows)
			for _, q := range lake.QuickstartQueries {
				fmt.Fprintf(out, "\n== tarn query \"%s\"\n", q)
				if err := runQuery(cmd, l, query.Request{SQL: q, Database: lake.QuickstartDatabase}, "table"); err != nil {
					return err
				}
			}
			if err := l.DefineQuickstartJobs(ctx); err != nil {
				return err
			}
			for _, spec := range lake.QuickstartJobs {
				fmt.Fprintf(out, "\n== tarn job start %s (%s)\n", spec.Name, spec.Description)
				run, err := l.Jobs.Start(ctx, spec.Name, jobs.StartOptions{Progress: func(line string) { prog.update("%s", line) }})
				prog.done()
				if run.ID != "" {
					printJobRun(out, run)
				}
				if err != nil {
					return err
				}
			}
			for _, q := range lake.QuickstartCuratedQueries {
				fmt.Fprintf(out, "\n== tarn query \"%s\"\n", q)
				if err := runQuery(cmd, l, query.Request{SQL: q}, "table"); err != nil {
					return err
				}
			}
			exe, _ := os.Executable()
			name := "tarn"
			if filepath.Base(exe) != "tarn" {
				name = "go run ./cmd/tarn"
			}
			fmt.Fprintf(out, "\n== done in %s. Try:\n  %s query \"SELECT * FROM etl_pipeline_db.orders WHERE year = 2025 AND month = 3 AND day = 1 LIMIT 5\"\n  %s catalog tables %s\n  %s crawler runs %s\n  %s job runs orders_to_curated\n",
				time.Since(start).Round(time.Millisecond), name, name, lake.QuickstartDatabase, name, lake.QuickstartCrawler, name)
			return nil
		},
	}
}

func genCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "gen", Short: "Generate the guides' sample data deterministically", Example: "  tarn gen sales --rows 1000 --out sales.csv"}
	var rows int
	var seed uint64
	var out string
	sales := &cobra.Command{
		Use:   "sales --rows N [--out FILE]",
		Short: "Write sales CSV (transaction_id, customer_id, product_id, quantity, unit_price, transaction_date, region)",
		Example: `  tarn gen sales --rows 1000 --out sales.csv
  tarn gen sales --rows 1000000 --seed 7 --out big.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			start := time.Now()
			n, err := sample.Sales(w, rows, seed)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d rows, %s in %s\n", rows, humanBytes(n), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	sales.Flags().IntVar(&rows, "rows", 1000, "number of rows")
	sales.Flags().Uint64Var(&seed, "seed", 42, "random seed (same seed, same bytes)")
	sales.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	cmd.AddCommand(sales)
	return cmd
}
