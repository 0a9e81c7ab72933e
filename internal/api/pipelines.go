package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Workflows, triggers, the events ledger and alarms. Actions are Glue's
// (glue:StartWorkflowRun on arn:aws:glue:*:*:workflow/NAME, ...) and
// CloudWatch's for alarms; the ledger has tarn's own (tarn:ListEvents,
// tarn:ReplayEvents).

func workflowResource(name string) string { return "arn:aws:glue:*:*:workflow/" + name }
func triggerResource(name string) string  { return "arn:aws:glue:*:*:trigger/" + name }
func alarmResource(name string) string    { return "arn:aws:cloudwatch:*:*:alarm:" + name }

func (s *Server) routePipelines() {
	if s.workflows == nil {
		return
	}
	s.handle("GET /api/v1/workflows", s.listWorkflows)
	s.handle("POST /api/v1/workflows", s.createWorkflow)
	s.handle("GET /api/v1/workflows/{name}", s.getWorkflow)
	s.handle("PUT /api/v1/workflows/{name}", s.updateWorkflow)
	s.handle("DELETE /api/v1/workflows/{name}", s.deleteWorkflow)
	s.handle("POST /api/v1/workflows/{name}/start", s.startWorkflow)
	s.handle("GET /api/v1/workflows/{name}/runs", s.workflowRuns)
	s.handle("GET /api/v1/workflow-runs", s.allWorkflowRuns)
	s.handle("GET /api/v1/workflow-runs/{id}", s.getWorkflowRun)
	s.mux.HandleFunc("GET /api/v1/workflow-runs/{id}/events", s.watchWorkflowRun) // watch.go
	s.handle("POST /api/v1/workflow-runs/{id}/stop", s.stopWorkflowRun)
	s.handle("GET /api/v1/triggers", s.listTriggers)
	s.handle("POST /api/v1/triggers", s.createTrigger)
	s.handle("GET /api/v1/triggers/{name}", s.getTrigger)
	s.handle("PUT /api/v1/triggers/{name}", s.updateTrigger)
	s.handle("DELETE /api/v1/triggers/{name}", s.deleteTrigger)
	s.handle("POST /api/v1/triggers/{name}/enable", s.enableTrigger)
	s.handle("POST /api/v1/triggers/{name}/disable", s.disableTrigger)
	s.handle("POST /api/v1/triggers/{name}/start", s.fireTrigger)
	if s.events != nil {
		s.handle("GET /api/v1/events", s.listEvents)
		s.handle("POST /api/v1/events/replay", s.replayEvents)
	}
	if s.alarms != nil {
		s.handle("GET /api/v1/alarms", s.listAlarms)
		s.handle("POST /api/v1/alarms", s.createAlarm)
		s.handle("GET /api/v1/alarms/{name}", s.getAlarm)
		s.handle("PUT /api/v1/alarms/{name}", s.updateAlarm)
		s.handle("DELETE /api/v1/alarms/{name}", s.deleteAlarm)
		s.handle("GET /api/v1/alarms/{name}/history", s.alarmHistory)
	}
}

// pipelineStatus maps the errors of workflows, events and alarms.
func pipelineStatus(err error) (int, string, bool) {
	switch {
	// First: a spec naming a missing job is a bad request, not a 404.
	case errors.Is(err, workflow.ErrInvalidSpec), errors.Is(err, workflow.ErrInvalidSchedule), errors.Is(err, alarms.ErrInvalidSpec),
		errors.Is(err, workflow.ErrIdentity):
		return http.StatusBadRequest, apitypes.CodeInvalidRequest, true
	case errors.Is(err, workflow.ErrNoSuchWorkflow), errors.Is(err, workflow.ErrNoSuchTrigger), errors.Is(err, workflow.ErrNoSuchRun),
		errors.Is(err, events.ErrNoSuchEvent), errors.Is(err, alarms.ErrNoSuchAlarm):
		return http.StatusNotFound, apitypes.CodeNotFound, true
	case errors.Is(err, workflow.ErrWorkflowExists), errors.Is(err, workflow.ErrTriggerExists), errors.Is(err, alarms.ErrAlarmExists):
		return http.StatusConflict, apitypes.CodeAlreadyExists, true
	case errors.Is(err, workflow.ErrRunNotActive), errors.Is(err, workflow.ErrWorkflowHasRuns), errors.Is(err, workflow.ErrTriggerReference):
		return http.StatusConflict, apitypes.CodeConflict, true
	}
	return 0, "", false
}

func (s *Server) listWorkflows(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:ListWorkflows", workflowResource("*")); err != nil {
		return nil, err
	}
	ws, err := s.workflows.ListWorkflows(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(ws, wireWorkflow)), nil
}

func (s *Server) getWorkflow(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:GetWorkflow", workflowResource(name)); err != nil {
		return nil, err
	}
	return workflowAnswer(s.workflows.GetWorkflow(ctx, name))
}

