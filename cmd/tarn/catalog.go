package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/query"
)

func crawlerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "crawler", Short: "Define and run crawlers that infer tables from files (Glue crawlers)", Example: "  tarn crawler create raw_crawler --database etl_pipeline_db --path s3://lake/raw/\n  tarn crawler start raw_crawler\n  tarn crawler runs raw_crawler"}
	var spec crawler.Spec
	create := &cobra.Command{
		Use:   "create NAME --database DB --path s3://BUCKET/PREFIX/ [--path ...]",
		Short: "Define a crawler",
		Example: `  tarn crawler create raw_crawler --database etl_pipeline_db --path s3://lake/raw/
  tarn crawler create sales_crawler --database sales_db --path s3://lake/raw/sales/ --exclude '**/_temporary/**' --schema-change log`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Name = args[0]
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.crawlers.Create(ctx, spec); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "crawler %s created: database %s, targets %s\n", spec.Name, spec.Database, strings.Join(spec.Targets, ", "))
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&spec.Database, "database", "", "catalog database the crawler writes tables to (created if missing)")
	f.StringArrayVar(&spec.Targets, "path", nil, "s3:// prefix to crawl (repeatable)")
	f.StringArrayVar(&spec.Exclusions, "exclude", nil, "glob of keys to skip, relative to the path, e.g. '**/_temporary/**' (repeatable)")
	f.StringVar(&spec.SchemaChangePolicy, "schema-change", "update", "update: change tables as files change; log: keep tables, record the drift")
	f.StringVar(&spec.DeleteBehavior, "delete-behavior", "log", "when a table's files are gone: log, deprecate or delete")
	f.StringVar(&spec.RecrawlPolicy, "recrawl", "all", "all: read every file; new-folders: read only folders not seen before")
	f.StringVar(&spec.Description, "description", "", "description")

	var up crawler.Spec
	update := &cobra.Command{
		Use:   "update NAME [--database DB] [--path s3://BUCKET/PREFIX/]... [--exclude GLOB]... [flags]",
		Short: "Change a crawler in place: the flags given change those fields, the others stay; its runs and tables are kept",
		Example: `  tarn crawler update raw_crawler --description "raw zone: sales and orders"
  tarn crawler update raw_crawler --path s3://lake/raw/sales/ --path s3://lake/raw/orders/
  tarn crawler update raw_crawler --schema-change log --exclude '**/_temporary/**'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var changed []string
			cmd.Flags().Visit(func(fl *pflag.Flag) {
				if fl.Name != "data" && fl.Name != "server" && fl.Name != "s3-endpoint" {
					changed = append(changed, fl.Name)
				}
			})
			if len(changed) == 0 {
				return errors.New("give the fields to change as flags (tarn crawler update --help lists them)")
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				spec, err := s.crawlers.Get(ctx, args[0])
				if err != nil {
					return err
				}
				for _, name := range changed {
					switch name {
					case "database":
						spec.Database = up.Database
					case "path":
						spec.Targets = up.Targets
					case "exclude":
						spec.Exclusions = up.Exclusions
					case "schema-change":
						spec.SchemaChangePolicy = up.SchemaChangePolicy
					case "delete-behavior":
						spec.DeleteBehavior = up.DeleteBehavior
					case "recrawl":
						spec.RecrawlPolicy = up.RecrawlPolicy
					case "description":
						spec.Description = up.Description
					}
				}
				if err := s.crawlers.Update(ctx, spec); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "crawler %s updated (%s); its runs and tables are kept\n", spec.Name, strings.Join(changed, ", "))
				return nil
			})
		},
	}
	uf := update.Flags()
	uf.StringVar(&up.Database, "database", "", "catalog database the crawler writes tables to")
	uf.StringArrayVar(&up.Targets, "path", nil, "s3:// prefix to crawl (repeatable; replaces the crawler's paths)")
	uf.StringArrayVar(&up.Exclusions, "exclude", nil, "glob of keys to skip (repeatable; replaces the crawler's exclusions)")
	uf.StringVar(&up.SchemaChangePolicy, "schema-change", "", "update or log")
	uf.StringVar(&up.DeleteBehavior, "delete-behavior", "", "log, deprecate or delete")
	uf.StringVar(&up.RecrawlPolicy, "recrawl", "", "all or new-folders")
	uf.StringVar(&up.Description, "description", "", "description")

	var dryRun, acceptDrift, asJSON bool
	start := &cobra.Command{
		Use:   "start NAME",
		Short: "Run a crawler now and print what it did",
		Example: `  tarn crawler start raw_crawler
  tarn crawler start raw_crawler --dry-run
  tarn crawler start raw_crawler --accept-drift --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				prog := newProgress()
				run, err := s.crawlers.Start(ctx, args[0], crawler.StartOptions{DryRun: dryRun, AcceptDrift: acceptDrift, Progress: func(p crawler.Progress) {
					prog.update("crawling %d/%d files, %s: %s", p.FilesDone, p.FilesTotal, humanBytes(p.BytesDone), p.Current)
				}})
				prog.done()
				if run.ID != "" {
					if asJSON {
						printJSON(cmd.OutOrStdout(), run)
					} else {
						printRun(cmd.OutOrStdout(), run)
					}
				}
				return err
			})
		},
	}
	start.Flags().BoolVar(&dryRun, "dry-run", false, "show what the crawl would create or change without changing the catalog")
	start.Flags().BoolVar(&acceptDrift, "accept-drift", false, "apply, in this run, the schema changes a crawler with --schema-change log only recorded")
	start.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")

	list := &cobra.Command{
		Use: "list", Short: "List crawlers", Example: "  tarn crawler list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				specs, err := s.crawlers.List(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, c := range specs {
					rows = append(rows, []string{c.Name, c.Database, strings.Join(c.Targets, " "), c.SchemaChangePolicy, c.RecrawlPolicy})
				}
				printTable(cmd.OutOrStdout(), []string{"name", "database", "targets", "schema_change", "recrawl"}, rows)
				return nil
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a crawler", Example: "  tarn crawler get raw_crawler", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				c, err := s.crawlers.Get(ctx, args[0])
				if err != nil {
					return err
				}
				runs, err := s.crawlers.Runs(ctx, args[0])
				if err != nil {
					return err
				}
				printJSON(cmd.OutOrStdout(), crawlerView(c, runs))
				return nil
			})
		},
	}
	runs := &cobra.Command{
		Use: "runs NAME", Short: "List a crawler's runs, newest first", Example: "  tarn crawler runs raw_crawler", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				rs, err := s.crawlers.Runs(ctx, args[0])
				if err != nil {
					return err
				}
				var rows [][]string
				for _, r := range rs {
					dur := ""
					if !r.EndedAt.IsZero() {
						dur = r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
					}
					rows = append(rows, []string{r.ID, r.State, fmt.Sprint(r.DryRun), r.StartedAt.Local().Format(time.DateTime), dur,
						fmt.Sprint(r.FilesScanned), fmt.Sprint(len(r.TablesCreated)), fmt.Sprint(len(r.TablesUpdated)),
						fmt.Sprint(r.PartitionsAdded), fmt.Sprint(len(r.FileErrors)), r.Error})
				}
				printTable(cmd.OutOrStdout(), []string{"id", "state", "dry_run", "started", "duration", "files", "tables_created", "tables_updated", "partitions_added", "file_errors", "error"}, rows)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a crawler (its tables stay)", Example: "  tarn crawler delete raw_crawler", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				return s.crawlers.Delete(ctx, args[0])
			})
		},
	}
	stop := &cobra.Command{Use: "stop NAME", Short: "Stop a crawl running in the server (Glue's StopCrawler); a local crawl stops with Ctrl-C",
		Example: `  tarn crawler stop raw_crawler`,
		Args:    cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.crawlers.Stop(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "crawler %s stopping; its run ends CANCELLED\n", args[0])
				return nil
			})
		}}
	cmd.AddCommand(create, update, start, stop, list, get, runs, del)
	return cmd
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func printRun(w io.Writer, r crawler.Run) {
	dry := ""
	if r.DryRun {
		dry = " (dry run: the catalog was not changed)"
	}
	fmt.Fprintf(w, "crawler run %s: %s%s\n", r.ID, r.State, dry)
	fmt.Fprintf(w, "  %d files, %s read in %s\n", r.FilesScanned, humanBytes(r.BytesScanned), r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond))
	for _, t := range r.Tables {
		fmt.Fprintf(w, "  table %s: %s (%s, %d columns", t.Table, t.Action, t.Format, len(t.Columns))
		if len(t.PartitionKeys) > 0 {
			var keys []string
			for _, k := range t.PartitionKeys {
				keys = append(keys, k.Name+" "+k.Type)
			}
			fmt.Fprintf(w, ", partitioned by %s", strings.Join(keys, ", "))
		}
		fmt.Fprintf(w, ", +%d/-%d partitions)\n", t.PartitionsAdded, t.PartitionsRemoved)
		if t.Action == crawler.ActionCreate || (r.DryRun && len(t.Changes) == 0 && t.Action != crawler.ActionUnchanged) {
			for _, c := range t.Columns {
				fmt.Fprintf(w, "      %s %s\n", c.Name, c.Type)
			}
		}
		for _, c := range t.Changes {
			fmt.Fprintf(w, "      %s\n", describeChange(c))
		}
	}
	for _, fe := range r.FileErrors {
		fmt.Fprintf(w, "  skipped %s: %s\n", fe.URI, fe.Error)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}

