package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// The pipeline services the commands use; the lake's and the client's both
// have these methods.
type (
	workflowService interface {
		ListWorkflows(ctx context.Context) ([]workflow.Workflow, error)
		GetWorkflow(ctx context.Context, name string) (workflow.Workflow, error)
		Start(ctx context.Context, name string, opts workflow.StartOptions) (workflow.Run, error)
		Runs(ctx context.Context, name string, limit int) ([]workflow.Run, error)
		GetRun(ctx context.Context, id string) (workflow.Run, error)
		Stop(ctx context.Context, id string) error
		TriggerStates(ctx context.Context) ([]workflow.TriggerState, error)
		SetTriggerEnabled(ctx context.Context, name string, enabled bool) error
		FireTrigger(ctx context.Context, name string, props map[string]string) (workflow.Run, error)
	}
	eventService interface {
		List(ctx context.Context, opts events.ListOptions) ([]events.Event, error)
		Replay(ctx context.Context, trigger string, ids []int64) error
	}
	alarmService interface {
		List(ctx context.Context) ([]alarms.Status, error)
		Get(ctx context.Context, name string) (alarms.Status, error)
		History(ctx context.Context, name string, limit int) ([]alarms.Transition, error)
	}
)

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func runDuration(r workflow.Run) string {
	if r.StartedAt.IsZero() {
		return "-"
	}
	end := r.EndedAt
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(r.StartedAt).Round(time.Millisecond).String()
}

func workflowCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "workflow", Short: "Workflows: DAGs of crawlers, jobs and SQL steps (define them in tarn.yaml: tarn apply)", Example: "  tarn workflow list\n  tarn workflow start sales_pipeline\n  tarn workflow runs"}
	list := &cobra.Command{Use: "list", Short: "List workflows", Example: "  tarn workflow list", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			ws, err := s.workflows.ListWorkflows(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, w := range ws {
				rows = append(rows, []string{w.Name, strconv.Itoa(len(w.Steps)), strconv.Itoa(w.MaxConcurrentRuns), w.Description})
			}
			printTable(cmd.OutOrStdout(), []string{"name", "steps", "max runs", "description"}, rows)
			return nil
		})
	}}
	get := &cobra.Command{Use: "get NAME", Short: "Show a workflow's steps", Example: "  tarn workflow get sales_pipeline", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			w, err := s.workflows.GetWorkflow(ctx, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "workflow %s (max concurrent runs %d, max parallel steps %d, sql steps run as %s)\n", w.Name, w.MaxConcurrentRuns, w.MaxParallelSteps, w.RunAs)
			var rows [][]string
			for _, st := range w.Steps {
				deps := strings.Join(st.DependsOn, ",")
				if deps != "" {
					deps = st.Condition + "(" + deps + ")"
				}
				rows = append(rows, []string{st.Name, st.Target(), deps, strconv.Itoa(st.Retries), time.Duration(st.Timeout).String()})
			}
			printTable(out, []string{"step", "runs", "after", "retries", "timeout"}, rows)
			return nil
		})
	}}
	var props []string
	var noWait bool
	start := &cobra.Command{Use: "start NAME [--property k=v]...", Short: "Start a workflow run and follow it", Example: "  tarn workflow start sales_pipeline\n  tarn workflow start sales_pipeline --property day=2025-01-02 --no-wait", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseArgs(props)
			if err != nil {
				return err
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				run, err := s.workflows.Start(ctx, args[0], workflow.StartOptions{Properties: p, Own: s.execute != nil})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "started run %s of workflow %s\n", run.ID, run.Workflow)
				if noWait {
					fmt.Fprintln(cmd.OutOrStdout(), run.ID)
					return nil
				}
				return followRun(ctx, cmd, s, run.ID)
			})
		}}
	start.Flags().StringArrayVar(&props, "property", nil, "run property name=value (repeatable); steps read it as ${name}")
	start.Flags().BoolVar(&noWait, "no-wait", false, "print the run id and return (with a server; without one the run executes here)")
	var limit int
	runs := &cobra.Command{Use: "runs [NAME]", Short: "List workflow runs, newest first", Example: "  tarn workflow runs\n  tarn workflow runs sales_pipeline --limit 5", Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		return g.run(cmd, func(ctx context.Context, s services) error {
			rs, err := s.workflows.Runs(ctx, name, limit)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, r := range rs {
				steps := make([]string, len(r.Steps))
				for i, st := range r.Steps {
					steps[i] = st.Name + ":" + st.State
				}
				rows = append(rows, []string{r.ID, r.Workflow, r.State, r.Trigger, fmtTime(r.QueuedAt), runDuration(r), strings.Join(steps, " "), oneLine(r.Error)})
			}
			printTable(cmd.OutOrStdout(), []string{"id", "workflow", "state", "trigger", "queued", "duration", "steps", "error"}, rows)
			return nil
		})
	}}
	runs.Flags().IntVar(&limit, "limit", 20, "how many runs")
	run := &cobra.Command{Use: "run ID", Short: "Show one run with its steps and properties", Example: "  tarn workflow runs sales_pipeline\n  tarn workflow run wr-20250101T060000-0123456789ab", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			r, err := s.workflows.GetRun(ctx, args[0])
			if err != nil {
				return err
			}
			printWorkflowRun(cmd.OutOrStdout(), r)
			return nil
		})
	}}
	stop := &cobra.Command{Use: "stop RUN_ID", Short: "Stop a workflow run", Example: "  tarn workflow stop wr-20250101T060000-0123456789ab", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			if err := s.workflows.Stop(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stop requested for run %s\n", args[0])
			return nil
		})
	}}
	cmd.AddCommand(list, get, start, runs, run, stop)
	return cmd
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func printWorkflowRun(w io.Writer, r workflow.Run) {
	fmt.Fprintf(w, "run %s of %s: %s", r.ID, r.Workflow, r.State)
	if r.Trigger != "" {
		fmt.Fprintf(w, " (trigger %s)", r.Trigger)
	}
	fmt.Fprintf(w, "\nqueued %s, started %s, took %s\n", fmtTime(r.QueuedAt), fmtTime(r.StartedAt), runDuration(r))
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	for _, k := range sortedKeys(r.Properties) {
		fmt.Fprintf(w, "property %s = %s\n", k, r.Properties[k])
	}
	var rows [][]string
	for _, st := range r.Steps {
		took := "-"
		if !st.StartedAt.IsZero() && !st.EndedAt.IsZero() {
			took = st.EndedAt.Sub(st.StartedAt).Round(time.Millisecond).String()
		}
		rows = append(rows, []string{st.Name, st.Target, st.State, strconv.Itoa(st.Attempt), took, st.ChildID, oneLine(st.Error)})
	}
	printTable(w, []string{"step", "runs", "state", "attempts", "took", "run/query id", "error"}, rows)
	for _, st := range r.Steps {
		if len(st.DBT) > 0 {
			printDBTNodes(w, st)
		}
	}
}

