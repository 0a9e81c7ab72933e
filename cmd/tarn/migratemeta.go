package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
)

// migrateMetaCmd copies a lake's SQLite metadata into PostgreSQL.
func migrateMetaCmd(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate-meta --to postgres://USER@HOST/DB [--from DATA/tarn.db]",
		Short: "Copy a lake's metadata from its SQLite file into a PostgreSQL database",
		Long: `Copy every table of the lake's SQLite metadata (catalog, keys, jobs, runs, events, ...) into an
empty PostgreSQL database, in one transaction. Both are first brought to this tarn's
migrations. The lake's server must be stopped; afterwards the data folder records the PostgreSQL database (meta.json, without the
password) and every command on it uses that database.`,
		Example: `  tarn --data /srv/lake migrate-meta --to postgres://tarn@db.internal/tarn`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !isPostgres(to) {
				return errors.New("--to must be a postgres:// or postgresql:// URL")
			}
			if from == "" {
				from = filepath.Join(g.data, "tarn.db")
			}
			// No server may write the source meanwhile.
			unlock, err := lake.LockServe(g.data)
			if err != nil {
				return err
			}
			defer unlock()
			// Opening the lake on each database applies this tarn's
			// migrations to it (the target's tables are created).
			for _, mc := range []meta.Config{meta.DefaultConfig(from), meta.ConfigFor(to)} {
				cfg, err := g.lakeConfig()
				if err != nil {
					return err
				}
				// Without the warehouse: a lake opened with it on
				// PostgreSQL claims it, a row the copy would find.
				cfg.Meta, cfg.MetaAsGiven, cfg.Engine.Warehouse = mc, true, ""
				l, err := lake.Open(ctx, cfg)
				if err != nil {
					return err
				}
				if err := l.Close(); err != nil {
					return err
				}
			}
			src, err := meta.Open(ctx, meta.DefaultConfig(from))
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := meta.Open(ctx, meta.ConfigFor(to))
			if err != nil {
				return err
			}
			defer dst.Close()
			res, err := meta.Copy(ctx, src, dst)
			if err != nil {
				return fmt.Errorf("cannot copy the metadata of %s: %w", from, err)
			}
			names := make([]string, 0, len(res.Tables))
			var total int64
			for t, n := range res.Tables {
				names = append(names, t)
				total += n
			}
			sort.Strings(names)
			out := cmd.OutOrStdout()
			for _, t := range names {
				if res.Tables[t] > 0 {
					fmt.Fprintf(out, "%-32s %d rows\n", t, res.Tables[t])
				}
			}
			fmt.Fprintf(out, "copied %d rows of %d tables from %s into PostgreSQL\n", total, len(names), from)
			// Every later command on the folder uses the new database
			// (its tarn.db stays, as the copy's source, unused).
			if err := lake.RecordMeta(g.data, to); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s now keeps its metadata in %s (recorded in %s; give the password with TARN_META, PGPASSWORD or ~/.pgpass)\n",
				g.data, meta.RedactDSN(to), filepath.Join(g.data, lake.MetaFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the SQLite metadata file (default DATA/tarn.db)")
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL database, a postgres:// URL (it must hold no rows)")
	return cmd
}

func isPostgres(s string) bool { return meta.ConfigFor(s).Driver == "postgres" }
