// Package apitypes holds the REST API's wire types: the bodies that
// internal/api answers and reads and internal/client sends and decodes,
// and the error envelope with its codes. It imports only the standard
// library, so that a client of the API does not link the services (nor
// DuckDB or SQLite) behind it.
//
// The JSON of every type here is the API's contract: a field renamed here
// changes what every client sees, so the api tests compare answers byte for
// byte.
package apitypes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// ErrorBody is the answer to a request that failed:
// {"error": {"code": "NotFound", "message": "..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code and message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The error codes of the REST API (besides the S3 endpoint's
// authentication codes, such as SignatureDoesNotMatch, which it shares).
const (
	CodeNotFound         = "NotFound"
	CodeAlreadyExists    = "AlreadyExists"
	CodeConflict         = "Conflict"
	CodeInvalidRequest   = "InvalidRequest"
	CodeAccessDenied     = "AccessDenied"
	CodeQueryNotFinished = "QueryNotFinished"
	CodeRequestTooLarge  = "RequestTooLarge"
	CodeInternalError    = "InternalError"
)

// The sentinel errors the codes stand for. A client's error for a code
// wraps its sentinel, so that errors.Is(err, apitypes.ErrNotFound) holds
// whether the server said NotFound about a table, a job or a workgroup.
var (
	ErrNotFound         = errors.New("not found")
	ErrAlreadyExists    = errors.New("already exists")
	ErrConflict         = errors.New("conflict with the resource's state")
	ErrInvalidRequest   = errors.New("invalid request")
	ErrAccessDenied     = errors.New("access denied")
	ErrQueryNotFinished = errors.New("query not finished")
)

// Sentinel returns the sentinel error of a code, or nil for a code without
// one (InternalError, authentication codes).
func Sentinel(code string) error {
	switch code {
	case CodeNotFound:
		return ErrNotFound
	case CodeAlreadyExists:
		return ErrAlreadyExists
	case CodeConflict:
		return ErrConflict
	case CodeInvalidRequest:
		return ErrInvalidRequest
	case CodeAccessDenied:
		return ErrAccessDenied
	case CodeQueryNotFinished:
		return ErrQueryNotFinished
	}
	return nil
}

// StartQueryRequest is the body of POST /api/v1/queries.
type StartQueryRequest struct {
	SQL       string `json:"sql"`
	Database  string `json:"database"`
	Workgroup string `json:"workgroup"`
	// ResultReuseMinutes opts in to reusing a result at most this old.
	ResultReuseMinutes int `json:"result_reuse_minutes"`
}

// Started names what a start request began: a query, a crawl or a job
// run (its id), with, for crawls and job runs, what it is a run of and its
// state.
// (The fields are in name order: the answers were maps before.)
type Started struct {
	Crawler string `json:"crawler,omitempty"`
	ID      string `json:"id"`
	Job     string `json:"job,omitempty"`
	State   string `json:"state,omitempty"`
}

// StartCrawlerRequest is the body of POST /api/v1/crawlers/{name}/start.
type StartCrawlerRequest struct {
	DryRun      bool `json:"dry_run"`
	AcceptDrift bool `json:"accept_drift"`
}

// StartJobRequest is the body of POST /api/v1/jobs/{name}/start.
type StartJobRequest struct {
	Args map[string]string `json:"args"`
}

// ResetBookmarkResponse answers POST /api/v1/jobs/{name}/reset-bookmark.
type ResetBookmarkResponse struct {
	FilesForgotten int64  `json:"files_forgotten"`
	Job            string `json:"job"`
}

// CrawlerRequest is the body of POST /api/v1/crawlers (and, without the
// name, of PUT /api/v1/crawlers/{name}).
type CrawlerRequest struct {
	Name               string   `json:"name,omitempty"`
	Database           string   `json:"database"`
	Description        string   `json:"description"`
	Targets            []string `json:"targets"`
	Exclusions         []string `json:"exclusions"`
	SchemaChangePolicy string   `json:"schema_change_policy"`
	DeleteBehavior     string   `json:"delete_behavior"`
	RecrawlPolicy      string   `json:"recrawl_policy"`
}

