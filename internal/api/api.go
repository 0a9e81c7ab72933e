// Package api is tarn's REST API (JSON over HTTP): Athena-style query
// executions and the catalog, behind the same access keys as the S3
// endpoint (requests are signed with AWS Signature V4), and /metrics in
// Prometheus format.
package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/warehouse"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Config configures the API.
type Config struct {
	// MaxBody bounds a request body (a query's SQL).
	MaxBody int64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{MaxBody: 1 << 20} }

// Deps are the services the API serves.
type Deps struct {
	// DB is the metadata database, read at scrape time for run metrics.
	DB       *sql.DB
	Auth     *auth.Service
	Queries  *query.Service
	Async    *query.Async
	Catalog  *catalog.Catalog
	Crawlers *crawler.Service
	Jobs     *jobs.Service
	Store    storage.ObjectStore
	// Workflows, Events and Alarms serve the pipelines' resources (the
	// routes are left out when nil).
	Workflows *workflow.Service
	Events    *events.Ledger
	Alarms    *alarms.Service
	// Sessions, when set, authenticates requests by the web console's
	// session cookie (internal/console).
	Sessions SessionAuthenticator
	// Warehouse, when set, is listed by GET /api/v1/warehouse.
	Warehouse *warehouse.Service
}

// SessionAuthenticator authenticates a request by a browser session (the
// console's cookie). ok is false when the request carries no session; then
// the request is authenticated by its bearer token or signature. An error
// may carry its HTTP status and code (an HTTPStatus() (int, string)
// method). It must check a CSRF token on requests other than GET and HEAD.
// Safe for concurrent use.
type SessionAuthenticator interface {
	AuthenticateSession(r *http.Request) (p *auth.Principal, ok bool, err error)
}

