package awsapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// scheduler runs the lake's workflow scheduler, as tarn serve does.
func (e *env) scheduler() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.l.Workflows.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) sqlJob(g *glue.Client, name, sql string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.l.Store.Put(ctx, "lake", "scripts/"+name+".sql", strings.NewReader(sql), storage.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
	_, err := g.CreateJob(ctx, &glue.CreateJobInput{Name: aws.String(name), Role: aws.String("arn:aws:iam::1:role/x"),
		Command:          &gluetypes.JobCommand{Name: aws.String("glueetl"), ScriptLocation: aws.String("s3://lake/scripts/" + name + ".sql")},
		DefaultArguments: map[string]string{"--target_path": "s3://lake/curated/" + name + "/"}})
	if err != nil {
		e.t.Fatal(err)
	}
}

func waitWorkflowRun(t *testing.T, g *glue.Client, name, id string) *gluetypes.WorkflowRun {
	t.Helper()
	for i := 0; ; i++ {
		out, err := g.GetWorkflowRun(context.Background(), &glue.GetWorkflowRunInput{Name: aws.String(name), RunId: aws.String(id), IncludeGraph: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Run.Status != gluetypes.WorkflowRunStatusRunning {
			return out.Run
		}
		if i == 6000 {
			t.Fatalf("workflow run %s never ended: %+v", id, out.Run.Statistics)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGlueWorkflows(t *testing.T) {
	e := newEnv(t, false)
	e.scheduler()
	ctx := context.Background()
	g := e.glue(e.admin)
	e.sqlJob(g, "extract", "SELECT 1 AS n, ${day} AS day")
	e.sqlJob(g, "load", "SELECT 2 AS n")
	e.sqlJob(g, "broken", "SELECT CAST('not a number' AS INTEGER) AS n")
	e.sqlJob(g, "cleanup", "SELECT 3 AS n")

	if _, err := g.CreateWorkflow(ctx, &glue.CreateWorkflowInput{Name: aws.String("nightly"), Description: aws.String("the nightly load"),
		DefaultRunProperties: map[string]string{"day": "2025-01-01"}, MaxConcurrentRuns: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.CreateWorkflow(ctx, &glue.CreateWorkflowInput{Name: aws.String("nightly")}); code(err) != "AlreadyExistsException" {
		t.Errorf("second CreateWorkflow: %v", err)
	}
	// The order Terraform may use: the conditional trigger before the
	// start trigger is refused with what to do.
	cond := &glue.CreateTriggerInput{Name: aws.String("after-extract"), WorkflowName: aws.String("nightly"), Type: gluetypes.TriggerTypeConditional,
		StartOnCreation: true, Actions: []gluetypes.Action{{JobName: aws.String("load")}},
		Predicate: &gluetypes.Predicate{Logical: gluetypes.LogicalAnd, Conditions: []gluetypes.Condition{{LogicalOperator: gluetypes.LogicalOperatorEquals,
			JobName: aws.String("extract"), State: gluetypes.JobRunStateSucceeded}}}}
	if _, err := g.CreateTrigger(ctx, cond); code(err) != "InvalidInputException" || !strings.Contains(err.Error(), "first") {
		t.Errorf("conditional before start: %v", err)
	}
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("start-nightly"), WorkflowName: aws.String("nightly"),
		Type: gluetypes.TriggerTypeScheduled, Schedule: aws.String("cron(0 6 * * ? *)"), StartOnCreation: true,
		Actions: []gluetypes.Action{{JobName: aws.String("extract"), Arguments: map[string]string{"--day": "${day}"}}, {JobName: aws.String("broken")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.CreateTrigger(ctx, cond); err != nil {
		t.Fatal(err)
	}
	// Cleanup runs when broken fails.
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("on-failure"), WorkflowName: aws.String("nightly"), Type: gluetypes.TriggerTypeConditional,
		Actions: []gluetypes.Action{{JobName: aws.String("cleanup")}},
		Predicate: &gluetypes.Predicate{Logical: gluetypes.LogicalAny, Conditions: []gluetypes.Condition{{LogicalOperator: gluetypes.LogicalOperatorEquals,
			JobName: aws.String("broken"), State: gluetypes.JobRunStateFailed}}}}); err != nil {
		t.Fatal(err)
	}
	// A second start trigger, a mixed predicate, a bad schedule: refused.
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("again"), WorkflowName: aws.String("nightly"), Type: gluetypes.TriggerTypeOnDemand,
		Actions: []gluetypes.Action{{JobName: aws.String("cleanup")}}}); code(err) != "InvalidInputException" {
		t.Errorf("second start trigger: %v", err)
	}
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("mixed"), WorkflowName: aws.String("nightly"), Type: gluetypes.TriggerTypeConditional,
		Actions: []gluetypes.Action{{JobName: aws.String("cleanup")}},
		Predicate: &gluetypes.Predicate{Logical: gluetypes.LogicalAnd, Conditions: []gluetypes.Condition{
			{JobName: aws.String("extract"), State: gluetypes.JobRunStateSucceeded}, {JobName: aws.String("broken"), State: gluetypes.JobRunStateFailed}}}}); code(err) != "InvalidInputException" {
		t.Errorf("mixed predicate: %v", err)
	}
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("badcron"), Type: gluetypes.TriggerTypeScheduled, Schedule: aws.String("cron(99 * * * ? *)"),
		Actions: []gluetypes.Action{{JobName: aws.String("load")}}}); code(err) != "InvalidInputException" {
		t.Errorf("bad cron: %v", err)
	}
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("ghost"), Type: gluetypes.TriggerTypeOnDemand,
		Actions: []gluetypes.Action{{JobName: aws.String("no-such-job")}}}); code(err) != "InvalidInputException" {
		t.Errorf("trigger of a missing job: %v", err)
	}

	// The workflow Glue built is tarn's workflow.
	w, err := e.l.Workflows.GetWorkflow(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Steps) != 4 || w.Steps[2].Name != "load" || w.Steps[2].DependsOn[0] != "extract" || w.Steps[2].Condition != workflow.CondAllSucceeded ||
		w.Steps[3].Condition != workflow.CondAnyFailed || w.Steps[0].Args["day"] != "${day}" {
		t.Fatalf("tarn workflow: %+v", w.Steps)
	}
	if tr, err := e.l.Workflows.GetTrigger(ctx, "start-nightly"); err != nil || tr.Workflow != "nightly" || tr.Schedule != "cron(0 6 * * ? *)" || !tr.Enabled {
		t.Errorf("tarn trigger: %+v %v", tr, err)
	}

	got, err := g.GetTrigger(ctx, &glue.GetTriggerInput{Name: aws.String("after-extract")})
	if err != nil || got.Trigger.Type != gluetypes.TriggerTypeConditional || got.Trigger.State != gluetypes.TriggerStateActivated ||
		aws.ToString(got.Trigger.Predicate.Conditions[0].JobName) != "extract" || got.Trigger.Predicate.Conditions[0].State != gluetypes.JobRunStateSucceeded ||
		aws.ToString(got.Trigger.Actions[0].JobName) != "load" || aws.ToString(got.Trigger.WorkflowName) != "nightly" {
		t.Errorf("GetTrigger conditional: %+v %v", got, err)
	}
	got, err = g.GetTrigger(ctx, &glue.GetTriggerInput{Name: aws.String("start-nightly")})
	if err != nil || got.Trigger.Type != gluetypes.TriggerTypeScheduled || aws.ToString(got.Trigger.Schedule) != "cron(0 6 * * ? *)" || len(got.Trigger.Actions) != 2 ||
		got.Trigger.State != gluetypes.TriggerStateActivated {
		t.Errorf("GetTrigger scheduled: %+v %v", got, err)
	}
	if _, err := g.StopTrigger(ctx, &glue.StopTriggerInput{Name: aws.String("start-nightly")}); err != nil {
		t.Fatal(err)
	}
	if got, err := g.GetTrigger(ctx, &glue.GetTriggerInput{Name: aws.String("start-nightly")}); err != nil || got.Trigger.State != gluetypes.TriggerStateDeactivated {
		t.Errorf("stopped trigger: %+v %v", got, err)
	}
	lt, err := g.ListTriggers(ctx, &glue.ListTriggersInput{MaxResults: aws.Int32(2)})
	if err != nil || len(lt.TriggerNames) != 2 || lt.NextToken == nil {
		t.Fatalf("ListTriggers page 1: %+v %v", lt, err)
	}
	lt2, err := g.ListTriggers(ctx, &glue.ListTriggersInput{MaxResults: aws.Int32(2), NextToken: lt.NextToken})
	if err != nil || len(lt2.TriggerNames) != 1 || lt2.TriggerNames[0] != "start-nightly" || lt2.NextToken != nil {
		t.Errorf("ListTriggers page 2: %+v %v", lt2, err)
	}
	if gt, err := g.GetTriggers(ctx, &glue.GetTriggersInput{DependentJobName: aws.String("cleanup")}); err != nil || len(gt.Triggers) != 1 || aws.ToString(gt.Triggers[0].Name) != "on-failure" {
		t.Errorf("GetTriggers by job: %+v %v", gt, err)
	}

	// A run: extract and broken start; load runs after extract, cleanup
	// after broken failed.
	start, err := g.StartWorkflowRun(ctx, &glue.StartWorkflowRunInput{Name: aws.String("nightly"), RunProperties: map[string]string{"day": "'2025-02-03'"}})
	if err != nil {
		t.Fatal(err)
	}
	run := waitWorkflowRun(t, g, "nightly", aws.ToString(start.RunId))
	st := run.Statistics
	if run.Status != gluetypes.WorkflowRunStatusCompleted || st.TotalActions != 4 || st.SucceededActions != 3 || st.FailedActions != 1 || run.CompletedOn == nil ||
		run.WorkflowRunProperties["day"] != "'2025-02-03'" {
		t.Fatalf("run: %+v %+v %s", run, st, aws.ToString(run.ErrorMessage))
	}
	jobNodes := 0
	for _, n := range run.Graph.Nodes {
		if n.Type == gluetypes.NodeTypeJob && n.JobDetails != nil && len(n.JobDetails.JobRuns) == 1 {
			jobNodes++
			if aws.ToString(n.Name) == "broken" && n.JobDetails.JobRuns[0].JobRunState != gluetypes.JobRunStateFailed {
				t.Errorf("broken's node: %+v", n.JobDetails.JobRuns[0])
			}
		}
	}
	if jobNodes != 4 || len(run.Graph.Edges) < 6 {
		t.Errorf("run graph: %d job nodes, %d edges", jobNodes, len(run.Graph.Edges))
	}
	// The job got the run property through the action's argument.
	if jr, err := g.GetJobRuns(ctx, &glue.GetJobRunsInput{JobName: aws.String("extract")}); err != nil || len(jr.JobRuns) != 1 || jr.JobRuns[0].Arguments["--day"] != "'2025-02-03'" {
		t.Errorf("extract's run: %+v %v", jr, err)
	}
	if _, err := g.StopWorkflowRun(ctx, &glue.StopWorkflowRunInput{Name: aws.String("nightly"), RunId: start.RunId}); code(err) != "IllegalWorkflowStateException" {
		t.Errorf("stop ended run: %v", err)
	}
	if _, err := g.PutWorkflowRunProperties(ctx, &glue.PutWorkflowRunPropertiesInput{Name: aws.String("nightly"), RunId: start.RunId,
		RunProperties: map[string]string{"x": "1"}}); code(err) != "IllegalWorkflowStateException" {
		t.Errorf("put properties of ended run: %v", err)
	}
	if p, err := g.GetWorkflowRunProperties(ctx, &glue.GetWorkflowRunPropertiesInput{Name: aws.String("nightly"), RunId: start.RunId}); err != nil || p.RunProperties["day"] != "'2025-02-03'" {
		t.Errorf("GetWorkflowRunProperties: %+v %v", p, err)
	}
	if _, err := g.GetWorkflowRun(ctx, &glue.GetWorkflowRunInput{Name: aws.String("other"), RunId: start.RunId}); code(err) != "EntityNotFoundException" {
		t.Errorf("run under another workflow's name: %v", err)
	}

	// A second run, stopped while queued behind nothing: properties put
	// while it is active are kept.
	if _, err := g.UpdateWorkflow(ctx, &glue.UpdateWorkflowInput{Name: aws.String("nightly"), MaxConcurrentRuns: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	runs, err := g.GetWorkflowRuns(ctx, &glue.GetWorkflowRunsInput{Name: aws.String("nightly"), MaxResults: aws.Int32(1)})
	if err != nil || len(runs.Runs) != 1 || runs.NextToken != nil {
		t.Errorf("GetWorkflowRuns: %+v %v", runs, err)
	}
	wo, err := g.GetWorkflow(ctx, &glue.GetWorkflowInput{Name: aws.String("nightly"), IncludeGraph: aws.Bool(true)})
	if err != nil || aws.ToString(wo.Workflow.Description) != "the nightly load" || aws.ToInt32(wo.Workflow.MaxConcurrentRuns) != 1 ||
		wo.Workflow.DefaultRunProperties["day"] != "2025-01-01" || wo.Workflow.LastRun == nil || len(wo.Workflow.Graph.Nodes) != 7 {
		t.Errorf("GetWorkflow: %+v %v", wo, err)
	}
	if lw, err := g.ListWorkflows(ctx, &glue.ListWorkflowsInput{}); err != nil || len(lw.Workflows) != 1 || lw.Workflows[0] != "nightly" {
		t.Errorf("ListWorkflows: %+v %v", lw, err)
	}

	if bw, err := g.BatchGetWorkflows(ctx, &glue.BatchGetWorkflowsInput{Names: []string{"nightly", "nope"}}); err != nil || len(bw.Workflows) != 1 ||
		len(bw.MissingWorkflows) != 1 || bw.MissingWorkflows[0] != "nope" {
		t.Errorf("BatchGetWorkflows: %+v %v", bw, err)
	}
	if bt, err := g.BatchGetTriggers(ctx, &glue.BatchGetTriggersInput{TriggerNames: []string{"after-extract", "start-nightly", "nope"}}); err != nil ||
		len(bt.Triggers) != 2 || len(bt.TriggersNotFound) != 1 {
		t.Errorf("BatchGetTriggers: %+v %v", bt, err)
	}

	// UpdateTrigger: load now waits for either job.
	if _, err := g.UpdateTrigger(ctx, &glue.UpdateTriggerInput{Name: aws.String("after-extract"), TriggerUpdate: &gluetypes.TriggerUpdate{
		Predicate: &gluetypes.Predicate{Logical: gluetypes.LogicalAny, Conditions: []gluetypes.Condition{
			{JobName: aws.String("extract"), State: gluetypes.JobRunStateSucceeded}, {JobName: aws.String("broken"), State: gluetypes.JobRunStateSucceeded}}}}}); err != nil {
		t.Fatal(err)
	}
	if w, err := e.l.Workflows.GetWorkflow(ctx, "nightly"); err != nil || w.Steps[3].Name != "load" || w.Steps[3].Condition != workflow.CondAnySucceeded || len(w.Steps[3].DependsOn) != 2 {
		t.Errorf("updated conditional: %+v %v", w.Steps, err)
	}
	// Deleting the start trigger while others watch its jobs is refused.
	if _, err := g.DeleteTrigger(ctx, &glue.DeleteTriggerInput{Name: aws.String("start-nightly")}); code(err) != "InvalidInputException" {
		t.Errorf("delete watched start trigger: %v", err)
	}
	for _, n := range []string{"after-extract", "on-failure", "start-nightly"} {
		if _, err := g.DeleteTrigger(ctx, &glue.DeleteTriggerInput{Name: aws.String(n)}); err != nil {
			t.Fatal(n, err)
		}
	}
	if _, err := g.GetTrigger(ctx, &glue.GetTriggerInput{Name: aws.String("after-extract")}); code(err) != "EntityNotFoundException" {
		t.Errorf("deleted trigger: %v", err)
	}
	if w, err := e.l.Workflows.GetWorkflow(ctx, "nightly"); err != nil || len(w.Steps) != 0 {
		t.Errorf("workflow without triggers: %+v %v", w.Steps, err)
	}

	// A standalone ON_DEMAND trigger of one job: StartTrigger fires it.
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("load-now"), Type: gluetypes.TriggerTypeOnDemand,
		Actions: []gluetypes.Action{{JobName: aws.String("load")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.StartTrigger(ctx, &glue.StartTriggerInput{Name: aws.String("load-now")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		jr, err := g.GetJobRuns(ctx, &glue.GetJobRunsInput{JobName: aws.String("load")})
		if err != nil {
			t.Fatal(err)
		}
		if len(jr.JobRuns) == 2 && jr.JobRuns[0].JobRunState == gluetypes.JobRunStateSucceeded {
			break
		}
		if i == 6000 {
			t.Fatalf("the trigger's job run: %+v", jr.JobRuns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// EVENT triggers take their objects' location from a tag.
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("on-data"), Type: gluetypes.TriggerTypeEvent, WorkflowName: aws.String("nightly"),
		Actions: []gluetypes.Action{{JobName: aws.String("extract")}}}); code(err) != "InvalidInputException" || !strings.Contains(err.Error(), "tarn:prefix") {
		t.Errorf("EVENT trigger without prefix: %v", err)
	}
	if _, err := g.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("on-data"), Type: gluetypes.TriggerTypeEvent, WorkflowName: aws.String("nightly"),
		Tags: map[string]string{"tarn:prefix": "s3://lake/raw/in/"}, EventBatchingCondition: &gluetypes.EventBatchingCondition{BatchSize: aws.Int32(5), BatchWindow: aws.Int32(60)},
		StartOnCreation: true, Actions: []gluetypes.Action{{JobName: aws.String("extract")}}}); err != nil {
		t.Fatal(err)
	}
	if tr, err := e.l.Workflows.GetTrigger(ctx, "on-data"); err != nil || tr.Type != workflow.TriggerEvent || tr.Prefix != "s3://lake/raw/in/" || tr.BatchSize != 5 ||
		time.Duration(tr.BatchWindow) != time.Minute {
		t.Errorf("event trigger: %+v %v", tr, err)
	}
	if _, err := g.DeleteWorkflow(ctx, &glue.DeleteWorkflowInput{Name: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Workflows.GetTrigger(ctx, "on-data"); err == nil {
		t.Errorf("the workflow's trigger outlived it")
	}
}

func TestGlueWorkflowPolicies(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	g := e.glue(e.admin)
	e.sqlJob(g, "mine", "SELECT 1 AS n")
	e.sqlJob(g, "theirs", "SELECT 2 AS n")
	for _, n := range []string{"team-flow", "other-flow"} {
		if _, err := g.CreateWorkflow(ctx, &glue.CreateWorkflowInput{Name: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	ro := e.glue(e.key("reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["glue:Get*","glue:List*"],"Resource":"*"}]}`))
	scoped := e.glue(e.key("team", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"glue:*","Resource":[
		"arn:aws:glue:*:*:workflow/team-*","arn:aws:glue:*:*:trigger/team-*","arn:aws:glue:*:*:job/mine"]}]}`))
	deny := func(what string, err error) {
		t.Helper()
		if code(err) != "AccessDeniedException" {
			t.Errorf("%s: %v, want AccessDeniedException", what, err)
		}
	}
	_, err := ro.CreateWorkflow(ctx, &glue.CreateWorkflowInput{Name: aws.String("x")})
	deny("read-only CreateWorkflow", err)
	_, err = ro.StartWorkflowRun(ctx, &glue.StartWorkflowRunInput{Name: aws.String("team-flow")})
	deny("read-only StartWorkflowRun", err)
	_, err = ro.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("t"), Type: gluetypes.TriggerTypeOnDemand, Actions: []gluetypes.Action{{JobName: aws.String("mine")}}})
	deny("read-only CreateTrigger", err)
	if lw, err := ro.ListWorkflows(ctx, &glue.ListWorkflowsInput{}); err != nil || len(lw.Workflows) != 2 {
		t.Errorf("read-only ListWorkflows: %+v %v", lw, err)
	}
	// The scoped key: its own workflow, with its own job; not another's
	// workflow, nor another's job as an action.
	_, err = scoped.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("team-start"), WorkflowName: aws.String("team-flow"), Type: gluetypes.TriggerTypeOnDemand,
		Actions: []gluetypes.Action{{JobName: aws.String("theirs")}}})
	deny("scoped trigger of another's job", err)
	_, err = scoped.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("team-start"), WorkflowName: aws.String("other-flow"), Type: gluetypes.TriggerTypeOnDemand,
		Actions: []gluetypes.Action{{JobName: aws.String("mine")}}})
	deny("scoped trigger in another's workflow", err)
	if _, err := scoped.CreateTrigger(ctx, &glue.CreateTriggerInput{Name: aws.String("team-start"), WorkflowName: aws.String("team-flow"), Type: gluetypes.TriggerTypeOnDemand,
		Actions: []gluetypes.Action{{JobName: aws.String("mine")}}}); err != nil {
		t.Fatal(err)
	}
	if w, err := e.l.Workflows.GetWorkflow(ctx, "team-flow"); err != nil || w.RunAs != e.key2id(t, "team") {
		t.Errorf("the workflow runs as %q, want the key that built it: %v", w.RunAs, err)
	}
	_, err = scoped.StartWorkflowRun(ctx, &glue.StartWorkflowRunInput{Name: aws.String("other-flow")})
	deny("scoped StartWorkflowRun of another's", err)
	// Another's run, named under the key's own workflow, is not found;
	// under its own, refused.
	other, err := g.StartWorkflowRun(ctx, &glue.StartWorkflowRunInput{Name: aws.String("other-flow")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scoped.GetWorkflowRun(ctx, &glue.GetWorkflowRunInput{Name: aws.String("team-flow"), RunId: other.RunId}); code(err) != "EntityNotFoundException" {
		t.Errorf("another's run under the key's workflow: %v", err)
	}
	_, err = scoped.PutWorkflowRunProperties(ctx, &glue.PutWorkflowRunPropertiesInput{Name: aws.String("other-flow"), RunId: other.RunId,
		RunProperties: map[string]string{"x": "'; DROP TABLE x; --"}})
	deny("scoped PutWorkflowRunProperties on another's run", err)
	_, err = scoped.StopWorkflowRun(ctx, &glue.StopWorkflowRunInput{Name: aws.String("other-flow"), RunId: other.RunId})
	deny("scoped StopWorkflowRun of another's", err)
	if run, err := e.l.Workflows.GetRun(ctx, aws.ToString(other.RunId)); err != nil || run.Properties["x"] != "" {
		t.Errorf("another's run changed: %+v %v", run, err)
	}
	_, err = scoped.DeleteWorkflow(ctx, &glue.DeleteWorkflowInput{Name: aws.String("other-flow")})
	deny("scoped DeleteWorkflow of another's", err)
	if lw, err := scoped.ListWorkflows(ctx, &glue.ListWorkflowsInput{}); err != nil || len(lw.Workflows) != 1 || lw.Workflows[0] != "team-flow" {
		t.Errorf("scoped ListWorkflows: %+v %v", lw, err)
	}
	if lt, err := scoped.ListTriggers(ctx, &glue.ListTriggersInput{}); err != nil || len(lt.TriggerNames) != 1 {
		t.Errorf("scoped ListTriggers: %+v %v", lt, err)
	}
	_, err = scoped.GetWorkflow(ctx, &glue.GetWorkflowInput{Name: aws.String("other-flow")})
	deny("scoped GetWorkflow of another's", err)
	if bw, err := scoped.BatchGetWorkflows(ctx, &glue.BatchGetWorkflowsInput{Names: []string{"team-flow", "other-flow"}}); err != nil || len(bw.Workflows) != 1 ||
		aws.ToString(bw.Workflows[0].Name) != "team-flow" || len(bw.MissingWorkflows) != 1 {
		t.Errorf("scoped BatchGetWorkflows: %+v %v", bw, err)
	}
}

func (e *env) key2id(t *testing.T, name string) string {
	t.Helper()
	ks, err := e.l.Auth.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.Name == name {
			return k.AccessKeyID
		}
	}
	t.Fatalf("no key %q", name)
	return ""
}
