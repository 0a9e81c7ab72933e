package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/query"
)

func workgroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "workgroup", Short: "Query workgroups: result location, scan cutoff, partition-filter rule, concurrency", Example: "  tarn workgroup create analysts --bytes-scanned-cutoff-mb 1024\n  tarn workgroup list"}
	var w query.Workgroup
	var cutoffMB int64
	create := &cobra.Command{
		Use:   "create NAME [--result-location s3://…] [--bytes-scanned-cutoff-mb N] [--require-partition-filter DB.TABLE]... [--max-concurrent N] [--query-timeout-seconds N] [--max-result-rows N]",
		Short: "Create a workgroup; its limits are checked before a query runs",
		Example: `  tarn workgroup create analysts --bytes-scanned-cutoff-mb 1024 --max-concurrent 2
  tarn workgroup create dashboards --query-timeout-seconds 60 --max-result-rows 100000
  tarn workgroup create reports --result-location s3://lake/results/reports/ --require-partition-filter etl_pipeline_db.orders`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w.Name = args[0]
			w.BytesScannedCutoff = cutoffMB << 20
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.queries.CreateWorkgroup(ctx, w); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "workgroup %s created\n", w.Name)
				return nil
			})
		},
	}
	update := &cobra.Command{
		Use:   "update NAME [--result-location s3://…] [--bytes-scanned-cutoff-mb N] [--require-partition-filter DB.TABLE]... [--max-concurrent N] [--query-timeout-seconds N] [--max-result-rows N]",
		Short: "Change a workgroup in place; flags not given keep their value",
		Example: `  tarn workgroup update analysts --bytes-scanned-cutoff-mb 2048
  tarn workgroup update analysts --description "analysts of the curated zone"
  tarn workgroup update analysts --query-timeout-seconds 300`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				cur, err := s.queries.Workgroup(ctx, args[0])
				if err != nil {
					return err
				}
				f := cmd.Flags()
				if f.Changed("result-location") {
					cur.ResultLocation = w.ResultLocation
				}
				if f.Changed("bytes-scanned-cutoff-mb") {
					cur.BytesScannedCutoff = cutoffMB << 20
				}
				if f.Changed("require-partition-filter") {
					cur.RequirePartitionFilter = w.RequirePartitionFilter
				}
				if f.Changed("max-concurrent") {
					cur.MaxConcurrent = w.MaxConcurrent
				}
				if f.Changed("description") {
					cur.Description = w.Description
				}
				if f.Changed("query-timeout-seconds") {
					cur.QueryTimeoutSeconds = w.QueryTimeoutSeconds
				}
				if f.Changed("max-result-rows") {
					cur.MaxResultRows = w.MaxResultRows
				}
				if err := s.queries.UpdateWorkgroup(ctx, cur); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "workgroup %s updated\n", cur.Name)
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{create, update} {
		c.Flags().StringVar(&w.ResultLocation, "result-location", "", "s3:// prefix for query results (default "+query.DefaultResultLocation+")")
		c.Flags().Int64Var(&cutoffMB, "bytes-scanned-cutoff-mb", 0, "refuse queries that would scan more than this many MiB (0: no limit)")
		c.Flags().StringArrayVar(&w.RequirePartitionFilter, "require-partition-filter", nil, "table (db.table) that must be queried with a partition filter (repeatable)")
		c.Flags().IntVar(&w.MaxConcurrent, "max-concurrent", 0, "queries of this workgroup running at once on a server (0: the server's default)")
		c.Flags().StringVar(&w.Description, "description", "", "description")
		c.Flags().Int64Var(&w.QueryTimeoutSeconds, "query-timeout-seconds", 0, "stop queries that run longer than this (0: the default, 30 minutes)")
		c.Flags().Int64Var(&w.MaxResultRows, "max-result-rows", 0, "fail queries that return more rows (0: the default, 10,000,000; UNLOAD and CREATE TABLE AS are not capped)")
	}
	list := &cobra.Command{
		Use: "list", Short: "List workgroups", Example: "  tarn workgroup list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				wgs, err := s.queries.Workgroups(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, w := range wgs {
					rows = append(rows, []string{w.Name, w.ResultLocation, fmt.Sprint(w.BytesScannedCutoff), strings.Join(w.RequirePartitionFilter, ","), fmt.Sprint(w.MaxConcurrent),
						fmt.Sprint(w.QueryTimeout().Seconds()), fmt.Sprint(w.MaxResults())})
				}
				printTable(cmd.OutOrStdout(), []string{"name", "result_location", "bytes_scanned_cutoff", "require_partition_filter", "max_concurrent",
					"query_timeout_seconds", "max_result_rows"}, rows)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a workgroup", Example: "  tarn workgroup delete analysts", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				return s.queries.DeleteWorkgroup(ctx, args[0])
			})
		},
	}
	cmd.AddCommand(create, update, list, del)
	return cmd
}
