package crawler

import (
	"context"
	"fmt"
)

// RecoverOrphans fails the crawls whose process is known to be gone
// (runs.OwnerGone: exited on this host, or a server of the lake's cluster
// whose heartbeat expired), as opening the service does: the lake's leader
// calls it periodically.
func (s *Service) RecoverOrphans(ctx context.Context) error {
	if _, err := runTable.Recover(ctx, s.db.SQL(), "interrupted: the process running the crawl exited before it finished", StateRunning); err != nil {
		return fmt.Errorf("cannot recover crawls: %w", err)
	}
	return nil
}
