package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/auth"
)

func keysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage access keys and their IAM-like policies", Example: "  tarn keys create ingest --policy ingest.json\n  tarn keys list"}
	var policyFile string
	create := &cobra.Command{
		Use:     "create NAME --policy FILE",
		Short:   "Create an access key limited by a policy (JSON, IAM syntax); the secret is shown once",
		Example: `  tarn keys create ingest --policy ingest.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if policyFile == "" {
				return fmt.Errorf("give the key's rights with --policy FILE (IAM JSON: Effect, Action, Resource)")
			}
			data, err := os.ReadFile(policyFile)
			if err != nil {
				return fmt.Errorf("cannot read policy: %w", err)
			}
			p, err := auth.ParsePolicy(data)
			if err != nil {
				return fmt.Errorf("%s: %w", policyFile, err)
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				k, err := s.keys.CreateKey(ctx, args[0], p)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "access key %s created (the secret is shown once):\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n", k.Name, k.AccessKeyID, k.SecretAccessKey)
				return nil
			})
		},
	}
	create.Flags().StringVar(&policyFile, "policy", "", "policy JSON file")
	list := &cobra.Command{
		Use: "list", Short: "List access keys (without secrets)", Example: "  tarn keys list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				keys, err := s.keys.ListKeys(ctx)
				if err != nil {
					return err
				}
				var rows [][]string
				for _, k := range keys {
					var actions []string
					for _, st := range k.Policy.Statements {
						actions = append(actions, string(st.Effect)+" "+strings.Join(st.Actions, ",")+" on "+strings.Join(st.Resources, ","))
					}
					rights := strings.Join(actions, "; ")
					if k.Admin {
						rights = "admin (everything)"
					}
					rows = append(rows, []string{k.AccessKeyID, k.Name, k.CreatedAt.Local().Format(time.DateTime), rights})
				}
				printTable(cmd.OutOrStdout(), []string{"access_key_id", "name", "created", "rights"}, rows)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ACCESS_KEY_ID", Short: "Delete an access key; requests signed with it fail at once", Example: "  tarn keys list\n  tarn keys delete TK0123456789ABCDEFGH", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				return s.keys.DeleteKey(ctx, args[0])
			})
		},
	}
	token := &cobra.Command{
		Use: "token ACCESS_KEY_ID", Short: "Print the REST API bearer token of a key (for curl, Prometheus)", Example: "  tarn keys token TK0123456789ABCDEFGH\n  curl -H \"Authorization: Bearer $(tarn keys token TK0123456789ABCDEFGH)\" http://127.0.0.1:8080/api/v1/databases", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer l.Close()
			k, err := l.Auth.GetKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), auth.Token(k))
			return nil
		},
	}
	cmd.AddCommand(create, list, del, token)
	return cmd
}
