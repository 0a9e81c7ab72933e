package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/cluster"
)

// Several servers, one lake: every `tarn serve` on the same S3 store and
// PostgreSQL metadata is a member of the lake's cluster (internal/cluster)
// and answers the S3, REST, pgwire and AWS APIs; the one holding the
// leader lease also runs the lake's background duties: the scheduler
// (triggers, schedules, event-driven starts, workflow runs), the alarms'
// evaluator, the garbage collector and buckets' lifecycle rules. On the
// embedded default (SQLite, one server) the lone server takes the lease at
// its first heartbeat, and at once after a restart (the previous holder's
// process is gone).

// ServerID is the cluster member id of the server of a data folder: its
// host and the folder, stable across restarts (the warehouse's owner uses
// the same form).
func ServerID(home string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	return host + ":" + home
}

// leaderDuty is one background loop only the leader runs; it returns when
// ctx ends.
type leaderDuty struct {
	name string
	run  func(ctx context.Context) error
}

// runCluster joins the cluster with the server's endpoints and runs the
// duties while this server leads, until ctx ends. A server that stops
// leading (the lease lost, or the shutdown) stops its duties and releases
// its workflow runs, so that the next leader takes them over at once.
func (l *Lake) runCluster(ctx context.Context, cfg cluster.Config, ep Endpoints, duties []leaderDuty) error {
	if cfg.ID == "" {
		cfg.ID = ServerID(l.Home)
	}
	c, err := cluster.New(ctx, l.Meta, cfg)
	if err != nil {
		return err
	}
	if err := c.Join(ctx, cluster.Addrs{S3: ep.S3, API: ep.API, PG: ep.PG}); err != nil {
		return err
	}
	l.setCluster(c)
	// Only the lease's holder fires triggers and takes runs.
	l.Workflows.Fence = c.Fence
	duties = append(duties, leaderDuty{"orphaned runs", l.recoverOrphans})
	return c.Run(ctx, func(lctx context.Context) error {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		lctx, stop := context.WithCancel(lctx)
		defer stop()
		for _, d := range duties {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := d.run(lctx)
				if lctx.Err() == nil {
					// Ended on its own: the others stop too, and the
					// server fails (as a single server's duties did).
					if err == nil {
						err = errors.New("stopped")
					}
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
					mu.Unlock()
					stop()
				}
			}()
		}
		wg.Wait()
		// The scheduler has recorded its interrupted steps: the runs go to
		// the next leader (this server again, if it keeps the lease).
		if err := l.Workflows.Release(context.WithoutCancel(ctx)); err != nil {
			slog.Warn("cannot release the workflow runs on leaving the lead", "err", err)
		}
		return errors.Join(errs...)
	})
}

// recoverOrphans ends, every few seconds, the job runs, crawls and query
// executions of processes known to be gone (a server whose heartbeat
// expired included), as a restart would; workflow runs are the
// scheduler's (it takes them over).
func (l *Lake) recoverOrphans(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, fn := range []func(context.Context) error{l.Jobs.RecoverOrphans, l.Crawlers.RecoverOrphans, l.Query.RecoverOrphans} {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				slog.Warn("cannot recover the runs of a process that is gone", "err", err)
			}
		}
	}
}

var clusterMu sync.Mutex

func (l *Lake) setCluster(c *cluster.Cluster) {
	clusterMu.Lock()
	l.cluster = c
	clusterMu.Unlock()
}

// Cluster is the membership of the running server (nil before Serve has
// joined): Members lists the servers with their addresses, Leader the one
// holding the lease.
func (l *Lake) Cluster() *cluster.Cluster {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	return l.cluster
}

// Members lists the lake's servers (with their S3, REST and PostgreSQL
// addresses, whether they are alive and which one leads), read from the
// metadata database: usable from any process on the lake, a server or not.
func (l *Lake) Members(ctx context.Context) ([]cluster.Member, error) {
	if c := l.Cluster(); c != nil {
		return c.Members(ctx)
	}
	c, err := cluster.New(ctx, l.Meta, cluster.Config{ID: ServerID(l.Home)})
	if err != nil {
		return nil, err
	}
	return c.Members(ctx)
}

// Leader returns the server holding the leader lease (ok false during a
// failover, or when no server runs).
func (l *Lake) Leader(ctx context.Context) (m cluster.Member, ok bool, err error) {
	if c := l.Cluster(); c != nil {
		return c.Leader(ctx)
	}
	c, err := cluster.New(ctx, l.Meta, cluster.Config{ID: ServerID(l.Home)})
	if err != nil {
		return cluster.Member{}, false, err
	}
	return c.Leader(ctx)
}
