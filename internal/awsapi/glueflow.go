package awsapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/workflow"
)

// Glue workflows and triggers map onto tarn's workflow service. A Glue
// workflow is a tarn workflow marked Glue; the actions of its triggers are
// its steps: the start trigger's (SCHEDULED, ON_DEMAND, EVENT) are the root
// steps, and a CONDITIONAL trigger's depend on the jobs and crawlers its
// predicate watches. The start trigger is also a tarn trigger of the
// workflow, so `tarn workflow` and `tarn trigger` show what Glue built.

func workflowResource(n string) string { return "arn:aws:glue:*:*:workflow/" + n }
func triggerResource(n string) string  { return "arn:aws:glue:*:*:trigger/" + n }

func (s *Server) glueFlowOps() {
	s.glue("CreateWorkflow", s.createWorkflow)
	s.glue("GetWorkflow", s.getWorkflow)
	s.glue("UpdateWorkflow", s.updateWorkflow)
	s.glue("DeleteWorkflow", s.deleteWorkflow)
	s.glue("ListWorkflows", s.listWorkflows)
	s.glue("BatchGetWorkflows", s.batchGetWorkflows)
	s.glue("BatchGetTriggers", s.batchGetTriggers)
	s.glue("StartWorkflowRun", s.startWorkflowRun)
	s.glue("GetWorkflowRun", s.getWorkflowRun)
	s.glue("GetWorkflowRuns", s.getWorkflowRuns)
	s.glue("GetWorkflowRunProperties", s.getWorkflowRunProperties)
	s.glue("PutWorkflowRunProperties", s.putWorkflowRunProperties)
	s.glue("StopWorkflowRun", s.stopWorkflowRun)
	s.glue("CreateTrigger", s.createTrigger)
	s.glue("GetTrigger", s.getTrigger)
	s.glue("GetTriggers", s.getTriggers)
	s.glue("ListTriggers", s.listTriggers)
	s.glue("UpdateTrigger", s.updateTrigger)
	s.glue("DeleteTrigger", s.deleteTrigger)
	s.glue("StartTrigger", s.startTrigger)
	s.glue("StopTrigger", s.stopTrigger)
}

func (s *Server) flows() (*workflow.Service, error) {
	if s.d.Workflows == nil {
		return nil, errorf("UnknownOperationException", "this server runs no workflow scheduler")
	}
	return s.d.Workflows, nil
}

// name checks a workflow or trigger name before it goes into an ARN.
func flowName(field, n string) error {
	if err := required(field, n); err != nil {
		return err
	}
	if len(n) > 255 || strings.ContainsAny(n, ":/*?") || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return invalidInput("%s %q may only contain letters, digits, '_', '-' and '.' (at most 255)", field, truncate(n, 80))
	}
	return nil
}

// Workflows.

type workflowInput struct {
	Name                 string
	Description          *string
	DefaultRunProperties map[string]string
	MaxConcurrentRuns    *int
}

func (s *Server) createWorkflow(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in workflowInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:CreateWorkflow", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	w := workflow.Workflow{Name: in.Name, Glue: true, Properties: in.DefaultRunProperties}
	if in.Description != nil {
		w.Description = *in.Description
	}
	if in.MaxConcurrentRuns != nil {
		if *in.MaxConcurrentRuns < 1 {
			return nil, invalidInput("MaxConcurrentRuns must be at least 1 (tarn queues the runs beyond it)")
		}
		w.MaxConcurrentRuns = *in.MaxConcurrentRuns
	}
	if err := wf.CreateWorkflowBy(ctx, w, &c.p.Key); err != nil {
		return nil, err
	}
	return map[string]any{"Name": in.Name}, nil
}

func (s *Server) updateWorkflow(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in workflowInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:UpdateWorkflow", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	w, err := wf.GetWorkflow(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if in.Description != nil {
		w.Description = *in.Description
	}
	if in.DefaultRunProperties != nil {
		w.Properties = in.DefaultRunProperties
	}
	if in.MaxConcurrentRuns != nil {
		if *in.MaxConcurrentRuns < 1 {
			return nil, invalidInput("MaxConcurrentRuns must be at least 1 (tarn queues the runs beyond it)")
		}
		w.MaxConcurrentRuns = *in.MaxConcurrentRuns
	}
	if err := s.saveWorkflow(ctx, c, w); err != nil {
		return nil, err
	}
	return map[string]any{"Name": in.Name}, nil
}

// saveWorkflow stores a changed workflow: it runs as the key that changed
// it from then on, as tarn's own API has it.
func (s *Server) saveWorkflow(ctx context.Context, c *call, w workflow.Workflow) error {
	w.RunAs = ""
	return s.d.Workflows.UpdateWorkflowBy(ctx, w, &c.p.Key)
}