func describeChange(c catalog.SchemaChange) string {
	switch c.Kind {
	case catalog.ChangeColumnAdded:
		return fmt.Sprintf("column added: %s %s", c.Column, c.To)
	case catalog.ChangeColumnRemoved:
		return fmt.Sprintf("column missing: %s (was %s)", c.Column, c.From)
	case catalog.ChangeTypeChanged:
		return fmt.Sprintf("type changed: %s from %s to %s", c.Column, c.From, c.To)
	}
	s := c.Kind
	if c.Column != "" {
		s += " " + c.Column
	}
	if c.From != "" || c.To != "" {
		s += fmt.Sprintf(": %s -> %s", c.From, c.To)
	}
	return s
}

func catalogCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Browse the data catalog", Example: "  tarn catalog databases\n  tarn catalog tables etl_pipeline_db\n  tarn catalog table etl_pipeline_db.orders"}
	withCatalog := func(fn func(ctx context.Context, c catalogService, out io.Writer, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				return fn(ctx, s.catalog, cmd.OutOrStdout(), args)
			})
		}
	}
	splitName := func(s string) (string, string, error) {
		db, t, ok := strings.Cut(s, ".")
		if !ok || db == "" || t == "" {
			return "", "", fmt.Errorf("cannot find table %q: write it as DATABASE.TABLE", s)
		}
		return strings.ToLower(db), strings.ToLower(t), nil
	}
	cmd.AddCommand(
		&cobra.Command{Use: "databases", Short: "List databases", Example: "  tarn catalog databases", Args: cobra.NoArgs,
			RunE: withCatalog(func(ctx context.Context, c catalogService, out io.Writer, _ []string) error {
				dbs, err := c.ListDatabases(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, d := range dbs {
					rows = append(rows, []string{d.Name, d.Location, d.Description})
				}
				printTable(out, []string{"database", "location", "description"}, rows)
				return nil
			})},
		&cobra.Command{Use: "tables DB", Short: "List a database's tables", Example: "  tarn catalog tables etl_pipeline_db", Args: cobra.ExactArgs(1),
			RunE: withCatalog(func(ctx context.Context, c catalogService, out io.Writer, args []string) error {
				ts, err := c.ListTables(ctx, strings.ToLower(args[0]))
				if err != nil {
					return err
				}
				var rows [][]string
				for _, t := range ts {
					var keys []string
					for _, k := range t.PartitionKeys {
						keys = append(keys, k.Name)
					}
					rows = append(rows, []string{t.Name, t.Format, fmt.Sprint(len(t.Columns)), strings.Join(keys, ","), t.Location, fmt.Sprint(t.Version), t.UpdatedAt.Local().Format(time.DateTime)})
				}
				printTable(out, []string{"table", "format", "columns", "partition_keys", "location", "version", "updated"}, rows)
				return nil
			})},
		&cobra.Command{Use: "table DB.TABLE", Short: "Show a table as CREATE EXTERNAL TABLE", Example: "  tarn catalog table etl_pipeline_db.orders", Args: cobra.ExactArgs(1),
			RunE: withCatalog(func(ctx context.Context, c catalogService, out io.Writer, args []string) error {
				db, name, err := splitName(args[0])
				if err != nil {
					return err
				}
				t, err := c.GetTable(ctx, db, name)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, query.ShowCreateTable(t))
				skipped, err := c.SkippedFiles(ctx, db, name)
				if err != nil {
					return err
				}
				if len(skipped) > 0 {
					// SQL comments, so that the output stays a statement.
					fmt.Fprintf(out, "-- %d file(s) under the location are not read: the crawler could not read them (a crawl that reads them puts them back):\n", len(skipped))
					for _, f := range skipped {
						fmt.Fprintf(out, "--   %s: %s\n", f.URI, strings.ReplaceAll(f.Reason, "\n", " "))
					}
				}
				return nil
			})},
		healthCmd(g, splitName),
		lineageCmd(g, splitName),
		&cobra.Command{Use: "partitions DB.TABLE", Short: "List a table's partitions", Example: "  tarn catalog partitions etl_pipeline_db.orders", Args: cobra.ExactArgs(1),
			RunE: withCatalog(func(ctx context.Context, c catalogService, out io.Writer, args []string) error {
				db, name, err := splitName(args[0])
				if err != nil {
					return err
				}
				t, err := c.GetTable(ctx, db, name)
				if err != nil {
					return err
				}
				ps, err := c.ListPartitions(ctx, db, name)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, p := range ps {
					rows = append(rows, []string{catalog.PartitionName(t.PartitionKeys, p.Values), fmt.Sprint(p.FileCount), fmt.Sprint(p.Bytes), p.Location})
				}
				printTable(out, []string{"partition", "files", "bytes", "location"}, rows)
				return nil
			})},
		&cobra.Command{Use: "versions DB.TABLE", Short: "Show a table's schema versions and what changed", Example: "  tarn catalog versions etl_pipeline_db.orders", Args: cobra.ExactArgs(1),
			RunE: withCatalog(func(ctx context.Context, c catalogService, out io.Writer, args []string) error {
				db, name, err := splitName(args[0])
				if err != nil {
					return err
				}
				vs, err := c.SchemaVersions(ctx, db, name)
				if err != nil {
					return err
				}
				for _, v := range vs {
					fmt.Fprintf(out, "version %d  %s  %s  (%d columns)\n", v.Version, v.CreatedAt.Local().Format(time.DateTime), v.Reason, len(v.Columns))
					for _, c := range v.Changes {
						fmt.Fprintf(out, "  %s\n", describeChange(c))
					}
				}
				return nil
			})},
	)
	return cmd
}

