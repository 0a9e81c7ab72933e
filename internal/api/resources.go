package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
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
	vs, err := s.cat.SchemaVersions(ctx, db, t)
	return wireList(vs, err, wireSchemaVersion)
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
	if err := p.Authorize("glue:GetCrawlers", auth.CatalogResource); err != nil {
		return nil, err
	}
	cs, err := s.crawlers.List(ctx)
	return wireList(cs, err, wireCrawlerSpec)
}

func (s *Server) getCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetCrawler", crawlerResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	return crawlerSpec(s.crawlers.Get(ctx, r.PathValue("name")))
}

func (s *Server) stopCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StopCrawler", crawlerResource(name)); err != nil {
		return nil, err
	}
	if err := s.crawlers.Stop(ctx, name); err != nil {
		return nil, err
	}
	return map[string]string{"crawler": name, "state": "STOPPING"}, nil
}

func crawlerResource(name string) string { return "arn:aws:glue:*:*:crawler/" + name }
func jobResource(name string) string     { return "arn:aws:glue:*:*:job/" + name }

func (s *Server) startCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StartCrawler", crawlerResource(name)); err != nil {
		return nil, err
	}
	var body apitypes.StartCrawlerRequest
	if err := decodeBody(r, &body, `{"dry_run": false, "accept_drift": false}`); err != nil {
		return nil, err
	}
	before, err := s.crawlers.Runs(ctx, name)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, run := range before {
		known[run.ID] = true
	}
	c := s.follow.newCrawl()
	type result struct {
		run crawler.Run
		err error
	}
	done := make(chan result, 1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		run, err := s.crawlers.Start(s.bgCtx, name, crawler.StartOptions{DryRun: body.DryRun, AcceptDrift: body.AcceptDrift, Progress: c.update})
		s.follow.crawlDone(c)
		done <- result{run, err}
	}()
	// The crawl records its run before it reads a file: find it, so that
	// the caller can follow it.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			if res.run.ID == "" {
				return nil, res.err
			}
			// The state is the one at the start, as for a crawl still running.
			return apitypes.Started{Crawler: name, State: crawler.StateRunning, ID: res.run.ID}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			runs, err := s.crawlers.Runs(ctx, name)
			if err != nil {
				return nil, err
			}
			for _, run := range runs {
				if !known[run.ID] && run.State == crawler.StateRunning {
					s.follow.crawlStarted(c, run.ID)
					return apitypes.Started{Crawler: name, State: crawler.StateRunning, ID: run.ID}, nil
				}
			}
		}
	}
}

func (s *Server) getCrawlerRun(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	run, err := s.crawlers.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetCrawlerMetrics", crawlerResource(run.Crawler)); err != nil {
		return nil, err
	}
	// While it runs in this server, with its progress.
	out := wireCrawlerRun(run)
	if run.State == crawler.StateRunning {
		if p := s.follow.crawlProgress(run.ID); p != nil {
			out.Progress = &apitypes.CrawlerProgress{FilesDone: p.FilesDone, FilesTotal: p.FilesTotal, BytesDone: p.BytesDone, Current: p.Current}
		}
	}
	return out, nil
}

// crawlerRequest is the body of POST /api/v1/crawlers.
type crawlerRequest = apitypes.CrawlerRequest

func (s *Server) createCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var req crawlerRequest
	if err := decodeBody(r, &req, `{"name": "...", "database": "...", "targets": ["s3://bucket/prefix/"]}`); err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:CreateCrawler", crawlerResource(req.Name)); err != nil {
		return nil, err
	}
	spec := crawler.Spec{Name: req.Name, Database: req.Database, Description: req.Description, Targets: req.Targets, Exclusions: req.Exclusions,
		SchemaChangePolicy: req.SchemaChangePolicy, DeleteBehavior: req.DeleteBehavior, RecrawlPolicy: req.RecrawlPolicy}
	if err := s.crawlers.Create(ctx, spec); err != nil {
		return nil, err
	}
	return crawlerSpec(s.crawlers.Get(ctx, spec.Name))
}

