package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/storage"
)

func crawlerResource(n string) string { return "arn:aws:glue:*:*:crawler/" + n }
func jobResource(n string) string     { return "arn:aws:glue:*:*:job/" + n }

// runs are the crawls and job runs started through this front end: they
// outlive the request that started them and end (stopped) at Close.
type runs struct {
	once     sync.Once
	ctx      context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	crawling map[string]bool // crawlers whose Start has not returned
	stopping map[string]bool // of those, the ones asked to stop
}

func (r *runs) init() {
	r.once.Do(func() {
		r.ctx, r.stop = context.WithCancel(context.Background())
		r.crawling, r.stopping = map[string]bool{}, map[string]bool{}
	})
}

// Close stops the crawls and job runs started through this front end and
// waits for them to record their end.
func (s *Server) Close() {
	s.bg.init()
	s.bg.stop()
	s.bg.wg.Wait()
}

func (s *Server) glueRunOps() {
	s.bg.init()
	s.glue("CreateCrawler", s.createCrawler)
	s.glue("GetCrawler", s.getCrawler)
	s.glue("GetCrawlers", s.getCrawlers)
	s.glue("UpdateCrawler", s.updateCrawler)
	s.glue("DeleteCrawler", s.deleteCrawler)
	s.glue("StartCrawler", s.startCrawler)
	s.glue("StopCrawler", s.stopCrawler)
	s.glue("GetCrawlerMetrics", s.getCrawlerMetrics)
	s.glue("CreateJob", s.createJob)
	s.glue("GetJob", s.getJob)
	s.glue("GetJobs", s.getJobs)
	s.glue("UpdateJob", s.updateJob)
	s.glue("DeleteJob", s.deleteJob)
	s.glue("StartJobRun", s.startJobRun)
	s.glue("GetJobRun", s.getJobRun)
	s.glue("GetJobRuns", s.getJobRuns)
	s.glue("BatchStopJobRun", s.batchStopJobRun)
	s.glue("GetJobBookmark", s.getJobBookmark)
	s.glue("ResetJobBookmark", s.resetJobBookmark)
}

// Crawlers.

type s3Target struct {
	Path       string   `json:"Path"`
	Exclusions []string `json:"Exclusions,omitempty"`
}

type crawlerTargets struct {
	S3Targets []s3Target `json:"S3Targets"`
}

type schemaChangePolicy struct {
	UpdateBehavior string `json:"UpdateBehavior,omitempty"`
	DeleteBehavior string `json:"DeleteBehavior,omitempty"`
}

type recrawlPolicy struct {
	RecrawlBehavior string `json:"RecrawlBehavior,omitempty"`
}

type crawlerInput struct {
	Name               string
	Role               string
	DatabaseName       string
	Description        string
	Targets            crawlerTargets
	Schedule           string
	TablePrefix        string
	SchemaChangePolicy *schemaChangePolicy
	RecrawlPolicy      *recrawlPolicy
}

// Glue's policy words and tarn's.
var (
	updateBehaviors = map[string]string{"UPDATE_IN_DATABASE": "update", "LOG": "log"}
	deleteBehaviors = map[string]string{"LOG": "log", "DEPRECATE_IN_DATABASE": "deprecate", "DELETE_FROM_DATABASE": "delete"}
	recrawls        = map[string]string{"CRAWL_EVERYTHING": "all", "CRAWL_NEW_FOLDERS_ONLY": "new-folders"}
)

func reverse(m map[string]string, v string) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