// Server is the REST API. It is an http.Handler, safe for concurrent use.
type Server struct {
	cfg      Config
	auth     *auth.Service
	queries  *query.Service
	async    *query.Async
	cat      *catalog.Catalog
	crawlers *crawler.Service
	jobs     *jobs.Service
	store    storage.ObjectStore
	// pipelines
	workflows *workflow.Service
	events    *events.Ledger
	alarms    *alarms.Service
	sessions  SessionAuthenticator
	warehouse *warehouse.Service
	mux       *http.ServeMux
	reg       *prometheus.Registry
	bg        sync.WaitGroup // crawls and job runs started through the API
	bgCtx     context.Context
	bgStop    context.CancelFunc
	follow    follow // what runs started here do between their start and end

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns the API over the services.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	s := &Server{cfg: cfg, auth: d.Auth, queries: d.Queries, async: d.Async, cat: d.Catalog, crawlers: d.Crawlers, jobs: d.Jobs, store: d.Store,
		mux: http.NewServeMux(), reg: prometheus.NewRegistry()}
	s.workflows, s.events, s.alarms, s.sessions, s.warehouse = d.Workflows, d.Events, d.Alarms, d.Sessions, d.Warehouse
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	s.follow.init()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tarn_api_requests_total", Help: "REST API requests by route and status."}, []string{"route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tarn_api_request_duration_seconds", Help: "REST API request latency.", Buckets: prometheus.DefBuckets}, []string{"route"})
	s.reg.MustRegister(s.requests, s.latency, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if d.DB != nil {
		s.reg.MustRegister(newRunsCollector(d.DB))
	}

	s.handle("POST /api/v1/queries", s.startQuery)
	s.handle("GET /api/v1/queries/{id}", s.getQuery)
	s.handle("GET /api/v1/queries/{id}/results", s.queryResults)
	s.mux.HandleFunc("GET /api/v1/queries/{id}/download", s.downloadResult) // download.go
	s.handle("DELETE /api/v1/queries/{id}", s.cancelQuery)
	s.handle("GET /api/v1/queries", s.listQueries)
	s.handle("GET /api/v1/queries/summary", s.querySummary)
	s.handle("GET /api/v1/workgroups", s.listWorkgroups)
	s.handle("POST /api/v1/workgroups", s.createWorkgroup)
	s.handle("GET /api/v1/workgroups/{name}", s.getWorkgroup)
	s.handle("PUT /api/v1/workgroups/{name}", s.updateWorkgroup)
	s.handle("DELETE /api/v1/workgroups/{name}", s.deleteWorkgroup)
	s.handle("GET /api/v1/databases", s.listDatabases)
	s.handle("GET /api/v1/databases/{db}/tables", s.listTables)
	s.handle("GET /api/v1/databases/{db}/tables/{table}", s.getTable)
	s.handle("GET /api/v1/databases/{db}/tables/{table}/partitions", s.listPartitions)
	s.handle("GET /api/v1/databases/{db}/tables/{table}/versions", s.tableVersions)
	s.handle("GET /api/v1/databases/{db}/tables/{table}/skipped-files", s.skippedFiles)
	s.handle("POST /api/v1/lineage", s.postLineage)
	s.handle("GET /api/v1/lineage", s.getLineage)
	s.handle("GET /api/v1/buckets", s.listBuckets)
	s.handle("GET /api/v1/buckets/{bucket}/objects", s.listObjects)
	s.handle("GET /api/v1/crawlers", s.listCrawlers)
	s.handle("POST /api/v1/crawlers", s.createCrawler)
	s.handle("GET /api/v1/crawlers/{name}", s.getCrawler)
	s.handle("PUT /api/v1/crawlers/{name}", s.updateCrawler)
	s.handle("DELETE /api/v1/crawlers/{name}", s.deleteCrawler)
	s.handle("POST /api/v1/crawlers/{name}/start", s.startCrawler)
	s.handle("POST /api/v1/crawlers/{name}/stop", s.stopCrawler)
	s.handle("GET /api/v1/crawlers/{name}/runs", s.crawlerRuns)
	s.handle("GET /api/v1/crawler-runs/{id}", s.getCrawlerRun)
	s.handle("GET /api/v1/jobs", s.listJobs)
	s.handle("POST /api/v1/jobs", s.createJob)
	s.handle("GET /api/v1/jobs/{name}", s.getJob)
	s.handle("PUT /api/v1/jobs/{name}", s.updateJob)
	s.handle("DELETE /api/v1/jobs/{name}", s.deleteJob)
	s.handle("POST /api/v1/jobs/{name}/start", s.startJob)
	s.handle("POST /api/v1/jobs/{name}/reset-bookmark", s.resetJobBookmark)
	s.handle("GET /api/v1/jobs/{name}/runs", s.jobRuns)
	s.handle("GET /api/v1/job-runs/{id}", s.getJobRun)
	s.handle("GET /api/v1/job-runs/{id}/log", s.jobRunLog)
	s.handle("POST /api/v1/job-runs/{id}/stop", s.stopJobRun)
	if s.warehouse != nil {
		s.handle("GET /api/v1/warehouse", s.getWarehouse) // warehouse.go
	}
	s.handle("GET /api/v1/keys", s.listKeys)
	s.handle("POST /api/v1/keys", s.createKey)
	s.handle("DELETE /api/v1/keys/{id}", s.deleteKey)
	// The OpenAPI document describes the API, not the lake: it is public.
	s.routePipelines()
	s.mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	// /metrics needs a key too (no anonymous access): Prometheus sends a
	// bearer token (tarn keys token ACCESS_KEY_ID).
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err == nil {
			err = p.Authorize("tarn:GetMetrics", "*")
		}
		if err != nil {
			code, c := status(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(apitypes.ErrorBody{Error: apitypes.ErrorDetail{Code: c, Message: s.redact(err.Error())}})
			return
		}
		metrics.ServeHTTP(w, r)
	})
	return s
}

// Close stops crawls and job runs started through the API (they are marked
// as failed or stopped) and waits for them.
func (s *Server) Close() {
	s.bgStop()
	s.bg.Wait()
}

// Registry lets other parts of the server add their metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is an error with its HTTP status and code.
type apiError struct {
	status int
	code   string
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, apitypes.CodeInvalidRequest, fmt.Errorf(format, args...)}
}

