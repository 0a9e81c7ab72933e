package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Glue and S3 resources beyond queries. Starting a crawler or a job answers
// at once (as Glue's StartCrawler and StartJobRun do); the run goes on in the
// server and its state is read from the runs.

func (s *Server) tableVersions(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	db, t := r.PathValue("db"), r.PathValue("table")
	if err := p.Authorize("glue:GetTableVersions", auth.TableResource(db, t)); err != nil {
		return nil, err
	}
	return s.cat.SchemaVersions(ctx, db, t)
}

func (s *Server) listBuckets(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("s3:ListAllMyBuckets", auth.S3Resource("*", "")); err != nil {
		return nil, err
	}
	return s.store.ListBuckets(ctx)
}

func (s *Server) listObjects(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	b := r.PathValue("bucket")
	if err := p.Authorize("s3:ListBucket", auth.S3Resource(b, "")); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	max, _ := strconv.Atoi(q.Get("max_keys"))
	return s.store.List(ctx, b, storage.ListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		ContinuationToken: q.Get("continuation_token"), MaxKeys: max})
}

func (s *Server) listCrawlers(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetCrawlers", catalogResource); err != nil {
		return nil, err
	}
	return s.crawlers.List(ctx)
}

func (s *Server) getCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetCrawler", crawlerResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	return s.crawlers.Get(ctx, r.PathValue("name"))
}

func crawlerResource(name string) string { return "arn:aws:glue:*:*:crawler/" + name }
func jobResource(name string) string     { return "arn:aws:glue:*:*:job/" + name }

func (s *Server) startCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StartCrawler", crawlerResource(name)); err != nil {
		return nil, err
	}
	if _, err := s.crawlers.Get(ctx, name); err != nil {
		return nil, err
	}
	var body struct {
		DryRun bool `json:"dry_run"`
	}
	if data, _ := io.ReadAll(r.Body); len(data) > 0 {
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, badRequest("the body must be JSON {\"dry_run\": false}: %v", err)
		}
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		_, _ = s.crawlers.Start(s.bgCtx, name, crawler.StartOptions{DryRun: body.DryRun})
	}()
	return map[string]string{"crawler": name, "state": crawler.StateRunning}, nil
}

func (s *Server) crawlerRuns(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetCrawlerMetrics", crawlerResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	return s.crawlers.Runs(ctx, r.PathValue("name"))
}

func (s *Server) listJobs(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetJobs", catalogResource); err != nil {
		return nil, err
	}
	return s.jobs.List(ctx)
}

func (s *Server) getJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetJob", jobResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	return s.jobs.Get(ctx, r.PathValue("name"))
}

func (s *Server) startJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StartJobRun", jobResource(name)); err != nil {
		return nil, err
	}
	if _, err := s.jobs.Get(ctx, name); err != nil {
		return nil, err
	}
	var body struct {
		Args map[string]string `json:"args"`
	}
	if data, _ := io.ReadAll(r.Body); len(data) > 0 {
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, badRequest("the body must be JSON {\"args\": {\"name\": \"value\"}}: %v", err)
		}
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		_, _ = s.jobs.Start(s.bgCtx, name, jobs.StartOptions{Args: body.Args})
	}()
	return map[string]string{"job": name, "state": jobs.StateStarting}, nil
}

func (s *Server) jobRuns(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetJobRuns", jobResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	return s.jobs.Runs(ctx, r.PathValue("name"))
}

func (s *Server) getJobRun(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	run, err := s.jobs.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetJobRun", jobResource(run.Job)); err != nil {
		return nil, err
	}
	return run, nil
}

func (s *Server) stopJobRun(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	run, err := s.jobs.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:BatchStopJobRun", jobResource(run.Job)); err != nil {
		return nil, err
	}
	if err := s.jobs.Stop(ctx, run.ID); err != nil {
		return nil, err
	}
	return map[string]string{"id": run.ID, "state": "STOPPING"}, nil
}
