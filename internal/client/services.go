package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
)

// Catalog reads the data catalog, as catalog.Catalog does, in the API's
// wire types.
type Catalog struct{ c *Client }

// Catalog returns the catalog part of the API.
func (c *Client) Catalog() *Catalog { return &Catalog{c} }

func (k *Catalog) ListDatabases(ctx context.Context) ([]apitypes.Database, error) {
	var out []apitypes.Database
	return out, k.c.do(ctx, "GET", "/api/v1/databases", nil, &out)
}

func (k *Catalog) ListTables(ctx context.Context, db string) ([]apitypes.Table, error) {
	var out []apitypes.Table
	return out, k.c.do(ctx, "GET", "/api/v1/databases/"+seg(db)+"/tables", nil, &out)
}

func (k *Catalog) GetTable(ctx context.Context, db, name string) (apitypes.Table, error) {
	var out apitypes.Table
	return out, k.c.do(ctx, "GET", "/api/v1/databases/"+seg(db)+"/tables/"+seg(name), nil, &out)
}

func (k *Catalog) ListPartitions(ctx context.Context, db, table string) ([]apitypes.Partition, error) {
	var out []apitypes.Partition
	return out, k.c.do(ctx, "GET", "/api/v1/databases/"+seg(db)+"/tables/"+seg(table)+"/partitions", nil, &out)
}

func (k *Catalog) SkippedFiles(ctx context.Context, db, table string) ([]apitypes.SkippedFile, error) {
	var out []apitypes.SkippedFile
	return out, k.c.do(ctx, "GET", "/api/v1/databases/"+seg(db)+"/tables/"+seg(table)+"/skipped-files", nil, &out)
}

func (k *Catalog) SchemaVersions(ctx context.Context, db, table string) ([]apitypes.SchemaVersion, error) {
	var out []apitypes.SchemaVersion
	return out, k.c.do(ctx, "GET", "/api/v1/databases/"+seg(db)+"/tables/"+seg(table)+"/versions", nil, &out)
}

// Crawlers defines and runs crawlers in the server, as crawler.Service does.
type Crawlers struct{ c *Client }

// Crawlers returns the crawler part of the API.
func (c *Client) Crawlers() *Crawlers { return &Crawlers{c} }

func (k *Crawlers) Create(ctx context.Context, spec apitypes.CrawlerSpec) error {
	body := crawlerRequest(spec)
	return k.c.do(ctx, "POST", "/api/v1/crawlers", body, nil)
}

// Update replaces the crawler's definition in the server, as
// crawler.Service.Update does.
func (k *Crawlers) Update(ctx context.Context, spec apitypes.CrawlerSpec) error {
	body := crawlerRequest(spec)
	body.Name = "" // the path names it
	return k.c.do(ctx, "PUT", "/api/v1/crawlers/"+seg(spec.Name), body, nil)
}

func crawlerRequest(spec apitypes.CrawlerSpec) apitypes.CrawlerRequest {
	return apitypes.CrawlerRequest{Name: spec.Name, Database: spec.Database, Description: spec.Description, Targets: spec.Targets,
		Exclusions: spec.Exclusions, SchemaChangePolicy: spec.SchemaChangePolicy, DeleteBehavior: spec.DeleteBehavior,
		RecrawlPolicy: spec.RecrawlPolicy}
}

func (k *Crawlers) List(ctx context.Context) ([]apitypes.CrawlerSpec, error) {
	var out []apitypes.CrawlerSpec
	return out, k.c.do(ctx, "GET", "/api/v1/crawlers", nil, &out)
}

func (k *Crawlers) Get(ctx context.Context, name string) (apitypes.CrawlerSpec, error) {
	var out apitypes.CrawlerSpec
	return out, k.c.do(ctx, "GET", "/api/v1/crawlers/"+seg(name), nil, &out)
}

func (k *Crawlers) Delete(ctx context.Context, name string) error {
	return k.c.do(ctx, "DELETE", "/api/v1/crawlers/"+seg(name), nil, nil)
}

func (k *Crawlers) Runs(ctx context.Context, name string) ([]apitypes.CrawlerRun, error) {
	var out []apitypes.CrawlerRun
	return out, k.c.do(ctx, "GET", "/api/v1/crawlers/"+seg(name)+"/runs", nil, &out)
}