// updateCrawler changes a crawler in place (glue:UpdateCrawler), keeping its
// runs and what it remembers of folders and tables: the fields the body has
// replace the crawler's, the others keep their value.
func (s *Server) updateCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:UpdateCrawler", crawlerResource(name)); err != nil {
		return nil, err
	}
	cur, err := s.crawlers.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	req := crawlerRequest{Name: cur.Name, Database: cur.Database, Description: cur.Description, Targets: cur.Targets, Exclusions: cur.Exclusions,
		SchemaChangePolicy: cur.SchemaChangePolicy, DeleteBehavior: cur.DeleteBehavior, RecrawlPolicy: cur.RecrawlPolicy}
	fields, err := decodePatch(r, &req, `{"targets": ["s3://bucket/prefix/"], "description": "..."}`, nil)
	if err != nil {
		return nil, err
	}
	if fields["name"] && req.Name != name {
		return nil, badRequest("the body names crawler %q, the path %q", req.Name, name)
	}
	spec := crawler.Spec{Name: name, Database: req.Database, Description: req.Description, Targets: req.Targets, Exclusions: req.Exclusions,
		SchemaChangePolicy: req.SchemaChangePolicy, DeleteBehavior: req.DeleteBehavior, RecrawlPolicy: req.RecrawlPolicy}
	if err := s.crawlers.Update(ctx, spec); err != nil {
		return nil, err
	}
	return crawlerSpec(s.crawlers.Get(ctx, name))
}

func (s *Server) deleteCrawler(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:DeleteCrawler", crawlerResource(name)); err != nil {
		return nil, err
	}
	if err := s.crawlers.Delete(ctx, name); err != nil {
		return nil, err
	}
	return map[string]string{"crawler": name, "state": "DELETED"}, nil
}

func (s *Server) crawlerRuns(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetCrawlerMetrics", crawlerResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	runs, err := s.crawlers.Runs(ctx, r.PathValue("name"))
	return wireList(runs, err, wireCrawlerRun)
}

func (s *Server) listJobs(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetJobs", auth.CatalogResource); err != nil {
		return nil, err
	}
	js, err := s.jobs.List(ctx)
	return wireList(js, err, wireJobSpec)
}

func (s *Server) getJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetJob", jobResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	return jobSpec(s.jobs.Get(ctx, r.PathValue("name")))
}

func (s *Server) startJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StartJobRun", jobResource(name)); err != nil {
		return nil, err
	}
	if _, err := s.jobs.Get(ctx, name); err != nil {
		return nil, err
	}
	var body apitypes.StartJobRequest
	if err := decodeBody(r, &body, `{"args": {"name": "value"}}`); err != nil {
		return nil, err
	}
	js := s.follow.newJob(s.bgCtx, s.jobs, name)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		_, err := s.jobs.Start(s.bgCtx, name, jobs.StartOptions{Args: body.Args, Progress: js.line})
		s.follow.jobDone(js, err)
	}()
	// A run is recorded (and logs its first line) before it does any work:
	// answer with its id, so that the caller can follow it.
	select {
	case id := <-js.first:
		if id == "" {
			return nil, js.err
		}
		return apitypes.Started{Job: name, State: jobs.StateStarting, ID: id}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// jobRun is a job run as GET /api/v1/job-runs/{id} shows it (see
// apitypes.JobRun).
type jobRun = apitypes.JobRun

func (s *Server) getJobRun(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	run, err := s.jobs.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetJobRun", jobResource(run.Job)); err != nil {
		return nil, err
	}
	return s.jobRunAnywhere(ctx, run)
}

func (s *Server) jobRunLog(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	run, err := s.jobs.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetJobRun", jobResource(run.Job)); err != nil {
		return nil, err
	}
	jr := s.follow.jobRun(run)
	return map[string]any{"id": run.ID, "job": run.Job, "state": run.State, "log": nonNil(jr.Log)}, nil
}

