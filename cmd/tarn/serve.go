package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/awsapi"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
)

// requestGrace is how long requests in flight may take to finish once a
// shutdown begins.
const requestGrace = 10 * time.Second

func serveCmd(g *globals) *cobra.Command {
	var s3Listen, apiListen, pgListen, certFile, keyFile string
	cmd := &cobra.Command{
		Use:   "serve [--s3-listen 127.0.0.1:9000] [--api-listen 127.0.0.1:8080] [--pg-listen 127.0.0.1:5433] [--tls-cert FILE --tls-key FILE]",
		Short: "Serve the lake: S3 endpoint, REST API, PostgreSQL protocol, scheduler and alarms, behind access keys",
		Example: `  tarn serve
  tarn --data /srv/lake serve --s3-listen 0.0.0.0:9000 --api-listen 0.0.0.0:8080 --pg-listen 127.0.0.1:5433
  tarn serve --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if (certFile == "") != (keyFile == "") {
				return errors.New("give both --tls-cert and --tls-key, or neither")
			}
			// One server per data folder, held until the process ends.
			unlock, err := lake.LockServe(g.data)
			if err != nil {
				return err
			}
			defer unlock()
			// Every address is bound before the lake opens or anything is
			// printed: a busy port fails the start with that error alone.
			lns := map[string]net.Listener{}
			for _, lst := range []struct{ name, addr string }{{"S3 endpoint", s3Listen}, {"REST API", apiListen}, {"PostgreSQL endpoint", pgListen}} {
				if lst.addr == "" {
					continue
				}
				ln, err := net.Listen("tcp", lst.addr)
				if err != nil {
					for _, o := range lns {
						o.Close()
					}
					return fmt.Errorf("cannot listen on %s for the %s: %w", lst.addr, lst.name, err)
				}
				lns[lst.name] = ln
			}
			cfg := lake.DefaultConfig(g.data)
			if v := os.Getenv("TARN_CLOCK"); v != "" {
				// A test aid: the scheduler's clock starts at this time and
				// runs from there, so a cron trigger can be made due soon.
				t0, err := time.Parse(time.RFC3339, v)
				if err != nil {
					return fmt.Errorf("TARN_CLOCK %q is not an RFC 3339 time such as 2026-01-01T05:59:55Z", v)
				}
				real0 := time.Now()
				cfg.Workflow.Now = func() time.Time { return t0.Add(time.Since(real0)) }
				cfg.Alarms.Now = cfg.Workflow.Now
			}
			l, err := lake.Open(ctx, cfg)
			if err != nil {
				return err
			}
			defer l.Close()
			a := l.Auth
			admin, created, err := a.EnsureAdmin(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if created {
				fmt.Fprintf(out, "Created the admin access key (shown once; also in %s, mode 0600):\n  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n",
					filepath.Join(l.Home, "admin-key.json"), admin.AccessKeyID, admin.SecretAccessKey)
			} else {
				fmt.Fprintf(out, "Admin access key: %s\n", admin.AccessKeyID)
			}
			uploads, err := storage.NewUploads(filepath.Join(l.Home, "uploads"), l.Store)
			if err != nil {
				return err
			}
			// Every new object version is recorded in the events ledger before
			// the client gets its answer, for the triggers.
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
			// Background queries take at most three quarters of the
			// engine's sessions, so that long ones leave room for the rest;
			// beyond that they wait QUEUED. Under mixed load the query
			// service's gate gives each front end and key an equal turn at
			// the sessions: half of them would cap REST below that share
			// (its queries spend part of their slot waiting at the gate).
			async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: max(2, l.Engine.Sessions()*3/4),
				ResultLocation: storage.URI{Bucket: lake.QuickstartBucket, Key: "athena-results/"}})
			// Glue and Athena's APIs share the S3 endpoint, told apart by
			// X-Amz-Target as AWS does.
			aws := awsapi.New(awsapi.DefaultConfig(), awsapi.Deps{Auth: a, Meta: l.Meta, Catalog: l.Catalog, Queries: l.Query, Async: async,
				Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Alarms: l.Alarms})
			defer aws.Close()
			rest := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: a, Queries: l.Query, Async: async, Catalog: l.Catalog,
				Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Events: l.Events, Alarms: l.Alarms})
			rest.Registry().MustRegister(s3.Collectors()...)
			buckets := api.NewBucketCollector(l.Store, api.DefaultBucketMetricsConfig())
			defer buckets.Close()
			rest.Registry().MustRegister(buckets)
			// The background work: the scheduler (triggers and workflow
			// runs) and the alarms' evaluator.
			bgCtx, bgStop := context.WithCancel(context.WithoutCancel(ctx))
			defer bgStop()
			schedDone, alarmsDone := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(schedDone)
				if err := l.Workflows.Run(bgCtx); err != nil {
					slog.Error("scheduler stopped", "err", err)
				}
			}()
			go func() { defer close(alarmsDone); l.Alarms.Run(bgCtx) }()
			// On every return, the background work ends before the lake closes.
			defer func() { bgStop(); <-schedDone; <-alarmsDone }()
			go l.CollectGarbage(bgCtx, time.Minute)
			// Buckets' lifecycle rules (expirations) run hourly; the pass
			// in progress ends before the lake closes.
			lifecycleDone := make(chan struct{})
			go func() { defer close(lifecycleDone); s3.RunLifecycle(bgCtx, time.Hour) }()
			defer func() { bgStop(); <-lifecycleDone }()
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			// The requests' contexts: ended a grace period into a shutdown.
			reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
			defer cancelRequests()
			errc := make(chan error, 3)
			var servers []*http.Server
			s3URL := "" // for serve.json
			for _, lst := range []struct {
				name, addr string
				h          http.Handler
			}{{"S3 endpoint", s3Listen, aws.Wrap(s3)}, {"REST API", apiListen, rest}} {
				ln := lns[lst.name]
				srv := &http.Server{Handler: lst.h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
					BaseContext: func(net.Listener) context.Context { return reqCtx }}
				servers = append(servers, srv)
				fmt.Fprintf(out, "%s on %s://%s\n", lst.name, scheme, ln.Addr())
				if lst.name == "S3 endpoint" {
					s3URL = fmt.Sprintf("%s://%s", scheme, ln.Addr())
				}
				if lst.name == "REST API" {
					// The CLI finds the server here and goes through it.
					if err := writeServeInfo(l.Home, fmt.Sprintf("%s://%s", scheme, ln.Addr()), s3URL); err != nil {
						return err
					}
					defer removeServeInfo(l.Home)
				}
				go func() {
					if certFile != "" {
						errc <- srv.ServeTLS(ln, certFile, keyFile)
					} else {
						errc <- srv.Serve(ln)
					}
				}()
			}
			var pg *pgwire.Server
			if pgListen != "" {
				pgCfg := pgwire.DefaultConfig()
				if certFile != "" {
					cert, err := tls.LoadX509KeyPair(certFile, keyFile)
					if err != nil {
						return fmt.Errorf("cannot load --tls-cert/--tls-key for the PostgreSQL endpoint: %w", err)
					}
					pgCfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
				}
				if pg, err = pgwire.New(pgCfg, pgwire.Deps{Auth: a, Queries: l.Query, Catalog: l.Catalog, Engine: l.Engine}); err != nil {
					return err
				}
				ln := lns["PostgreSQL endpoint"]
				fmt.Fprintf(out, "PostgreSQL endpoint on %s\n", ln.Addr())
				if err := addServeInfoPG(l.Home, ln.Addr().String()); err != nil {
					slog.Warn("cannot record the PostgreSQL endpoint in serve.json", "err", err)
				}
				go func() { errc <- pg.Serve(ln) }()
			}
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			// Shut down in order: stop taking requests and let those in flight
			// finish, then close the lake (deferred).
			fmt.Fprintln(os.Stderr, "shutting down: draining requests")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Requests get a grace period; then their contexts end, so that
			// one waiting for an engine session or a slow client gives up
			// rather than holding the shutdown for the full 30 s.
			grace := time.AfterFunc(requestGrace, cancelRequests)
			defer grace.Stop()
			errs := make([]error, len(servers))
			var drained sync.WaitGroup
			for i, srv := range servers {
				drained.Add(1)
				go func() { defer drained.Done(); errs[i] = srv.Shutdown(sctx) }()
			}
			drained.Wait()
			if pg != nil {
				// Statements still running are cancelled and recorded CANCELLED.
				errs = append(errs, pg.Close())
			}
			// Then the background work: queries cancelled and recorded as such,
			// crawls and job runs stopped (they publish nothing half-done).
			async.Close()
			rest.Close()
			// Workflow steps still running are cancelled and recorded as
			// RETRYING: the next start resumes them.
			bgStop()
			<-schedDone
			<-alarmsDone
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("cannot shut down cleanly: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&s3Listen, "s3-listen", "127.0.0.1:9000", "address of the S3 endpoint")
	cmd.Flags().StringVar(&apiListen, "api-listen", "127.0.0.1:8080", "address of the REST API and /metrics")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM) to serve HTTPS")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	cmd.Flags().StringVar(&pgListen, "pg-listen", "", "address of the PostgreSQL endpoint, e.g. 127.0.0.1:5433 (off when empty)")
	return cmd
}
