package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

func initCmd(g *globals) *cobra.Command {
	var bucket string
	cmd := &cobra.Command{
		Use:   "init [--bucket lake]",
		Short: "Create a lake: the data folder, a bucket and its zones (raw/ staging/ curated/ analytics/), no sample data",
		Example: `  tarn init
  tarn --data /srv/lake init --bucket datalake
  tarn cp sales.csv s3://lake/raw/sales/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.objects(cmd, func(ctx context.Context, store storage.ObjectStore) error {
				created, err := lake.InitBucket(ctx, store, bucket)
				if err != nil {
					return err
				}
				state := "exists"
				if created {
					state = "created"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "lake %s\nbucket s3://%s/ %s, zones %s\nnext: tarn cp FILE s3://%s/raw/TABLE/, then tarn crawler create NAME --database DB --path s3://%s/raw/\n",
					g.data, bucket, state, strings.Join(lake.Zones, " "), bucket, bucket)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&bucket, "bucket", lake.QuickstartBucket, "bucket to create")
	return cmd
}