// printDBTNodes shows a dbt step's models, seeds, snapshots and tests.
func printDBTNodes(w io.Writer, st workflow.StepRun) {
	fmt.Fprintf(w, "\ndbt results of step %s: %s\n", st.Name, dbt.Summary(st.DBT))
	var rows [][]string
	for _, n := range st.DBT {
		if n.ResourceType == "operation" {
			continue
		}
		affected := "-"
		if n.RowsAffected >= 0 && n.ResourceType != "test" {
			affected = strconv.FormatInt(n.RowsAffected, 10)
		}
		failures := ""
		if n.ResourceType == "test" {
			failures = strconv.FormatInt(n.Failures, 10)
		}
		msg := n.Message
		if n.FailingRows != "" {
			msg += "; failing rows: " + n.FailingRows
		}
		rows = append(rows, []string{n.ResourceType, n.Name, n.Status, affected, fmt.Sprintf("%.2fs", n.ExecutionTime), failures, n.Relation, oneLine(msg)})
	}
	printTable(w, []string{"type", "name", "status", "rows", "time", "failures", "relation", "message"}, rows)
}

// followRun shows a run's progress until it ends; without a server the run
// executes here.
func followRun(ctx context.Context, cmd *cobra.Command, s services, id string) error {
	var r workflow.Run
	var err error
	if s.execute != nil {
		prog := newProgress()
		done := make(chan struct{})
		go func() {
			defer close(done)
			start := time.Now()
			for {
				select {
				case <-done:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if cur, err := s.workflows.GetRun(ctx, id); err == nil {
					prog.update("%s %s", time.Since(start).Round(time.Second), stepSummary(cur))
				}
			}
		}()
		r, err = s.execute(ctx, id)
		done <- struct{}{}
		prog.done()
	} else {
		prog := newProgress()
		start := time.Now()
		for {
			if r, err = s.workflows.GetRun(ctx, id); err != nil {
				prog.done()
				return err
			}
			if r.State != workflow.RunQueued && r.State != workflow.RunRunning {
				break
			}
			prog.update("%s %s", time.Since(start).Round(time.Second), stepSummary(r))
			select {
			case <-ctx.Done():
				prog.done()
				return fmt.Errorf("stopped following run %s (it goes on in the server; tarn workflow stop %s stops it)", id, id)
			case <-time.After(200 * time.Millisecond):
			}
		}
		prog.done()
	}
	if err != nil {
		return err
	}
	printWorkflowRun(cmd.OutOrStdout(), r)
	if r.State != workflow.RunSucceeded {
		return exitError{code: 1}
	}
	return nil
}

func stepSummary(r workflow.Run) string {
	parts := make([]string, len(r.Steps))
	for i, st := range r.Steps {
		parts[i] = st.Name + ":" + strings.ToLower(st.State)
	}
	return r.State + " " + strings.Join(parts, " ")
}

func triggerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Short: "Triggers: schedules, new objects and on-demand starts (define them in tarn.yaml: tarn apply)", Example: "  tarn trigger list\n  tarn trigger start daily_sales\n  tarn trigger disable on_new_sales"}
	list := &cobra.Command{Use: "list", Short: "List triggers with their next firing", Example: "  tarn trigger list", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			ts, err := s.workflows.TriggerStates(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range ts {
				when := t.Schedule
				if t.Timezone != "" {
					when += " " + t.Timezone
				}
				if t.Type == workflow.TriggerEvent {
					when = fmt.Sprintf("%s*%s batch %d window %s", t.Prefix, t.Suffix, t.BatchSize, time.Duration(t.BatchWindow))
					if t.Poll > 0 {
						when += fmt.Sprintf(" poll %s", time.Duration(t.Poll))
					}
				}
				rows = append(rows, []string{t.Name, t.Type, t.Target(), strconv.FormatBool(t.Enabled), when, fmtTime(t.LastFired), fmtTime(t.NextFire)})
			}
			printTable(cmd.OutOrStdout(), []string{"name", "type", "starts", "enabled", "when", "last fired", "next"}, rows)
			return nil
		})
	}}
	set := func(use, short string, on bool) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Example: "  tarn trigger " + use + " daily_sales", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.workflows.SetTriggerEnabled(ctx, args[0], on); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "trigger %s %sd\n", args[0], use)
				return nil
			})
		}}
	}
	var props []string
	var noWait bool
	start := &cobra.Command{Use: "start NAME [--property k=v]...", Short: "Fire a trigger now (how ON_DEMAND triggers run) and follow the run",
		Example: `  tarn trigger start daily_sales
  tarn trigger start daily_sales --property day=2025-01-02 --no-wait`,
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseArgs(props)
			if err != nil {
				return err
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				run, err := s.workflows.FireTrigger(ctx, args[0], p)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "trigger %s started run %s of %s\n", args[0], run.ID, run.Workflow)
				if noWait {
					fmt.Fprintln(cmd.OutOrStdout(), run.ID)
					return nil
				}
				return followRun(ctx, cmd, s, run.ID)
			})
		}}
	start.Flags().StringArrayVar(&props, "property", nil, "run property name=value (repeatable)")
	start.Flags().BoolVar(&noWait, "no-wait", false, "print the run id and return")
	cmd.AddCommand(start, list, set("enable", "Enable a trigger (it does not fire for what happened while disabled)", true),
		set("disable", "Disable a trigger", false))
	return cmd
}

func eventsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "The ingestion ledger: one event per new object version, and the runs it started", Example: "  tarn events list --prefix s3://lake/raw/\n  tarn events replay --trigger on_new_sales 17 18"}
	var prefix string
	var limit int
	var asJSON bool
	list := &cobra.Command{Use: "list [--prefix s3://bucket/prefix]", Short: "List events, newest first", Example: "  tarn events list\n  tarn events list --prefix s3://lake/raw/sales/ --limit 10 --json", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		opts := events.ListOptions{Limit: limit, Newest: true}
		if prefix != "" {
			u, err := storage.ParseURI(prefix)
			if err != nil {
				return err
			}
			opts.Prefix = u
		}
		return g.run(cmd, func(ctx context.Context, s services) error {
			evs, err := s.events.List(ctx, opts)
			if err != nil {
				return err
			}
			if asJSON {
				printJSON(cmd.OutOrStdout(), evs)
				return nil
			}
			var rows [][]string
			for _, e := range evs {
				var ds []string
				for _, d := range e.Deliveries {
					ds = append(ds, d.Trigger+"→"+d.RunID)
				}
				rows = append(rows, []string{strconv.FormatInt(e.ID, 10), e.URI(), e.VersionID, humanBytes(e.Size), e.Via, fmtTime(e.RecordedAt), strings.Join(ds, " ")})
			}
			printTable(cmd.OutOrStdout(), []string{"id", "object", "version", "size", "via", "recorded", "delivered to"}, rows)
			return nil
		})
	}}
	list.Flags().StringVar(&prefix, "prefix", "", "only objects under s3://bucket/prefix")
	list.Flags().IntVar(&limit, "limit", 50, "how many events")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON (with checksums)")
	var trigger string
	replay := &cobra.Command{Use: "replay --trigger NAME ID...", Short: "Deliver events again to a trigger, as if they were new", Example: "  tarn events list --prefix s3://lake/raw/sales/\n  tarn events replay --trigger on_new_sales 17 18", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if trigger == "" {
				return errors.New("give the trigger to deliver the events to: --trigger NAME")
			}
			var ids []int64
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil {
					return fmt.Errorf("%q is not an event id (tarn events list shows them)", a)
				}
				ids = append(ids, id)
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				if err := s.events.Replay(ctx, trigger, ids); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d event(s) queued for trigger %s; its next tick starts the run\n", len(ids), trigger)
				return nil
			})
		}}
	replay.Flags().StringVar(&trigger, "trigger", "", "trigger to deliver the events to")
	cmd.AddCommand(list, replay)
	return cmd
}

func alarmCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "alarm", Short: "Alarms on run failures, freshness, rejected rows, data scanned and schema drift (define them in tarn.yaml)", Example: "  tarn alarm list\n  tarn alarm get sales_pipeline_failed"}
	list := &cobra.Command{Use: "list", Short: "List alarms with their state", Example: "  tarn alarm list", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			as, err := s.alarms.List(ctx)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, a := range as {
				rows = append(rows, []string{a.Name, a.State, a.Rule, a.Target, fmtTime(a.StateChangedAt), oneLine(a.Reason)})
			}
			printTable(cmd.OutOrStdout(), []string{"name", "state", "rule", "target", "since", "reason"}, rows)
			return nil
		})
	}}
	get := &cobra.Command{Use: "get NAME", Short: "Show an alarm, its state and its history", Example: "  tarn alarm get sales_pipeline_failed", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, func(ctx context.Context, s services) error {
			a, err := s.alarms.Get(ctx, args[0])
			if err != nil {
				return err
			}
			hist, err := s.alarms.History(ctx, args[0], 20)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "alarm %s: %s since %s\nrule %s on %s", a.Name, a.State, fmtTime(a.StateChangedAt), a.Rule, a.Target)
			if a.Threshold > 0 {
				fmt.Fprintf(out, ", threshold %d", a.Threshold)
			}
			if a.MaxAge > 0 {
				fmt.Fprintf(out, ", max age %s", time.Duration(a.MaxAge))
			}
			if a.Webhook != "" {
				fmt.Fprintf(out, ", webhook %s", a.Webhook)
			}
			fmt.Fprintf(out, "\nreason: %s\n", a.Reason)
			var rows [][]string
			for _, h := range hist {
				rows = append(rows, []string{fmtTime(h.At), h.OldState + " → " + h.NewState, h.Notified, oneLine(h.Reason)})
			}
			printTable(out, []string{"at", "change", "notified", "reason"}, rows)
			return nil
		})
	}}
	cmd.AddCommand(list, get)
	return cmd
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
