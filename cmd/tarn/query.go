package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/query"
)

func queryCmd(g *globals) *cobra.Command {
	var format, database, file, workgroup string
	cmd := &cobra.Command{
		Use:   `query [--format table|csv|json] [--database DB] ("SQL" | -f FILE)`,
		Short: "Run SQL over the lake: results on stdout, statistics on stderr",
		Example: `  tarn query "SELECT region, count(*) AS n FROM etl_pipeline_db.sales GROUP BY region"
  tarn query --format csv --database etl_pipeline_db "SELECT * FROM orders WHERE year = 2025 AND month = 1 LIMIT 10"
  tarn query -f report.sql --workgroup analysts`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var script string
			switch {
			case file != "" && len(args) == 0:
				s, err := readSQLFile(file)
				if err != nil {
					return err
				}
				script = s
			case file == "" && len(args) == 1:
				script = args[0]
			default:
				return errors.New(`give the SQL as one argument or with -f FILE`)
			}
			stmts, err := query.SplitStatements(script)
			if err != nil {
				return err
			}
			if len(stmts) == 0 {
				return errors.New("no SQL statement given")
			}
			return runStatements(cmd, g, stmts, database, workgroup, format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json (one object per line)")
	cmd.Flags().StringVar(&database, "database", "", "default database for unqualified table names")
	cmd.Flags().StringVarP(&file, "file", "f", "", "read SQL from a file (- for stdin); statements end with ';'")
	cmd.Flags().StringVar(&workgroup, "workgroup", "", "workgroup whose limits apply (primary)")
	cmd.AddCommand(historyCmd(g))
	return cmd
}

// runStatements runs statements through a running server if there is one,
// else in this process, printing each one's result.
func runStatements(cmd *cobra.Command, g *globals, stmts []string, database, workgroup, format string) error {
	r, err := g.server()
	if err != nil {
		return err
	}
	if r != nil {
		for _, st := range stmts {
			if err := runRemoteQuery(cmd, r, query.Request{SQL: st, Database: database, Workgroup: workgroup}, format); err != nil {
				return err
			}
		}
		return nil
	}
	cfg, err := g.lakeConfig()
	if err != nil {
		return err
	}
	l, err := lake.Open(cmd.Context(), oneShotConfig(cfg, stmts))
	if err != nil {
		return err
	}
	defer l.Close()
	// A statement's elapsed time counts from an open engine, as in
	// a server; waiting here still leaves the services to overlap it.
	if err := l.Engine.Ready(cmd.Context()); err != nil {
		return err
	}
	for _, st := range stmts {
		if err := runQuery(cmd, l, query.Request{SQL: st, Database: database, Workgroup: workgroup}, format); err != nil {
			return err
		}
	}
	return nil
}

func runQuery(cmd *cobra.Command, l *lake.Lake, req query.Request, format string) error {
	p, err := newPrinter(format, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	sink := &encodingSink{p: p}
	// A long query shows that it is running, on a terminal only.
	prog := newProgress()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if time.Since(start) > time.Second {
					prog.update("running for %s...", time.Since(start).Round(time.Second))
				}
			}
		}
	}()
	ex, err := l.Query.Execute(cmd.Context(), req, &doneSink{Sink: sink, done: func() {
		select {
		case <-done:
		default:
			close(done)
			prog.done()
		}
	}})
	select {
	case <-done:
	default:
		close(done)
		prog.done()
	}
	if ferr := p.Flush(); err == nil {
		err = ferr
	}
	printStats(cmd.ErrOrStderr(), ex, "")
	return err
}

func historyCmd(g *globals) *cobra.Command {
	var limit int
	var summary bool
	cmd := &cobra.Command{
		Use:   "history [--summary]",
		Short: "List recent query executions with their statistics",
		Example: `  tarn query history
  tarn query history --limit 50
  tarn query history --summary`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, sv services) error {
				if summary {
					sums, err := sv.queries.Summary(ctx)
					if err != nil {
						return err
					}
					var rows [][]string
					for _, s := range sums {
						key := s.AccessKey
						if key == "" {
							key = "(local CLI)"
						}
						rows = append(rows, []string{key, s.Workgroup, fmt.Sprint(s.Queries), fmt.Sprint(s.BytesScanned), fmt.Sprintf("%.6f", s.CostUSD)})
					}
					printTable(cmd.OutOrStdout(), []string{"access_key", "workgroup", "queries", "data_scanned_bytes", "cost_usd_at_athena_price"}, rows)
					return nil
				}
				exs, err := sv.queries.History(ctx, limit)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, e := range exs {
					sqlText := strings.Join(strings.Fields(e.SQL), " ")
					if len(sqlText) > 60 {
						sqlText = sqlText[:57] + "..."
					}
					rows = append(rows, []string{e.ID, e.SubmittedAt.Local().Format(time.DateTime), e.State, e.StatementType,
						fmt.Sprint(e.Stats.Rows), fmt.Sprint(e.Stats.BytesScanned), e.Stats.Elapsed.Round(time.Millisecond).String(), sqlText})
				}
				printTable(cmd.OutOrStdout(), []string{"id", "submitted", "state", "type", "rows", "data_scanned_bytes", "elapsed", "sql"}, rows)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many executions to show")
	cmd.Flags().BoolVar(&summary, "summary", false, "data scanned and cost per access key and workgroup")
	return cmd
}

// doneSink stops the progress line before the first output.
type doneSink struct {
	query.Sink
	done func()
}

func (d *doneSink) Columns(cols []query.Column) error {
	d.done()
	return d.Sink.Columns(cols)
}

// oneShotConfig opens no more of the lake than the statements use: DuckDB
// opens while the history is written, and statements that name nothing
// (SELECT 1) get neither the warehouse nor the compatibility macros, which
// they cannot reach. Their history and limits are the same.
func oneShotConfig(cfg lake.Config, stmts []string) lake.Config {
	cfg.OneShot = true
	for _, st := range stmts {
		if !query.NamesNothing(st) {
			return cfg
		}
	}
	cfg.Engine.Warehouse = ""
	cfg.Engine.NoCompatMacros = true
	return cfg
}