// status maps tarn's errors to HTTP, in one place.
func status(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.code
	}
	var hs interface{ HTTPStatus() (int, string) }
	if errors.As(err, &hs) {
		return hs.HTTPStatus()
	}
	if st, code, ok := pipelineStatus(err); ok {
		return st, code
	}
	if code, st := auth.S3ErrorCode(err); code != "" && code != "InternalError" {
		return st, code
	}
	switch {
	case errors.Is(err, query.ErrNoSuchQuery), errors.Is(err, catalog.ErrNoSuchTable), errors.Is(err, catalog.ErrNoSuchDatabase), errors.Is(err, query.ErrNoSuchWorkgroup),
		errors.Is(err, crawler.ErrNoSuchCrawler), errors.Is(err, crawler.ErrNoSuchRun), errors.Is(err, jobs.ErrNoSuchJob), errors.Is(err, jobs.ErrNoSuchRun),
		errors.Is(err, storage.ErrNoSuchBucket):
		return http.StatusNotFound, apitypes.CodeNotFound
	case errors.Is(err, crawler.ErrCrawlerRunning), errors.Is(err, crawler.ErrNotRunning), errors.Is(err, jobs.ErrConcurrentRuns), errors.Is(err, jobs.ErrRunNotActive):
		return http.StatusConflict, apitypes.CodeConflict
	case errors.Is(err, crawler.ErrCrawlerExists), errors.Is(err, jobs.ErrJobExists), errors.Is(err, query.ErrWorkgroupExists),
		errors.Is(err, auth.ErrKeyExists), errors.Is(err, storage.ErrBucketExists):
		return http.StatusConflict, apitypes.CodeAlreadyExists
	case errors.Is(err, jobs.ErrMissingArgument), errors.Is(err, storage.ErrInvalidKey), errors.Is(err, storage.ErrInvalidBucketName),
		errors.Is(err, crawler.ErrInvalidSpec), errors.Is(err, jobs.ErrInvalidSpec), errors.Is(err, jobs.ErrInvalidJobSQL),
		errors.Is(err, auth.ErrInvalidKey), errors.Is(err, storage.ErrInvalidURI), errors.Is(err, query.ErrInvalidWorkgroup):
		return http.StatusBadRequest, apitypes.CodeInvalidRequest
	case errors.Is(err, query.ErrNotFinished):
		return http.StatusConflict, apitypes.CodeQueryNotFinished
	case errors.Is(err, query.ErrSyntax), errors.Is(err, query.ErrUnsupported):
		return http.StatusBadRequest, apitypes.CodeInvalidRequest
	case errors.Is(err, query.ErrPermission):
		return http.StatusForbidden, apitypes.CodeAccessDenied
	}
	return http.StatusInternalServerError, apitypes.CodeInternalError
}

// authenticate returns a request's principal: a request with neither an
// Authorization header nor a presigned signature is authenticated by its
// console session cookie, when there is one; otherwise by its bearer
// token or signature.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	if s.sessions != nil && r.Header.Get("Authorization") == "" && !r.URL.Query().Has("X-Amz-Signature") {
		if p, ok, err := s.sessions.AuthenticateSession(r); ok {
			return p, err
		}
	}
	return s.auth.AuthenticateAPI(r)
}

type handler func(ctx context.Context, p *auth.Principal, r *http.Request) (any, error)

// handle registers a route: it authenticates the request (SigV4), calls h
// and writes its result or error as JSON, counting and timing it.
func (s *Server) handle(pattern string, h handler) {
	route := pattern
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		var out any
		p, err := s.authenticate(r)
		if err == nil {
			out, err = h(r.Context(), p, r)
		}
		code := http.StatusOK
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				err = &apiError{http.StatusRequestEntityTooLarge, apitypes.CodeRequestTooLarge, fmt.Errorf("the request body is over %d bytes", s.cfg.MaxBody)}
			}
			var c string
			code, c = status(err)
			out = apitypes.ErrorBody{Error: apitypes.ErrorDetail{Code: c, Message: s.redact(err.Error())}}
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(out)
		s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) startQuery(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var req apitypes.StartQueryRequest
	// Strict, as every body: a misspelt field (workgroup as "work_group")
	// would otherwise run the query with defaults the caller did not ask for.
	if err := decodeBody(r, &req, `{"sql": "...", "database": "...", "workgroup": "...", "result_reuse_minutes": 0}`); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.SQL) == "" {
		return nil, badRequest("sql is empty")
	}
	wg := req.Workgroup
	if wg == "" {
		wg = "primary"
	}
	if err := p.Authorize("athena:StartQueryExecution", auth.WorkgroupResource(wg)); err != nil {
		return nil, err
	}
	id, err := s.async.Submit(query.Request{SQL: req.SQL, Database: req.Database, Workgroup: wg, AccessKey: p.Key.AccessKeyID,
		ReuseMaxAge: time.Duration(req.ResultReuseMinutes) * time.Minute, Authorize: query.Authorizer(p)})
	if err != nil {
		return nil, err
	}
	return apitypes.Started{ID: id}, nil
}

// An execution belongs to the access key that ran it (Execution.AccessKey).
// A key always sees, reads the results of and stops its own executions.
// Another key's (or the local CLI's) it may only if its policy allows the
// action on that execution's workgroup, as Athena's IAM actions do: a policy
// that only lets a key start queries (athena:StartQueryExecution) keeps it
// to its own.
func allowExecution(p *auth.Principal, action string, ex query.Execution) error {
	if ex.AccessKey != "" && ex.AccessKey == p.Key.AccessKeyID {
		return nil
	}
	if err := p.Authorize(action, auth.WorkgroupResource(ex.Workgroup)); err != nil {
		return fmt.Errorf("query execution %s was run by another access key: %w", ex.ID, err)
	}
	return nil
}

