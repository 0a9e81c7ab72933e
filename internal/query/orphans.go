package query

import (
	"context"
	"fmt"
)

// RecoverOrphans fails the query executions whose process is known to be
// gone (runs.OwnerGone: exited on this host, or a server of the lake's
// cluster whose heartbeat expired), as opening the service does: the
// lake's leader calls it periodically, so that a dead server's queries do
// not stay RUNNING.
func (s *Service) RecoverOrphans(ctx context.Context) error {
	if _, err := runTable.Recover(ctx, s.db.SQL(), "interrupted: the server stopped before the query finished; run it again", StateQueued, StateRunning); err != nil {
		return fmt.Errorf("cannot recover query executions: %w", err)
	}
	return nil
}
