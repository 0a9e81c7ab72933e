package lake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/run"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/awsapi"
	"github.com/tarn-lake/tarn/internal/cluster"
	"github.com/tarn-lake/tarn/internal/console"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/icebergrest"
	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// ServeConfig says where a server listens and how it stops.
type ServeConfig struct {
	// The endpoints' listeners, bound by the caller (so that a busy port
	// fails the start before anything opens); nil turns one off.
	S3, API, PG net.Listener
	// CertFile and KeyFile, both or neither, serve HTTPS and PostgreSQL
	// over TLS.
	CertFile, KeyFile string
	// Out gets the admin key and the endpoints' addresses; Log the
	// shutdown's progress.
	Out, Log io.Writer
	// Listening is told the endpoints' URLs once they listen (the CLI
	// records them in serve.json to find the server).
	Listening func(Endpoints) error
	// RequestGrace is how long requests in flight may take once a
	// shutdown begins before their contexts end; ShutdownTimeout bounds
	// the whole drain.
	RequestGrace, ShutdownTimeout time.Duration
	// Cluster tunes this server's membership of the lake's servers and
	// the leader lease (cluster.go); the zero value is the default.
	Cluster cluster.Config
}

// IcebergPath is where the REST API's listener serves the Iceberg REST
// catalog: its URI is the REST API's URL + IcebergPath.
const IcebergPath = "/iceberg"

// Endpoints are a running server's URLs ("" for one that is off).
type Endpoints struct{ S3, API, PG string }