func (s *Server) createWorkflow(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var w workflow.Workflow
	if err := decodeBody(r, &w, `{"name": "...", "steps": [{"name": "...", "job": "..."}]}`); err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:CreateWorkflow", workflowResource(w.Name)); err != nil {
		return nil, err
	}
	if err := s.workflows.CreateWorkflowBy(ctx, w, &p.Key); err != nil {
		return nil, err
	}
	return workflowAnswer(s.workflows.GetWorkflow(ctx, w.Name))
}

func (s *Server) updateWorkflow(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:UpdateWorkflow", workflowResource(name)); err != nil {
		return nil, err
	}
	var w workflow.Workflow
	if err := decodeBody(r, &w, `{"steps": [...]}`); err != nil {
		return nil, err
	}
	if w.Name != "" && w.Name != name {
		return nil, badRequest("the body names workflow %q, the path %q", w.Name, name)
	}
	w.Name = name
	if err := s.workflows.UpdateWorkflowBy(ctx, w, &p.Key); err != nil {
		return nil, err
	}
	return workflowAnswer(s.workflows.GetWorkflow(ctx, name))
}

func (s *Server) deleteWorkflow(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:DeleteWorkflow", workflowResource(name)); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": name}, s.workflows.DeleteWorkflow(ctx, name)
}

func (s *Server) startWorkflow(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StartWorkflowRun", workflowResource(name)); err != nil {
		return nil, err
	}
	var body apitypes.PropertiesRequest
	if err := decodeBody(r, &body, `{"properties": {"name": "value"}}`); err != nil {
		return nil, err
	}
	// Queued here, executed by the server's scheduler.
	return workflowRunAnswer(s.workflows.Start(ctx, name, workflow.StartOptions{Properties: body.Properties}))
}

func (s *Server) workflowRuns(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:GetWorkflowRuns", workflowResource(name)); err != nil {
		return nil, err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	runs, err := s.workflows.Runs(ctx, name, limit)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(runs, wireWorkflowRun)), nil
}

// allWorkflowRuns lists the runs of every workflow (and of triggers that
// start a job or crawler), newest first: those of the workflows the key may
// read runs of (glue:GetWorkflowRuns on each), up to limit.
func (s *Server) allWorkflowRuns(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	if p.Authorize("glue:GetWorkflowRuns", workflowResource("*")) == nil {
		runs, err := s.workflows.Runs(ctx, "", limit)
		if err != nil {
			return nil, err
		}
		return nonNil(mapSlice(runs, wireWorkflowRun)), nil
	}
	// A key allowed on some workflows only: read more runs until limit of
	// them are its own or there are no more, so that it gets a full page.
	for n := limit * 4; ; n *= 4 {
		runs, err := s.workflows.Runs(ctx, "", n)
		if err != nil {
			return nil, err
		}
		out := []apitypes.WorkflowRun{}
		for _, run := range runs {
			if len(out) < limit && p.Authorize("glue:GetWorkflowRuns", workflowResource(run.Workflow)) == nil {
				out = append(out, wireWorkflowRun(run))
			}
		}
		if len(out) == limit || len(runs) < n || n >= 1<<20 {
			return out, nil
		}
	}
}

func (s *Server) getWorkflowRun(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	run, err := s.workflows.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetWorkflowRun", workflowResource(run.Workflow)); err != nil {
		return nil, err
	}
	return wireWorkflowRun(run), nil
}

func (s *Server) stopWorkflowRun(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	id := r.PathValue("id")
	run, err := s.workflows.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:StopWorkflowRun", workflowResource(run.Workflow)); err != nil {
		return nil, err
	}
	if err := s.workflows.Stop(ctx, id); err != nil {
		return nil, err
	}
	return workflowRunAnswer(s.workflows.GetRun(ctx, id))
}

func (s *Server) listTriggers(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetTriggers", triggerResource("*")); err != nil {
		return nil, err
	}
	ts, err := s.workflows.TriggerStates(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(ts, wireTriggerState)), nil
}

func (s *Server) getTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:GetTrigger", triggerResource(name)); err != nil {
		return nil, err
	}
	ts, err := s.workflows.TriggerStates(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Name == name {
			return wireTriggerState(t), nil
		}
	}
	_, err = s.workflows.GetTrigger(ctx, name)
	return nil, err
}

func (s *Server) createTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var t workflow.Trigger
	if err := decodeBody(r, &t, `{"name": "...", "workflow": "...", "schedule": "cron(0 6 * * ? *)", "enabled": true}`); err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:CreateTrigger", triggerResource(t.Name)); err != nil {
		return nil, err
	}
	if err := s.workflows.CreateTrigger(ctx, t); err != nil {
		return nil, err
	}
	return triggerAnswer(s.workflows.GetTrigger(ctx, t.Name))
}

func (s *Server) updateTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:UpdateTrigger", triggerResource(name)); err != nil {
		return nil, err
	}
	var t workflow.Trigger
	if err := decodeBody(r, &t, `{"workflow": "...", "schedule": "...", "enabled": true}`); err != nil {
		return nil, err
	}
	if t.Name != "" && t.Name != name {
		return nil, badRequest("the body names trigger %q, the path %q", t.Name, name)
	}
	t.Name = name
	if err := s.workflows.UpdateTrigger(ctx, t); err != nil {
		return nil, err
	}
	return triggerAnswer(s.workflows.GetTrigger(ctx, name))
}