func toCrawlerSpec(in crawlerInput) (crawler.Spec, error) {
	spec := crawler.Spec{Name: in.Name, Database: in.DatabaseName, Description: in.Description}
	if in.Schedule != "" {
		return spec, invalidInput("crawler %q: tarn schedules crawls with workflows and triggers, not a crawler Schedule; create the crawler without it and see docs/workflows.md", in.Name)
	}
	if in.TablePrefix != "" {
		return spec, invalidInput("crawler %q: TablePrefix is not supported; tables are named after their folders", in.Name)
	}
	for _, t := range in.Targets.S3Targets {
		spec.Targets = append(spec.Targets, t.Path)
		spec.Exclusions = append(spec.Exclusions, t.Exclusions...)
	}
	if p := in.SchemaChangePolicy; p != nil {
		var ok bool
		if p.UpdateBehavior != "" {
			if spec.SchemaChangePolicy, ok = updateBehaviors[p.UpdateBehavior]; !ok {
				return spec, invalidInput("SchemaChangePolicy.UpdateBehavior %q is not UPDATE_IN_DATABASE or LOG", p.UpdateBehavior)
			}
		}
		if p.DeleteBehavior != "" {
			if spec.DeleteBehavior, ok = deleteBehaviors[p.DeleteBehavior]; !ok {
				return spec, invalidInput("SchemaChangePolicy.DeleteBehavior %q is not LOG, DEPRECATE_IN_DATABASE or DELETE_FROM_DATABASE", p.DeleteBehavior)
			}
		}
	}
	if p := in.RecrawlPolicy; p != nil && p.RecrawlBehavior != "" {
		var ok bool
		if spec.RecrawlPolicy, ok = recrawls[p.RecrawlBehavior]; !ok {
			return spec, invalidInput("RecrawlPolicy.RecrawlBehavior %q is not CRAWL_EVERYTHING or CRAWL_NEW_FOLDERS_ONLY", p.RecrawlBehavior)
		}
	}
	return spec, nil
}

// crawlerName checks a crawler name before it goes into an ARN.
func crawlerName(field, n string) (string, error) {
	if err := required(field, n); err != nil {
		return "", err
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') || len(n) > 255 {
			return "", invalidInput("%s %q may only contain letters, digits, '_', '-' and '.' (at most 255)", field, truncate(n, 80))
		}
	}
	return n, nil
}

func (s *Server) createCrawler(ctx context.Context, c *call, body []byte) (any, error) {
	var in crawlerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := crawlerName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:CreateCrawler", crawlerResource(n)); err != nil {
		return nil, err
	}
	spec, err := toCrawlerSpec(in)
	if err != nil {
		return nil, err
	}
	return nil, s.d.Crawlers.Create(ctx, spec)
}

func (s *Server) updateCrawler(ctx context.Context, c *call, body []byte) (any, error) {
	var in crawlerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := crawlerName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:UpdateCrawler", crawlerResource(n)); err != nil {
		return nil, err
	}
	cur, err := s.d.Crawlers.Get(ctx, n)
	if err != nil {
		return nil, err
	}
	// Glue's UpdateCrawler changes only the members given.
	spec, err := toCrawlerSpec(in)
	if err != nil {
		return nil, err
	}
	if spec.Database == "" {
		spec.Database = cur.Database
	}
	if in.Description == "" {
		spec.Description = cur.Description
	}
	if len(in.Targets.S3Targets) == 0 {
		spec.Targets, spec.Exclusions = cur.Targets, cur.Exclusions
	}
	if spec.SchemaChangePolicy == "" {
		spec.SchemaChangePolicy = cur.SchemaChangePolicy
	}
	if spec.DeleteBehavior == "" {
		spec.DeleteBehavior = cur.DeleteBehavior
	}
	if spec.RecrawlPolicy == "" {
		spec.RecrawlPolicy = cur.RecrawlPolicy
	}
	return nil, s.d.Crawlers.Update(ctx, spec)
}

func (s *Server) deleteCrawler(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := crawlerName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteCrawler", crawlerResource(n)); err != nil {
		return nil, err
	}
	return nil, s.d.Crawlers.Delete(ctx, n)
}

// crawlerState is Glue's READY, RUNNING or STOPPING.
func (s *Server) crawlerState(latest *crawler.Run, name string) string {
	s.bg.mu.Lock()
	crawling, stopping := s.bg.crawling[name], s.bg.stopping[name]
	s.bg.mu.Unlock()
	switch {
	case stopping:
		return "STOPPING"
	case crawling || latest != nil && latest.State == crawler.StateRunning:
		return "RUNNING"
	}
	return "READY"
}

