package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Workflows reads and starts workflows and triggers in the server, as
// workflow.Service does; runs execute in the server's scheduler.
type Workflows struct{ c *Client }

// Workflows returns the workflow part of the API.
func (c *Client) Workflows() *Workflows { return &Workflows{c} }

func (k *Workflows) ListWorkflows(ctx context.Context) ([]workflow.Workflow, error) {
	var out []workflow.Workflow
	return out, k.c.do(ctx, "GET", "/api/v1/workflows", nil, &out)
}

func (k *Workflows) GetWorkflow(ctx context.Context, name string) (workflow.Workflow, error) {
	var out workflow.Workflow
	return out, k.c.do(ctx, "GET", "/api/v1/workflows/"+seg(name), nil, &out)
}

// Start queues a run in the server (opts.Own is ignored: the server's
// scheduler executes it).
func (k *Workflows) Start(ctx context.Context, name string, opts workflow.StartOptions) (workflow.Run, error) {
	var out workflow.Run
	return out, k.c.do(ctx, "POST", "/api/v1/workflows/"+seg(name)+"/start", apitypes.PropertiesRequest{Properties: opts.Properties}, &out)
}

// Runs lists a workflow's runs, or with name "" those of every workflow, as
// workflow.Service.Runs does.
func (k *Workflows) Runs(ctx context.Context, name string, limit int) ([]workflow.Run, error) {
	var out []workflow.Run
	if name == "" {
		// "/api/v1/workflows//runs" would be cleaned to a workflow named "runs".
		return out, k.c.do(ctx, "GET", "/api/v1/workflow-runs?limit="+strconv.Itoa(limit), nil, &out)
	}
	return out, k.c.do(ctx, "GET", "/api/v1/workflows/"+seg(name)+"/runs?limit="+strconv.Itoa(limit), nil, &out)
}

func (k *Workflows) GetRun(ctx context.Context, id string) (workflow.Run, error) {
	var out workflow.Run
	return out, k.c.do(ctx, "GET", "/api/v1/workflow-runs/"+seg(id), nil, &out)
}

func (k *Workflows) Stop(ctx context.Context, id string) error {
	return k.c.do(ctx, "POST", "/api/v1/workflow-runs/"+seg(id)+"/stop", nil, nil)
}

func (k *Workflows) TriggerStates(ctx context.Context) ([]workflow.TriggerState, error) {
	var out []workflow.TriggerState
	return out, k.c.do(ctx, "GET", "/api/v1/triggers", nil, &out)
}

func (k *Workflows) SetTriggerEnabled(ctx context.Context, name string, enabled bool) error {
	action := "disable"
	if enabled {
		action = "enable"
	}
	return k.c.do(ctx, "POST", "/api/v1/triggers/"+seg(name)+"/"+action, nil, nil)
}

func (k *Workflows) FireTrigger(ctx context.Context, name string, props map[string]string) (workflow.Run, error) {
	var out workflow.Run
	return out, k.c.do(ctx, "POST", "/api/v1/triggers/"+seg(name)+"/start", apitypes.PropertiesRequest{Properties: props}, &out)
}

// Events reads and replays the server's events ledger, as events.Ledger does.
type Events struct{ c *Client }

// Events returns the events part of the API.
func (c *Client) Events() *Events { return &Events{c} }

func (k *Events) List(ctx context.Context, opts events.ListOptions) ([]events.Event, error) {
	q := url.Values{}
	if opts.Prefix.Bucket != "" {
		q.Set("prefix", opts.Prefix.String())
	}
	if opts.AfterID > 0 {
		q.Set("after", strconv.FormatInt(opts.AfterID, 10))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out []events.Event
	return out, k.c.do(ctx, "GET", "/api/v1/events?"+q.Encode(), nil, &out)
}

func (k *Events) Replay(ctx context.Context, trigger string, ids []int64) error {
	return k.c.do(ctx, "POST", "/api/v1/events/replay", apitypes.ReplayRequest{Trigger: trigger, IDs: ids}, nil)
}

// Alarms reads the server's alarms, as alarms.Service does.
type Alarms struct{ c *Client }

// Alarms returns the alarms part of the API.
func (c *Client) Alarms() *Alarms { return &Alarms{c} }

func (k *Alarms) List(ctx context.Context) ([]alarms.Status, error) {
	var out []alarms.Status
	return out, k.c.do(ctx, "GET", "/api/v1/alarms", nil, &out)
}

func (k *Alarms) Get(ctx context.Context, name string) (alarms.Status, error) {
	var out alarms.Status
	return out, k.c.do(ctx, "GET", "/api/v1/alarms/"+seg(name), nil, &out)
}

func (k *Alarms) History(ctx context.Context, name string, limit int) ([]alarms.Transition, error) {
	var out []alarms.Transition
	return out, k.c.do(ctx, "GET", "/api/v1/alarms/"+seg(name)+"/history?limit="+strconv.Itoa(limit), nil, &out)
}