// jobRequest is the body of POST /api/v1/jobs: a job spec, with the timeout
// as a Go duration ("2h30m") or in nanoseconds.
type jobRequest struct {
	jobs.Spec
	Timeout json.RawMessage `json:"timeout"`
}

func (s *Server) createJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var req jobRequest
	if err := decodeBody(r, &req, `{"name": "...", "sql": "SELECT ...", "target": "s3://bucket/prefix/"}`); err != nil {
		return nil, err
	}
	spec := req.Spec
	if err := req.timeout(&spec); err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:CreateJob", jobResource(spec.Name)); err != nil {
		return nil, err
	}
	// The job runs as the caller's key, or as the role key (run_as) the
	// caller may pass.
	if err := s.jobs.CreateBy(ctx, spec, &p.Key); err != nil {
		if errors.Is(err, jobs.ErrIdentity) {
			return nil, &apiError{http.StatusBadRequest, "InvalidRequest", err}
		}
		return nil, err
	}
	return jobSpec(s.jobs.Get(ctx, spec.Name))
}

// timeout sets spec.Timeout from the request's, if it has one.
func (req jobRequest) timeout(spec *jobs.Spec) error {
	t := strings.TrimSpace(string(req.Timeout))
	if t == "" || t == "null" {
		return nil
	}
	var ns int64
	var text string
	switch {
	case json.Unmarshal(req.Timeout, &ns) == nil:
		spec.Timeout = time.Duration(ns)
	case json.Unmarshal(req.Timeout, &text) == nil:
		d, err := time.ParseDuration(text)
		if err != nil {
			return badRequest("timeout: %v", err)
		}
		spec.Timeout = d
	default:
		return badRequest("timeout: %s is not a duration (\"2h\") or nanoseconds", t)
	}
	return nil
}

// updateJob changes a job in place (glue:UpdateJob), keeping its runs and
// bookmarks: the fields the body has replace the job's, the others keep
// their value. The SQL is checked as at create, and the job's identity
// (kept, or a new run_as) must be one the key could give it at create.
func (s *Server) updateJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:UpdateJob", jobResource(name)); err != nil {
		return nil, err
	}
	cur, err := s.jobs.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	req := jobRequest{Spec: cur}
	fields, err := decodePatch(r, &req, `{"sql": "SELECT ...", "max_retries": 2}`, func(fields map[string]bool) {
		// A map would be merged into the old one key by key: the body's
		// args replace the job's.
		if fields["args"] {
			req.Args = nil
		}
	})
	if err != nil {
		return nil, err
	}
	spec := req.Spec
	if err := req.timeout(&spec); err != nil {
		return nil, err
	}
	if fields["name"] && spec.Name != name {
		return nil, badRequest("the body names job %q, the path %q", spec.Name, name)
	}
	spec.Name = name
	if fields["sql"] && !fields["sql_file"] {
		spec.SQLFile = "" // the SQL no longer comes from that file
	}
	if err := s.jobs.UpdateBy(ctx, spec, &p.Key); err != nil {
		if errors.Is(err, jobs.ErrIdentity) {
			return nil, &apiError{http.StatusBadRequest, "InvalidRequest", err}
		}
		return nil, err
	}
	return jobSpec(s.jobs.Get(ctx, name))
}

func (s *Server) deleteJob(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:DeleteJob", jobResource(name)); err != nil {
		return nil, err
	}
	if err := s.jobs.Delete(ctx, name); err != nil {
		return nil, err
	}
	return map[string]string{"job": name, "state": "DELETED"}, nil
}

func (s *Server) resetJobBookmark(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:ResetJobBookmark", jobResource(name)); err != nil {
		return nil, err
	}
	n, err := s.jobs.ResetBookmark(ctx, name)
	if err != nil {
		return nil, err
	}
	return apitypes.ResetBookmarkResponse{Job: name, FilesForgotten: n}, nil
}

