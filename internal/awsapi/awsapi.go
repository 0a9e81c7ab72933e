// Package awsapi is the front end that speaks AWS's own service APIs
// (AWS JSON 1.1: Glue and Athena) on the S3 endpoint, so that the aws CLI,
// boto3 and the AWS SDKs work against tarn with only the endpoint changed.
// Every operation maps onto tarn's services (catalog, query, crawler, jobs);
// none is implemented a second time here.
package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Config configures the front end.
type Config struct {
	// MaxBody bounds a request body (BatchCreatePartition's 100 partitions
	// fit many times over).
	MaxBody int64
	// Webhooks are the named webhooks CloudWatch alarm actions reach by
	// SNS topic ARN, by upper-cased topic name (WebhooksFromEnv).
	Webhooks map[string]string
}

// DefaultConfig returns the defaults, with the named webhooks of the
// environment.
func DefaultConfig() Config { return Config{MaxBody: 8 << 20, Webhooks: WebhooksFromEnv()} }

// Deps are the services the front end maps AWS operations onto.
type Deps struct {
	Auth     *auth.Service
	Meta     *meta.DB
	Catalog  *catalog.Catalog
	Queries  *query.Service
	Async    *query.Async
	Crawlers *crawler.Service
	Jobs     *jobs.Service
	Store    storage.ObjectStore
	// Workflows serves Glue's workflows and triggers (nil: not served).
	Workflows *workflow.Service
	// Alarms serves CloudWatch's alarms (nil: not served).
	Alarms *alarms.Service
}

// Server serves Glue and Athena's JSON APIs. It is safe for concurrent use.
type Server struct {
	cfg  Config
	d    Deps
	ops  map[string]op
	qops map[string]qop
	bg   runs
}

// op is one operation: it decodes its input from body and returns the
// output to encode (nil: {}).
type op struct {
	service string // the credential scope's service: "glue" or "athena"
	fn      func(ctx context.Context, c *call, body []byte) (any, error)
}

// call is one request's caller.
type call struct {
	p *auth.Principal
}

// New returns the front end over the services.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultConfig().MaxBody
	}
	s := &Server{cfg: cfg, d: d, ops: map[string]op{}, qops: map[string]qop{}}
	s.glueCatalogOps()
	s.athenaOps()
	s.glueRunOps()
	s.glueFlowOps()
	s.cloudWatchOps()
	s.iamOps()
	s.stsOps()
	return s
}

func (s *Server) glue(name string, fn func(ctx context.Context, c *call, body []byte) (any, error)) {
	s.ops["AWSGlue."+name] = op{"glue", fn}
}

func (s *Server) athena(name string, fn func(ctx context.Context, c *call, body []byte) (any, error)) {
	s.ops["AmazonAthena."+name] = op{"athena", fn}
}