// CreateKeyRequest is the body of POST /api/v1/keys: Policy is an IAM
// policy document.
type CreateKeyRequest struct {
	Name   string          `json:"name"`
	Policy json.RawMessage `json:"policy"`
}

// PropertiesRequest is the body of POST /api/v1/workflows/{name}/start
// and POST /api/v1/triggers/{name}/start.
type PropertiesRequest struct {
	Properties map[string]string `json:"properties"`
}

// ReplayRequest is the body of POST /api/v1/events/replay.
type ReplayRequest struct {
	Trigger string  `json:"trigger"`
	IDs     []int64 `json:"ids"`
}

// Database is a catalog database (GET /api/v1/databases).
type Database struct {
	Name        string
	Description string
	Location    string
	Properties  map[string]string
	CreatedAt   time.Time
}

// Column is a table's column.
type Column struct {
	Name    string
	Type    string
	Comment string
}

// Table is a catalog table (GET /api/v1/databases/{db}/tables/{table}).
type Table struct {
	Database      string
	Name          string
	Description   string
	Location      string
	Format        string
	FormatOptions map[string]string
	Columns       []Column
	PartitionKeys []Column
	TableType     string
	Properties    map[string]string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Version       int
}

// Partition is a table's partition.
type Partition struct {
	Values    []string
	Location  string
	FileCount int64
	Bytes     int64
	AddedAt   time.Time
}

// SchemaChange is one difference between two versions of a table.
type SchemaChange struct {
	Kind   string `json:"kind"`
	Column string `json:"column,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// SchemaVersion is one version of a table's schema.
type SchemaVersion struct {
	Version       int
	Columns       []Column
	PartitionKeys []Column
	Format        string
	FormatOptions map[string]string
	Location      string
	Changes       []SchemaChange
	Reason        string
	CreatedAt     time.Time
}

// SkippedFile is a file a crawler left out of a table.
type SkippedFile struct {
	URI       string
	Reason    string
	SkippedAt time.Time
}

// QueryStats are a query's figures.
type QueryStats struct {
	Rows              int64         `json:"rows"`
	BytesScanned      int64         `json:"data_scanned_bytes"`
	FilesScanned      int           `json:"files_scanned"`
	PartitionsScanned int           `json:"partitions_scanned"`
	PartitionsTotal   int           `json:"partitions_total"`
	Planning          time.Duration `json:"planning_ns"`
	Engine            time.Duration `json:"engine_ns"`
	Elapsed           time.Duration `json:"elapsed_ns"`
	CostUSD           float64       `json:"cost_usd"`
}

// Execution is a query execution (GET /api/v1/queries/{id}).
type Execution struct {
	ID            string     `json:"id"`
	SQL           string     `json:"sql"`
	Database      string     `json:"database"`
	Workgroup     string     `json:"workgroup"`
	AccessKey     string     `json:"access_key,omitempty"`
	StatementType string     `json:"statement_type"`
	State         string     `json:"state"`
	Error         string     `json:"error,omitempty"`
	SubmittedAt   time.Time  `json:"submitted_at"`
	EndedAt       time.Time  `json:"ended_at"`
	Stats         QueryStats `json:"stats"`
	ReusedFrom    string     `json:"reused_from,omitempty"`
	// ResultLocation is the folder the query's result was asked to go to
	// ("" for its workgroup's).
	ResultLocation string `json:"result_location,omitempty"`
	// ManifestLocation is the object listing the files a CTAS or INSERT
	// INTO wrote (Athena's DataManifestLocation).
	ManifestLocation string `json:"manifest_location,omitempty"`
}

// CostSummary is the queries and cost of one key in one workgroup
// (GET /api/v1/queries/summary).
type CostSummary struct {
	AccessKey    string  `json:"access_key"`
	Workgroup    string  `json:"workgroup"`
	Queries      int64   `json:"queries"`
	BytesScanned int64   `json:"data_scanned_bytes"`
	CostUSD      float64 `json:"cost_usd"`
}

// Workgroup is a workgroup, as answered and as the body of POST and PUT
// /api/v1/workgroups.
type Workgroup struct {
	Name                   string    `json:"name"`
	Description            string    `json:"description,omitempty"`
	ResultLocation         string    `json:"result_location"`
	BytesScannedCutoff     int64     `json:"bytes_scanned_cutoff,omitempty"`
	RequirePartitionFilter []string  `json:"require_partition_filter,omitempty"`
	MaxConcurrent          int       `json:"max_concurrent,omitempty"`
	QueryTimeoutSeconds    int64     `json:"query_timeout_seconds,omitempty"`
	MaxResultRows          int64     `json:"max_result_rows,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
}

