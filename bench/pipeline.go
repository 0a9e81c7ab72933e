package main

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// benchPipeline measures the event path (an object's PUT through the S3
// endpoint to its workflow's first step starting) against the PUT alone,
// and the scheduler's cost per tick with 1,000 triggers defined against a
// tick with none.
func benchPipeline(dir string, puts int) []figure {
	ctx := context.Background()
	cfg := lake.DefaultConfig(filepath.Join(dir, "pipeline"))
	l, err := lake.Open(ctx, cfg)
	check(err)
	defer l.Close()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil && !errors.Is(err, storage.ErrBucketExists) {
		check(err)
	}
	check(os.Setenv("TARN_ACCESS_KEY_ID", s3KeyID))
	check(os.Setenv("TARN_SECRET_ACCESS_KEY", s3Secret))
	_, _, err = l.Auth.EnsureAdmin(ctx)
	check(err)
	uploads, err := storage.NewUploads(filepath.Join(l.Home, "uploads"), l.Store)
	check(err)
	srv := httptest.NewServer(s3api.New(s3api.DefaultConfig(), l.Store, uploads, l.Auth,
		func(ctx context.Context, info storage.ObjectInfo, _ string) {
			_, _, err := l.Events.Record(ctx, info, events.ViaS3)
			check(err)
		}))
	defer srv.Close()
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s3KeyID, SecretAccessKey: s3Secret}, nil
		}),
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))

	check(l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "ingest", MaxConcurrentRuns: 100,
		Steps: []workflow.Step{{Name: "first", SQL: "SELECT '${objects}'"}}}))
	check(l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "on_new", Workflow: "ingest", Prefix: "s3://lake/raw/in/", Enabled: true}))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Workflows.Run(sctx) }()
	defer func() { stop(); <-done }()

	put := func(key string) time.Duration {
		start := time.Now()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), Body: strings.NewReader("id,amount\n1,2.5\n")})
		check(err)
		return time.Since(start)
	}
	var plain, delays []time.Duration
	for i := range puts {
		plain = append(plain, put(fmt.Sprintf("raw/elsewhere/%d.csv", i)))
		start := time.Now()
		put(fmt.Sprintf("raw/in/%d.csv", i))
		deadline := start.Add(30 * time.Second)
		for {
			runs, err := l.Workflows.Runs(ctx, "ingest", 1)
			check(err)
			if len(runs) > 0 && runs[0].Properties["objects"] == fmt.Sprintf("s3://lake/raw/in/%d.csv", i) && !runs[0].Steps[0].StartedAt.IsZero() {
				delays = append(delays, runs[0].Steps[0].StartedAt.Sub(start))
				break
			}
			if time.Now().After(deadline) {
				check(fmt.Errorf("no run for object %d after 30 s", i))
			}
			time.Sleep(2 * time.Millisecond)
		}
		// Let the run end, so that each measurement starts from an idle
		// scheduler.
		for {
			runs, _ := l.Workflows.Runs(ctx, "ingest", 1)
			if runs[0].State != workflow.RunQueued && runs[0].State != workflow.RunRunning {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	pm, dm := median(plain), median(delays)
	p95 := percentile(delays, 0.95)
	figs := []figure{{
		name:  fmt.Sprintf("event: PUT to first workflow step started (%d objects)", puts),
		tarn:  fmt.Sprintf("%s (p95 %s)", dm.Round(100*time.Microsecond), p95.Round(100*time.Microsecond)),
		base:  fmt.Sprintf("%s (PutObject alone)", pm.Round(100*time.Microsecond)),
		ratio: fmt.Sprintf("%.1f", float64(dm)/float64(pm)),
		goal:  "< 1 s",
		note:  "batch window 0; the PUT records the event in the ledger before answering, which wakes the scheduler; the run is queued and its first step started",
	}}
	stop()
	<-done

	// Scheduler cost: a tick over 1,000 enabled triggers (500 schedules not
	// due, 500 event triggers with nothing new) vs a tick over none.
	l2, err := lake.Open(ctx, lake.DefaultConfig(filepath.Join(dir, "sched")))
	check(err)
	defer l2.Close()
	check(l2.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}))
	tick := func() time.Duration {
		var ds []time.Duration
		for range 21 {
			start := time.Now()
			l2.Workflows.Tick(ctx)
			ds = append(ds, time.Since(start))
		}
		return median(ds)
	}
	empty := tick()
	for i := range 500 {
		check(l2.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: fmt.Sprintf("cron%d", i), Workflow: "w",
			Schedule: fmt.Sprintf("cron(%d %d 1 1 ? 2099)", i%60, i%24), Enabled: true}))
		check(l2.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: fmt.Sprintf("event%d", i), Workflow: "w",
			Prefix: fmt.Sprintf("s3://lake/raw/t%d/", i), Enabled: true}))
	}
	full := tick()
	figs = append(figs, figure{
		name:  "scheduler tick with 1,000 triggers",
		tarn:  full.Round(10 * time.Microsecond).String(),
		base:  empty.Round(10*time.Microsecond).String() + " (no triggers)",
		ratio: fmt.Sprintf("%.0f", float64(full)/float64(empty)),
		goal:  "report",
		note:  fmt.Sprintf("500 cron + 500 event triggers; one tick a second costs %.1f%% of a core", 100*full.Seconds()),
	})
	return figs
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}
