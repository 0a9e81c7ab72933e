// Command tarn is the data lake and ELT platform in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

// exitError carries an exit code without printing again.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

type globals struct {
	data      string
	serverURL string
	s3URL     string
	storage   storageFlags
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		if hint := credentialsHint(err); hint != "" {
			err = errors.New(hint)
		}
		if errors.Is(err, storage.ErrNoSuchBucket) || strings.HasSuffix(err.Error(), storage.ErrNoSuchBucket.Error()) {
			err = fmt.Errorf("%w\n  create the bucket with `tarn mb s3://BUCKET`, or a new lake's bucket and zones with `tarn init`", err)
		}
		fmt.Fprintln(os.Stderr, "tarn:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "tarn",
		Short: "tarn is a data lake and ELT platform in one binary",
		Example: `  tarn quickstart
  tarn init
  tarn query "SELECT region, count(*) FROM etl_pipeline_db.sales GROUP BY region"
  tarn --data /srv/lake serve`,
		Long:          "tarn keeps raw files in a lake, crawls them into a catalog and queries them with SQL (S3 + Glue + Athena on one machine).",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	def := os.Getenv("TARN_DATA")
	if def == "" {
		def = lake.DefaultHome
	}
	// Persistent flags are accepted before or after the subcommand.
	root.PersistentFlags().StringVar(&g.data, "data", def, "lake home folder (env TARN_DATA)")
	root.PersistentFlags().StringVar(&g.serverURL, "server", os.Getenv("TARN_SERVER"), "REST API of a running tarn serve to work through (env TARN_SERVER; found in the data folder when empty)")
	root.PersistentFlags().StringVar(&g.s3URL, "s3-endpoint", os.Getenv("TARN_S3_ENDPOINT"), "S3 endpoint of that server, for mb, ls, cp, rm (env TARN_S3_ENDPOINT; found in the data folder when empty)")
	g.storage.register(root)
	root.AddCommand(
		quickstartCmd(g), initCmd(g),
		mbCmd(g), lsCmd(g), cpCmd(g), rmCmd(g),
		crawlerCmd(g),
		jobCmd(g),
		queryCmd(g),
		catalogCmd(g),
		genCmd(),
		serveCmd(g), statusCmd(g),
		keysCmd(g),
		workgroupCmd(g),
		workflowCmd(g), triggerCmd(g), eventsCmd(g), alarmCmd(g),
		migrateMetaCmd(g),
	)
	root.AddCommand(deployCmds(g)...)
	strictCommands(root)
	return root
}

// open opens the lake named by the global flags.
func (g *globals) open(ctx context.Context) (*lake.Lake, error) {
	cfg, err := g.lakeConfig()
	if err != nil {
		return nil, err
	}
	return lake.Open(ctx, cfg)
}
