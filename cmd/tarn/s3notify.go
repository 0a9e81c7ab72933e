package main

import (
	"context"
	"errors"

	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// s3Triggers lets the S3 endpoint keep bucket notifications as event
// triggers of the workflow service.
type s3Triggers struct{ w *workflow.Service }

func (t s3Triggers) CreateEventTrigger(ctx context.Context, et s3api.EventTrigger) error {
	return t.w.CreateTrigger(ctx, workflow.Trigger{Name: et.Name, Type: workflow.TriggerEvent,
		Job: et.Job, Workflow: et.Workflow, Crawler: et.Crawler,
		Prefix: storage.URI{Bucket: et.Bucket, Key: et.Prefix}.String(), Suffix: et.Suffix, Enabled: true})
}

func (t s3Triggers) DeleteEventTrigger(ctx context.Context, name string) error {
	if err := t.w.DeleteTrigger(ctx, name); err != nil && !errors.Is(err, workflow.ErrNoSuchTrigger) {
		return err
	}
	return nil
}