func (s *Server) glueCrawler(ctx context.Context, spec crawler.Spec) (map[string]any, error) {
	rs, err := s.d.Crawlers.Runs(ctx, spec.Name)
	if err != nil {
		return nil, err
	}
	latest := latestRun(rs)
	targets := []s3Target{}
	for i, t := range spec.Targets {
		st := s3Target{Path: t}
		if i == 0 {
			st.Exclusions = spec.Exclusions
		}
		targets = append(targets, st)
	}
	out := map[string]any{
		"Name": spec.Name, "DatabaseName": spec.Database, "Description": spec.Description, "Role": "",
		"Targets":            map[string]any{"S3Targets": targets},
		"State":              s.crawlerState(latest, spec.Name),
		"SchemaChangePolicy": schemaChangePolicy{reverse(updateBehaviors, spec.SchemaChangePolicy), reverse(deleteBehaviors, spec.DeleteBehavior)},
		"RecrawlPolicy":      recrawlPolicy{reverse(recrawls, spec.RecrawlPolicy)},
		"CreationTime":       epoch(spec.CreatedAt), "LastUpdated": epoch(spec.UpdatedAt), "Version": 1,
	}
	// LastCrawl is the latest finished crawl, as Glue shows it.
	for _, r := range rs {
		if r.State == crawler.StateRunning || r.DryRun {
			continue
		}
		lc := map[string]any{"Status": r.State, "StartTime": epoch(r.StartedAt), "LogGroup": "/aws-glue/crawlers", "LogStream": spec.Name, "MessagePrefix": r.ID}
		if r.Error != "" {
			lc["ErrorMessage"] = r.Error
		}
		out["LastCrawl"] = lc
		out["CrawlElapsedTime"] = r.EndedAt.Sub(r.StartedAt).Milliseconds()
		break
	}
	return out, nil
}

// latestRun is the newest run (Runs lists newest first), nil if none.
func latestRun(rs []crawler.Run) *crawler.Run {
	if len(rs) == 0 {
		return nil
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].StartedAt.After(rs[j].StartedAt) })
	return &rs[0]
}

func (s *Server) getCrawler(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := crawlerName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetCrawler", crawlerResource(n)); err != nil {
		return nil, err
	}
	spec, err := s.d.Crawlers.Get(ctx, n)
	if err != nil {
		return nil, err
	}
	gc, err := s.glueCrawler(ctx, spec)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Crawler": gc}, nil
}

func (s *Server) getCrawlers(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetCrawlers", auth.CatalogResource); err != nil {
		return nil, err
	}
	specs, err := s.d.Crawlers.List(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(specs), in.NextToken, in.MaxResults, 100, 1000)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, spec := range specs[lo:hi] {
		gc, err := s.glueCrawler(ctx, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, gc)
	}
	return map[string]any{"Crawlers": out, "NextToken": next}, nil
}

func (s *Server) startCrawler(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := crawlerName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:StartCrawler", crawlerResource(n)); err != nil {
		return nil, err
	}
	if _, err := s.d.Crawlers.Get(ctx, n); err != nil {
		return nil, err
	}
	// Marked running before StartCrawler answers, so that a client polling
	// GetCrawler for READY right after never sees the crawl as done before
	// it has begun.
	s.bg.mu.Lock()
	if s.bg.crawling[n] {
		s.bg.mu.Unlock()
		return nil, errorf("CrawlerRunningException", "crawler %s is already running", n)
	}
	s.bg.crawling[n] = true
	s.bg.wg.Add(1)
	s.bg.mu.Unlock()
	go func() {
		defer s.bg.wg.Done()
		_, _ = s.d.Crawlers.Start(s.bg.ctx, n, crawler.StartOptions{})
		s.bg.mu.Lock()
		delete(s.bg.crawling, n)
		delete(s.bg.stopping, n)
		s.bg.mu.Unlock()
	}()
	return nil, nil
}

func (s *Server) stopCrawler(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := crawlerName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:StopCrawler", crawlerResource(n)); err != nil {
		return nil, err
	}
	if err := s.d.Crawlers.Stop(ctx, n); err != nil {
		if errors.Is(err, crawler.ErrNotRunning) {
			s.bg.mu.Lock()
			starting := s.bg.crawling[n]
			s.bg.mu.Unlock()
			if !starting {
				return nil, errorf("CrawlerNotRunningException", "crawler %s is not running", n)
			}
		} else {
			return nil, err
		}
	}
	s.bg.mu.Lock()
	if s.bg.crawling[n] {
		s.bg.stopping[n] = true
	}
	s.bg.mu.Unlock()
	return nil, nil
}

