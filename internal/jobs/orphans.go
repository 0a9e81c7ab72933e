package jobs

import "context"

// RecoverOrphans fails the job runs whose process is known to be gone
// (runs.OwnerGone: exited on this host, or a server of the lake's cluster
// whose heartbeat expired) and collects their garbage, as opening the
// service does: the lake's leader calls it periodically, so that the runs
// of a dead server end without waiting for a restart.
func (s *Service) RecoverOrphans(ctx context.Context) error { return s.recover(ctx) }