func (s *Server) deleteTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:DeleteTrigger", triggerResource(name)); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": name}, s.workflows.DeleteTrigger(ctx, name)
}

func (s *Server) enableTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	return s.setTrigger(ctx, p, r, true)
}

func (s *Server) disableTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	return s.setTrigger(ctx, p, r, false)
}

func (s *Server) fireTrigger(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("glue:StartTrigger", triggerResource(name)); err != nil {
		return nil, err
	}
	var body apitypes.PropertiesRequest
	if err := decodeBody(r, &body, `{"properties": {"name": "value"}}`); err != nil {
		return nil, err
	}
	return workflowRunAnswer(s.workflows.FireTrigger(ctx, name, body.Properties))
}

func (s *Server) setTrigger(ctx context.Context, p *auth.Principal, r *http.Request, on bool) (any, error) {
	name := r.PathValue("name")
	action := "glue:StopTrigger"
	if on {
		action = "glue:StartTrigger"
	}
	if err := p.Authorize(action, triggerResource(name)); err != nil {
		return nil, err
	}
	if err := s.workflows.SetTriggerEnabled(ctx, name, on); err != nil {
		return nil, err
	}
	return triggerAnswer(s.workflows.GetTrigger(ctx, name))
}

func (s *Server) listEvents(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	q := r.URL.Query()
	opts := events.ListOptions{Newest: true}
	if v := q.Get("prefix"); v != "" {
		u, err := storage.ParseURI(v)
		if err != nil {
			return nil, badRequest("prefix: %v", err)
		}
		opts.Prefix = u
	}
	if err := p.Authorize("tarn:ListEvents", auth.S3Resource(orStar(opts.Prefix.Bucket), opts.Prefix.Key)); err != nil {
		return nil, err
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("after must be an event id")
		}
		opts.AfterID = n
	}
	opts.Limit, _ = strconv.Atoi(q.Get("limit"))
	evs, err := s.events.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(evs, wireEvent)), nil
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func (s *Server) replayEvents(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var body apitypes.ReplayRequest
	if err := decodeBody(r, &body, `{"trigger": "...", "ids": [1, 2]}`); err != nil {
		return nil, err
	}
	if err := p.Authorize("tarn:ReplayEvents", triggerResource(body.Trigger)); err != nil {
		return nil, err
	}
	if _, err := s.workflows.GetTrigger(ctx, body.Trigger); err != nil {
		return nil, err
	}
	if len(body.IDs) == 0 {
		return nil, badRequest("give the ids of the events to replay")
	}
	if err := s.events.Replay(ctx, body.Trigger, body.IDs); err != nil {
		return nil, err
	}
	return map[string]any{"trigger": body.Trigger, "replayed": body.IDs}, nil
}

func (s *Server) listAlarms(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("cloudwatch:DescribeAlarms", alarmResource("*")); err != nil {
		return nil, err
	}
	as, err := s.alarms.List(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(as, wireAlarmStatus)), nil
}

func (s *Server) getAlarm(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("cloudwatch:DescribeAlarms", alarmResource(name)); err != nil {
		return nil, err
	}
	return alarmAnswer(s.alarms.Get(ctx, name))
}

func (s *Server) createAlarm(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var a alarms.Alarm
	if err := decodeBody(r, &a, `{"name": "...", "rule": "job_failed", "target": "*", "webhook": "https://..."}`); err != nil {
		return nil, err
	}
	if err := p.Authorize("cloudwatch:PutMetricAlarm", alarmResource(a.Name)); err != nil {
		return nil, err
	}
	if err := s.alarms.Create(ctx, a); err != nil {
		return nil, err
	}
	return alarmAnswer(s.alarms.Get(ctx, a.Name))
}

func (s *Server) updateAlarm(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("cloudwatch:PutMetricAlarm", alarmResource(name)); err != nil {
		return nil, err
	}
	var a alarms.Alarm
	if err := decodeBody(r, &a, `{"rule": "job_failed", "target": "*"}`); err != nil {
		return nil, err
	}
	if a.Name != "" && a.Name != name {
		return nil, badRequest("the body names alarm %q, the path %q", a.Name, name)
	}
	a.Name = name
	if err := s.alarms.Update(ctx, a); err != nil {
		return nil, err
	}
	return alarmAnswer(s.alarms.Get(ctx, name))
}

func (s *Server) deleteAlarm(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("cloudwatch:DeleteAlarms", alarmResource(name)); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": name}, s.alarms.Delete(ctx, name)
}

func (s *Server) alarmHistory(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := p.Authorize("cloudwatch:DescribeAlarmHistory", alarmResource(name)); err != nil {
		return nil, err
	}
	if _, err := s.alarms.Get(ctx, name); err != nil {
		return nil, err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	h, err := s.alarms.History(ctx, name, limit)
	if err != nil {
		return nil, err
	}
	return nonNil(mapSlice(h, wireTransition)), nil
}
