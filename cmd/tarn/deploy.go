package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/deploy"
)

// deployCmds are tarn plan, tarn apply and tarn export (see docs/deploy.md).
func deployCmds(g *globals) []*cobra.Command {
	var file string
	var params []string
	var opts deploy.Options
	addFlags := func(c *cobra.Command) {
		c.Flags().StringVarP(&file, "file", "f", "tarn.yaml", "the tarn.yaml to deploy")
		c.Flags().StringArrayVar(&params, "param", nil, "parameter value name=value, overriding the file's default (repeatable)")
		c.Flags().BoolVar(&opts.DeleteData, "delete-data", false, "let deletions empty buckets that hold objects and drop databases that hold tables")
	}
	plan := &cobra.Command{
		Use:   "plan [-f tarn.yaml] [--param name=value]...",
		Short: "Show what tarn apply would create, change (field by field) and delete",
		Example: `  tarn plan -f examples/sales/tarn.yaml
  tarn plan -f examples/sales/tarn.yaml --param env=prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.deploy(cmd, func(ctx context.Context, d *deploy.Deployer) error {
				f, err := loadDeployFile(file, params)
				if err != nil {
					return err
				}
				p, err := d.Plan(ctx, f, opts)
				if err != nil {
					return err
				}
				p.Write(cmd.OutOrStdout())
				return nil
			})
		},
	}
	apply := &cobra.Command{
		Use:   "apply [-f tarn.yaml] [--param name=value]... [--delete-data]",
		Short: "Converge the lake to a tarn.yaml: create, update in place and delete what it manages",
		Example: `  tarn apply -f examples/sales/tarn.yaml
  tarn apply -f examples/sales/tarn.yaml --param env=prod
  tarn apply -f tarn.yaml --delete-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.deploy(cmd, func(ctx context.Context, d *deploy.Deployer) error {
				f, err := loadDeployFile(file, params)
				if err != nil {
					return err
				}
				p, err := d.Plan(ctx, f, opts)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "applying stack %s (%s)\n", p.Stack, p.File)
				res, err := d.Apply(ctx, p, out)
				for _, k := range res.Keys {
					fmt.Fprintf(out, "access key %s: access_key_id %s secret_access_key %s\n  (the secret is shown this once: store it now)\n",
						k.Name, k.AccessKeyID, k.SecretAccessKey)
				}
				if err != nil {
					return err
				}
				if res.Created+res.Updated+res.Replaced+res.Deleted == 0 {
					fmt.Fprintf(out, "No changes: the lake already matches %s.", p.File)
					if res.Adopted > 0 {
						fmt.Fprintf(out, " %d existing resource(s) recorded as managed by stack %s.", res.Adopted, p.Stack)
					}
					fmt.Fprintln(out)
				} else {
					fmt.Fprintf(out, "Applied: %d created, %d updated, %d replaced, %d deleted.\n", res.Created, res.Updated, res.Replaced, res.Deleted)
				}
				if res.Kept > 0 {
					fmt.Fprintf(out, "%d resource(s) kept as they are (see the ! lines).\n", res.Kept)
				}
				return nil
			})
		},
	}
	addFlags(plan)
	addFlags(apply)
	var name, output string
	export := &cobra.Command{
		Use:   "export [--name STACK] [-o FILE]",
		Short: "Write the lake's resources as a tarn.yaml that tarn apply accepts",
		Example: `  tarn export
  tarn export --name sales-dev -o tarn.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.deploy(cmd, func(ctx context.Context, d *deploy.Deployer) error {
				b, skipped, err := d.Export(ctx, name)
				if err != nil {
					return err
				}
				for _, s := range skipped {
					fmt.Fprintf(cmd.ErrOrStderr(), "left out %s\n", s)
				}
				if output == "" || output == "-" {
					_, err = cmd.OutOrStdout().Write(b)
					return err
				}
				return os.WriteFile(output, b, 0o644)
			})
		},
	}
	export.Flags().StringVar(&name, "name", "lake", "stack name of the exported file (resources of other stacks are left out)")
	export.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return []*cobra.Command{plan, apply, export}
}

func loadDeployFile(file string, params []string) (*deploy.File, error) {
	values := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want name=value", p)
		}
		values[k] = v
	}
	return deploy.Load(file, values)
}

// deploy runs fn on the lake's files. Plan and apply work on the data
// folder (also while its tarn serve runs: the metadata database is shared),
// not through a remote server's API.
func (g *globals) deploy(cmd *cobra.Command, fn func(ctx context.Context, d *deploy.Deployer) error) error {
	ctx := cmd.Context()
	if g.serverURL != "" {
		if si, live := liveServer(g.data); !live || strings.TrimSuffix(g.serverURL, "/") != si.API {
			return fmt.Errorf("tarn %s works on a data folder (--data), not through a remote server (--server %s)", cmd.Name(), g.serverURL)
		}
	}
	l, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer l.Close()
	d, err := deploy.New(ctx, l)
	if err != nil {
		return err
	}
	return fn(ctx, d)
}