// Serve runs the lake's server until ctx ends or an endpoint fails: the S3
// endpoint (with the AWS APIs beside it), the REST API, the PostgreSQL
// endpoint, asynchronous queries, the scheduler, the alarms' evaluator and
// the housekeeping loops, each an actor of one run group. The shutdown has
// one order, written below: requests are drained (then their contexts end),
// PostgreSQL sessions are cancelled, background queries are cancelled and
// recorded, then the scheduler, alarms and housekeeping stop. The caller
// closes the lake after Serve returns. Every error met on the way is
// returned, not only the first.
func (l *Lake) Serve(ctx context.Context, cfg ServeConfig) error {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.RequestGrace <= 0 {
		cfg.RequestGrace = 10 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return errors.New("give both --tls-cert and --tls-key, or neither")
	}
	a := l.Auth
	admin, created, err := a.EnsureAdmin(ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cfg.Out, "Created the admin access key (shown once; also in %s, mode 0600):\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n",
			filepath.Join(l.Home, "admin-key.json"), admin.AccessKeyID, admin.SecretAccessKey)
	} else {
		fmt.Fprintf(cfg.Out, "Admin access key: %s\n", admin.AccessKeyID)
	}
	uploads, err := storage.NewUploads(filepath.Join(l.Home, "uploads"), l.Store)
	if err != nil {
		return err
	}
	// Every new object version is recorded in the events ledger before the
	// client gets its answer, for the triggers.
	onCreated := func(ctx context.Context, info storage.ObjectInfo, via string) {
		// The object is committed: its event must be recorded even if the
		// client has gone meanwhile.
		if _, _, err := l.Events.Record(context.WithoutCancel(ctx), info, events.ViaS3); err != nil {
			slog.Error("cannot record object-created event; a trigger with poll set will still see the object",
				"uri", storage.URI{Bucket: info.Bucket, Key: info.Key}.String(), "via", via, "err", err)
		}
	}
	s3 := s3api.New(s3api.DefaultConfig(), l.Store, uploads, a, onCreated)
	s3.SetTriggers(s3Triggers{l.Workflows})
	// Background queries take at most three quarters of the engine's
	// sessions, so that long ones leave room for the rest; beyond that they
	// wait QUEUED. Under mixed load the query service's gate gives each
	// front end and key an equal turn at the sessions: half of them would
	// cap REST below that share (its queries spend part of their slot
	// waiting at the gate).
	async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: max(2, l.Engine.Sessions()*3/4),
		ResultLocation: storage.URI{Bucket: QuickstartBucket, Key: "athena-results/"}})
	// Glue, Athena and the other AWS APIs share the S3 endpoint, told apart
	// by X-Amz-Target as AWS does.
	aws := awsapi.New(awsapi.DefaultConfig(), awsapi.Deps{Auth: a, Meta: l.Meta, Catalog: l.Catalog, Queries: l.Query, Async: async,
		Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Alarms: l.Alarms})
	defer aws.Close()
	// The web console shares the REST API's listener at "/"; the REST API
	// takes its session cookie as the session's access key, and its S3
	// requests go to the S3 endpoint signed as that key.
	cons, err := console.New(ctx, console.Config{Secure: cfg.CertFile != ""}, l.Meta, a)
	if err != nil {
		return err
	}
	cons.SetS3(s3)
	rest := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: a, Queries: l.Query, Async: async, Catalog: l.Catalog,
		Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Events: l.Events, Alarms: l.Alarms, Sessions: cons,
		Warehouse: l.Warehouse})
	rest.Registry().MustRegister(s3.Collectors()...)
	// The Iceberg REST catalog shares the REST API's listener under
	// /iceberg (the URI Spark, Trino and PyIceberg are given), over tarn's
	// catalog; it tells clients to read and write data through the S3
	// endpoint.
	scheme := "http"
	if cfg.CertFile != "" {
		scheme = "https"
	}
	var s3URL string
	if cfg.S3 != nil {
		// Listening on every address: local clients reach 127.0.0.1,
		// others set their own s3.endpoint (a client's wins).
		addr := cfg.S3.Addr().String()
		if ta, ok := cfg.S3.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
		}
		s3URL = fmt.Sprintf("%s://%s", scheme, addr)
	}
	iceREST, err := icebergrest.New(icebergrest.DefaultConfig(s3URL), icebergrest.Deps{Auth: a, Catalog: l.Iceberg})
	if err != nil {
		return err
	}
	buckets := api.NewBucketCollector(l.Store, api.DefaultBucketMetricsConfig())
	defer buckets.Close()
	rest.Registry().MustRegister(buckets)

	var pg *pgwire.Server
	if cfg.PG != nil {
		pgCfg := pgwire.DefaultConfig()
		if cfg.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return fmt.Errorf("cannot load --tls-cert/--tls-key for the PostgreSQL endpoint: %w", err)
			}
			pgCfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		if pg, err = pgwire.New(pgCfg, pgwire.Deps{Auth: a, Queries: l.Query, Catalog: l.Catalog, Engine: l.Engine}); err != nil {
			return err
		}
	}

	var (
		errMu sync.Mutex
		errs  []error
	)
	report := func(what string, err error) {
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
			errMu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			errMu.Unlock()
		}
	}
	var g run.Group

	// The server runs until ctx ends (a signal) or an actor fails.
	{
		stop := make(chan struct{})
		g.Add(func() error {
			select {
			case <-ctx.Done():
			case <-stop:
			}
			return nil
		}, func(error) { close(stop) })
	}

	// Requests' contexts end a grace period into a shutdown, so that one
	// waiting for an engine session or a slow client gives up rather than
	// holding the shutdown to its timeout.
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	var ep Endpoints
	var servers []*http.Server
	var drainOnce sync.Once
	drainHTTP := func() {
		// Both HTTP endpoints drain at once, under one grace period.
		drainOnce.Do(func() {
			fmt.Fprintln(cfg.Log, "shutting down: draining requests")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			grace := time.AfterFunc(cfg.RequestGrace, cancelRequests)
			defer grace.Stop()
			var wg sync.WaitGroup
			for _, srv := range servers {
				wg.Add(1)
				go func() { defer wg.Done(); report("cannot shut down cleanly", srv.Shutdown(sctx)) }()
			}
			wg.Wait()
		})
	}
	for _, e := range []struct {
		name string
		ln   net.Listener
		h    http.Handler
		url  *string
	}{{"S3 endpoint", cfg.S3, aws.Wrap(s3), &ep.S3}, {"REST API", cfg.API, cons.Mount(icebergrest.Mount(IcebergPath, iceREST, rest)), &ep.API}} {
		if e.ln == nil {
			continue
		}
		srv := &http.Server{Handler: e.h, ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:    slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
			BaseContext: func(net.Listener) context.Context { return reqCtx }}
		servers = append(servers, srv)
		*e.url = fmt.Sprintf("%s://%s", scheme, e.ln.Addr())
		fmt.Fprintf(cfg.Out, "%s on %s\n", e.name, *e.url)
		ln, name := e.ln, e.name
		g.Add(func() error {
			var err error
			if cfg.CertFile != "" {
				err = srv.ServeTLS(ln, cfg.CertFile, cfg.KeyFile)
			} else {
				err = srv.Serve(ln)
			}
			report(name, err)
			return err
		}, func(error) { drainHTTP() })
	}
	if pg != nil {
		ep.PG = cfg.PG.Addr().String()
		// dbt steps log in there, as their workflow's key.
		l.Workflows.SetPGEndpoint(ep.PG, admin.AccessKeyID)
		fmt.Fprintf(cfg.Out, "PostgreSQL endpoint on %s\n", ep.PG)
		// A server that does not own the warehouse forwards connections
		// to the one that does (warehouseowner.go).
		front := l.pgFrontFor(pg)
		g.Add(func() error {
			err := front.Serve(cfg.PG)
			report("PostgreSQL endpoint", err)
			return err
		}, func(error) {
			// After the HTTP drain: statements still running are
			// cancelled and recorded CANCELLED.
			drainHTTP()
			report("cannot close the PostgreSQL endpoint", front.Close())
		})
	}
	// The warehouse's owner says where it listens before anyone is told
	// this server is up; the others learn it (warehouseowner.go).
	if err := l.announceWarehouseOwner(ctx, ep); err != nil {
		return err
	}
	if cfg.Listening != nil {
		if err := cfg.Listening(ep); err != nil {
			return err
		}
	}

	// Background queries, then the REST API's own work (long-polls,
	// metrics), are cancelled and recorded as such once no request can
	// start new ones.
	{
		stop := make(chan struct{})
		g.Add(func() error { <-stop; return nil }, func(error) {
			drainHTTP()
			async.Close()
			rest.Close()
			close(stop)
		})
	}
	// The background work: the scheduler (triggers and workflow runs; steps
	// still running are recorded RETRYING and resumed at the next start),
	// the alarms' evaluator (webhook retries end), the garbage collector of
	// replaced files and buckets' lifecycle rules. They stop last, after
	// the requests that could still start work.
	background := func(name string, fn func(context.Context) error) {
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		g.Add(func() error {
			err := fn(bctx)
			if bctx.Err() == nil {
				// Ended on its own: that is a failure of the server.
				if err == nil {
					err = errors.New("stopped")
				}
				report(name, err)
			}
			return err
		}, func(error) { cancel() })
	}
	// Every server answers requests; the one holding the lake's leader
	// lease (one server on the embedded default) runs these (cluster.go).
	background("cluster", func(ctx context.Context) error {
		return l.runCluster(ctx, cfg.Cluster, ep, []leaderDuty{
			{"scheduler", l.Workflows.Run},
			{"alarms", func(ctx context.Context) error { l.Alarms.Run(ctx); return nil }},
			{"garbage collector", func(ctx context.Context) error { l.CollectGarbage(ctx, time.Minute); return nil }},
			{"lifecycle rules", func(ctx context.Context) error { s3.RunLifecycle(ctx, time.Hour); return nil }},
		})
	})
	background("warehouse owner", l.watchWarehouseOwner(ep))

	_ = g.Run()
	return errors.Join(errs...)
}

// s3Triggers keeps the S3 endpoint's bucket notifications as event
// triggers of the workflow service.
type s3Triggers struct{ w *workflow.Service }

func (t s3Triggers) CreateEventTrigger(ctx context.Context, et s3api.EventTrigger) error {
	return t.w.CreateTrigger(ctx, workflow.Trigger{Name: et.Name, Type: workflow.TriggerEvent,
		Job: et.Job, Workflow: et.Workflow, Crawler: et.Crawler,
		Prefix: storage.URI{Bucket: et.Bucket, Key: et.Prefix}.String(), Suffix: et.Suffix, Enabled: true})
}

func (t s3Triggers) DeleteEventTrigger(ctx context.Context, name string) error {
	if err := t.w.DeleteTrigger(ctx, name); err != nil && !errors.Is(err, workflow.ErrNoSuchTrigger) {
		return err
	}
	return nil
}