func (s *Server) jobRuns(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetJobRuns", jobResource(r.PathValue("name"))); err != nil {
		return nil, err
	}
	runs, err := s.jobs.Runs(ctx, r.PathValue("name"))
	return wireList(runs, err, wireJobRun)
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

func (s *Server) createWorkgroup(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var body apitypes.Workgroup
	if err := decodeBody(r, &body, `{"name": "...", "result_location": "s3://...", "bytes_scanned_cutoff": 0, "require_partition_filter": ["db.table"], "max_concurrent": 0}`); err != nil {
		return nil, err
	}
	w := serviceWorkgroup(body)
	if err := p.Authorize("athena:CreateWorkGroup", auth.WorkgroupResource(w.Name)); err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, &apiError{http.StatusBadRequest, "InvalidRequest", err}
	}
	if err := authorizeResultLocation(p, w); err != nil {
		return nil, err
	}
	if err := s.queries.CreateWorkgroup(ctx, w); err != nil {
		return nil, err
	}
	return workgroup(s.queries.Workgroup(ctx, w.Name))
}

func (s *Server) updateWorkgroup(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	var body apitypes.Workgroup
	if err := decodeBody(r, &body, `{"result_location": "s3://...", "bytes_scanned_cutoff": 0, "require_partition_filter": ["db.table"], "max_concurrent": 0}`); err != nil {
		return nil, err
	}
	w := serviceWorkgroup(body)
	if w.Name != "" && w.Name != name {
		return nil, badRequest("the body names workgroup %q, the path %q", w.Name, name)
	}
	w.Name = name
	if err := p.Authorize("athena:UpdateWorkGroup", auth.WorkgroupResource(name)); err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, &apiError{http.StatusBadRequest, "InvalidRequest", err}
	}
	if err := authorizeResultLocation(p, w); err != nil {
		return nil, err
	}
	if err := s.queries.UpdateWorkgroup(ctx, w); err != nil {
		return nil, err
	}
	return workgroup(s.queries.Workgroup(ctx, name))
}

// authorizeResultLocation: a workgroup's queries write their results to its
// result location as the keys that run them (checked again then); the key
// that sets the location must be allowed to write there too, or it could
// point others' results at a folder it may not write, such as a table's.
func authorizeResultLocation(p *auth.Principal, w query.Workgroup) error {
	u, err := storage.ParseURI(w.ResultLocation)
	if err != nil {
		return &apiError{http.StatusBadRequest, "InvalidRequest", err}
	}
	if err := p.Authorize("s3:PutObject", auth.S3Resource(u.Bucket, u.Key)); err != nil {
		return fmt.Errorf("cannot set the result location of workgroup %q to %s: %w", w.Name, u, err)
	}
	return nil
}

func (s *Server) getWorkgroup(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("athena:GetWorkGroup", auth.WorkgroupResource(name)); err != nil {
		return nil, err
	}
	return workgroup(s.queries.Workgroup(ctx, name))
}

func (s *Server) deleteWorkgroup(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("athena:DeleteWorkGroup", auth.WorkgroupResource(name)); err != nil {
		return nil, err
	}
	if err := s.queries.DeleteWorkgroup(ctx, name); err != nil {
		return nil, err
	}
	return map[string]string{"workgroup": name, "state": "DELETED"}, nil
}

// Access keys are managed with IAM's actions (iam:CreateAccessKey,
// iam:ListAccessKeys, iam:DeleteAccessKey) on the key's name as an IAM user,
// arn:aws:iam::*:user/NAME. Admin keys may; other keys only if their policy
// says so, which makes them as powerful as an admin (a key they create may
// have any policy).

func keyResource(name string) string { return "arn:aws:iam::*:user/" + name }