func (s *Server) getCrawlerMetrics(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		CrawlerNameList []string
		NextToken       string
		MaxResults      int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	names := in.CrawlerNameList
	if len(names) > 100 {
		return nil, invalidInput("CrawlerNameList has %d names; at most 100", len(names))
	}
	if len(names) == 0 {
		if err := c.p.Authorize("glue:GetCrawlers", auth.CatalogResource); err != nil {
			return nil, err
		}
		specs, err := s.d.Crawlers.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, sp := range specs {
			names = append(names, sp.Name)
		}
	}
	lo, hi, next, err := page(len(names), in.NextToken, in.MaxResults, 100, 1000)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, n := range names[lo:hi] {
		if _, err := crawlerName("CrawlerNameList", n); err != nil {
			return nil, err
		}
		if err := c.p.Authorize("glue:GetCrawlerMetrics", crawlerResource(n)); err != nil {
			return nil, err
		}
		rs, err := s.d.Crawlers.Runs(ctx, n)
		if err != nil {
			return nil, err
		}
		m := map[string]any{"CrawlerName": n, "TimeLeftSeconds": 0, "StillEstimating": false}
		var secs []float64
		for _, r := range rs {
			if r.State == crawler.StateRunning || r.DryRun {
				continue
			}
			d := r.EndedAt.Sub(r.StartedAt).Seconds()
			if len(secs) == 0 {
				m["LastRuntimeSeconds"] = d
				m["TablesCreated"], m["TablesUpdated"], m["TablesDeleted"] = len(r.TablesCreated), len(r.TablesUpdated), len(r.TablesDeleted)
			}
			secs = append(secs, d)
		}
		if len(secs) > 0 {
			sort.Float64s(secs)
			m["MedianRuntimeSeconds"] = secs[len(secs)/2]
		}
		out = append(out, m)
	}
	return map[string]any{"CrawlerMetricsList": out, "NextToken": next}, nil
}

// Jobs.

type jobCommand struct {
	Name           string `json:"Name,omitempty"`
	ScriptLocation string `json:"ScriptLocation,omitempty"`
	PythonVersion  string `json:"PythonVersion,omitempty"`
}

type jobInput struct {
	Name              string
	Description       string
	Role              string
	Command           jobCommand
	DefaultArguments  map[string]string
	MaxRetries        int
	Timeout           int
	ExecutionProperty *struct{ MaxConcurrentRuns int }
	GlueVersion       string
	WorkerType        string
	NumberOfWorkers   int
}

// The arguments that name the job's output, as Glue scripts commonly take
// them; tarn's job spec needs its target at creation.
var targetArgs = []string{"--target_path", "--TARGET_PATH", "--output_path"}

