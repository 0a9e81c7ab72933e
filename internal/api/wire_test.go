package api

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// jsonFields lists the JSON names of a struct's encoded fields, in order,
// with their options (omitempty changes the bytes too).
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, name+","+opts)
	}
	return out
}

// A wire type has the JSON fields of the service type it carries, in the
// same order: a field added to a service and not to apitypes would be
// dropped from the API's answers without any other test noticing.
func TestWireTypesMatchServices(t *testing.T) {
	pairs := []struct{ service, wire any }{
		{catalog.Database{}, apitypes.Database{}},
		{catalog.Column{}, apitypes.Column{}},
		{catalog.Table{}, apitypes.Table{}},
		{catalog.Partition{}, apitypes.Partition{}},
		{catalog.SchemaChange{}, apitypes.SchemaChange{}},
		{catalog.SchemaVersion{}, apitypes.SchemaVersion{}},
		{catalog.SkippedFile{}, apitypes.SkippedFile{}},
		{query.Execution{}, apitypes.Execution{}},
		{query.Stats{}, apitypes.QueryStats{}},
		{query.CostSummary{}, apitypes.CostSummary{}},
		{query.Workgroup{}, apitypes.Workgroup{}},
		{query.Column{}, apitypes.ResultColumn{}},
		{query.ResultPage{}, apitypes.ResultPage{}},
		{crawler.Spec{}, apitypes.CrawlerSpec{}},
		{crawler.TableResult{}, apitypes.CrawlTableResult{}},
		{crawler.FileError{}, apitypes.CrawlFileError{}},
		{crawler.Progress{}, apitypes.CrawlerProgress{}},
		{jobs.Spec{}, apitypes.JobSpec{}},
		{jobs.Stats{}, apitypes.JobStats{}},
		{auth.Key{}, apitypes.Key{}},
		{workflow.Workflow{}, apitypes.Workflow{}},
		{workflow.Step{}, apitypes.WorkflowStep{}},
		{workflow.Run{}, apitypes.WorkflowRun{}},
		{workflow.StepRun{}, apitypes.StepRun{}},
		{workflow.Trigger{}, apitypes.Trigger{}},
		{workflow.TriggerState{}, apitypes.TriggerState{}},
		{events.Event{}, apitypes.Event{}},
		{events.Delivery{}, apitypes.EventDelivery{}},
		{alarms.Alarm{}, apitypes.Alarm{}},
		{alarms.Status{}, apitypes.AlarmStatus{}},
		{alarms.Transition{}, apitypes.AlarmTransition{}},
	}
	for _, p := range pairs {
		s, w := reflect.TypeOf(p.service), reflect.TypeOf(p.wire)
		if sf, wf := jsonFields(s), jsonFields(w); !slices.Equal(sf, wf) {
			t.Errorf("%v has JSON fields %q, the wire type %v %q", s, sf, w, wf)
		}
	}
	// A crawl's wire type adds its progress after the run's fields.
	if sf, wf := jsonFields(reflect.TypeFor[crawler.Run]()), jsonFields(reflect.TypeFor[apitypes.CrawlerRun]()); !slices.Equal(append(sf, "progress,omitempty"), wf) {
		t.Errorf("crawler.Run has JSON fields %q, apitypes.CrawlerRun %q", sf, wf)
	}
	// A job run's adds what the server knows of runs it follows.
	if sf, wf := jsonFields(reflect.TypeFor[jobs.Run]()), jsonFields(reflect.TypeFor[apitypes.JobRun]()); !slices.Equal(append(sf, "progress,omitempty", "next_attempt,omitempty", "retrying,omitempty"), wf) {
		t.Errorf("jobs.Run has JSON fields %q, apitypes.JobRun %q", sf, wf)
	}
	for _, st := range [][2]string{{runs.Queued, apitypes.StateQueued}, {runs.Starting, apitypes.StateStarting}, {runs.Running, apitypes.StateRunning},
		{runs.Succeeded, apitypes.StateSucceeded}, {runs.Failed, apitypes.StateFailed}, {runs.Cancelled, apitypes.StateCancelled}, {runs.Timeout, apitypes.StateTimeout}} {
		if st[0] != st[1] {
			t.Errorf("run state %q on the wire is %q", st[0], st[1])
		}
	}
}

// A client makes the token the server checks.
func TestWireToken(t *testing.T) {
	for _, k := range []auth.Key{{AccessKeyID: "TKABC", SecretAccessKey: "s3cr3t"}, {AccessKeyID: "TK" + strings.Repeat("Z", 18), SecretAccessKey: strings.Repeat("x", 40)}} {
		if got, want := apitypes.Token(apitypes.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}), auth.Token(k); got != want {
			t.Errorf("token of %s: %q, auth makes %q", k.AccessKeyID, got, want)
		}
	}
}