func (s *Server) deleteWorkflow(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteWorkflow", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	w, err := wf.GetWorkflow(ctx, in.Name)
	if errors.Is(err, workflow.ErrNoSuchWorkflow) {
		// Glue's DeleteWorkflow is idempotent.
		return map[string]any{"Name": in.Name}, nil
	}
	if err != nil {
		return nil, err
	}
	// A Glue workflow's triggers go with it, as in Glue; a tarn workflow's
	// triggers were made apart from it and must be deleted apart. Active
	// runs are checked first, so that a refusal leaves the triggers.
	runs, err := wf.Runs(ctx, w.Name, 1000)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.State == workflow.RunQueued || r.State == workflow.RunRunning {
			return nil, invalidInput("workflow %q has an active run, %s: stop it first (glue stop-workflow-run)", w.Name, r.ID)
		}
	}
	if w.Glue {
		trs, err := wf.ListTriggers(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range trs {
			if t.Workflow == w.Name {
				if err := c.p.Authorize("glue:DeleteTrigger", triggerResource(t.Name)); err != nil {
					return nil, err
				}
				if err := wf.DeleteTrigger(ctx, t.Name); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := wf.DeleteWorkflow(ctx, in.Name); err != nil {
		return nil, err
	}
	return map[string]any{"Name": in.Name}, nil
}

func (s *Server) getWorkflow(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Name         string
		IncludeGraph bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetWorkflow", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	w, err := wf.GetWorkflow(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	out, err := s.workflowOut(ctx, w, in.IncludeGraph)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Workflow": out}, nil
}

func (s *Server) workflowOut(ctx context.Context, w workflow.Workflow, graph bool) (map[string]any, error) {
	out := map[string]any{"Name": w.Name, "CreatedOn": epoch(w.CreatedAt), "LastModifiedOn": epoch(w.UpdatedAt),
		"MaxConcurrentRuns": w.MaxConcurrentRuns, "DefaultRunProperties": nonNilMap(w.Properties)}
	if w.Description != "" {
		out["Description"] = w.Description
	}
	start, err := s.startTriggers(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	if runs, err := s.d.Workflows.Runs(ctx, w.Name, 1); err == nil && len(runs) > 0 {
		run, err := s.d.Workflows.GetRun(ctx, runs[0].ID)
		if err == nil {
			out["LastRun"] = runOut(run, nil)
		}
	}
	if graph {
		out["Graph"] = graphOut(w, start, nil)
	}
	return out, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// startTriggers are the tarn triggers that start workflow w.
func (s *Server) startTriggers(ctx context.Context, w string) ([]workflow.Trigger, error) {
	trs, err := s.d.Workflows.ListTriggers(ctx)
	if err != nil {
		return nil, err
	}
	var out []workflow.Trigger
	for _, t := range trs {
		if t.Workflow == w {
			out = append(out, t)
		}
	}
	return out, nil
}

// graphOut is Glue's Graph: trigger, job and crawler nodes, edges from a
// trigger to its actions and from a watched step to its trigger. With a
// run, job and crawler nodes carry the run's attempts.
func graphOut(w workflow.Workflow, start []workflow.Trigger, run *workflow.Run) map[string]any {
	nodes := []map[string]any{}
	edges := []map[string]any{}
	seen := map[string]bool{}
	trig := func(name string) string {
		id := "trigger_" + name
		if !seen[id] {
			seen[id] = true
			nodes = append(nodes, map[string]any{"Type": "TRIGGER", "Name": name, "UniqueId": id,
				"TriggerDetails": map[string]any{"Trigger": map[string]any{"Name": name, "WorkflowName": w.Name}}})
		}
		return id
	}
	for _, t := range start {
		trig(t.Name)
	}
	for _, st := range w.Steps {
		kind := strings.ToUpper(st.Kind())
		if kind == "SQL" {
			// Glue has no such node; tarn's own workflows may have them.
			kind = "JOB"
		}
		id := "step_" + st.Name
		n := map[string]any{"Type": kind, "Name": st.Name, "UniqueId": id}
		if run != nil {
			for _, sr := range run.Steps {
				if sr.Name != st.Name || sr.State == workflow.StepWaiting || sr.State == workflow.StepSkipped {
					continue
				}
				if st.Crawler != "" {
					n["CrawlerDetails"] = map[string]any{"Crawls": []map[string]any{{"State": crawlState(sr.State), "StartedOn": epoch(sr.StartedAt),
						"CompletedOn": epoch(sr.EndedAt), "ErrorMessage": sr.Error}}}
				} else {
					n["JobDetails"] = map[string]any{"JobRuns": []map[string]any{{"Id": sr.ChildID, "JobName": st.Job, "JobRunState": jobState(sr.State),
						"StartedOn": epoch(sr.StartedAt), "CompletedOn": epoch(sr.EndedAt), "ErrorMessage": sr.Error, "Attempt": max(sr.Attempt-1, 0)}}}
				}
			}
		}
		nodes = append(nodes, n)
		from := st.Trigger
		if from == "" && len(st.DependsOn) == 0 && len(start) > 0 {
			from = start[0].Name
		}
		if from == "" && len(st.DependsOn) > 0 {
			from = "after_" + st.Name
		}
		if from != "" {
			edges = append(edges, map[string]any{"SourceId": trig(from), "DestinationId": id})
		}
		for _, d := range st.DependsOn {
			edges = append(edges, map[string]any{"SourceId": "step_" + d, "DestinationId": trig(from)})
		}
	}
	return map[string]any{"Nodes": nodes, "Edges": edges}
}

func jobState(step string) string {
	switch step {
	case workflow.StepRunning, "RETRYING":
		return "RUNNING"
	case workflow.StepWaiting:
		return "WAITING"
	}
	return step
}

func crawlState(step string) string {
	switch step {
	case workflow.StepStopped:
		return "CANCELLED"
	case workflow.StepRunning, "RETRYING":
		return "RUNNING"
	}
	return step
}

func (s *Server) listWorkflows(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	all := c.p.Authorize("glue:ListWorkflows", workflowResource("*"))
	ws, err := wf.ListWorkflows(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, w := range ws {
		// A key scoped to some workflows lists those.
		if all == nil || c.p.Authorize("glue:ListWorkflows", workflowResource(w.Name)) == nil {
			names = append(names, w.Name)
		}
	}
	if all != nil && len(names) == 0 {
		return nil, all
	}
	page, next, err := pageNames(names, in.NextToken, in.MaxResults, 25)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Workflows": nonNilSlice(page)}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pageNames pages sorted names: the token is the last name given.
func pageNames(names []string, token string, maxResults, limit int) ([]string, string, error) {
	if maxResults < 0 || maxResults > limit {
		return nil, "", invalidInput("MaxResults must be between 1 and %d", limit)
	}
	if maxResults == 0 {
		maxResults = limit
	}
	sort.Strings(names)
	i := 0
	if token != "" {
		i = sort.SearchStrings(names, token)
		if i < len(names) && names[i] == token {
			i++
		}
	}
	end := min(i+maxResults, len(names))
	next := ""
	if end < len(names) {
		next = names[end-1]
	}
	return names[i:end], next, nil
}

// Workflow runs.

func (s *Server) startWorkflowRun(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Name          string
		RunProperties map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:StartWorkflowRun", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	run, err := wf.Start(ctx, in.Name, workflow.StartOptions{Properties: in.RunProperties})
	if err != nil {
		return nil, err
	}
	return map[string]any{"RunId": run.ID}, nil
}

// run reads a run of workflow name, checking it is one.
func (s *Server) run(ctx context.Context, name, id string) (workflow.Run, error) {
	if err := required("RunId", id); err != nil {
		return workflow.Run{}, err
	}
	run, err := s.d.Workflows.GetRun(ctx, id)
	if err != nil {
		return run, err
	}
	if run.Workflow != name {
		return run, fmt.Errorf("workflow %q has no run %q: %w", name, id, workflow.ErrNoSuchRun)
	}
	return run, nil
}

func runStatus(state string) string {
	switch state {
	case workflow.RunQueued, workflow.RunRunning:
		return "RUNNING"
	case workflow.RunStopped:
		return "STOPPED"
	}
	// Glue's run is COMPLETED whatever its actions did; their outcome is
	// in Statistics (and tarn's reason in ErrorMessage).
	return "COMPLETED"
}

func runOut(run workflow.Run, graph map[string]any) map[string]any {
	stats := map[string]int{"TotalActions": 0, "TimeoutActions": 0, "FailedActions": 0, "StoppedActions": 0, "SucceededActions": 0,
		"RunningActions": 0, "ErroredActions": 0, "WaitingActions": 0}
	for _, st := range run.Steps {
		if st.State == workflow.StepSkipped {
			continue
		}
		stats["TotalActions"]++
		switch st.State {
		case workflow.StepSucceeded:
			stats["SucceededActions"]++
		case workflow.StepFailed:
			stats["FailedActions"]++
		case workflow.StepStopped:
			stats["StoppedActions"]++
		case workflow.StepWaiting:
			stats["WaitingActions"]++
		default:
			stats["RunningActions"]++
		}
	}
	out := map[string]any{"Name": run.Workflow, "WorkflowRunId": run.ID, "WorkflowRunProperties": nonNilMap(run.Properties),
		"StartedOn": epoch(run.QueuedAt), "Status": runStatus(run.State), "Statistics": stats}
	if !run.EndedAt.IsZero() {
		out["CompletedOn"] = epoch(run.EndedAt)
	}
	if run.Error != "" {
		out["ErrorMessage"] = run.Error
	}
	if graph != nil {
		out["Graph"] = graph
	}
	return out
}

func (s *Server) getWorkflowRun(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Name         string
		RunId        string
		IncludeGraph bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetWorkflowRun", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	run, err := s.run(ctx, in.Name, in.RunId)
	if err != nil {
		return nil, err
	}
	var g map[string]any
	if in.IncludeGraph {
		start, err := s.startTriggers(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		_ = wf
		g = graphOut(run.Spec(), start, &run)
	}
	return map[string]any{"Run": runOut(run, g)}, nil
}

func (s *Server) getWorkflowRuns(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Name         string
		IncludeGraph bool
		NextToken    string
		MaxResults   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetWorkflowRuns", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, invalidInput("MaxResults must be between 1 and 1000")
	}
	if in.MaxResults == 0 {
		in.MaxResults = 100
	}
	if _, err := wf.GetWorkflow(ctx, in.Name); err != nil {
		return nil, err
	}
	start := 0
	if in.NextToken != "" {
		if start, err = strconv.Atoi(in.NextToken); err != nil || start < 0 {
			return nil, invalidInput("NextToken %q is not one this server issued; start again without it", truncate(in.NextToken, 40))
		}
	}
	// Newest first, as Glue lists them; one more than the page tells
	// whether another follows.
	runs, err := wf.Runs(ctx, in.Name, start+in.MaxResults+1)
	if err != nil {
		return nil, err
	}
	var starts []workflow.Trigger
	if in.IncludeGraph {
		if starts, err = s.startTriggers(ctx, in.Name); err != nil {
			return nil, err
		}
	}
	list := []map[string]any{}
	for i := start; i < len(runs) && i < start+in.MaxResults; i++ {
		run, err := wf.GetRun(ctx, runs[i].ID)
		if err != nil {
			return nil, err
		}
		var g map[string]any
		if in.IncludeGraph {
			g = graphOut(run.Spec(), starts, &run)
		}
		list = append(list, runOut(run, g))
	}
	out := map[string]any{"Runs": list}
	if len(runs) > start+in.MaxResults {
		out["NextToken"] = strconv.Itoa(start + in.MaxResults)
	}
	return out, nil
}

func (s *Server) getWorkflowRunProperties(ctx context.Context, c *call, body []byte) (any, error) {
	if _, err := s.flows(); err != nil {
		return nil, err
	}
	var in struct{ Name, RunId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetWorkflowRunProperties", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	run, err := s.run(ctx, in.Name, in.RunId)
	if err != nil {
		return nil, err
	}
	return map[string]any{"RunProperties": nonNilMap(run.Properties)}, nil
}

func (s *Server) putWorkflowRunProperties(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Name, RunId   string
		RunProperties map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:PutWorkflowRunProperties", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	if len(in.RunProperties) == 0 {
		return nil, invalidInput("RunProperties is required")
	}
	if _, err := s.run(ctx, in.Name, in.RunId); err != nil {
		return nil, err
	}
	return nil, wf.PutRunProperties(ctx, in.RunId, in.RunProperties)
}

func (s *Server) stopWorkflowRun(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct{ Name, RunId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:StopWorkflowRun", workflowResource(in.Name)); err != nil {
		return nil, err
	}
	if _, err := s.run(ctx, in.Name, in.RunId); err != nil {
		return nil, err
	}
	return nil, wf.Stop(ctx, in.RunId)
}

// Triggers.

type glueAction struct {
	JobName     string            `json:"JobName,omitempty"`
	CrawlerName string            `json:"CrawlerName,omitempty"`
	Arguments   map[string]string `json:"Arguments,omitempty"`
	Timeout     int               `json:"Timeout,omitempty"`
}

type glueCondition struct {
	LogicalOperator string `json:"LogicalOperator,omitempty"`
	JobName         string `json:"JobName,omitempty"`
	State           string `json:"State,omitempty"`
	CrawlerName     string `json:"CrawlerName,omitempty"`
	CrawlState      string `json:"CrawlState,omitempty"`
}

type gluePredicate struct {
	Logical    string          `json:"Logical,omitempty"`
	Conditions []glueCondition `json:"Conditions"`
}

type eventBatching struct {
	BatchSize   int `json:"BatchSize"`
	BatchWindow int `json:"BatchWindow,omitempty"`
}

// glueTrigger is Glue's Trigger shape, in and out.
type glueTrigger struct {
	Name                   string            `json:"Name"`
	WorkflowName           string            `json:"WorkflowName,omitempty"`
	Id                     string            `json:"Id,omitempty"`
	Type                   string            `json:"Type"`
	State                  string            `json:"State,omitempty"`
	Description            string            `json:"Description,omitempty"`
	Schedule               string            `json:"Schedule,omitempty"`
	Actions                []glueAction      `json:"Actions"`
	Predicate              *gluePredicate    `json:"Predicate,omitempty"`
	EventBatchingCondition *eventBatching    `json:"EventBatchingCondition,omitempty"`
	StartOnCreation        bool              `json:"-"`
	Tags                   map[string]string `json:"-"`
}

// Tags an EVENT trigger takes its objects' location from: Glue's come
// from EventBridge rules, which tarn does not speak.
const (
	tagPrefix = "tarn:prefix"
	tagSuffix = "tarn:suffix"
)

const condTrigger = "CONDITIONAL"

// stepsOf turns a trigger's actions into workflow steps.
func stepsOf(t glueTrigger, w workflow.Workflow) ([]workflow.Step, error) {
	if len(t.Actions) == 0 {
		return nil, invalidInput("trigger %q: Actions is required: the jobs and crawlers it starts", t.Name)
	}
	var deps []string
	cond := ""
	if t.Type == condTrigger {
		if t.Predicate == nil || len(t.Predicate.Conditions) == 0 {
			return nil, invalidInput("a CONDITIONAL trigger needs a Predicate with Conditions")
		}
		failed, succeeded := 0, 0
		for i, c := range t.Predicate.Conditions {
			if c.LogicalOperator != "" && c.LogicalOperator != "EQUALS" {
				return nil, invalidInput("Predicate.Conditions[%d].LogicalOperator %q: only EQUALS exists", i, c.LogicalOperator)
			}
			name, state := c.JobName, c.State
			if (c.JobName == "") == (c.CrawlerName == "") {
				return nil, invalidInput("Predicate.Conditions[%d] must name exactly one of JobName and CrawlerName", i)
			}
			if c.CrawlerName != "" {
				name, state = c.CrawlerName, c.CrawlState
			}
			found := slices.ContainsFunc(w.Steps, func(st workflow.Step) bool {
				return st.Name == name && (st.Job == c.JobName && c.JobName != "" || st.Crawler == c.CrawlerName && c.CrawlerName != "")
			})
			if !found {
				return nil, invalidInput("trigger %q watches %s, which no trigger of workflow %q starts yet: create the trigger that starts it first",
					t.Name, name, w.Name)
			}
			switch state {
			case "SUCCEEDED":
				succeeded++
			case "FAILED", "TIMEOUT", "ERROR":
				failed++
			default:
				return nil, invalidInput("Predicate.Conditions[%d]: state %q is not supported; tarn's conditions are SUCCEEDED (Logical AND or ANY) and FAILED/TIMEOUT (Logical ANY)", i, state)
			}
			deps = append(deps, name)
		}
		logical := t.Predicate.Logical
		if logical == "" {
			logical = "AND"
		}
		switch {
		case failed == 0 && (logical == "AND" || len(deps) == 1):
			cond = workflow.CondAllSucceeded
		case failed == 0 && logical == "ANY":
			cond = workflow.CondAnySucceeded
		case succeeded == 0 && (logical == "ANY" || len(deps) == 1):
			cond = workflow.CondAnyFailed
		default:
			return nil, invalidInput("Predicate: tarn's conditions are all SUCCEEDED (Logical AND or ANY) or FAILED/TIMEOUT with Logical ANY; %s over mixed or all-failed states is not supported", logical)
		}
	}
	var out []workflow.Step
	for i, a := range t.Actions {
		if (a.JobName == "") == (a.CrawlerName == "") {
			return nil, invalidInput("Actions[%d] must name exactly one of JobName and CrawlerName", i)
		}
		if a.CrawlerName != "" && len(a.Arguments) > 0 {
			return nil, invalidInput("Actions[%d]: a crawler takes no Arguments", i)
		}
		if a.Timeout < 0 {
			return nil, invalidInput("Actions[%d].Timeout must be positive minutes", i)
		}
		args, err := toArgs(a.Arguments)
		if err != nil {
			return nil, err
		}
		if len(args) == 0 {
			args = nil
		}
		out = append(out, workflow.Step{Job: a.JobName, Crawler: a.CrawlerName, Args: args, Trigger: t.Name,
			DependsOn: deps, Condition: cond, Timeout: workflow.Duration(time.Duration(a.Timeout) * time.Minute)})
	}
	return out, nil
}

// authorizeActions checks that the caller may start what the trigger does.
func authorizeActions(c *call, t glueTrigger) error {
	for _, a := range t.Actions {
		var err error
		if a.JobName != "" {
			err = c.p.Authorize("glue:StartJobRun", jobResource(a.JobName))
		} else if a.CrawlerName != "" {
			err = c.p.Authorize("glue:StartCrawler", crawlerResource(a.CrawlerName))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// withSteps replaces trigger name's steps of w by steps (nil: removes them).
func withSteps(w workflow.Workflow, name string, steps []workflow.Step) workflow.Workflow {
	var out []workflow.Step
	for _, st := range w.Steps {
		if st.Trigger != name {
			out = append(out, st)
		}
	}
	w.Steps = append(out, steps...)
	return w
}

// tarnTrigger is the start trigger's tarn trigger.
func tarnTrigger(t glueTrigger) (workflow.Trigger, error) {
	tt := workflow.Trigger{Name: t.Name, Type: t.Type, Workflow: t.WorkflowName, Enabled: t.StartOnCreation || t.Type == workflow.TriggerOnDemand}
	switch t.Type {
	case workflow.TriggerScheduled:
		tt.Schedule = t.Schedule
	case workflow.TriggerEvent:
		tt.Prefix, tt.Suffix = t.Tags[tagPrefix], t.Tags[tagSuffix]
		if tt.Prefix == "" {
			return tt, invalidInput("an EVENT trigger needs the tag %q = \"s3://bucket/prefix/\": tarn fires it on objects created there (Glue's EventBridge rules are not spoken; see docs/aws.md)", tagPrefix)
		}
		if b := t.EventBatchingCondition; b != nil {
			tt.BatchSize, tt.BatchWindow = b.BatchSize, workflow.Duration(time.Duration(b.BatchWindow)*time.Second)
		}
	case workflow.TriggerOnDemand:
	default:
		return tt, invalidInput("Type %q is not one of SCHEDULED, CONDITIONAL, ON_DEMAND, EVENT", t.Type)
	}
	if t.Type != workflow.TriggerScheduled && t.Schedule != "" {
		return tt, invalidInput("only SCHEDULED triggers have a Schedule")
	}
	if t.WorkflowName == "" {
		if len(t.Actions) != 1 {
			return tt, invalidInput("a trigger outside a workflow starts exactly one job or crawler; put several actions in a workflow (glue create-workflow, then --workflow-name)")
		}
		a := t.Actions[0]
		args, err := toArgs(a.Arguments)
		if err != nil {
			return tt, err
		}
		tt.Job, tt.Crawler, tt.Properties = a.JobName, a.CrawlerName, args
	}
	return tt, nil
}

func (s *Server) createTrigger(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in glueTrigger
	var raw struct {
		StartOnCreation bool
		Tags            map[string]string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := decode(body, &raw); err != nil {
		return nil, err
	}
	in.StartOnCreation, in.Tags = raw.StartOnCreation, raw.Tags
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := required("Type", in.Type); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:CreateTrigger", triggerResource(in.Name)); err != nil {
		return nil, err
	}
	if err := authorizeActions(c, in); err != nil {
		return nil, err
	}
	if _, _, err := s.findTrigger(ctx, in.Name); err == nil {
		return nil, fmt.Errorf("cannot create trigger %q: %w", in.Name, workflow.ErrTriggerExists)
	} else if !errors.Is(err, workflow.ErrNoSuchTrigger) {
		return nil, err
	}
	if in.WorkflowName == "" {
		if in.Type == condTrigger {
			return nil, invalidInput("tarn runs CONDITIONAL triggers inside a workflow: create one (glue create-workflow) and pass --workflow-name")
		}
		tt, err := tarnTrigger(in)
		if err != nil {
			return nil, err
		}
		if err := wf.CreateTrigger(ctx, tt); err != nil {
			return nil, err
		}
		return map[string]any{"Name": in.Name}, nil
	}
	// A trigger of a workflow changes the workflow's steps.
	if err := c.p.Authorize("glue:UpdateWorkflow", workflowResource(in.WorkflowName)); err != nil {
		return nil, err
	}
	w, err := wf.GetWorkflow(ctx, in.WorkflowName)
	if err != nil {
		return nil, err
	}
	if !w.Glue {
		return nil, invalidInput("workflow %q was defined with tarn's own spec; change its steps with `tarn workflow` and start it with `tarn trigger create`, or build the workflow with glue create-workflow", w.Name)
	}
	var tt workflow.Trigger
	if in.Type != condTrigger {
		if in.Predicate != nil {
			return nil, invalidInput("only CONDITIONAL triggers have a Predicate")
		}
		start, err := s.startTriggers(ctx, w.Name)
		if err != nil {
			return nil, err
		}
		if len(start) > 0 {
			return nil, invalidInput("workflow %q already has a start trigger, %q: a workflow has one (use a CONDITIONAL trigger for the next steps)", w.Name, start[0].Name)
		}
		if tt, err = tarnTrigger(in); err != nil {
			return nil, err
		}
	}
	steps, err := stepsOf(in, w)
	if err != nil {
		return nil, err
	}
	nw := withSteps(w, in.Name, steps)
	if err := s.saveWorkflow(ctx, c, nw); err != nil {
		return nil, err
	}
	if in.Type != condTrigger {
		if err := wf.CreateTrigger(ctx, tt); err != nil {
			// Leave the workflow as it was.
			if rerr := s.saveWorkflow(ctx, c, w); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
			return nil, err
		}
	}
	return map[string]any{"Name": in.Name}, nil
}

// findTrigger finds a Glue trigger: a tarn trigger, or the steps of a
// conditional trigger in a workflow.
func (s *Server) findTrigger(ctx context.Context, name string) (glueTrigger, *workflow.Workflow, error) {
	wf := s.d.Workflows
	ts, err := wf.TriggerStates(ctx)
	if err != nil {
		return glueTrigger{}, nil, err
	}
	ws, err := wf.ListWorkflows(ctx)
	if err != nil {
		return glueTrigger{}, nil, err
	}
	for _, t := range ts {
		if t.Name == name {
			var w *workflow.Workflow
			for i := range ws {
				if ws[i].Name == t.Workflow {
					w = &ws[i]
				}
			}
			return fromTarn(t, w), w, nil
		}
	}
	for i := range ws {
		if g, ok := conditionalOf(ws[i], name); ok {
			return g, &ws[i], nil
		}
	}
	return glueTrigger{}, nil, fmt.Errorf("cannot get trigger %q: %w", name, workflow.ErrNoSuchTrigger)
}

// fromTarn is a tarn trigger in Glue's shape; a workflow's start trigger
// starts its root steps.
func fromTarn(t workflow.TriggerState, w *workflow.Workflow) glueTrigger {
	g := glueTrigger{Name: t.Name, Id: t.Name, Type: t.Type, WorkflowName: t.Workflow, Schedule: t.Schedule, State: "DEACTIVATED", Actions: []glueAction{}}
	if t.Enabled {
		g.State = "ACTIVATED"
	}
	if t.Type == workflow.TriggerOnDemand {
		g.State = "CREATED"
	}
	if t.Type == workflow.TriggerEvent {
		g.EventBatchingCondition = &eventBatching{BatchSize: t.BatchSize, BatchWindow: int(time.Duration(t.BatchWindow) / time.Second)}
	}
	switch {
	case t.Job != "":
		g.Actions = append(g.Actions, glueAction{JobName: t.Job, Arguments: glueArgs(t.Properties)})
	case t.Crawler != "":
		g.Actions = append(g.Actions, glueAction{CrawlerName: t.Crawler})
	case w != nil:
		for _, st := range w.Steps {
			if len(st.DependsOn) == 0 && st.Kind() != "sql" {
				g.Actions = append(g.Actions, actionOf(st))
			}
		}
	}
	return g
}

func actionOf(st workflow.Step) glueAction {
	return glueAction{JobName: st.Job, CrawlerName: st.Crawler, Arguments: glueArgs(st.Args), Timeout: int(time.Duration(st.Timeout) / time.Minute)}
}

// glueArgs turns tarn's name: value arguments into Glue's "--name": value.
func glueArgs(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range in {
		out["--"+k] = v
	}
	return out
}

// conditionalOf rebuilds conditional trigger name from w's steps.
func conditionalOf(w workflow.Workflow, name string) (glueTrigger, bool) {
	g := glueTrigger{Name: name, Id: name, Type: condTrigger, WorkflowName: w.Name, State: "ACTIVATED", Actions: []glueAction{}}
	found := false
	for _, st := range w.Steps {
		if st.Trigger != name || len(st.DependsOn) == 0 {
			continue
		}
		found = true
		g.Actions = append(g.Actions, actionOf(st))
		if g.Predicate != nil {
			continue
		}
		logical, state := "AND", "SUCCEEDED"
		switch st.Condition {
		case workflow.CondAnySucceeded:
			logical = "ANY"
		case workflow.CondAnyFailed:
			logical, state = "ANY", "FAILED"
		}
		p := &gluePredicate{Logical: logical}
		for _, d := range st.DependsOn {
			c := glueCondition{LogicalOperator: "EQUALS", JobName: d, State: state}
			for _, x := range w.Steps {
				if x.Name == d && x.Crawler != "" {
					c = glueCondition{LogicalOperator: "EQUALS", CrawlerName: d, CrawlState: state}
				}
			}
			p.Conditions = append(p.Conditions, c)
		}
		g.Predicate = p
	}
	return g, found
}

// allTriggers are every Glue trigger, by name.
func (s *Server) allTriggers(ctx context.Context) ([]glueTrigger, error) {
	wf := s.d.Workflows
	ts, err := wf.TriggerStates(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := wf.ListWorkflows(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*workflow.Workflow{}
	for i := range ws {
		byName[ws[i].Name] = &ws[i]
	}
	var out []glueTrigger
	for _, t := range ts {
		out = append(out, fromTarn(t, byName[t.Workflow]))
	}
	for _, w := range ws {
		seen := map[string]bool{}
		for _, st := range w.Steps {
			if st.Trigger != "" && len(st.DependsOn) > 0 && !seen[st.Trigger] {
				seen[st.Trigger] = true
				g, _ := conditionalOf(w, st.Trigger)
				out = append(out, g)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Server) getTrigger(ctx context.Context, c *call, body []byte) (any, error) {
	if _, err := s.flows(); err != nil {
		return nil, err
	}
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetTrigger", triggerResource(in.Name)); err != nil {
		return nil, err
	}
	g, _, err := s.findTrigger(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Trigger": g}, nil
}

// visibleTriggers are the triggers the caller may read with action,
// filtered to those that start job (if given).
func (s *Server) visibleTriggers(ctx context.Context, c *call, action, job string) ([]glueTrigger, error) {
	all := c.p.Authorize(action, triggerResource("*"))
	ts, err := s.allTriggers(ctx)
	if err != nil {
		return nil, err
	}
	var out []glueTrigger
	for _, t := range ts {
		if all != nil && c.p.Authorize(action, triggerResource(t.Name)) != nil {
			continue
		}
		if job != "" && !slices.ContainsFunc(t.Actions, func(a glueAction) bool { return a.JobName == job }) {
			continue
		}
		out = append(out, t)
	}
	if all != nil && len(out) == 0 {
		return nil, all
	}
	return out, nil
}

func (s *Server) getTriggers(ctx context.Context, c *call, body []byte) (any, error) {
	if _, err := s.flows(); err != nil {
		return nil, err
	}
	var in struct {
		DependentJobName string
		NextToken        string
		MaxResults       int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ts, err := s.visibleTriggers(ctx, c, "glue:GetTriggers", in.DependentJobName)
	if err != nil {
		return nil, err
	}
	byName := map[string]glueTrigger{}
	var names []string
	for _, t := range ts {
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	page, next, err := pageNames(names, in.NextToken, in.MaxResults, 200)
	if err != nil {
		return nil, err
	}
	list := []glueTrigger{}
	for _, n := range page {
		list = append(list, byName[n])
	}
	out := map[string]any{"Triggers": list}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) listTriggers(ctx context.Context, c *call, body []byte) (any, error) {
	if _, err := s.flows(); err != nil {
		return nil, err
	}
	var in struct {
		DependentJobName string
		NextToken        string
		MaxResults       int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ts, err := s.visibleTriggers(ctx, c, "glue:ListTriggers", in.DependentJobName)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range ts {
		names = append(names, t.Name)
	}
	page, next, err := pageNames(names, in.NextToken, in.MaxResults, 200)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"TriggerNames": nonNilSlice(page)}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) updateTrigger(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Name          string
		TriggerUpdate struct {
			Name                   *string
			Description            *string
			Schedule               *string
			Actions                []glueAction
			Predicate              *gluePredicate
			EventBatchingCondition *eventBatching
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:UpdateTrigger", triggerResource(in.Name)); err != nil {
		return nil, err
	}
	u := in.TriggerUpdate
	if u.Name != nil && *u.Name != in.Name {
		return nil, invalidInput("a trigger cannot be renamed; create another and delete this one")
	}
	g, w, err := s.findTrigger(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if u.Schedule != nil {
		g.Schedule = *u.Schedule
	}
	if u.Actions != nil {
		g.Actions = u.Actions
	}
	if u.Predicate != nil {
		g.Predicate = u.Predicate
	}
	if u.EventBatchingCondition != nil {
		g.EventBatchingCondition = u.EventBatchingCondition
	}
	if err := authorizeActions(c, g); err != nil {
		return nil, err
	}
	if g.Type != condTrigger {
		cur, err := wf.GetTrigger(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		g.StartOnCreation = cur.Enabled
		g.Tags = map[string]string{tagPrefix: cur.Prefix, tagSuffix: cur.Suffix}
		tt, err := tarnTrigger(g)
		if err != nil {
			return nil, err
		}
		tt.Enabled = cur.Enabled
		if w != nil && w.Glue {
			if err := c.p.Authorize("glue:UpdateWorkflow", workflowResource(w.Name)); err != nil {
				return nil, err
			}
			steps, err := stepsOf(g, *w)
			if err != nil {
				return nil, err
			}
			// The start trigger's actions are the root steps, made by it.
			roots := *w
			roots.Steps = nil
			for _, st := range w.Steps {
				if len(st.DependsOn) > 0 {
					roots.Steps = append(roots.Steps, st)
				}
			}
			if err := s.saveWorkflow(ctx, c, withSteps(roots, g.Name, steps)); err != nil {
				return nil, err
			}
		}
		if err := wf.UpdateTrigger(ctx, tt); err != nil {
			return nil, err
		}
	} else {
		if err := c.p.Authorize("glue:UpdateWorkflow", workflowResource(w.Name)); err != nil {
			return nil, err
		}
		steps, err := stepsOf(g, withSteps(*w, g.Name, nil))
		if err != nil {
			return nil, err
		}
		if err := s.saveWorkflow(ctx, c, withSteps(*w, g.Name, steps)); err != nil {
			return nil, err
		}
	}
	g, _, err = s.findTrigger(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Trigger": g}, nil
}

func (s *Server) deleteTrigger(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteTrigger", triggerResource(in.Name)); err != nil {
		return nil, err
	}
	g, w, err := s.findTrigger(ctx, in.Name)
	if errors.Is(err, workflow.ErrNoSuchTrigger) {
		return map[string]any{"Name": in.Name}, nil
	}
	if err != nil {
		return nil, err
	}
	if w != nil && w.Glue {
		if err := c.p.Authorize("glue:UpdateWorkflow", workflowResource(w.Name)); err != nil {
			return nil, err
		}
		nw := withSteps(*w, g.Name, nil)
		if g.Type != condTrigger {
			nw.Steps = slices.DeleteFunc(nw.Steps, func(st workflow.Step) bool { return len(st.DependsOn) == 0 })
		}
		if err := s.saveWorkflow(ctx, c, nw); err != nil {
			if errors.Is(err, workflow.ErrInvalidSpec) {
				return nil, invalidInput("cannot delete trigger %q: another trigger of workflow %q watches what it starts; delete that trigger first (%v)", g.Name, w.Name, err)
			}
			return nil, err
		}
	}
	if g.Type != condTrigger {
		if err := wf.DeleteTrigger(ctx, in.Name); err != nil {
			return nil, err
		}
	}
	return map[string]any{"Name": in.Name}, nil
}

func (s *Server) startTrigger(ctx context.Context, c *call, body []byte) (any, error) {
	return s.setTrigger(ctx, c, body, true)
}

func (s *Server) stopTrigger(ctx context.Context, c *call, body []byte) (any, error) {
	return s.setTrigger(ctx, c, body, false)
}

// setTrigger is StartTrigger (an ON_DEMAND trigger fires; others are
// activated) and StopTrigger (deactivated).
func (s *Server) setTrigger(ctx context.Context, c *call, body []byte, on bool) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := flowName("Name", in.Name); err != nil {
		return nil, err
	}
	action := "glue:StopTrigger"
	if on {
		action = "glue:StartTrigger"
	}
	if err := c.p.Authorize(action, triggerResource(in.Name)); err != nil {
		return nil, err
	}
	g, _, err := s.findTrigger(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case g.Type == condTrigger:
		if !on {
			return nil, invalidInput("trigger %q is a step of workflow %q and always active; delete it to remove the steps it starts", g.Name, g.WorkflowName)
		}
	case g.Type == workflow.TriggerOnDemand:
		if !on {
			return nil, invalidInput("ON_DEMAND trigger %q is never active; there is nothing to stop", g.Name)
		}
		if _, err := wf.FireTrigger(ctx, in.Name, nil); err != nil {
			return nil, err
		}
	default:
		if err := wf.SetTriggerEnabled(ctx, in.Name, on); err != nil {
			return nil, err
		}
	}
	return map[string]any{"Name": in.Name}, nil
}

// batchGetWorkflows answers the workflows the key may read; the others are
// "missing", as Glue lists names it cannot give.
func (s *Server) batchGetWorkflows(ctx context.Context, c *call, body []byte) (any, error) {
	wf, err := s.flows()
	if err != nil {
		return nil, err
	}
	var in struct {
		Names        []string
		IncludeGraph bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 25 {
		return nil, invalidInput("Names must list 1 to 25 workflows")
	}
	found, missing := []map[string]any{}, []string{}
	for _, n := range in.Names {
		if flowName("Names", n) != nil || c.p.Authorize("glue:GetWorkflow", workflowResource(n)) != nil {
			missing = append(missing, n)
			continue
		}
		w, err := wf.GetWorkflow(ctx, n)
		if errors.Is(err, workflow.ErrNoSuchWorkflow) {
			missing = append(missing, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		out, err := s.workflowOut(ctx, w, in.IncludeGraph)
		if err != nil {
			return nil, err
		}
		found = append(found, out)
	}
	return map[string]any{"Workflows": found, "MissingWorkflows": missing}, nil
}

func (s *Server) batchGetTriggers(ctx context.Context, c *call, body []byte) (any, error) {
	if _, err := s.flows(); err != nil {
		return nil, err
	}
	var in struct{ TriggerNames []string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TriggerNames) == 0 || len(in.TriggerNames) > 100 {
		return nil, invalidInput("TriggerNames must list 1 to 100 triggers")
	}
	found, missing := []glueTrigger{}, []string{}
	for _, n := range in.TriggerNames {
		if flowName("TriggerNames", n) != nil || c.p.Authorize("glue:GetTrigger", triggerResource(n)) != nil {
			missing = append(missing, n)
			continue
		}
		g, _, err := s.findTrigger(ctx, n)
		if errors.Is(err, workflow.ErrNoSuchTrigger) {
			missing = append(missing, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, g)
	}
	return map[string]any{"Triggers": found, "TriggersNotFound": missing}, nil
}