// glueArgs are Glue's own arguments, accepted and not passed to the SQL.
func glueOwnArg(k string) bool {
	for _, p := range []string{"--job-language", "--enable-", "--TempDir", "--extra-", "--additional-python-modules", "--conf", "--spark-event-logs-path",
		"--job-bookmark-option", "--datalake-formats", "--user-jars-first", "--python-modules-installer-option"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// toArgs turns Glue's "--name": value arguments into tarn's name: value.
func toArgs(in map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		if glueOwnArg(k) {
			continue
		}
		n := strings.TrimPrefix(k, "--")
		if n == "" {
			return nil, invalidInput("argument %q has no name", k)
		}
		out[n] = v
	}
	return out, nil
}

// script reads a job's SQL from the lake: Glue's ScriptLocation. The key
// must be allowed to read it.
func (s *Server) script(ctx context.Context, c *call, loc string) (string, error) {
	if loc == "" {
		return "", invalidInput("Command.ScriptLocation is required: the s3:// URI of the job's .sql script (tarn jobs are SQL)")
	}
	low := strings.ToLower(loc)
	if strings.HasSuffix(low, ".py") || strings.HasSuffix(low, ".scala") {
		return "", invalidInput("tarn runs SQL jobs, not PySpark or Scala scripts: %s cannot run. Write the transform as one SELECT in an .sql object "+
			"(its ${name} placeholders take the --name arguments) and point ScriptLocation at it; docs/aws.md, \"Porting a Glue script to SQL\", shows how", truncate(loc, 200))
	}
	if !strings.HasSuffix(low, ".sql") {
		return "", invalidInput("Command.ScriptLocation %q is not an .sql object; tarn jobs are SQL (see docs/aws.md, \"Porting a Glue script to SQL\")", truncate(loc, 200))
	}
	u, err := storage.ParseURI(loc)
	if err != nil {
		return "", invalidInput("Command.ScriptLocation %q: %v", truncate(loc, 200), err)
	}
	if err := c.p.Authorize("s3:GetObject", auth.S3Resource(u.Bucket, u.Key)); err != nil {
		return "", err
	}
	rc, _, err := s.d.Store.Get(ctx, u.Bucket, u.Key, nil)
	if err != nil {
		return "", invalidInput("cannot read the job's script %s: %v", loc, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20+1))
	if err != nil {
		return "", err
	}
	if len(b) > 1<<20 {
		return "", invalidInput("the job's script %s is over 1 MiB", loc)
	}
	return string(b), nil
}

func (s *Server) toJobSpec(ctx context.Context, c *call, in jobInput) (jobs.Spec, error) {
	sqlText, err := s.script(ctx, c, in.Command.ScriptLocation)
	if err != nil {
		return jobs.Spec{}, err
	}
	args, err := toArgs(in.DefaultArguments)
	if err != nil {
		return jobs.Spec{}, err
	}
	spec := jobs.Spec{Name: in.Name, Description: in.Description, SQL: sqlText, SQLFile: in.Command.ScriptLocation, Args: args, MaxRetries: in.MaxRetries}
	for _, k := range targetArgs {
		if v := in.DefaultArguments[k]; v != "" {
			spec.Target = v
			break
		}
	}
	if spec.Target == "" {
		return jobs.Spec{}, invalidInput("job %q: name its output with DefaultArguments \"--target_path\": \"s3://bucket/prefix/\" (tarn writes a job's result there as Parquet)", in.Name)
	}
	if v := in.DefaultArguments["--output_format"]; v != "" {
		spec.Format = v
	}
	if v := in.DefaultArguments["--output_table"]; v != "" {
		spec.Table = v
	}
	if v := in.DefaultArguments["--partition_by"]; v != "" {
		spec.PartitionBy = strings.Split(v, ",")
	}
	spec.Bookmarks = in.DefaultArguments["--job-bookmark-option"] == "job-bookmark-enable"
	if in.Timeout > 0 {
		spec.Timeout = time.Duration(in.Timeout) * time.Minute
	}
	if in.ExecutionProperty != nil {
		spec.MaxConcurrentRuns = in.ExecutionProperty.MaxConcurrentRuns
	}
	return spec, nil
}

func jobName(field, n string) (string, error) {
	if err := required(field, n); err != nil {
		return "", err
	}
	if len(n) > 255 || strings.ContainsAny(n, "/*?:\x00") {
		return "", invalidInput("%s %q must be 1-255 letters, digits, '_', '-' or '.'", field, truncate(n, 80))
	}
	return n, nil
}

func (s *Server) createJob(ctx context.Context, c *call, body []byte) (any, error) {
	var in jobInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:CreateJob", jobResource(n)); err != nil {
		return nil, err
	}
	spec, err := s.toJobSpec(ctx, c, in)
	if err != nil {
		return nil, err
	}
	key := c.p.Key
	if err := s.d.Jobs.CreateBy(ctx, spec, &key); err != nil {
		return nil, err
	}
	return map[string]string{"Name": n}, nil
}

func (s *Server) updateJob(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		JobName   string
		JobUpdate jobInput
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:UpdateJob", jobResource(n)); err != nil {
		return nil, err
	}
	cur, err := s.d.Jobs.Get(ctx, n)
	if err != nil {
		return nil, err
	}
	in.JobUpdate.Name = n
	spec, err := s.toJobSpec(ctx, c, in.JobUpdate)
	if err != nil {
		return nil, err
	}
	spec.RunAs = cur.RunAs
	key := c.p.Key
	if err := s.d.Jobs.UpdateBy(ctx, spec, &key); err != nil {
		return nil, err
	}
	return map[string]string{"JobName": n}, nil
}

func (s *Server) deleteJob(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ JobName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteJob", jobResource(n)); err != nil {
		return nil, err
	}
	// Glue answers a missing job's deletion with its name, not an error.
	if err := s.d.Jobs.Delete(ctx, n); err != nil && !errors.Is(err, jobs.ErrNoSuchJob) {
		return nil, err
	}
	return map[string]string{"JobName": n}, nil
}

