package alarms

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// outcome is one ended thing an event rule judges: a run or a query.
// bad outcomes (a failure, too many rejected rows, a big scan, a drift)
// raise the alarm; good ones clear it.
type outcome struct {
	ended  time.Time
	id     string
	bad    bool
	reason string
}

// key orders outcomes by time: an alarm notifies for bad outcomes with a
// key above the last one it notified for, so each is notified once.
func (o outcome) key() string {
	return o.ended.UTC().Format("2006-01-02T15:04:05.000000000Z") + " " + o.id
}

// lookback is how far before the previous evaluation outcomes are read
// again, for runs recorded late; keys stop double notifications.
const lookback = 10 * time.Minute

func (s *Service) judge(ctx context.Context, st Status, lastKey string, now time.Time) (verdict, error) {
	if st.Rule == RuleFreshness {
		return s.freshness(ctx, st, now, lastKey)
	}
	since := st.CheckedAt.Add(-lookback)
	if st.State == StateInsufficient {
		// The first evaluation judges what happened since the alarm was
		// created, not the past.
		since = st.CreatedAt
	}
	outs, err := s.outcomes(ctx, st.Alarm, since)
	if err != nil {
		return verdict{}, err
	}
	if len(outs) == 0 {
		return verdict{keep: true}, nil
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].key() > outs[j].key() })
	for _, o := range outs {
		if o.bad && o.key() > lastKey {
			return verdict{state: StateAlarm, reason: o.reason, key: o.key()}, nil
		}
	}
	if !outs[0].bad {
		return verdict{state: StateOK, reason: outs[0].reason, key: lastKey}, nil
	}
	return verdict{keep: true}, nil
}

func (s *Service) outcomes(ctx context.Context, a Alarm, since time.Time) ([]outcome, error) {
	var outs []outcome
	switch a.Rule {
	case RuleJobFailed, RuleRowsRejected:
		names := []string{a.Target}
		if a.Target == "*" {
			specs, err := s.Jobs.List(ctx)
			if err != nil {
				return nil, err
			}
			names = names[:0]
			for _, sp := range specs {
				names = append(names, sp.Name)
			}
		}
		for _, name := range names {
			runs, err := s.Jobs.Runs(ctx, name)
			if err != nil {
				return nil, err
			}
			for _, r := range runs {
				if r.EndedAt.IsZero() || r.EndedAt.Before(since) {
					continue
				}
				o := outcome{ended: r.EndedAt, id: r.ID}
				if a.Rule == RuleJobFailed {
					o.bad = r.State == jobs.StateFailed || r.State == jobs.StateTimeout
					o.reason = fmt.Sprintf("job %s run %s (attempt %d) %s", r.Job, r.ID, r.Attempt, r.State)
					if r.Error != "" {
						o.reason += ": " + r.Error
					}
				} else {
					if r.State != jobs.StateSucceeded && r.Stats.RowsRejected == 0 {
						continue
					}
					o.bad = r.Stats.RowsRejected > a.Threshold
					o.reason = fmt.Sprintf("job %s run %s rejected %d rows (threshold %d)", r.Job, r.ID, r.Stats.RowsRejected, a.Threshold)
					if r.Stats.RejectedURI != "" {
						o.reason += "; rejected rows in " + r.Stats.RejectedURI
					}
				}
				outs = append(outs, o)
			}
		}
	case RuleWorkflowFailed:
		target := a.Target
		if target == "*" {
			target = ""
		}
		runs, err := s.Workflows.Runs(ctx, target, 500)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if r.EndedAt.IsZero() || r.EndedAt.Before(since) {
				continue
			}
			o := outcome{ended: r.EndedAt, id: r.ID, bad: r.State == workflow.RunFailed,
				reason: fmt.Sprintf("workflow %s run %s %s", r.Workflow, r.ID, r.State)}
			if r.Error != "" {
				o.reason += ": " + r.Error
			}
			outs = append(outs, o)
		}
	case RuleCrawlerFailed, RuleSchemaDrift:
		names := []string{a.Target}
		if a.Target == "*" {
			specs, err := s.Crawlers.List(ctx)
			if err != nil {
				return nil, err
			}
			names = names[:0]
			for _, sp := range specs {
				names = append(names, sp.Name)
			}
		}
		for _, name := range names {
			runs, err := s.Crawlers.Runs(ctx, name)
			if err != nil {
				return nil, err
			}
			for _, r := range runs {
				if r.EndedAt.IsZero() || r.EndedAt.Before(since) || r.DryRun || r.State == crawler.StateCancelled {
					continue
				}
				o := outcome{ended: r.EndedAt, id: r.ID}
				if a.Rule == RuleCrawlerFailed {
					o.bad = r.State == crawler.StateFailed
					o.reason = fmt.Sprintf("crawler %s run %s %s", r.Crawler, r.ID, r.State)
					if r.Error != "" {
						o.reason += ": " + r.Error
					}
				} else {
					if r.State != crawler.StateSucceeded {
						continue
					}
					o.reason, o.bad = driftReason(r)
				}
				outs = append(outs, o)
			}
		}
	case RuleDataScanned:
		hist, err := s.Query.History(ctx, 1000)
		if err != nil {
			return nil, err
		}
		for _, ex := range hist {
			if ex.EndedAt.IsZero() || ex.EndedAt.Before(since) || (a.Target != "*" && ex.Workgroup != a.Target) {
				continue
			}
			o := outcome{ended: ex.EndedAt, id: ex.ID, bad: ex.Stats.BytesScanned > a.Threshold,
				reason: fmt.Sprintf("query %s in workgroup %s scanned %d bytes (threshold %d)", ex.ID, ex.Workgroup, ex.Stats.BytesScanned, a.Threshold)}
			if ex.AccessKey != "" {
				o.reason += " by " + ex.AccessKey
			}
			outs = append(outs, o)
		}
	}
	return outs, nil
}

