package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
)

// Workflows reads and starts workflows and triggers in the server, as
// workflow.Service does; runs execute in the server's scheduler.
type Workflows struct{ c *Client }

// Workflows returns the workflow part of the API.
func (c *Client) Workflows() *Workflows { return &Workflows{c} }

func (k *Workflows) ListWorkflows(ctx context.Context) ([]apitypes.Workflow, error) {
	var out []apitypes.Workflow
	return out, k.c.do(ctx, "GET", "/api/v1/workflows", nil, &out)
}

func (k *Workflows) GetWorkflow(ctx context.Context, name string) (apitypes.Workflow, error) {
	var out apitypes.Workflow
	return out, k.c.do(ctx, "GET", "/api/v1/workflows/"+seg(name), nil, &out)
}

// Start queues a run in the server, with run properties; the server's
// scheduler executes it.
func (k *Workflows) Start(ctx context.Context, name string, props map[string]string) (apitypes.WorkflowRun, error) {
	var out apitypes.WorkflowRun
	return out, k.c.do(ctx, "POST", "/api/v1/workflows/"+seg(name)+"/start", apitypes.PropertiesRequest{Properties: props}, &out)
}

// Runs lists a workflow's runs, or with name "" those of every workflow, as
// workflow.Service.Runs does.
func (k *Workflows) Runs(ctx context.Context, name string, limit int) ([]apitypes.WorkflowRun, error) {
	var out []apitypes.WorkflowRun
	if name == "" {
		// "/api/v1/workflows//runs" would be cleaned to a workflow named "runs".
		return out, k.c.do(ctx, "GET", "/api/v1/workflow-runs?limit="+strconv.Itoa(limit), nil, &out)
	}
	return out, k.c.do(ctx, "GET", "/api/v1/workflows/"+seg(name)+"/runs?limit="+strconv.Itoa(limit), nil, &out)
}

func (k *Workflows) GetRun(ctx context.Context, id string) (apitypes.WorkflowRun, error) {
	var out apitypes.WorkflowRun
	return out, k.c.do(ctx, "GET", "/api/v1/workflow-runs/"+seg(id), nil, &out)
}

func (k *Workflows) Stop(ctx context.Context, id string) error {
	return k.c.do(ctx, "POST", "/api/v1/workflow-runs/"+seg(id)+"/stop", nil, nil)
}

func (k *Workflows) TriggerStates(ctx context.Context) ([]apitypes.TriggerState, error) {
	var out []apitypes.TriggerState
	return out, k.c.do(ctx, "GET", "/api/v1/triggers", nil, &out)
}

func (k *Workflows) SetTriggerEnabled(ctx context.Context, name string, enabled bool) error {
	action := "disable"
	if enabled {
		action = "enable"
	}
	return k.c.do(ctx, "POST", "/api/v1/triggers/"+seg(name)+"/"+action, nil, nil)
}

func (k *Workflows) FireTrigger(ctx context.Context, name string, props map[string]string) (apitypes.WorkflowRun, error) {
	var out apitypes.WorkflowRun
	return out, k.c.do(ctx, "POST", "/api/v1/triggers/"+seg(name)+"/start", apitypes.PropertiesRequest{Properties: props}, &out)
}

// Events reads and replays the server's events ledger, as events.Ledger does.
type Events struct{ c *Client }

// Events returns the events part of the API.
func (c *Client) Events() *Events { return &Events{c} }

// EventListOptions choose events: under Prefix (an s3:// URI; "" for
// all), with an id above AfterID, at most Limit (0: the server's default),
// newest first.
type EventListOptions struct {
	Prefix  string
	AfterID int64
	Limit   int
}

func (k *Events) List(ctx context.Context, opts EventListOptions) ([]apitypes.Event, error) {
	q := url.Values{}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.AfterID > 0 {
		q.Set("after", strconv.FormatInt(opts.AfterID, 10))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out []apitypes.Event
	return out, k.c.do(ctx, "GET", "/api/v1/events?"+q.Encode(), nil, &out)
}

func (k *Events) Replay(ctx context.Context, trigger string, ids []int64) error {
	return k.c.do(ctx, "POST", "/api/v1/events/replay", apitypes.ReplayRequest{Trigger: trigger, IDs: ids}, nil)
}

// Alarms reads the server's alarms, as alarms.Service does.
type Alarms struct{ c *Client }

// Alarms returns the alarms part of the API.
func (c *Client) Alarms() *Alarms { return &Alarms{c} }

func (k *Alarms) List(ctx context.Context) ([]apitypes.AlarmStatus, error) {
	var out []apitypes.AlarmStatus
	return out, k.c.do(ctx, "GET", "/api/v1/alarms", nil, &out)
}

func (k *Alarms) Get(ctx context.Context, name string) (apitypes.AlarmStatus, error) {
	var out apitypes.AlarmStatus
	return out, k.c.do(ctx, "GET", "/api/v1/alarms/"+seg(name), nil, &out)
}

func (k *Alarms) History(ctx context.Context, name string, limit int) ([]apitypes.AlarmTransition, error) {
	var out []apitypes.AlarmTransition
	return out, k.c.do(ctx, "GET", "/api/v1/alarms/"+seg(name)+"/history?limit="+strconv.Itoa(limit), nil, &out)
}