func glueJob(spec jobs.Spec) map[string]any {
	args := map[string]string{}
	for k, v := range spec.Args {
		args["--"+k] = v
	}
	args["--target_path"] = spec.Target
	if spec.Bookmarks {
		args["--job-bookmark-option"] = "job-bookmark-enable"
	}
	out := map[string]any{
		"Name": spec.Name, "Description": spec.Description, "Role": "",
		"Command":           jobCommand{Name: "glueetl", ScriptLocation: spec.SQLFile},
		"DefaultArguments":  args,
		"MaxRetries":        spec.MaxRetries,
		"Timeout":           int(spec.Timeout / time.Minute),
		"ExecutionProperty": map[string]int{"MaxConcurrentRuns": max(spec.MaxConcurrentRuns, 1)},
		"CreatedOn":         epoch(spec.CreatedAt), "LastModifiedOn": epoch(spec.UpdatedAt),
		"GlueVersion": "tarn",
	}
	return out
}

func (s *Server) getJob(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ JobName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetJob", jobResource(n)); err != nil {
		return nil, err
	}
	spec, err := s.d.Jobs.Get(ctx, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Job": glueJob(spec)}, nil
}

func (s *Server) getJobs(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetJobs", auth.CatalogResource); err != nil {
		return nil, err
	}
	specs, err := s.d.Jobs.List(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(specs), in.NextToken, in.MaxResults, 100, 1000)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, sp := range specs[lo:hi] {
		out = append(out, glueJob(sp))
	}
	return map[string]any{"Jobs": out, "NextToken": next}, nil
}

func (s *Server) startJobRun(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		JobName   string
		Arguments map[string]string
		Timeout   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:StartJobRun", jobResource(n)); err != nil {
		return nil, err
	}
	spec, err := s.d.Jobs.Get(ctx, n)
	if err != nil {
		return nil, err
	}
	for _, k := range targetArgs {
		if v, ok := in.Arguments[k]; ok && strings.TrimSuffix(v, "/") != strings.TrimSuffix(spec.Target, "/") {
			return nil, invalidInput("job %s writes to %s (its --target_path); a run cannot write elsewhere (%s). Update the job, or create one per target", n, spec.Target, truncate(v, 200))
		}
	}
	args, err := toArgs(in.Arguments)
	if err != nil {
		return nil, err
	}
	for _, k := range targetArgs {
		delete(args, strings.TrimPrefix(k, "--"))
	}
	// The script is read at each run, as Glue does: an edited .sql object
	// is what the next run executes.
	if spec.SQLFile != "" && strings.HasPrefix(spec.SQLFile, "s3://") {
		sqlText, err := s.script(ctx, c, spec.SQLFile)
		if err != nil {
			return nil, err
		}
		if sqlText != spec.SQL {
			spec.SQL = sqlText
			key := c.p.Key
			if err := s.d.Jobs.UpdateBy(ctx, spec, &key); err != nil {
				return nil, err
			}
		}
	}
	before, err := s.d.Jobs.Runs(ctx, n)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, r := range before {
		known[r.ID] = true
	}
	type result struct {
		run jobs.Run
		err error
	}
	done := make(chan result, 1)
	s.bg.wg.Add(1)
	go func() {
		defer s.bg.wg.Done()
		run, err := s.d.Jobs.Start(s.bg.ctx, n, jobs.StartOptions{Args: args})
		done <- result{run, err}
	}()
	// A run is recorded before it does any work: answer with its id.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			if res.run.ID == "" {
				return nil, res.err
			}
			return map[string]string{"JobRunId": res.run.ID}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			rs, err := s.d.Jobs.Runs(ctx, n)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				if !known[r.ID] {
					return map[string]string{"JobRunId": r.ID}, nil
				}
			}
		}
	}
}

func glueJobRun(r jobs.Run) map[string]any {
	args := map[string]string{}
	for k, v := range r.Args {
		args["--"+k] = v
	}
	out := map[string]any{
		"Id": r.ID, "Attempt": r.Attempt - 1, "JobName": r.Job, "StartedOn": epoch(r.StartedAt), "LastModifiedOn": epoch(r.StartedAt),
		"JobRunState": r.State, "Arguments": args, "ExecutionTime": int(r.Duration().Seconds()), "GlueVersion": "tarn",
	}
	if !r.EndedAt.IsZero() {
		out["CompletedOn"], out["LastModifiedOn"] = epoch(r.EndedAt), epoch(r.EndedAt)
	}
	if r.Error != "" {
		out["ErrorMessage"] = r.Error
	}
	return out
}