// GetRun returns a crawl, with its progress while it runs.
func (k *Crawlers) GetRun(ctx context.Context, id string) (apitypes.CrawlerRun, error) {
	var out apitypes.CrawlerRun
	return out, k.c.do(ctx, "GET", "/api/v1/crawler-runs/"+seg(id), nil, &out)
}

// Errors of crawls followed to their end (the words of the crawler
// service's own).
var (
	ErrCrawlFailed  = errors.New("crawl failed")
	ErrCrawlStopped = errors.New("crawl stopped by request")
)

// CrawlOptions are a crawl's options: Progress, if set, gets the server's
// progress at each poll.
type CrawlOptions struct {
	DryRun, AcceptDrift bool
	Progress            func(apitypes.CrawlerProgress)
}

// Start starts a crawl in the server and follows it to its end, as
// crawler.Service.Start runs one: a failed crawl returns its run and an
// error wrapping ErrCrawlFailed, a stopped one ErrCrawlStopped. If ctx ends
// first the crawl is stopped.
func (k *Crawlers) Start(ctx context.Context, name string, opts CrawlOptions) (apitypes.CrawlerRun, error) {
	var st apitypes.Started
	if err := k.c.do(ctx, "POST", "/api/v1/crawlers/"+seg(name)+"/start", apitypes.StartCrawlerRequest{DryRun: opts.DryRun, AcceptDrift: opts.AcceptDrift}, &st); err != nil {
		return apitypes.CrawlerRun{}, err
	}
	if st.ID == "" {
		return apitypes.CrawlerRun{}, fmt.Errorf("the server at %s started crawler %q without naming the run (an older tarn?): see tarn crawler runs %s", k.c.base, name, name)
	}
	p := k.c.poller()
	for {
		run, err := k.GetRun(ctx, st.ID)
		if err != nil {
			if ctx.Err() != nil {
				return apitypes.CrawlerRun{}, k.stopFollowing(ctx, name, st.ID)
			}
			return apitypes.CrawlerRun{}, err
		}
		progress := run.Progress
		run.Progress = nil
		switch run.State {
		case apitypes.StateRunning:
		case apitypes.StateFailed:
			return run, fmt.Errorf("crawler %q run %s: %w: %s", run.Crawler, run.ID, ErrCrawlFailed, run.Error)
		case apitypes.StateCancelled:
			return run, fmt.Errorf("crawler %q run %s: %w", run.Crawler, run.ID, ErrCrawlStopped)
		default:
			return run, nil
		}
		if opts.Progress != nil && progress != nil {
			opts.Progress(*progress)
		}
		if err := p.wait(ctx); err != nil {
			return apitypes.CrawlerRun{}, k.stopFollowing(ctx, name, st.ID)
		}
	}
}

// stopFollowing stops the server's crawl when the caller gave up on it
// (Ctrl-C), as a local crawl stops with the CLI.
func (k *Crawlers) stopFollowing(ctx context.Context, name, id string) error {
	if err := k.Stop(context.WithoutCancel(ctx), name); err != nil {
		return fmt.Errorf("stopped following crawler run %s, which goes on in the server (stopping it failed: %v): %w", id, err, ctx.Err())
	}
	return fmt.Errorf("crawler run %s stopped: %w", id, ctx.Err())
}

// Stop stops the crawler's running crawl in the server.
func (k *Crawlers) Stop(ctx context.Context, name string) error {
	return k.c.do(ctx, "POST", "/api/v1/crawlers/"+seg(name)+"/stop", nil, nil)
}

// Jobs defines and runs jobs in the server, as jobs.Service does.
type Jobs struct{ c *Client }

// Jobs returns the job part of the API.
func (c *Client) Jobs() *Jobs { return &Jobs{c} }

func (k *Jobs) Create(ctx context.Context, spec apitypes.JobSpec) error {
	return k.c.do(ctx, "POST", "/api/v1/jobs", spec, nil)
}

// Update replaces the job's definition in the server, as jobs.Service.Update
// does (its runs and bookmarks stay); the server checks that the caller's
// key may give the job its identity.
func (k *Jobs) Update(ctx context.Context, spec apitypes.JobSpec) error {
	return k.c.do(ctx, "PUT", "/api/v1/jobs/"+seg(spec.Name), spec, nil)
}

func (k *Jobs) List(ctx context.Context) ([]apitypes.JobSpec, error) {
	var out []apitypes.JobSpec
	return out, k.c.do(ctx, "GET", "/api/v1/jobs", nil, &out)
}