func (s *Server) listKeys(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("iam:ListAccessKeys", keyResource("*")); err != nil {
		return nil, err
	}
	keys, err := s.auth.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(keys, wireKey)), nil
}

func (s *Server) createKey(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var req apitypes.CreateKeyRequest
	if err := decodeBody(r, &req, `{"name": "...", "policy": {"Statement": [...]}}`); err != nil {
		return nil, err
	}
	if err := p.Authorize("iam:CreateAccessKey", keyResource(req.Name)); err != nil {
		return nil, err
	}
	if len(req.Policy) == 0 || string(req.Policy) == "null" {
		return nil, badRequest("policy is missing: give the key's rights as an IAM policy document")
	}
	pol, err := auth.ParsePolicy(req.Policy)
	if err != nil {
		return nil, err
	}
	// The secret is in the answer, once; listings never show it.
	k, err := s.auth.CreateKey(ctx, req.Name, pol)
	if err != nil {
		return nil, err
	}
	return wireKey(k), nil
}

func (s *Server) deleteKey(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	id := r.PathValue("id")
	k, err := s.auth.GetKey(ctx, id)
	if errors.Is(err, auth.ErrNoSuchKey) {
		// Not the S3 endpoint's InvalidAccessKeyId: the caller's key is fine.
		return nil, &apiError{http.StatusNotFound, "NotFound", fmt.Errorf("cannot delete access key %q: %w", id, err)}
	}
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("iam:DeleteAccessKey", keyResource(k.Name)); err != nil {
		return nil, err
	}
	if err := s.auth.DeleteKey(ctx, id); err != nil {
		return nil, err
	}
	return map[string]string{"access_key_id": id, "state": "DELETED"}, nil
}

// decodeBody decodes a JSON request body strictly into v; an empty body
// leaves v as it is. example shows the expected shape in the error.
func decodeBody(r *http.Request, v any, example string) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body must be JSON %s: %v", example, err)
	}
	return nil
}

// decodePatch decodes a JSON object body strictly over v, which holds the
// resource as it is, so that the fields the body has replace v's and the
// others keep their value. It returns the fields the body has; before
// decoding, prepare (if not nil) may clear what should not be merged.
func decodePatch(r *http.Request, v any, example string, prepare func(fields map[string]bool)) (map[string]bool, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	fields := map[string]bool{}
	if len(bytes.TrimSpace(data)) == 0 {
		return fields, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, badRequest("the body must be a JSON object %s: %v", example, err)
	}
	for k := range raw {
		fields[strings.ToLower(k)] = true
	}
	if prepare != nil {
		prepare(fields)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, badRequest("the body must be JSON %s: %v", example, err)
	}
	return fields, nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// follow keeps, for the crawls and job runs started through this server,
// what their stored runs show only when they end: progress, the log so far
// and, for jobs, the attempt that follows a failed one. It is what lets a
// client follow a run it started (tarn crawler start, tarn job start).
// Entries are dropped a while after their start has returned.
type follow struct {
	mu     sync.Mutex
	crawls map[string]*crawlFollow // by run id
	jobs   map[string]*jobFollow   // by run id, for each attempt
}

// followKeep is how long a finished start's entries stay.
const followKeep = time.Minute

func (f *follow) init() {
	f.crawls = map[string]*crawlFollow{}
	f.jobs = map[string]*jobFollow{}
}

// crawlFollow is one crawl started through the server.
type crawlFollow struct {
	f        *follow
	id       string // guarded by f.mu
	done     bool   // guarded by f.mu
	progress *crawler.Progress
}

func (f *follow) newCrawl() *crawlFollow { return &crawlFollow{f: f} }

// update is the crawl's Progress callback.
func (c *crawlFollow) update(p crawler.Progress) {
	c.f.mu.Lock()
	c.progress = &p
	c.f.mu.Unlock()
}

func (f *follow) crawlStarted(c *crawlFollow, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.id = id
	if !c.done {
		f.crawls[id] = c
	}
}

func (f *follow) crawlDone(c *crawlFollow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.done = true
	if c.id != "" {
		delete(f.crawls, c.id)
	}
}

func (f *follow) crawlProgress(id string) *crawler.Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.crawls[id]; c != nil && c.progress != nil {
		p := *c.progress
		return &p
	}
	return nil
}

