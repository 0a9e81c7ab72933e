package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// parseArgs turns repeated --arg k=v into a map.
func parseArgs(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range list {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("cannot parse --arg %q: write it as name=value", a)
		}
		out[strings.TrimPrefix(k, "--")] = v
	}
	return out, nil
}

func jobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Define and run ETL jobs: SQL from catalog tables to partitioned Parquet (Glue jobs)", Example: "  tarn job create sales_to_curated --sql-file sales.sql --target s3://lake/curated/sales/ --partition-by region\n  tarn job start sales_to_curated\n  tarn job runs sales_to_curated"}
	var spec jobs.Spec
	var args []string
	var sqlFile string
	var fileSizeMB int64
	create := &cobra.Command{
		Use:   `create NAME (--sql "SQL" | --sql-file FILE) --target (s3://BUCKET/PREFIX/ | warehouse://SCHEMA.TABLE)`,
		Short: "Define a job; its SQL is checked against the catalog now",
		Example: `  tarn job create sales_to_curated --sql "SELECT *, quantity * unit_price AS total FROM etl_pipeline_db.sales" \
      --target s3://lake/curated/sales/ --partition-by region --table curated_db.sales --bookmarks
  tarn job create daily_orders --sql-file orders.sql --target s3://lake/curated/orders/ --arg day=2025-01-01 --mode overwrite-partitions --partition-by day`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			spec.Name = a[0]
			if sqlFile != "" {
				if spec.SQL != "" {
					return errors.New("give --sql or --sql-file, not both")
				}
				text, err := readSQLFile(sqlFile)
				if err != nil {
					return err
				}
				spec.SQL, spec.SQLFile = text, sqlFile
			}
			var err error
			if spec.Args, err = parseArgs(args); err != nil {
				return err
			}
			// Unset output flags stay empty, so the spec's defaults apply and a
			// warehouse target (which has no files) is not handed file options.
			if !cmd.Flags().Changed("format") {
				spec.Format = ""
			}
			if cmd.Flags().Changed("file-size-mb") {
				spec.FileSize = fileSizeMB << 20
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.jobs.Create(ctx, spec); err != nil {
					return err
				}
				if strings.HasPrefix(spec.Target, "warehouse://") {
					fmt.Fprintf(cmd.OutOrStdout(), "job %s created: loads warehouse table %s\n", spec.Name, strings.TrimPrefix(spec.Target, "warehouse://"))
				} else if t, ok := strings.CutPrefix(strings.ToLower(spec.Target), jobs.IcebergScheme); ok {
					fmt.Fprintf(cmd.OutOrStdout(), "job %s created: commits to Iceberg table %s (%s)\n", spec.Name, t, firstNonEmpty(spec.Mode, jobs.ModeAppend))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "job %s created: writes %s to %s\n", spec.Name, strings.ToLower(firstNonEmpty(spec.Format, "parquet")), spec.Target)
				}
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&spec.SQL, "sql", "", "transform SQL reading catalog tables as database.table; ${name} takes an --arg")
	f.StringVar(&sqlFile, "sql-file", "", "read the transform SQL from a file")
	f.StringVar(&spec.Target, "target", "", "s3:// prefix the output is written below, warehouse://schema.table to load a warehouse table, or iceberg://database.table to commit to an Iceberg table")
	f.StringSliceVar(&spec.PartitionBy, "partition-by", nil, "output columns to partition by, e.g. year,month,day")
	f.StringVar(&spec.Mode, "mode", "append", "append, overwrite, overwrite-partitions (replace exactly the partitions a run writes), or merge (iceberg:// targets: upsert on --merge-key)")
	f.StringSliceVar(&spec.MergeKey, "merge-key", nil, "for --mode merge: the output columns that identify a row, e.g. id")
	f.StringVar(&spec.Format, "format", "parquet", "output format of an s3:// target: parquet, csv or json")
	f.StringVar(&spec.Compression, "compression", "", "snappy (Parquet default), zstd, gzip or none")
	f.StringVar(&spec.Table, "table", "", "register the output as catalog table DATABASE.TABLE")
	f.BoolVar(&spec.Bookmarks, "bookmarks", false, "process only files not processed by an earlier run (job bookmarks)")
	f.StringArrayVar(&args, "arg", nil, "default argument name=value (repeatable)")
	f.DurationVar(&spec.Timeout, "timeout", jobs.DefaultTimeout, "stop a run after this long (state TIMEOUT)")
	f.IntVar(&spec.MaxRetries, "max-retries", 0, "retry a failed run this many times, with exponential backoff")
	f.StringVar(&spec.MaxRejected, "max-rejected", "", "fail a run with more rejected rows than N or P%")
	f.IntVar(&spec.MaxConcurrentRuns, "max-concurrent-runs", 1, "runs of this job allowed at once")
	f.Int64Var(&fileSizeMB, "file-size-mb", 0, "target size of unpartitioned output files, in MiB (default 128)")
	f.StringVar(&spec.Description, "description", "", "description")
	f.StringVar(&spec.RunAs, "role", "", "access key id whose rights the job's runs have (default: your key; a key within your rights, any for an admin; the admin without a server)")

	var up jobs.Spec
	var upArgs []string
	var upSQLFile string
	var upFileSizeMB int64
	update := &cobra.Command{
		Use:   "update NAME [--sql SQL | --sql-file FILE] [--target ...] [--mode ...] [--arg name=value]... [flags]",
		Short: "Change a job in place: the flags given change those fields, the others stay; its runs and bookmarks are kept",
		Example: `  tarn job update sales_to_curated --sql-file sql/sales_to_curated.sql
  tarn job update sales_to_curated --max-retries 2 --timeout 1h
  tarn job update orders_to_curated --arg day=2025-01-02 --description "orders, one day at a time"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			f := cmd.Flags()
			if f.Changed("sql") && f.Changed("sql-file") {
				return errors.New("give --sql or --sql-file, not both")
			}
			var sqlText string
			if f.Changed("sql-file") {
				text, err := readSQLFile(upSQLFile)
				if err != nil {
					return err
				}
				sqlText = text
			}
			overrides, err := parseArgs(upArgs)
			if err != nil {
				return err
			}
			var changed []string
			f.Visit(func(fl *pflag.Flag) {
				if fl.Name != "data" && fl.Name != "server" && fl.Name != "s3-endpoint" {
					changed = append(changed, fl.Name)
				}
			})
			if len(changed) == 0 {
				return errors.New("give the fields to change as flags (tarn job update --help lists them)")
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				spec, err := s.jobs.Get(ctx, a[0])
				if err != nil {
					return err
				}
				for _, name := range changed {
					switch name {
					case "sql":
						spec.SQL, spec.SQLFile = up.SQL, ""
					case "sql-file":
						spec.SQL, spec.SQLFile = sqlText, upSQLFile
					case "target":
						spec.Target = up.Target
					case "partition-by":
						spec.PartitionBy = up.PartitionBy
					case "mode":
						spec.Mode = up.Mode
					case "merge-key":
						spec.MergeKey = up.MergeKey
					case "format":
						spec.Format = up.Format
					case "compression":
						spec.Compression = up.Compression
					case "table":
						spec.Table = up.Table
					case "bookmarks":
						spec.Bookmarks = up.Bookmarks
					case "arg":
						// One argument at a time: the job's other defaults stay.
						if spec.Args == nil {
							spec.Args = map[string]string{}
						}
						for k, v := range overrides {
							spec.Args[k] = v
						}
					case "timeout":
						spec.Timeout = up.Timeout
					case "max-retries":
						spec.MaxRetries = up.MaxRetries
					case "max-rejected":
						spec.MaxRejected = up.MaxRejected
					case "max-concurrent-runs":
						spec.MaxConcurrentRuns = up.MaxConcurrentRuns
					case "file-size-mb":
						spec.FileSize = upFileSizeMB << 20
					case "description":
						spec.Description = up.Description
					case "role":
						spec.RunAs = up.RunAs
					}
				}
				if err := s.jobs.Update(ctx, spec); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %s updated (%s); its runs and bookmarks are kept\n", spec.Name, strings.Join(changed, ", "))
				return nil
			})
		},
	}
	uf := update.Flags()
	uf.StringVar(&up.SQL, "sql", "", "new transform SQL (checked against the catalog, as at create)")
	uf.StringVar(&upSQLFile, "sql-file", "", "read the new transform SQL from a file")
	uf.StringVar(&up.Target, "target", "", "new s3:// prefix or warehouse://schema.table")
	uf.StringSliceVar(&up.PartitionBy, "partition-by", nil, "output columns to partition by (replaces the list)")
	uf.StringVar(&up.Mode, "mode", "", "append, overwrite, overwrite-partitions, or merge")
	uf.StringSliceVar(&up.MergeKey, "merge-key", nil, "for --mode merge: the columns that identify a row (replaces the list)")
	uf.StringVar(&up.Format, "format", "", "parquet, csv or json")
	uf.StringVar(&up.Compression, "compression", "", "snappy, zstd, gzip or none")
	uf.StringVar(&up.Table, "table", "", "catalog table DATABASE.TABLE the output is registered as")
	uf.BoolVar(&up.Bookmarks, "bookmarks", false, "job bookmarks on (--bookmarks=false: off)")
	uf.StringArrayVar(&upArgs, "arg", nil, "set the default argument name=value; the job's other arguments stay (repeatable)")
	uf.DurationVar(&up.Timeout, "timeout", 0, "stop a run after this long (state TIMEOUT)")
	uf.IntVar(&up.MaxRetries, "max-retries", 0, "retry a failed run this many times")
	uf.StringVar(&up.MaxRejected, "max-rejected", "", "fail a run with more rejected rows than N or P% (\"\": no limit)")
	uf.IntVar(&up.MaxConcurrentRuns, "max-concurrent-runs", 0, "runs of this job allowed at once")
	uf.Int64Var(&upFileSizeMB, "file-size-mb", 0, "target size of unpartitioned output files, in MiB")
	uf.StringVar(&up.Description, "description", "", "description")
	uf.StringVar(&up.RunAs, "role", "", "access key id whose rights the job's runs have (as at create: a key within your rights, any for an admin)")

	var runArgs []string
	var asJSON bool
	start := &cobra.Command{
		Use:   "start NAME [--arg name=value]...",
		Short: "Run a job now: progress on a terminal, the run's figures at the end",
		Example: `  tarn job start sales_to_curated
  tarn job start daily_orders --arg day=2025-01-02 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			overrides, err := parseArgs(runArgs)
			if err != nil {
				return err
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				prog := newProgress()
				started := time.Now()
				run, err := s.jobs.Start(ctx, a[0], jobs.StartOptions{Args: overrides, Progress: func(line string) {
					prog.update("[%s] %s", time.Since(started).Round(time.Second), line)
				}})
				prog.done()
				if run.ID != "" {
					if asJSON {
						printJSON(cmd.OutOrStdout(), run)
					} else {
						printJobRun(cmd.OutOrStdout(), run)
					}
				}
				return err
			})
		},
	}
	start.Flags().StringArrayVar(&runArgs, "arg", nil, "argument name=value for this run (repeatable)")
	start.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")

	list := &cobra.Command{
		Use: "list", Short: "List jobs", Example: "  tarn job list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				specs, err := s.jobs.List(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, j := range specs {
					rows = append(rows, []string{j.Name, j.Target, j.Format, strings.Join(j.PartitionBy, ","), j.Mode, j.Table, fmt.Sprint(j.Bookmarks), j.RunAs})
				}
				printTable(cmd.OutOrStdout(), []string{"name", "target", "format", "partition_by", "mode", "table", "bookmarks", "run_as"}, rows)
				return nil
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a job's definition", Example: "  tarn job get sales_to_curated", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				j, err := s.jobs.Get(ctx, a[0])
				if err != nil {
					return err
				}
				printJSON(cmd.OutOrStdout(), j)
				return nil
			})
		},
	}
	runs := &cobra.Command{
		Use: "runs NAME", Short: "List a job's runs, newest first", Example: "  tarn job runs sales_to_curated", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				rs, err := s.jobs.Runs(ctx, a[0])
				if err != nil {
					return err
				}
				var rows [][]string
				for _, r := range rs {
					st := r.Stats
					rows = append(rows, []string{r.ID, fmt.Sprint(r.Attempt), r.State, r.StartedAt.Local().Format(time.DateTime), r.Duration().Round(time.Millisecond).String(),
						fmt.Sprint(st.RowsRead), fmt.Sprint(st.RowsWritten), fmt.Sprint(st.RowsRejected), fmt.Sprint(st.FilesWritten), r.Error})
				}
				printTable(cmd.OutOrStdout(), []string{"id", "attempt", "state", "started", "duration", "rows_read", "rows_written", "rows_rejected", "files", "error"}, rows)
				return nil
			})
		},
	}
	logs := &cobra.Command{
		Use: "log RUN", Short: "Print a run's log", Example: "  tarn job runs sales_to_curated\n  tarn job log jr-20250101T060000-0123456789ab", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				r, err := s.jobs.GetRun(ctx, a[0])
				if err != nil {
					return err
				}
				for _, line := range r.Log {
					fmt.Fprintln(cmd.OutOrStdout(), line)
				}
				return nil
			})
		},
	}
	stop := &cobra.Command{
		Use: "stop RUN", Short: "Stop a running run (state STOPPED; nothing is published)", Example: "  tarn job runs sales_to_curated\n  tarn job stop jr-20250101T060000-0123456789ab", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.jobs.Stop(ctx, a[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "stop requested for %s\n", a[0])
				return nil
			})
		},
	}
	reset := &cobra.Command{
		Use: "reset-bookmark NAME", Short: "Forget which files a job processed; its next run reads everything", Example: "  tarn job reset-bookmark sales_to_curated", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				n, err := s.jobs.ResetBookmark(ctx, a[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bookmark of %s reset (%d files forgotten)\n", a[0], n)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a job, its runs and bookmark (its output stays)", Example: "  tarn job delete sales_to_curated", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				return s.jobs.Delete(ctx, a[0])
			})
		},
	}
	cmd.AddCommand(create, update, start, list, get, runs, logs, stop, reset, del)
	return cmd
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func printJobRun(w io.Writer, r jobs.Run) {
	st := r.Stats
	fmt.Fprintf(w, "job run %s (%s, attempt %d): %s in %s\n", r.ID, r.Job, r.Attempt, r.State, r.Duration().Round(time.Millisecond))
	discarded := ""
	if st.RowsDiscarded > 0 {
		discarded = fmt.Sprintf(" + discarded %d (written, then removed unpublished)", st.RowsDiscarded)
	}
	fmt.Fprintf(w, "  rows: read %d = written %d + rejected %d + removed by the SQL %d%s\n", st.RowsRead, st.RowsWritten, st.RowsRejected, st.RowsFiltered, discarded)
	fmt.Fprintf(w, "  files: read %d (%s), published %d (%s)\n", st.FilesRead, humanBytes(st.BytesRead), st.FilesWritten, humanBytes(st.BytesWritten))
	if len(st.Partitions) > 0 {
		shown := st.Partitions
		if len(shown) > 8 {
			shown = append(append([]string{}, shown[:8]...), fmt.Sprintf("... (%d in all)", len(st.Partitions)))
		}
		fmt.Fprintf(w, "  partitions: %s\n", strings.Join(shown, ", "))
	}
	if st.SnapshotID != 0 {
		merged := ""
		if st.RowsUpdated > 0 {
			merged = fmt.Sprintf(" (merge: %d rows updated, %d inserted)", st.RowsUpdated, st.RowsWritten-st.RowsUpdated)
		}
		fmt.Fprintf(w, "  iceberg snapshot: %d%s\n", st.SnapshotID, merged)
	}
	if st.RejectedURI != "" {
		fmt.Fprintf(w, "  rejected rows: %s\n", st.RejectedURI)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}