func (k *Jobs) Get(ctx context.Context, name string) (apitypes.JobSpec, error) {
	var out apitypes.JobSpec
	return out, k.c.do(ctx, "GET", "/api/v1/jobs/"+seg(name), nil, &out)
}

func (k *Jobs) Delete(ctx context.Context, name string) error {
	return k.c.do(ctx, "DELETE", "/api/v1/jobs/"+seg(name), nil, nil)
}

func (k *Jobs) Runs(ctx context.Context, name string) ([]apitypes.JobRun, error) {
	var out []apitypes.JobRun
	return out, k.c.do(ctx, "GET", "/api/v1/jobs/"+seg(name)+"/runs", nil, &out)
}

// GetRun returns a run, with its log so far if it runs in the server.
func (k *Jobs) GetRun(ctx context.Context, id string) (apitypes.JobRun, error) {
	var out apitypes.JobRun
	return out, k.c.do(ctx, "GET", "/api/v1/job-runs/"+seg(id), nil, &out)
}

// ErrJobRunFailed ends a job run followed to an end other than success
// (the words of the job service's own).
var ErrJobRunFailed = errors.New("job run failed")

// JobOptions are a job run's options: Args override the job's, and
// Progress, if set, gets the run's latest log line at each poll.
type JobOptions struct {
	Args     map[string]string
	Progress func(line string)
}

func (k *Jobs) Stop(ctx context.Context, id string) error {
	return k.c.do(ctx, "POST", "/api/v1/job-runs/"+seg(id)+"/stop", nil, nil)
}

func (k *Jobs) ResetBookmark(ctx context.Context, name string) (int64, error) {
	var out apitypes.ResetBookmarkResponse
	err := k.c.do(ctx, "POST", "/api/v1/jobs/"+seg(name)+"/reset-bookmark", nil, &out)
	return out.FilesForgotten, err
}

// Start starts a job in the server and follows it, through its retries, to
// its last attempt, as jobs.Service.Start runs one: opts.Progress gets the
// run's latest log line at each poll, and a run that did not succeed
// returns with an error wrapping ErrJobRunFailed. If ctx ends first the
// run is stopped, as a local run would be. The run returned is without the
// server's following fields (Progress, NextAttempt, Retrying).
func (k *Jobs) Start(ctx context.Context, name string, opts JobOptions) (apitypes.JobRun, error) {
	var st apitypes.Started
	if err := k.c.do(ctx, "POST", "/api/v1/jobs/"+seg(name)+"/start", apitypes.StartJobRequest{Args: opts.Args}, &st); err != nil {
		return apitypes.JobRun{}, err
	}
	if st.ID == "" {
		return apitypes.JobRun{}, fmt.Errorf("the server at %s started job %q without naming the run (an older tarn?): see tarn job runs %s", k.c.base, name, name)
	}
	id, last := st.ID, ""
	p := k.c.poller()
	stopping := false
	var stopDeadline time.Time
	for {
		pctx := ctx
		if stopping {
			pctx = context.WithoutCancel(ctx)
		}
		run, err := k.GetRun(pctx, id)
		if err != nil {
			return apitypes.JobRun{}, err
		}
		ended := run.State != apitypes.StateStarting && run.State != apitypes.StateRunning
		progress, next, retrying := run.Progress, run.NextAttempt, run.Retrying
		run.Progress, run.NextAttempt, run.Retrying = "", "", false
		switch {
		case ended && next != "":
			id = next
			continue
		case ended && !retrying:
			if run.State == apitypes.StateSucceeded {
				return run, nil
			}
			return run, fmt.Errorf("%w: job %s run %s: %s", ErrJobRunFailed, run.Job, run.ID, run.Error)
		}
		if opts.Progress != nil && progress != "" && progress != last {
			last = progress
			opts.Progress(progress)
		}
		if stopping {
			if time.Now().After(stopDeadline) {
				return run, fmt.Errorf("job %s run %s was asked to stop but is still %s: %w", run.Job, id, run.State, ctx.Err())
			}
			_ = p.wait(context.WithoutCancel(ctx))
		} else if err := p.wait(ctx); err != nil {
			// Interrupted: stop the run as a local run would stop, and wait
			// for it to record its end.
			stopping, stopDeadline = true, time.Now().Add(30*time.Second)
			if serr := k.Stop(context.WithoutCancel(ctx), id); serr != nil && !errors.Is(serr, context.Canceled) {
				var e *Error
				if !errors.As(serr, &e) || e.Status != 409 {
					return run, serr
				}
			}
		}
	}
}

