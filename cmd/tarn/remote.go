package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/client"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// While `tarn serve` runs, the CLI goes through it (given --server URL, or
// found in the data folder's serve.json): the catalog, crawlers, jobs,
// queries, workgroups and keys through its REST API, objects through its S3
// endpoint, so that the server sees and orders everything (queues, metrics,
// object-created events). The commands run the same code either way: the
// services below are the lake's, or the server's through internal/client,
// which has the same methods. Only a "via URL" note on stderr tells them
// apart.

// serveInfo is what `tarn serve` leaves in <data>/serve.json.
type serveInfo struct {
	API string `json:"api"`
	S3  string `json:"s3,omitempty"`
	PG  string `json:"pg,omitempty"`
	PID int    `json:"pid"`
}

const serveFile = "serve.json"

func writeServeInfo(home, api, s3 string) error {
	b, _ := json.Marshal(serveInfo{API: api, S3: s3, PID: os.Getpid()})
	return writeServeFile(home, b)
}

// addServeInfoPG records the PostgreSQL endpoint, which starts after the
// others, in serve.json.
func addServeInfoPG(home, addr string) error {
	b, err := os.ReadFile(filepath.Join(home, serveFile))
	if err != nil {
		return err
	}
	var si serveInfo
	if err := json.Unmarshal(b, &si); err != nil {
		return err
	}
	si.PG = addr
	b, _ = json.Marshal(si)
	return writeServeFile(home, b)
}

// writeServeFile replaces serve.json in one step: a CLI (or a test) that
// reads it while the server writes it would otherwise read it empty and
// work on the files behind the server's back.
func writeServeFile(home string, b []byte) error {
	tmp := filepath.Join(home, serveFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(home, serveFile))
}

func removeServeInfo(home string) { os.Remove(filepath.Join(home, serveFile)) }

// liveServer reads serve.json of a data folder; ok is false when there is
// none or its server is gone.
func liveServer(home string) (si serveInfo, ok bool) {
	b, err := os.ReadFile(filepath.Join(home, serveFile))
	if err != nil {
		return si, false
	}
	if json.Unmarshal(b, &si) != nil || si.API == "" || si.PID <= 0 || syscall.Kill(si.PID, 0) != nil {
		return si, false // a server that died: work on the files
	}
	return si, true
}

// server returns the client of the server to go through, or nil to work on
// the files: --server/TARN_SERVER, else a live `tarn serve` of the data
// folder. Credentials: TARN_TOKEN (REST API only), TARN_ACCESS_KEY_ID and
// TARN_SECRET_ACCESS_KEY, else the lake's admin key.
func (g *globals) server() (*client.Client, error) {
	cfg := client.Config{API: g.serverURL, S3: g.s3URL}
	si, live := liveServer(g.data)
	switch {
	case cfg.API == "" && !live:
		return nil, nil
	case cfg.API == "":
		cfg.API = si.API
		if cfg.S3 == "" {
			cfg.S3 = si.S3
		}
	case live && cfg.S3 == "" && strings.TrimSuffix(cfg.API, "/") == si.API:
		cfg.S3 = si.S3
	}
	cfg.Token = os.Getenv("TARN_TOKEN")
	id, secret := os.Getenv("TARN_ACCESS_KEY_ID"), os.Getenv("TARN_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		cfg.Key = apitypes.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	case cfg.Token == "":
		lcfg, err := g.lakeConfig()
		if err != nil {
			return nil, err
		}
		k, err := lake.AdminKeyOf(context.Background(), lcfg)
		if err != nil {
			return nil, fmt.Errorf("cannot talk to the server at %s: set TARN_TOKEN (tarn keys token ACCESS_KEY_ID) or TARN_ACCESS_KEY_ID and TARN_SECRET_ACCESS_KEY (%v)", cfg.API, err)
		}
		cfg.Key = apitypes.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	}
	return client.New(cfg)
}

// credentialsHint says what to do when the server refused the credentials.
func credentialsHint(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Unauthenticated() {
		return fmt.Sprintf("the server at %s refused the credentials (%s: %s): set TARN_TOKEN (tarn keys token ACCESS_KEY_ID prints one), or TARN_ACCESS_KEY_ID and TARN_SECRET_ACCESS_KEY, to a key of this lake",
			ce.Server, ce.Code, ce.Message)
	}
	return ""
}