func (s *Server) getJobRun(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ JobName, RunId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetJobRun", jobResource(n)); err != nil {
		return nil, err
	}
	r, err := s.d.Jobs.GetRun(ctx, in.RunId)
	if err == nil && r.Job != n {
		err = fmt.Errorf("job %s has no run %s: %w", n, in.RunId, jobs.ErrNoSuchRun)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"JobRun": glueJobRun(r)}, nil
}

func (s *Server) getJobRuns(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		JobName    string
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetJobRuns", jobResource(n)); err != nil {
		return nil, err
	}
	if _, err := s.d.Jobs.Get(ctx, n); err != nil {
		return nil, err
	}
	rs, err := s.d.Jobs.Runs(ctx, n)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(rs), in.NextToken, in.MaxResults, 100, 200)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, r := range rs[lo:hi] {
		out = append(out, glueJobRun(r))
	}
	return map[string]any{"JobRuns": out, "NextToken": next}, nil
}

func (s *Server) batchStopJobRun(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		JobName   string
		JobRunIds []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if len(in.JobRunIds) == 0 || len(in.JobRunIds) > 25 {
		return nil, invalidInput("JobRunIds has %d ids; give 1 to 25", len(in.JobRunIds))
	}
	if err := c.p.Authorize("glue:BatchStopJobRun", jobResource(n)); err != nil {
		return nil, err
	}
	type stopped struct {
		JobName  string `json:"JobName"`
		JobRunID string `json:"JobRunId"`
	}
	type stopError struct {
		JobName     string      `json:"JobName"`
		JobRunID    string      `json:"JobRunId"`
		ErrorDetail errorDetail `json:"ErrorDetail"`
	}
	ok, errs := []stopped{}, []stopError{}
	for _, id := range in.JobRunIds {
		r, err := s.d.Jobs.GetRun(ctx, id)
		if err == nil && r.Job != n {
			err = fmt.Errorf("job %s has no run %s: %w", n, id, jobs.ErrNoSuchRun)
		}
		if err == nil {
			err = s.d.Jobs.Stop(ctx, id)
		}
		if err != nil {
			errs = append(errs, stopError{n, id, s.detail(err)})
			continue
		}
		ok = append(ok, stopped{n, id})
	}
	return map[string]any{"SuccessfulSubmissions": ok, "Errors": errs}, nil
}

func (s *Server) bookmarkEntry(ctx context.Context, n string) (map[string]any, error) {
	bms, err := s.d.Jobs.Bookmarks(ctx, n)
	if err != nil {
		return nil, err
	}
	rs, err := s.d.Jobs.Runs(ctx, n)
	if err != nil {
		return nil, err
	}
	entry := map[string]any{"JobName": n, "Version": len(bms), "Run": len(rs), "Attempt": 0}
	if len(rs) > 0 {
		entry["RunId"], entry["Attempt"] = rs[0].ID, rs[0].Attempt-1
	}
	files := make([]map[string]string, 0, len(bms))
	for _, b := range bms {
		files = append(files, map[string]string{"source": b.Source, "uri": b.URI, "etag": b.ETag, "run_id": b.RunID})
	}
	js, _ := jsonString(map[string]any{"files": files})
	entry["JobBookmark"] = js
	return entry, nil
}

func (s *Server) getJobBookmark(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ JobName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetJobBookmark", jobResource(n)); err != nil {
		return nil, err
	}
	if _, err := s.d.Jobs.Get(ctx, n); err != nil {
		return nil, err
	}
	e, err := s.bookmarkEntry(ctx, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"JobBookmarkEntry": e}, nil
}

func (s *Server) resetJobBookmark(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ JobName, RunId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := jobName("JobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:ResetJobBookmark", jobResource(n)); err != nil {
		return nil, err
	}
	if in.RunId != "" {
		return nil, invalidInput("tarn resets a job's whole bookmark; RunId (rewinding to one run) is not supported")
	}
	if _, err := s.d.Jobs.ResetBookmark(ctx, n); err != nil {
		return nil, err
	}
	e, err := s.bookmarkEntry(ctx, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"JobBookmarkEntry": e}, nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