// Queries reads the query history and manages workgroups, as query.Service
// does.
type Queries struct{ c *Client }

// Queries returns the query part of the API.
func (c *Client) Queries() *Queries { return &Queries{c} }

func (k *Queries) History(ctx context.Context, limit int) ([]apitypes.Execution, error) {
	var out []apitypes.Execution
	return out, k.c.do(ctx, "GET", "/api/v1/queries?limit="+strconv.Itoa(limit), nil, &out)
}

func (k *Queries) Summary(ctx context.Context) ([]apitypes.CostSummary, error) {
	var out []apitypes.CostSummary
	return out, k.c.do(ctx, "GET", "/api/v1/queries/summary", nil, &out)
}

// Submit starts a query in the server and returns its id.
func (k *Queries) Submit(ctx context.Context, req apitypes.StartQueryRequest) (string, error) {
	var out apitypes.Started
	err := k.c.do(ctx, "POST", "/api/v1/queries", req, &out)
	return out.ID, err
}

func (k *Queries) Get(ctx context.Context, id string) (apitypes.Execution, error) {
	var out apitypes.Execution
	return out, k.c.do(ctx, "GET", "/api/v1/queries/"+seg(id), nil, &out)
}

// Results returns a page of a succeeded query's results, its values in the
// typed result encoding: numbers stay json.Number, so they print exactly
// as the server's engine gave them.
func (k *Queries) Results(ctx context.Context, id, nextToken string, maxResults int) (apitypes.ResultPage, error) {
	var raw json.RawMessage
	var out apitypes.ResultPage
	if err := k.c.do(ctx, "GET", "/api/v1/queries/"+seg(id)+"/results?max_results="+strconv.Itoa(maxResults)+"&next_token="+url.QueryEscape(nextToken), nil, &raw); err != nil {
		return out, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return out, fmt.Errorf("cannot read the results of %s: %w", id, err)
	}
	return out, nil
}

// Cancel cancels a query.
func (k *Queries) Cancel(ctx context.Context, id string) error {
	return k.c.do(ctx, "DELETE", "/api/v1/queries/"+seg(id), nil, nil)
}

func (k *Queries) CreateWorkgroup(ctx context.Context, w apitypes.Workgroup) error {
	return k.c.do(ctx, "POST", "/api/v1/workgroups", w, nil)
}

func (k *Queries) UpdateWorkgroup(ctx context.Context, w apitypes.Workgroup) error {
	return k.c.do(ctx, "PUT", "/api/v1/workgroups/"+seg(w.Name), w, nil)
}

func (k *Queries) Workgroup(ctx context.Context, name string) (apitypes.Workgroup, error) {
	var out apitypes.Workgroup
	return out, k.c.do(ctx, "GET", "/api/v1/workgroups/"+seg(name), nil, &out)
}

func (k *Queries) Workgroups(ctx context.Context) ([]apitypes.Workgroup, error) {
	var out []apitypes.Workgroup
	return out, k.c.do(ctx, "GET", "/api/v1/workgroups", nil, &out)
}

func (k *Queries) DeleteWorkgroup(ctx context.Context, name string) error {
	return k.c.do(ctx, "DELETE", "/api/v1/workgroups/"+seg(name), nil, nil)
}

// Keys manages access keys, as auth.Service does (admin keys, or keys whose
// policy allows iam:*AccessKey*).
type Keys struct{ c *Client }

// Keys returns the access key part of the API.
func (c *Client) Keys() *Keys { return &Keys{c} }

// CreateKey creates a key with a policy (an IAM policy document); the
// answer carries its secret, once.
func (k *Keys) CreateKey(ctx context.Context, name string, policy json.RawMessage) (apitypes.Key, error) {
	var out apitypes.Key
	return out, k.c.do(ctx, "POST", "/api/v1/keys", apitypes.CreateKeyRequest{Name: name, Policy: policy}, &out)
}

func (k *Keys) ListKeys(ctx context.Context) ([]apitypes.Key, error) {
	var out []apitypes.Key
	return out, k.c.do(ctx, "GET", "/api/v1/keys", nil, &out)
}

func (k *Keys) DeleteKey(ctx context.Context, id string) error {
	return k.c.do(ctx, "DELETE", "/api/v1/keys/"+seg(id), nil, nil)
}