// The services the commands use; the lake's and the client's both have
// these methods.
type (
	catalogService interface {
		ListDatabases(ctx context.Context) ([]catalog.Database, error)
		ListTables(ctx context.Context, db string) ([]catalog.Table, error)
		GetTable(ctx context.Context, db, name string) (catalog.Table, error)
		ListPartitions(ctx context.Context, db, table string) ([]catalog.Partition, error)
		SchemaVersions(ctx context.Context, db, table string) ([]catalog.SchemaVersion, error)
		SkippedFiles(ctx context.Context, db, table string) ([]catalog.SkippedFile, error)
	}
	crawlerService interface {
		Create(ctx context.Context, spec crawler.Spec) error
		Update(ctx context.Context, spec crawler.Spec) error
		Start(ctx context.Context, name string, opts crawler.StartOptions) (crawler.Run, error)
		Stop(ctx context.Context, name string) error
		List(ctx context.Context) ([]crawler.Spec, error)
		Get(ctx context.Context, name string) (crawler.Spec, error)
		Runs(ctx context.Context, name string) ([]crawler.Run, error)
		Delete(ctx context.Context, name string) error
	}
	jobService interface {
		Create(ctx context.Context, spec jobs.Spec) error
		Update(ctx context.Context, spec jobs.Spec) error
		Start(ctx context.Context, name string, opts jobs.StartOptions) (jobs.Run, error)
		List(ctx context.Context) ([]jobs.Spec, error)
		Get(ctx context.Context, name string) (jobs.Spec, error)
		Runs(ctx context.Context, name string) ([]jobs.Run, error)
		GetRun(ctx context.Context, id string) (jobs.Run, error)
		Stop(ctx context.Context, id string) error
		ResetBookmark(ctx context.Context, name string) (int64, error)
		Delete(ctx context.Context, name string) error
	}
	queryService interface {
		History(ctx context.Context, limit int) ([]query.Execution, error)
		Summary(ctx context.Context) ([]query.CostSummary, error)
		CreateWorkgroup(ctx context.Context, w query.Workgroup) error
		UpdateWorkgroup(ctx context.Context, w query.Workgroup) error
		Workgroup(ctx context.Context, name string) (query.Workgroup, error)
		Workgroups(ctx context.Context) ([]query.Workgroup, error)
		DeleteWorkgroup(ctx context.Context, name string) error
	}
	keyService interface {
		CreateKey(ctx context.Context, name string, policy auth.Policy) (auth.Key, error)
		ListKeys(ctx context.Context) ([]auth.Key, error)
		DeleteKey(ctx context.Context, id string) error
	}
)

// services is what a command works with.
type services struct {
	catalog  catalogService
	crawlers crawlerService
	jobs     jobService
	queries  queryService
	keys     keyService
	// workflows, events and alarms are the pipelines' services.
	workflows workflowService
	events    eventService
	alarms    alarmService
	// execute runs a queued workflow run to its end in this process; nil
	// when a server's scheduler does.
	execute func(ctx context.Context, id string) (workflow.Run, error)
}

// metadataOnly are the commands that use only the metadata database: they
// open the lake without DuckDB (a few milliseconds instead of tens), and
// would fail, saying so, if they ran SQL.
var metadataOnly = map[string]bool{
	"tarn catalog databases": true, "tarn catalog tables": true, "tarn catalog table": true,
	"tarn catalog partitions": true, "tarn catalog versions": true,
	"tarn crawler list": true, "tarn crawler get": true, "tarn crawler runs": true,
	"tarn query history": true,
	"tarn keys list":     true, "tarn keys create": true, "tarn keys delete": true,
	"tarn workgroup list": true, "tarn workgroup create": true, "tarn workgroup update": true, "tarn workgroup delete": true,
	"tarn job list": true, "tarn job get": true, "tarn job runs": true, "tarn job log": true,
	"tarn workflow list": true, "tarn workflow get": true, "tarn workflow runs": true, "tarn workflow run": true,
	"tarn trigger list": true, "tarn events list": true,
}

