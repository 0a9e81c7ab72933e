package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/lake"
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
			cfg, err := g.lakeConfig()
			if err != nil {
				return err
			}
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
			wrote := false
			defer func() {
				if wrote {
					removeServeInfo(l.Home)
				}
			}()
			return l.Serve(ctx, lake.ServeConfig{
				S3: lns["S3 endpoint"], API: lns["REST API"], PG: lns["PostgreSQL endpoint"],
				CertFile: certFile, KeyFile: keyFile,
				Out: cmd.OutOrStdout(), Log: os.Stderr, RequestGrace: requestGrace,
				// The CLI finds the server in serve.json and goes through it.
				Listening: func(ep lake.Endpoints) error {
					if ep.API == "" {
						return nil
					}
					if err := writeServeInfo(l.Home, ep.API, ep.S3); err != nil {
						return err
					}
					wrote = true
					if ep.PG != "" {
						if err := addServeInfoPG(l.Home, ep.PG); err != nil {
							slog.Warn("cannot record the PostgreSQL endpoint in serve.json", "err", err)
						}
					}
					return nil
				},
			})
		},
	}
	cmd.Flags().StringVar(&s3Listen, "s3-listen", "127.0.0.1:9000", "address of the S3 endpoint")
	cmd.Flags().StringVar(&apiListen, "api-listen", "127.0.0.1:8080", "address of the REST API and /metrics")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM) to serve HTTPS")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	cmd.Flags().StringVar(&pgListen, "pg-listen", "", "address of the PostgreSQL endpoint, e.g. 127.0.0.1:5433 (off when empty)")
	return cmd
}