// execution returns the execution of the request's path if the key may do
// action on it.
func (s *Server) execution(ctx context.Context, p *auth.Principal, r *http.Request, action string) (query.Execution, error) {
	ex, err := s.queries.Get(ctx, r.PathValue("id"))
	if err != nil {
		return query.Execution{}, err
	}
	return ex, allowExecution(p, action, ex)
}

// maxQueryWait bounds a long-poll (GET /api/v1/queries/{id}?wait=SECONDS),
// below the usual 30-60 s proxy and client timeouts.
const maxQueryWait = 20 * time.Second

func (s *Server) getQuery(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ex, err := s.execution(ctx, p, r, "athena:GetQueryExecution")
	if err != nil {
		return nil, err
	}
	w := r.URL.Query().Get("wait")
	if w == "" || (ex.State != query.StateQueued && ex.State != query.StateRunning) {
		return wireExecution(ex), nil
	}
	secs, err := strconv.ParseFloat(w, 64)
	if err != nil || secs < 0 {
		return nil, badRequest("wait=%q: want a number of seconds (at most %d)", w, int(maxQueryWait.Seconds()))
	}
	// A long-poll: the answer comes when the query ends (or the wait is
	// over), so a client learns of the end at once without polling.
	s.async.WaitDone(ctx, ex.ID, min(time.Duration(secs*float64(time.Second)), maxQueryWait))
	return execution(s.queries.Get(ctx, ex.ID))
}

func (s *Server) listQueries(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	exs, err := s.queries.HistoryVisible(ctx, n, func(ex query.Execution) bool {
		return allowExecution(p, "athena:GetQueryExecution", ex) == nil
	})
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(exs, wireExecution)), nil
}

func (s *Server) queryResults(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ex, err := s.execution(ctx, p, r, "athena:GetQueryResults")
	if err != nil {
		return nil, err
	}
	max, _ := strconv.Atoi(r.URL.Query().Get("max_results"))
	page, err := s.async.Results(ctx, ex.ID, r.URL.Query().Get("next_token"), max)
	if err != nil {
		return nil, err
	}
	return wireResultPage(page), nil
}

func (s *Server) cancelQuery(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ex, err := s.execution(ctx, p, r, "athena:StopQueryExecution")
	if err != nil {
		return nil, err
	}
	if err := s.async.Cancel(ctx, ex.ID); err != nil {
		return nil, err
	}
	return execution(s.queries.Get(ctx, ex.ID))
}

func (s *Server) listDatabases(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetDatabases", auth.CatalogResource); err != nil {
		return nil, err
	}
	dbs, err := s.cat.ListDatabases(ctx)
	return wireList(dbs, err, wireDatabase)
}

func (s *Server) listTables(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	db := r.PathValue("db")
	if err := p.Authorize("glue:GetTables", auth.DatabaseResource(db)); err != nil {
		return nil, err
	}
	ts, err := s.cat.ListTables(ctx, db)
	return wireList(ts, err, wireTable)
}

func (s *Server) getTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	db, t := r.PathValue("db"), r.PathValue("table")
	if err := p.Authorize("glue:GetTable", auth.TableResource(db, t)); err != nil {
		return nil, err
	}
	tbl, err := s.cat.GetTable(ctx, db, t)
	if err != nil {
		return nil, err
	}
	return wireTable(tbl), nil
}

func (s *Server) skippedFiles(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	db, t := r.PathValue("db"), r.PathValue("table")
	if err := p.Authorize("glue:GetTable", auth.TableResource(db, t)); err != nil {
		return nil, err
	}
	out, err := s.cat.SkippedFiles(ctx, db, t)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(out, wireSkippedFile)), nil
}

func (s *Server) listPartitions(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	db, t := r.PathValue("db"), r.PathValue("table")
	if err := p.Authorize("glue:GetPartitions", auth.TableResource(db, t)); err != nil {
		return nil, err
	}
	ps, err := s.cat.ListPartitions(ctx, db, t)
	return wireList(ps, err, wirePartition)
}

func (s *Server) querySummary(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("athena:ListQueryExecutions", auth.WorkgroupResource("*")); err != nil {
		return nil, err
	}
	cs, err := s.queries.Summary(ctx)
	return wireList(cs, err, wireCostSummary)
}

func (s *Server) listWorkgroups(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("athena:ListWorkGroups", auth.WorkgroupResource("*")); err != nil {
		return nil, err
	}
	ws, err := s.queries.Workgroups(ctx)
	return wireList(ws, err, wireWorkgroup)
}

// redact keeps the server's local paths out of messages to clients: a
// storage or engine error names objects by s3:// URI.
func (s *Server) redact(msg string) string {
	if s.queries == nil {
		return msg
	}
	return s.queries.Redact(msg)
}