// jobFollow is one start of a job through the server: its attempts, each
// a run.
type jobFollow struct {
	f     *follow
	ctx   context.Context
	svc   *jobs.Service
	job   string
	first chan string // the first attempt's run id, or "" (then err says why)
	err   error

	// guarded by f.mu
	runs []string            // the attempts' run ids, in order
	logs map[string][]string // each attempt's log lines so far
	last map[string]string   // each attempt's latest line
	done bool                // Start has returned: no attempt follows
}

func (f *follow) newJob(ctx context.Context, svc *jobs.Service, job string) *jobFollow {
	return &jobFollow{f: f, ctx: ctx, svc: svc, job: job, first: make(chan string, 1), logs: map[string][]string{}, last: map[string]string{}}
}

// line is the run's Progress callback. Each attempt's first line is
// "attempt N of job NAME started", logged just after its run is recorded:
// that is when the run's id is looked up.
func (j *jobFollow) line(l string) {
	var n int
	if _, err := fmt.Sscanf(l, "attempt %d of job", &n); err == nil && strings.HasSuffix(l, " started") {
		id := j.f.identify(j.ctx, j.svc, j.job, n)
		j.f.mu.Lock()
		first := false
		if id != "" {
			j.runs = append(j.runs, id)
			j.f.jobs[id] = j
			first = len(j.runs) == 1
		}
		j.f.mu.Unlock()
		if first {
			j.first <- id
		}
	}
	j.f.mu.Lock()
	defer j.f.mu.Unlock()
	if len(j.runs) > 0 {
		cur := j.runs[len(j.runs)-1]
		j.logs[cur] = append(j.logs[cur], time.Now().UTC().Format("15:04:05.000")+" "+l)
		j.last[cur] = l
	}
}

// identify finds the run of an attempt that was just recorded: the newest
// live run of the job with that attempt number that no start of this
// server has claimed.
func (f *follow) identify(ctx context.Context, svc *jobs.Service, job string, attempt int) string {
	for try := 0; try < 20; try++ {
		runs, err := svc.Runs(ctx, job)
		if err == nil {
			f.mu.Lock()
			for _, r := range runs {
				if r.Attempt == attempt && (r.State == jobs.StateStarting || r.State == jobs.StateRunning) && f.jobs[r.ID] == nil {
					f.mu.Unlock()
					return r.ID
				}
			}
			f.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(10 * time.Millisecond):
		}
	}
	return ""
}

func (f *follow) jobDone(j *jobFollow, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j.done = true
	if len(j.runs) == 0 {
		j.err = err
		if j.err == nil {
			j.err = fmt.Errorf("job %s ran, but its run could not be found: see its runs", j.job)
		}
		j.first <- ""
		return
	}
	ids := j.runs
	time.AfterFunc(followKeep, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, id := range ids {
			delete(f.jobs, id)
		}
	})
}

func (f *follow) jobRun(run jobs.Run) jobRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := wireJobRun(run)
	j := f.jobs[run.ID]
	if j == nil {
		return out
	}
	ended := run.State != jobs.StateStarting && run.State != jobs.StateRunning
	if len(run.Log) == 0 {
		out.Log = append([]string(nil), j.logs[run.ID]...)
	}
	if !ended {
		out.Progress = j.last[run.ID]
	}
	for i, id := range j.runs {
		if id == run.ID && i+1 < len(j.runs) {
			out.NextAttempt = j.runs[i+1]
		}
	}
	out.Retrying = ended && run.State != jobs.StateSucceeded && out.NextAttempt == "" && !j.done
	return out
}
