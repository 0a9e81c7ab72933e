package api

import (
	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// The pipelines' types on the wire (see wire.go).

func wireWorkflow(w workflow.Workflow) apitypes.Workflow {
	return apitypes.Workflow{Name: w.Name, Description: w.Description, MaxConcurrentRuns: w.MaxConcurrentRuns, MaxParallelSteps: w.MaxParallelSteps,
		Properties: w.Properties, Glue: w.Glue, RunAs: w.RunAs, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		Steps: mapSlice(w.Steps, func(s workflow.Step) apitypes.WorkflowStep {
			return apitypes.WorkflowStep{Name: s.Name, Crawler: s.Crawler, Job: s.Job, Args: s.Args, SQL: s.SQL, Database: s.Database,
				Workgroup: s.Workgroup, DependsOn: s.DependsOn, Condition: s.Condition, Retries: s.Retries, RetryDelay: apitypes.Duration(s.RetryDelay),
				BackoffRate: s.BackoffRate, Timeout: apitypes.Duration(s.Timeout), Trigger: s.Trigger, DBT: wireDBTStep(s.DBT)}
		})}
}

func workflowAnswer(w workflow.Workflow, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireWorkflow(w), nil
}

func wireWorkflowRun(r workflow.Run) apitypes.WorkflowRun {
	return apitypes.WorkflowRun{ID: r.ID, Workflow: r.Workflow, Trigger: r.Trigger, State: r.State, Properties: r.Properties,
		QueuedAt: r.QueuedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt, Error: r.Error,
		Steps: mapSlice(r.Steps, func(s workflow.StepRun) apitypes.StepRun {
			return apitypes.StepRun{Name: s.Name, Target: s.Target, State: s.State, Attempt: s.Attempt, NextAttemptAt: s.NextAttemptAt,
				ChildID: s.ChildID, StartedAt: s.StartedAt, EndedAt: s.EndedAt, Error: s.Error,
				DBT: mapSlice(s.DBT, func(n dbt.Node) apitypes.DBTNode { return apitypes.DBTNode(n) })}
		})}
}

func wireDBTStep(s *dbt.Step) *apitypes.DBTStep {
	if s == nil {
		return nil
	}
	w := apitypes.DBTStep(*s)
	return &w
}

func workflowRunAnswer(r workflow.Run, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireWorkflowRun(r), nil
}

func wireTrigger(t workflow.Trigger) apitypes.Trigger {
	return apitypes.Trigger{Name: t.Name, Type: t.Type, Workflow: t.Workflow, Job: t.Job, Crawler: t.Crawler, Properties: t.Properties,
		Schedule: t.Schedule, Timezone: t.Timezone, Prefix: t.Prefix, Suffix: t.Suffix, BatchSize: t.BatchSize,
		BatchWindow: apitypes.Duration(t.BatchWindow), Poll: apitypes.Duration(t.Poll), Enabled: t.Enabled, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func triggerAnswer(t workflow.Trigger, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireTrigger(t), nil
}

func wireTriggerState(t workflow.TriggerState) apitypes.TriggerState {
	return apitypes.TriggerState{Trigger: wireTrigger(t.Trigger), LastFired: t.LastFired, NextFire: t.NextFire, EventCursor: t.EventCursor, LastPoll: t.LastPoll}
}

func wireEvent(e events.Event) apitypes.Event {
	return apitypes.Event{ID: e.ID, Bucket: e.Bucket, Key: e.Key, VersionID: e.VersionID, Checksum: e.Checksum, ETag: e.ETag, Size: e.Size,
		Via: e.Via, LastModified: e.LastModified, RecordedAt: e.RecordedAt,
		Deliveries: mapSlice(e.Deliveries, func(d events.Delivery) apitypes.EventDelivery {
			return apitypes.EventDelivery{Trigger: d.Trigger, RunID: d.RunID, DeliveredAt: d.DeliveredAt}
		})}
}

func wireAlarmStatus(s alarms.Status) apitypes.AlarmStatus {
	a := s.Alarm
	return apitypes.AlarmStatus{State: s.State, Reason: s.Reason, StateChangedAt: s.StateChangedAt, CheckedAt: s.CheckedAt,
		Alarm: apitypes.Alarm{Name: a.Name, Description: a.Description, Rule: a.Rule, Target: a.Target, Threshold: a.Threshold,
			MaxAge: apitypes.Duration(a.MaxAge), Webhook: a.Webhook, CloudWatch: a.CloudWatch, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}}
}

func alarmAnswer(s alarms.Status, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireAlarmStatus(s), nil
}

func wireTransition(t alarms.Transition) apitypes.AlarmTransition {
	return apitypes.AlarmTransition{At: t.At, OldState: t.OldState, NewState: t.NewState, Reason: t.Reason, Notified: t.Notified}
}