// ResultColumn is a column of a query's result.
type ResultColumn struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	AthenaType string `json:"athena_type,omitempty"`
}

// ResultPage is a page of a query's result
// (GET /api/v1/queries/{id}/results): Rows in the typed result encoding
// (numbers as JSON numbers, which a client should decode with UseNumber to
// keep them exact).
type ResultPage struct {
	Columns   []ResultColumn `json:"columns"`
	Rows      [][]any        `json:"rows"`
	NextToken string         `json:"next_token,omitempty"`
}

// CrawlerSpec is a crawler's definition (GET /api/v1/crawlers/{name}).
type CrawlerSpec struct {
	Name               string
	Database           string
	Description        string
	Targets            []string
	Exclusions         []string
	SchemaChangePolicy string
	DeleteBehavior     string
	RecrawlPolicy      string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// CrawlTableResult is what a crawl did to one table.
type CrawlTableResult struct {
	Table             string         `json:"table"`
	Action            string         `json:"action"`
	Location          string         `json:"location"`
	Format            string         `json:"format,omitempty"`
	Columns           []Column       `json:"columns,omitempty"`
	PartitionKeys     []Column       `json:"partition_keys,omitempty"`
	Changes           []SchemaChange `json:"changes,omitempty"`
	PartitionsAdded   int            `json:"partitions_added"`
	PartitionsRemoved int            `json:"partitions_removed"`
}

// CrawlFileError is a file a crawl could not read.
type CrawlFileError struct {
	URI   string `json:"uri"`
	Error string `json:"error"`
}

// CrawlerProgress is how far a running crawl is.
type CrawlerProgress struct {
	FilesDone  int    `json:"files_done"`
	FilesTotal int    `json:"files_total"`
	BytesDone  int64  `json:"bytes_done"`
	Current    string `json:"current"`
}

// CrawlerRun is a crawl (GET /api/v1/crawler-runs/{id}, and the items of
// GET /api/v1/crawlers/{name}/runs), with its progress while it runs in
// the server.
type CrawlerRun struct {
	ID                string             `json:"id"`
	Crawler           string             `json:"crawler"`
	State             string             `json:"state"`
	DryRun            bool               `json:"dry_run"`
	AcceptDrift       bool               `json:"accept_drift,omitempty"`
	StartedAt         time.Time          `json:"started_at"`
	EndedAt           time.Time          `json:"ended_at"`
	FilesScanned      int                `json:"files_scanned"`
	BytesScanned      int64              `json:"bytes_scanned"`
	TablesCreated     []string           `json:"tables_created,omitempty"`
	TablesUpdated     []string           `json:"tables_updated,omitempty"`
	TablesDeprecated  []string           `json:"tables_deprecated,omitempty"`
	TablesDeleted     []string           `json:"tables_deleted,omitempty"`
	PartitionsAdded   int                `json:"partitions_added"`
	PartitionsRemoved int                `json:"partitions_removed"`
	Tables            []CrawlTableResult `json:"tables,omitempty"`
	FileErrors        []CrawlFileError   `json:"file_errors,omitempty"`
	Error             string             `json:"error,omitempty"`
	Progress          *CrawlerProgress   `json:"progress,omitempty"`
}

// The states of runs (queries, crawls, job runs, workflow runs).
const (
	StateQueued    = "QUEUED"
	StateStarting  = "STARTING"
	StateRunning   = "RUNNING"
	StateSucceeded = "SUCCEEDED"
	StateFailed    = "FAILED"
	StateCancelled = "CANCELLED"
	StateTimeout   = "TIMEOUT"
)

// JobSpec is a job's definition (GET /api/v1/jobs/{name}, and the body
// of POST /api/v1/jobs and PUT /api/v1/jobs/{name}, where the timeout may
// also be a Go duration such as "2h").
type JobSpec struct {
	Name              string            `json:"name"`
	Description       string            `json:"description,omitempty"`
	SQL               string            `json:"sql"`
	SQLFile           string            `json:"sql_file,omitempty"`
	Args              map[string]string `json:"args,omitempty"`
	Target            string            `json:"target"`
	Format            string            `json:"format"`
	Compression       string            `json:"compression"`
	PartitionBy       []string          `json:"partition_by,omitempty"`
	Mode              string            `json:"mode"`
	MergeKey          []string          `json:"merge_key,omitempty"`
	FileSize          int64             `json:"file_size"`
	Table             string            `json:"table,omitempty"`
	Bookmarks         bool              `json:"bookmarks"`
	Timeout           time.Duration     `json:"timeout"`
	MaxRetries        int               `json:"max_retries"`
	MaxConcurrentRuns int               `json:"max_concurrent_runs"`
	MaxRejected       string            `json:"max_rejected,omitempty"`
	RunAs             string            `json:"run_as,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// JobStats are a job run's figures.
type JobStats struct {
	RowsRead      int64    `json:"rows_read"`
	RowsWritten   int64    `json:"rows_written"`
	RowsRejected  int64    `json:"rows_rejected"`
	RowsFiltered  int64    `json:"rows_filtered"`
	RowsDiscarded int64    `json:"rows_discarded,omitempty"`
	BytesRead     int64    `json:"bytes_read"`
	BytesWritten  int64    `json:"bytes_written"`
	FilesRead     int      `json:"files_read"`
	FilesWritten  int      `json:"files_written"`
	Partitions    []string `json:"partitions,omitempty"`
	RejectedURI   string   `json:"rejected_uri,omitempty"`
	// SnapshotID is the snapshot a run committed to its Iceberg target;
	// RowsUpdated, of a merge, the rows written that replaced a row.
	SnapshotID  int64 `json:"snapshot_id,omitempty"`
	RowsUpdated int64 `json:"rows_updated,omitempty"`
}

// JobRun is a job run (GET /api/v1/job-runs/{id}, and the items of
// GET /api/v1/jobs/{name}/runs). For a run started through the server it
// adds what the stored run does not have until it ends: its log so far and
// its latest line (Progress), and, for a failed attempt, the attempt that
// follows it (NextAttempt) or whether the server may still start one
// (Retrying).
type JobRun struct {
	ID          string            `json:"id"`
	Job         string            `json:"job"`
	Attempt     int               `json:"attempt"`
	State       string            `json:"state"`
	StartedAt   time.Time         `json:"started_at"`
	EndedAt     time.Time         `json:"ended_at"`
	Args        map[string]string `json:"args,omitempty"`
	Stats       JobStats          `json:"stats"`
	Error       string            `json:"error,omitempty"`
	Log         []string          `json:"log,omitempty"`
	Progress    string            `json:"progress,omitempty"`
	NextAttempt string            `json:"next_attempt,omitempty"`
	Retrying    bool              `json:"retrying,omitempty"`
}

// Credentials are an access key's id and secret: what signs S3 requests
// and makes a REST API token.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Token returns the REST API bearer token of a key:
// "tarn_" + id + "_" + hex(HMAC-SHA256(secret, "tarn-api-token:" + id)).
// It is part of the API's contract (auth.Token makes the same).
func Token(c Credentials) string {
	m := hmac.New(sha256.New, []byte(c.SecretAccessKey))
	m.Write([]byte("tarn-api-token:" + c.AccessKeyID))
	return "tarn_" + c.AccessKeyID + "_" + hex.EncodeToString(m.Sum(nil))
}

// Key is an access key as GET and POST /api/v1/keys answer it: the secret
// only in the answer that created it; Policy an IAM policy document.
type Key struct {
	AccessKeyID     string          `json:"access_key_id"`
	SecretAccessKey string          `json:"secret_access_key,omitempty"`
	Name            string          `json:"name"`
	Policy          json.RawMessage `json:"policy,omitzero"`
	Admin           bool            `json:"admin"`
	CreatedAt       time.Time       `json:"created_at"`
	User            string          `json:"user,omitempty"`
	Inactive        bool            `json:"inactive,omitempty"`
}

// Duration is a duration written as text ("30s"); it reads text or a
// number of seconds.
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads text ("30s") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New(`a duration is text such as "30s" or a number of seconds`)
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// WorkflowStep is a step of a workflow.
type WorkflowStep struct {
	Name        string            `json:"name"`
	Crawler     string            `json:"crawler,omitempty"`
	Job         string            `json:"job,omitempty"`
	Args        map[string]string `json:"args,omitempty"`
	SQL         string            `json:"sql,omitempty"`
	Database    string            `json:"database,omitempty"`
	Workgroup   string            `json:"workgroup,omitempty"`
	DBT         *DBTStep          `json:"dbt,omitempty"`
	DependsOn   []string          `json:"depends_on,omitempty"`
	Condition   string            `json:"condition,omitempty"`
	Retries     int               `json:"retries,omitempty"`
	RetryDelay  Duration          `json:"retry_delay,omitempty"`
	BackoffRate float64           `json:"backoff_rate,omitempty"`
	Timeout     Duration          `json:"timeout,omitempty"`
	Trigger     string            `json:"trigger,omitempty"`
}

// Workflow is a workflow (GET /api/v1/workflows/{name}).
type Workflow struct {
	Name              string            `json:"name"`
	Description       string            `json:"description,omitempty"`
	MaxConcurrentRuns int               `json:"max_concurrent_runs"`
	MaxParallelSteps  int               `json:"max_parallel_steps"`
	Properties        map[string]string `json:"properties,omitempty"`
	Steps             []WorkflowStep    `json:"steps"`
	Glue              bool              `json:"glue,omitempty"`
	RunAs             string            `json:"run_as,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// StepRun is a step of a workflow run.
type StepRun struct {
	Name          string    `json:"name"`
	Target        string    `json:"target"`
	State         string    `json:"state"`
	Attempt       int       `json:"attempt"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	ChildID       string    `json:"child_id,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at"`
	Error         string    `json:"error,omitempty"`
	DBT           []DBTNode `json:"dbt,omitempty"`
}

// DBTStep is a workflow step's dbt invocation (docs/dbt.md).
type DBTStep struct {
	Project     string            `json:"project"`
	Command     string            `json:"command,omitempty"`
	Select      string            `json:"select,omitempty"`
	Exclude     string            `json:"exclude,omitempty"`
	Vars        map[string]string `json:"vars,omitempty"`
	Target      string            `json:"target,omitempty"`
	Schema      string            `json:"schema,omitempty"`
	Threads     int               `json:"threads,omitempty"`
	FullRefresh bool              `json:"full_refresh,omitempty"`
	Publish     string            `json:"publish,omitempty"`
}

// DBTNode is a model, seed, snapshot or test of a dbt step's run.
type DBTNode struct {
	UniqueID      string  `json:"unique_id"`
	ResourceType  string  `json:"resource_type"`
	Name          string  `json:"name"`
	Status        string  `json:"status"`
	RowsAffected  int64   `json:"rows_affected"`
	ExecutionTime float64 `json:"execution_time"`
	Failures      int64   `json:"failures,omitempty"`
	Message       string  `json:"message,omitempty"`
	Relation      string  `json:"relation,omitempty"`
	FailingRows   string  `json:"failing_rows,omitempty"`
}

// WorkflowRun is a workflow run (GET /api/v1/workflow-runs/{id}).
type WorkflowRun struct {
	ID         string            `json:"id"`
	Workflow   string            `json:"workflow"`
	Trigger    string            `json:"trigger,omitempty"`
	State      string            `json:"state"`
	Properties map[string]string `json:"properties,omitempty"`
	QueuedAt   time.Time         `json:"queued_at"`
	StartedAt  time.Time         `json:"started_at"`
	EndedAt    time.Time         `json:"ended_at"`
	Error      string            `json:"error,omitempty"`
	Steps      []StepRun         `json:"steps"`
}

// Trigger is a trigger's definition.
type Trigger struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Workflow    string            `json:"workflow,omitempty"`
	Job         string            `json:"job,omitempty"`
	Crawler     string            `json:"crawler,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Schedule    string            `json:"schedule,omitempty"`
	Timezone    string            `json:"timezone,omitempty"`
	Prefix      string            `json:"prefix,omitempty"`
	Suffix      string            `json:"suffix,omitempty"`
	BatchSize   int               `json:"batch_size,omitempty"`
	BatchWindow Duration          `json:"batch_window,omitempty"`
	Poll        Duration          `json:"poll,omitempty"`
	Enabled     bool              `json:"enabled"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// TriggerState is a trigger with where it is (GET /api/v1/triggers).
type TriggerState struct {
	Trigger
	LastFired   time.Time `json:"last_fired"`
	NextFire    time.Time `json:"next_fire,omitempty"`
	EventCursor int64     `json:"event_cursor"`
	LastPoll    time.Time `json:"last_poll"`
}

// EventDelivery is a run an event started.
type EventDelivery struct {
	Trigger     string    `json:"trigger"`
	RunID       string    `json:"run_id"`
	DeliveredAt time.Time `json:"delivered_at"`
}

// Event is an object-created event (GET /api/v1/events).
type Event struct {
	ID           int64           `json:"id"`
	Bucket       string          `json:"bucket"`
	Key          string          `json:"key"`
	VersionID    string          `json:"version_id"`
	Checksum     string          `json:"checksum"`
	ETag         string          `json:"etag"`
	Size         int64           `json:"size"`
	Via          string          `json:"via"`
	LastModified time.Time       `json:"last_modified"`
	RecordedAt   time.Time       `json:"recorded_at"`
	Deliveries   []EventDelivery `json:"deliveries,omitempty"`
}

// Alarm is an alarm's definition.
type Alarm struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Rule        string          `json:"rule"`
	Target      string          `json:"target"`
	Threshold   int64           `json:"threshold,omitempty"`
	MaxAge      Duration        `json:"max_age,omitempty"`
	Webhook     string          `json:"webhook,omitempty"`
	CloudWatch  json.RawMessage `json:"cloudwatch,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// AlarmStatus is an alarm with its state (GET /api/v1/alarms/{name}).
type AlarmStatus struct {
	Alarm
	State          string    `json:"state"`
	Reason         string    `json:"reason,omitempty"`
	StateChangedAt time.Time `json:"state_changed_at"`
	CheckedAt      time.Time `json:"checked_at"`
}

// AlarmTransition is a change of an alarm's state.
type AlarmTransition struct {
	At       time.Time `json:"at"`
	OldState string    `json:"old_state"`
	NewState string    `json:"new_state"`
	Reason   string    `json:"reason"`
	Notified string    `json:"notified,omitempty"`
}
