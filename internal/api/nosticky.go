package api

import (
	"context"
	"time"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// Behind a load balancer a client polls a job run it started through any
// server. The server that started it follows it in memory (follow); the
// others complete the run's following fields from the metadata database:
// its latest log line as progress (runs record their lines as they go on
// a shared lake), the attempt that followed it, and whether one is about
// to (jobs.RetryPending).

// retryGrace is how long past its announced delay a retry is still
// awaited before a client is told none follows.
const retryGrace = time.Minute

// followed reports whether this server follows run id.
func (f *follow) followed(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[id] != nil
}

// jobRunAnywhere is follow.jobRun, completed from the metadata database
// for a run another server started.
func (s *Server) jobRunAnywhere(ctx context.Context, run jobs.Run) (jobRun, error) {
	out := s.follow.jobRun(run)
	if s.follow.followed(run.ID) {
		return out, nil
	}
	switch run.State {
	case jobs.StateStarting, jobs.StateRunning:
		if n := len(run.Log); n > 0 {
			line := run.Log[n-1]
			if len(line) > 13 && line[2] == ':' && line[12] == ' ' { // "15:04:05.000 "
				line = line[13:]
			}
			out.Progress = line
		}
		return out, nil
	case jobs.StateSucceeded:
		return out, nil
	}
	runs, err := s.jobs.Runs(ctx, run.Job)
	if err != nil {
		return out, err
	}
	for _, r := range runs {
		if r.Attempt == run.Attempt+1 && !r.StartedAt.Before(run.StartedAt) && r.ID != run.ID {
			out.NextAttempt = r.ID
		}
	}
	out.Retrying = out.NextAttempt == "" && jobs.RetryPending(run, time.Now(), retryGrace)
	return out, nil
}