// run runs fn on the services of a running server, or else of the lake's
// files.
func (g *globals) run(cmd *cobra.Command, fn func(ctx context.Context, s services) error) error {
	ctx := cmd.Context()
	r, err := g.server()
	if err != nil {
		return err
	}
	if r != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "via %s\n", r.API())
		return fn(ctx, services{catalog: remoteCatalog{r.Catalog()}, crawlers: remoteCrawlers{r.Crawlers()}, jobs: remoteJobs{r.Jobs()}, queries: remoteQueries{r.Queries()}, keys: remoteKeys{r.Keys()},
			workflows: remoteWorkflows{r.Workflows()}, events: remoteEvents{r.Events()}, alarms: remoteAlarms{r.Alarms()}})
	}
	cfg, err := g.lakeConfig()
	if err != nil {
		return err
	}
	if metadataOnly[cmd.CommandPath()] {
		cfg.NoEngine, cfg.OneShot = true, true
	}
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	return fn(ctx, services{catalog: l.Catalog, crawlers: l.Crawlers, jobs: l.Jobs, queries: l.Query, keys: l.Auth,
		workflows: l.Workflows, events: l.Events, alarms: l.Alarms, execute: l.Workflows.Execute})
}

// objects runs fn on the object store: a running server's S3 endpoint, or
// else the lake's files.
func (g *globals) objects(cmd *cobra.Command, fn func(ctx context.Context, store storage.ObjectStore) error) error {
	ctx := cmd.Context()
	r, err := g.server()
	if err != nil {
		return err
	}
	if r != nil {
		o, err := r.Objects()
		if err != nil {
			return fmt.Errorf("%w; give the S3 endpoint with --s3-endpoint URL (env TARN_S3_ENDPOINT) and a key with TARN_ACCESS_KEY_ID and TARN_SECRET_ACCESS_KEY", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "via %s\n", o.Endpoint())
		return fn(ctx, o)
	}
	// Objects and their events need no DuckDB.
	cfg, err := g.lakeConfig()
	if err != nil {
		return err
	}
	cfg.NoEngine, cfg.OneShot = true, true
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	// Objects written here are recorded in the events ledger, as the S3
	// endpoint does, so that event triggers see them.
	return fn(ctx, events.Recording{ObjectStore: l.Store, Ledger: l.Events, Via: events.ViaCLI})
}

// runRemoteQuery runs one statement through the server and prints it as
// runQuery does.
func runRemoteQuery(cmd *cobra.Command, r *client.Client, req query.Request, format string) error {
	ctx := cmd.Context()
	q := r.Queries()
	id, err := q.Submit(ctx, apitypes.StartQueryRequest{SQL: req.SQL, Database: req.Database, Workgroup: req.Workgroup,
		ResultReuseMinutes: int(req.ReuseMaxAge / time.Minute)})
	if err != nil {
		return err
	}
	prog := newProgress()
	start := time.Now()
	var ex query.Execution
	for {
		wex, err := q.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				_ = q.Cancel(context.WithoutCancel(ctx), id)
				prog.done()
			}
			return err
		}
		ex = queryExecution(wex)
		if ex.State != query.StateQueued && ex.State != query.StateRunning {
			break
		}
		prog.update("%s for %s on %s...", strings.ToLower(ex.State), time.Since(start).Round(time.Second), r.API())
		select {
		case <-ctx.Done():
			_ = q.Cancel(context.WithoutCancel(ctx), id)
			prog.done()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	prog.done()
	sink, err := newPrinter(format, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	if ex.State == query.StateSucceeded && ex.Error != "" {
		// It took effect, but its result was not stored: say so, and do
		// not ask for a result that is not there.
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", ex.Error)
	} else if ex.State == query.StateSucceeded {
		token := ""
		first := true
		for {
			page, err := q.Results(ctx, id, token, 1000)
			if err != nil {
				return err
			}
			if first {
				if len(page.Columns) > 0 {
					if err := sink.Columns(resultColumns(page.Columns)); err != nil {
						return err
					}
				}
				first = false
			}
			vals := make([]any, len(page.Columns))
			for _, row := range page.Rows {
				for i := range vals {
					vals[i] = nil
					if i < len(row) {
						vals[i] = row[i]
					}
				}
				if err := sink.Row(vals); err != nil {
					return err
				}
			}
			if page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
	}
	if err := sink.Flush(); err != nil {
		return err
	}
	printStats(cmd.ErrOrStderr(), ex, r.API())
	if ex.State != query.StateSucceeded {
		return errors.New(ex.Error)
	}
	return nil
}