func readSQLFile(path string) (string, error) {
	if path == "-" {
		b, err := io.ReadAll(os.Stdin)
		return string(b), err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read SQL file: %w", err)
	}
	return string(b), nil
}

// crawlerView is a crawler as Glue's GetCrawler shows it: the definition,
// its State (READY or RUNNING) and its last finished crawl.
func crawlerView(c crawler.Spec, runs []crawler.Run) any {
	type lastCrawl struct {
		RunID        string    `json:"RunId"`
		Status       string    `json:"Status"`
		StartTime    time.Time `json:"StartTime"`
		EndTime      time.Time `json:"EndTime"`
		ErrorMessage string    `json:"ErrorMessage,omitempty"`
	}
	v := struct {
		crawler.Spec
		State     string     `json:"State"`
		LastCrawl *lastCrawl `json:"LastCrawl,omitempty"`
	}{Spec: c, State: "READY"}
	for _, r := range runs { // newest first
		if r.State == crawler.StateRunning {
			v.State = "RUNNING"
			continue
		}
		v.LastCrawl = &lastCrawl{RunID: r.ID, Status: r.State, StartTime: r.StartedAt, EndTime: r.EndedAt, ErrorMessage: r.Error}
		break
	}
	return v
}

// healthCmd shows an Iceberg table's health: what OPTIMIZE and VACUUM would
// act on. It is SQL over the table's metadata tables, so the key's rights on
// the table apply and it works the same with or without a server.
func healthCmd(g *globals, splitName func(string) (string, string, error)) *cobra.Command {
	var smallMB int
	var format string
	cmd := &cobra.Command{Use: "health DB.TABLE", Short: "Show an Iceberg table's snapshots, data files, small files, delete files and bytes",
		Example: "  tarn catalog health curated_db.orders\n  tarn catalog health curated_db.orders --small-file-mb 64", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, name, err := splitName(args[0])
			if err != nil {
				return err
			}
			if smallMB <= 0 {
				return fmt.Errorf("--small-file-mb must be positive, not %d", smallMB)
			}
			return runStatements(cmd, g, []string{HealthSQL(db, name, int64(smallMB)<<20)}, "", "", format)
		}}
	cmd.Flags().IntVar(&smallMB, "small-file-mb", 32, "data files smaller than this many MiB count as small (OPTIMIZE ... BIN_PACK rewrites them)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	return cmd
}

// HealthSQL is the query behind tarn catalog health.
func HealthSQL(db, name string, small int64) string {
	q := func(kind string) string {
		return engine.QuoteIdent(db) + "." + engine.QuoteIdent(name+"$"+kind)
	}
	return fmt.Sprintf(`SELECT s.snapshots, f.data_files, f.small_files, f.delete_files, f.data_bytes, f.records
FROM (SELECT count(*) AS snapshots FROM %s) s,
(SELECT count(*) FILTER (WHERE content = 0) AS data_files,
 count(*) FILTER (WHERE content = 0 AND file_size_in_bytes < %d) AS small_files,
 count(*) FILTER (WHERE content <> 0) AS delete_files,
 coalesce(sum(file_size_in_bytes) FILTER (WHERE content = 0), 0) AS data_bytes,
 coalesce(sum(record_count) FILTER (WHERE content = 0), 0) AS records
 FROM %s) f`, q("snapshots"), small, q("files"))
}