// Wrap returns a handler that serves AWS JSON requests (those with an
// X-Amz-Target naming Glue or Athena) and query-protocol requests (a form
// POST to /: CloudWatch, IAM) and passes every other request to next (the
// S3 API), as AWS tells its services apart on one endpoint.
func (s *Server) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := r.Header.Get("X-Amz-Target")
		if strings.HasPrefix(t, "AWSGlue.") || strings.HasPrefix(t, "AmazonAthena.") {
			s.ServeHTTP(w, r)
			return
		}
		if isQuery(r) {
			s.serveQuery(w, r)
			return
		}
		if proto, op := rpcOp(r); proto != "" {
			s.serveRPC(w, r, proto, op)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// awsError is an error answered with an AWS error code.
type awsError struct {
	code   string
	status int
	err    error
}

func (e *awsError) Error() string { return e.err.Error() }
func (e *awsError) Unwrap() error { return e.err }

func errorf(code string, format string, args ...any) error {
	return &awsError{code: code, status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

func invalidInput(format string, args ...any) error {
	return errorf("InvalidInputException", format, args...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	o, known := s.ops[target]
	service := "glue"
	if strings.HasPrefix(target, "AmazonAthena.") {
		service = "athena"
	}
	out, err := func() (any, error) {
		if r.Method != http.MethodPost {
			return nil, errorf("InvalidAction", "AWS JSON requests are POSTs; got %s", r.Method)
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		p, err := s.d.Auth.Authenticate(r)
		if err != nil {
			return nil, err
		}
		// A signature scoped to another service must not be replayed here:
		// AWS refuses it the same way.
		if p.Service != service {
			return nil, &awsError{"InvalidSignatureException", http.StatusForbidden,
				fmt.Errorf("Credential should be scoped to correct service: '%s' (the request was signed for %q)", service, p.Service)}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &awsError{"SerializationException", http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is over %d bytes", s.cfg.MaxBody)}
			}
			return nil, err
		}
		if !known {
			name := target[strings.IndexByte(target, '.')+1:]
			return nil, errorf("UnknownOperationException", "tarn does not support %s operation %s; docs/aws.md lists the supported ones", service, name)
		}
		if len(strings.TrimSpace(string(body))) == 0 {
			body = []byte("{}")
		}
		return o.fn(r.Context(), &call{p: p}, body)
	}()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		code, status := s.errorCode(err, service)
		if status >= 500 {
			slog.Error("AWS API request failed", "target", target, "err", err)
		}
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": err.Error(), "Message": err.Error()})
		return
	}
	if out == nil {
		out = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// errorCode maps tarn's errors to AWS error codes and statuses, in one place.
func (s *Server) errorCode(err error, service string) (string, int) {
	var ae *awsError
	if errors.As(err, &ae) {
		return ae.code, ae.status
	}
	notFound, internal := "EntityNotFoundException", "InternalServiceException"
	invalid := "InvalidInputException"
	if service == "athena" {
		notFound, internal, invalid = "ResourceNotFoundException", "InternalServerException", "InvalidRequestException"
	}
	switch {
	case errors.Is(err, auth.ErrAccessDenied):
		return "AccessDeniedException", http.StatusBadRequest
	case errors.Is(err, auth.ErrInvalidAccessKeyID), errors.Is(err, auth.ErrNoSuchKey):
		return "UnrecognizedClientException", http.StatusBadRequest
	case errors.Is(err, auth.ErrSignatureDoesNotMatch):
		return "InvalidSignatureException", http.StatusForbidden
	case errors.Is(err, auth.ErrRequestTimeTooSkewed):
		return "InvalidSignatureException", http.StatusForbidden
	case errors.Is(err, auth.ErrMissingAuth):
		return "MissingAuthenticationTokenException", http.StatusForbidden
	}
	if code, st := auth.S3ErrorCode(err); code != "" && code != "InternalError" {
		return "IncompleteSignatureException", st
	}
	switch {
	// First: a spec naming a missing job is invalid input, not a missing entity.
	case errors.Is(err, workflow.ErrInvalidSpec), errors.Is(err, workflow.ErrInvalidSchedule), errors.Is(err, workflow.ErrIdentity),
		errors.Is(err, workflow.ErrTriggerReference), errors.Is(err, workflow.ErrWorkflowHasRuns):
		return invalid, http.StatusBadRequest
	case errors.Is(err, workflow.ErrNoSuchWorkflow), errors.Is(err, workflow.ErrNoSuchTrigger), errors.Is(err, workflow.ErrNoSuchRun):
		return notFound, http.StatusBadRequest
	case errors.Is(err, workflow.ErrWorkflowExists), errors.Is(err, workflow.ErrTriggerExists):
		return "AlreadyExistsException", http.StatusBadRequest
	case errors.Is(err, workflow.ErrRunNotActive):
		return "IllegalWorkflowStateException", http.StatusBadRequest
	case errors.Is(err, catalog.ErrNoSuchDatabase), errors.Is(err, catalog.ErrNoSuchTable), errors.Is(err, catalog.ErrNoSuchPartition),
		errors.Is(err, crawler.ErrNoSuchCrawler), errors.Is(err, crawler.ErrNoSuchRun), errors.Is(err, jobs.ErrNoSuchJob), errors.Is(err, jobs.ErrNoSuchRun):
		return notFound, http.StatusBadRequest
	case errors.Is(err, query.ErrNoSuchQuery), errors.Is(err, query.ErrNoSuchWorkgroup):
		return "InvalidRequestException", http.StatusBadRequest
	case errors.Is(err, catalog.ErrDatabaseExists), errors.Is(err, catalog.ErrTableExists), errors.Is(err, catalog.ErrPartitionExists),
		errors.Is(err, crawler.ErrCrawlerExists), errors.Is(err, jobs.ErrJobExists):
		return "AlreadyExistsException", http.StatusBadRequest
	case errors.Is(err, query.ErrWorkgroupExists):
		return "InvalidRequestException", http.StatusBadRequest
	case errors.Is(err, catalog.ErrConcurrentUpdate):
		return "ConcurrentModificationException", http.StatusBadRequest
	case errors.Is(err, crawler.ErrCrawlerRunning):
		return "CrawlerRunningException", http.StatusBadRequest
	case errors.Is(err, crawler.ErrNotRunning):
		return "CrawlerNotRunningException", http.StatusBadRequest
	case errors.Is(err, jobs.ErrConcurrentRuns):
		return "ConcurrentRunsExceededException", http.StatusBadRequest
	case errors.Is(err, catalog.ErrInvalidName), errors.Is(err, catalog.ErrInvalidType), errors.Is(err, catalog.ErrInvalidPartition),
		errors.Is(err, catalog.ErrInvalidTable), errors.Is(err, catalog.ErrDatabaseNotEmpty), errors.Is(err, catalog.ErrUnsupportedTypeConv),
		errors.Is(err, crawler.ErrInvalidSpec), errors.Is(err, jobs.ErrInvalidSpec), errors.Is(err, jobs.ErrInvalidJobSQL),
		errors.Is(err, jobs.ErrMissingArgument), errors.Is(err, storage.ErrInvalidURI), errors.Is(err, query.ErrInvalidWorkgroup),
		errors.Is(err, query.ErrSyntax), errors.Is(err, query.ErrUnsupported), errors.Is(err, query.ErrNotFinished),
		errors.Is(err, jobs.ErrRunNotActive), errors.Is(err, jobs.ErrIdentity), errors.Is(err, jobs.ErrUnsafeArgument),
		errors.Is(err, jobs.ErrInvalidTarget), errors.Is(err, storage.ErrNoSuchBucket), errors.Is(err, storage.ErrInvalidKey),
		errors.Is(err, storage.ErrInvalidBucketName):
		return invalid, http.StatusBadRequest
	case errors.Is(err, query.ErrPermission):
		return "AccessDeniedException", http.StatusBadRequest
	}
	return internal, http.StatusInternalServerError
}

// decode reads an operation's input. Unknown fields are ignored, as AWS's
// JSON services do (a newer SDK may send members this server does not know);
// a value of the wrong type is a SerializationException naming the field.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf("SerializationException", "field %s: expected %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		return errorf("SerializationException", "the request body is not valid JSON: %v", err)
	}
	return nil
}

// required refuses an empty required member, as AWS's validation does.
func required(name, v string) error {
	if v == "" {
		return invalidInput("%s is required", name)
	}
	return nil
}