// driftReason describes the schema changes a crawl found, with their
// typed diff; a crawl without changes is a good outcome.
func driftReason(r crawler.Run) (string, bool) {
	if r.AcceptDrift {
		return fmt.Sprintf("crawler %s run %s applied the accepted schema changes", r.Crawler, r.ID), false
	}
	var parts []string
	for _, t := range r.Tables {
		if len(t.Changes) == 0 || (t.Action != crawler.ActionUpdate && t.Action != crawler.ActionDriftLogged) {
			continue
		}
		var ch []string
		for _, c := range t.Changes {
			b := c.Kind + " " + c.Column
			if c.From != "" || c.To != "" {
				b += fmt.Sprintf(" (%s -> %s)", c.From, c.To)
			}
			ch = append(ch, b)
		}
		what := "updated"
		if t.Action == crawler.ActionDriftLogged {
			what = "kept unchanged (schema change policy log; accept with `tarn crawler start " + r.Crawler + " --accept-drift`)"
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", t.Table, what, strings.Join(ch, ", ")))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("crawler %s run %s found no schema change", r.Crawler, r.ID), false
	}
	return fmt.Sprintf("crawler %s run %s found schema drift: %s", r.Crawler, r.ID, strings.Join(parts, "; ")), true
}

// freshness compares the age of a table's newest data (its newest
// partition, or for an unpartitioned table its newest file) with max_age.
func (s *Service) freshness(ctx context.Context, st Status, now time.Time, lastKey string) (verdict, error) {
	db, name, _ := strings.Cut(st.Target, ".")
	t, err := s.Catalog.GetTable(ctx, db, name)
	if err != nil {
		return verdict{state: StateInsufficient, reason: err.Error(), key: lastKey}, nil
	}
	var newest time.Time
	if len(t.PartitionKeys) > 0 {
		parts, err := s.Catalog.ListPartitions(ctx, db, name)
		if err != nil {
			return verdict{}, err
		}
		for _, p := range parts {
			if p.AddedAt.After(newest) {
				newest = p.AddedAt
			}
		}
	} else if loc, err := storage.ParseURI(t.Location); err == nil {
		for o, err := range storage.Walk(ctx, s.Store, loc.Bucket, loc.Key) {
			if err != nil {
				return verdict{}, err
			}
			if o.LastModified.After(newest) {
				newest = o.LastModified
			}
		}
	}
	if newest.IsZero() {
		newest = t.CreatedAt
	}
	age := now.Sub(newest)
	maxAge := time.Duration(st.MaxAge)
	if age > maxAge {
		return verdict{state: StateAlarm, key: "stale since " + newest.UTC().Format(time.RFC3339Nano),
			reason: fmt.Sprintf("table %s has had no new data for %s (newest %s, max age %s)", st.Target, age.Round(time.Second), newest.UTC().Format(time.RFC3339), maxAge)}, nil
	}
	return verdict{state: StateOK, key: lastKey, reason: fmt.Sprintf("table %s newest data is %s old (max age %s)", st.Target, age.Round(time.Second), maxAge)}, nil
}
