package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/catalog"
)

// lineageService is what `tarn catalog lineage` needs: the lake's catalog
// and the server's both have it.
type lineageService interface {
	TableLineage(ctx context.Context, db, table string, q catalog.LineageQuery) (catalog.LineageGraph, error)
}

func lineageCmd(g *globals, splitName func(string) (string, string, error)) *cobra.Command {
	var upstream, downstream, asJSON bool
	var depth, events int
	cmd := &cobra.Command{
		Use:   "lineage DB.TABLE [--upstream | --downstream] [--depth N] [--json]",
		Short: "Show which jobs, crawlers, queries and dbt models wrote a table, from which inputs, and what was written from it",
		Example: `  tarn catalog lineage curated.daily_sales
  tarn catalog lineage curated.daily_sales --upstream --depth 2
  tarn catalog lineage raw.orders --downstream --json --events 5`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, name, err := splitName(args[0])
			if err != nil {
				return err
			}
			q := catalog.LineageQuery{Direction: catalog.Both, Depth: depth, Events: events}
			switch {
			case upstream && downstream:
			case upstream:
				q.Direction = catalog.Upstream
			case downstream:
				q.Direction = catalog.Downstream
			}
			if depth < 0 || depth > catalog.MaxLineageDepth {
				return fmt.Errorf("--depth %d: give 1 to %d edges (0: all, up to %d)", depth, catalog.MaxLineageDepth, catalog.MaxLineageDepth)
			}
			return g.run(cmd, func(ctx context.Context, s services) error {
				ls, ok := s.catalog.(lineageService)
				if !ok {
					return fmt.Errorf("cannot read lineage: this catalog does not record it")
				}
				gr, err := ls.TableLineage(ctx, db, name, q)
				if err != nil {
					return err
				}
				if asJSON {
					printJSON(cmd.OutOrStdout(), gr)
					return nil
				}
				printLineage(cmd.OutOrStdout(), gr)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&upstream, "upstream", false, "only what the table was written from")
	f.BoolVar(&downstream, "downstream", false, "only what was written from the table")
	f.IntVar(&depth, "depth", 0, fmt.Sprintf("how many edges away to go (0: up to %d)", catalog.MaxLineageDepth))
	f.BoolVar(&asJSON, "json", false, "print the graph as JSON (the REST API's answer)")
	f.IntVar(&events, "events", 0, "with --json, also the table's latest N OpenLineage events")
	return cmd
}

// datasetName is how the tree names a dataset: a tarn table by its name,
// anything else as namespace/name.
func datasetName(d catalog.DatasetRef, hidden bool) string {
	switch {
	case hidden:
		return "(a dataset you may not read)"
	case d.Namespace == catalog.LineageNamespace:
		return d.Name
	case strings.HasPrefix(d.Namespace, "s3://"):
		if d.Name == "/" {
			return d.Namespace + "/"
		}
		return d.Namespace + "/" + d.Name + "/"
	}
	return d.Namespace + "/" + d.Name
}

// describeWrite says who wrote a dataset last: the job (with its kind),
// the run, when and the rows.
func describeWrite(w *catalog.LineageWrite) string {
	if w == nil {
		return "no write recorded"
	}
	job := w.JobName
	if w.JobNamespace != catalog.LineageNamespace {
		job = w.JobNamespace + ":" + job
	}
	if w.JobType != "" {
		job += " (" + strings.ToLower(strings.ReplaceAll(w.JobType, "_", " ")) + ")"
	}
	s := fmt.Sprintf("written by %s, run %s, %s", job, w.RunID, w.EventTime.Local().Format(time.DateTime))
	if w.Rows >= 0 {
		s += fmt.Sprintf(", %d rows", w.Rows)
	}
	return s
}

// printLineage prints the graph as two trees from the table: what it was
// written from (upstream) and what was written from it (downstream). A
// dataset met again is printed once and referred to after.
func printLineage(w io.Writer, g catalog.LineageGraph) {
	nodes := map[catalog.DatasetRef]catalog.LineageNode{}
	for _, n := range g.Nodes {
		nodes[n.Dataset] = n
	}
	root := nodes[g.Root]
	fmt.Fprintf(w, "%s\n  %s\n", datasetName(g.Root, false), describeWrite(root.Write))
	children := func(d catalog.DatasetRef, up bool) []catalog.DatasetRef {
		var out []catalog.DatasetRef
		for _, e := range g.Edges {
			if up && e.Output == d {
				out = append(out, e.Input)
			}
			if !up && e.Input == d {
				out = append(out, e.Output)
			}
		}
		return out
	}
	for _, dir := range []struct {
		name string
		up   bool
	}{{"upstream (written from)", true}, {"downstream (written from it)", false}} {
		if g.Direction != catalog.Both && (g.Direction == catalog.Upstream) != dir.up {
			continue
		}
		top := children(g.Root, dir.up)
		if len(top) == 0 {
			fmt.Fprintf(w, "%s: nothing recorded\n", dir.name)
			continue
		}
		fmt.Fprintf(w, "%s:\n", dir.name)
		seen := map[catalog.DatasetRef]bool{g.Root: true}
		var walk func(ds []catalog.DatasetRef, prefix string)
		walk = func(ds []catalog.DatasetRef, prefix string) {
			for i, d := range ds {
				branch, next := "├─ ", "│  "
				if i == len(ds)-1 {
					branch, next = "└─ ", "   "
				}
				n := nodes[d]
				if seen[d] {
					fmt.Fprintf(w, "%s%s%s (see above)\n", prefix, branch, datasetName(d, n.Hidden))
					continue
				}
				seen[d] = true
				fmt.Fprintf(w, "%s%s%s\n", prefix, branch, datasetName(d, n.Hidden))
				if !n.Hidden && n.Write != nil {
					fmt.Fprintf(w, "%s%s  %s\n", prefix, next, describeWrite(n.Write))
				}
				walk(children(d, dir.up), prefix+next)
			}
		}
		walk(top, "  ")
	}
	if g.Truncated {
		fmt.Fprintln(w, "(some datasets have more edges than are shown)")
	}
}

// TableLineage is the server's lineage of a table (GET /api/v1/lineage).
func (r remoteCatalog) TableLineage(ctx context.Context, db, table string, q catalog.LineageQuery) (catalog.LineageGraph, error) {
	dir := q.Direction
	if dir == catalog.Both {
		dir = ""
	}
	wg, err := r.k.Lineage(ctx, db, table, dir, q.Depth, q.Events)
	if err != nil {
		return catalog.LineageGraph{}, err
	}
	ref := func(d apitypes.DatasetRef) catalog.DatasetRef {
		return catalog.DatasetRef{Namespace: d.Namespace, Name: d.Name}
	}
	g := catalog.LineageGraph{Root: ref(wg.Root), Direction: wg.Direction, Depth: wg.Depth, Truncated: wg.Truncated}
	for _, n := range wg.Nodes {
		cn := catalog.LineageNode{Dataset: ref(n.Dataset), Depth: n.Depth, Hidden: n.Hidden}
		if n.Write != nil {
			w := catalog.LineageWrite(*n.Write)
			cn.Write = &w
		}
		g.Nodes = append(g.Nodes, cn)
	}
	for _, e := range wg.Edges {
		g.Edges = append(g.Edges, catalog.LineageEdge{Input: ref(e.Input), Output: ref(e.Output), JobNamespace: e.JobNamespace, JobName: e.JobName,
			RunID: e.RunID, EventTime: e.EventTime, Rows: e.Rows})
	}
	ds := func(in []apitypes.LineageDataset) []catalog.LineageDataset {
		var out []catalog.LineageDataset
		for _, d := range in {
			out = append(out, catalog.LineageDataset{Namespace: d.Namespace, Name: d.Name, Facets: d.Facets, InputFacets: d.InputFacets, OutputFacets: d.OutputFacets})
		}
		return out
	}
	for _, ev := range wg.Events {
		t, _ := time.Parse(time.RFC3339Nano, ev.EventTime)
		g.Events = append(g.Events, catalog.LineageEvent{EventType: ev.EventType, EventTime: t, Producer: ev.Producer, SchemaURL: ev.SchemaURL,
			Run: catalog.LineageRun{RunID: ev.Run.RunID, Facets: ev.Run.Facets}, Job: catalog.LineageJob{Namespace: ev.Job.Namespace, Name: ev.Job.Name, Facets: ev.Job.Facets},
			Inputs: ds(ev.Inputs), Outputs: ds(ev.Outputs)})
	}
	return g, nil
}
