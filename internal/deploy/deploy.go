// Package deploy is tarn's infrastructure as code: a tarn.yaml declares a
// stack of lake resources (buckets, databases, workgroups, access keys,
// crawlers, jobs, workflows, triggers, alarms), Plan compares it with the
// lake, Apply converges the lake to it through the services' own Create,
// Update and Delete, and Export writes the lake's state as a tarn.yaml.
//
// Deletion is safe by construction: a resource is deleted only if it is
// recorded (in the meta database's deploy_managed table) as managed by the
// same stack and has left the file. Resources that exist but are managed
// by no stack are adopted when a file declares them; resources of another
// stack are a conflict. A bucket that holds objects, or a database that
// holds tables, is not deleted unless Options.DeleteData is set.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
)

// Migrations are the deploy component's tables.
var Migrations = []meta.Migration{{Version: 1, Name: "managed resources, stacks", SQL: `
CREATE TABLE deploy_managed (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	stack TEXT NOT NULL,
	created_at TEXT NOT NULL,
	adopted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, name)
);
CREATE TABLE deploy_stacks (
	name TEXT PRIMARY KEY,
	file TEXT NOT NULL,
	parameters TEXT NOT NULL,
	applied_at TEXT NOT NULL
);
`}}

// Deployer plans and applies tarn.yaml files on an open lake.
type Deployer struct {
	l *lake.Lake
}

// New migrates the deploy tables of the lake's meta database.
func New(ctx context.Context, l *lake.Lake) (*Deployer, error) {
	if err := l.Meta.Migrate(ctx, "deploy", Migrations); err != nil {
		return nil, err
	}
	return &Deployer{l: l}, nil
}

// Managed is one resource recorded as managed by a stack.
type Managed struct {
	Kind, Name, Stack string
}

// Managed returns the recorded resources, by kind and name.
func (d *Deployer) Managed(ctx context.Context) ([]Managed, error) {
	rows, err := d.l.Meta.SQL().QueryContext(ctx, `SELECT kind, name, stack FROM deploy_managed ORDER BY kind, name`)
	if err != nil {
		return nil, fmt.Errorf("cannot list managed resources: %w", err)
	}
	defer rows.Close()
	var out []Managed
	for rows.Next() {
		var m Managed
		if err := rows.Scan(&m.Kind, &m.Name, &m.Stack); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (d *Deployer) owners(ctx context.Context) (map[[2]string]string, error) {
	ms, err := d.Managed(ctx)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]string{}
	for _, m := range ms {
		out[[2]string{m.Kind, m.Name}] = m.Stack
	}
	return out, nil
}

func (d *Deployer) record(ctx context.Context, stack, kind, name string, adopted bool) error {
	_, err := d.l.Meta.SQL().ExecContext(ctx, `INSERT INTO deploy_managed (kind, name, stack, created_at, adopted) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, name) DO UPDATE SET stack = excluded.stack`, kind, name, stack, meta.Now(), adopted)
	if err != nil {
		return fmt.Errorf("cannot record %s %q as managed by stack %q: %w", kind, name, stack, err)
	}
	return nil
}

func (d *Deployer) forget(ctx context.Context, kind, name string) error {
	_, err := d.l.Meta.SQL().ExecContext(ctx, `DELETE FROM deploy_managed WHERE kind = ? AND name = ?`, kind, name)
	return err
}

func (d *Deployer) recordStack(ctx context.Context, f *File) error {
	params, _ := json.Marshal(f.Values)
	_, err := d.l.Meta.SQL().ExecContext(ctx, `INSERT INTO deploy_stacks (name, file, parameters, applied_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET file = excluded.file, parameters = excluded.parameters, applied_at = excluded.applied_at`,
		f.Name, f.Path, string(params), meta.Now())
	return err
}

// Stack is a stack that was applied.
type Stack struct {
	Name       string
	File       string
	Parameters map[string]string
	AppliedAt  string
}

// Stacks lists the stacks applied to the lake.
func (d *Deployer) Stacks(ctx context.Context) ([]Stack, error) {
	rows, err := d.l.Meta.SQL().QueryContext(ctx, `SELECT name, file, parameters, applied_at FROM deploy_stacks ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Stack
	for rows.Next() {
		var s Stack
		var params string
		if err := rows.Scan(&s.Name, &s.File, &params, &s.AppliedAt); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(params), &s.Parameters)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Options tune Plan and Apply.
type Options struct {
	// DeleteData lets a deletion empty a bucket that holds objects and drop
	// a database that holds tables (with them). Without it such resources
	// are kept (and stay managed) and the plan says why.
	DeleteData bool
}

// Actions of a plan.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionReplace = "replace" // delete and create: the service has no update
	ActionDelete  = "delete"
	ActionAdopt   = "adopt"  // exists as declared; recorded as managed
	ActionKeep    = "keep"   // a deletion that needs DeleteData, or a change the service cannot make
	ActionForget  = "forget" // managed but gone from both the lake and the file
	ActionNone    = "none"
)

// FieldDiff is one changed field: From is the lake's value, To the file's
// ("" means absent).
type FieldDiff struct {
	Field, From, To string
}

// Change is what apply does to one resource.
type Change struct {
	Kind, Name string
	Action     string
	// Adopt: the resource exists and is managed by no stack; apply records
	// it as this stack's (it may also be updated).
	Adopt bool
	Diffs []FieldDiff
	// Note says why a resource is kept or replaced.
	Note string

	res *resource
	cur *current
}

// Changes reports whether the change alters the lake.
func (c Change) Changes() bool {
	switch c.Action {
	case ActionCreate, ActionUpdate, ActionReplace, ActionDelete:
		return true
	}
	return false
}

// Plan is what apply would do, in the order it does it.
type Plan struct {
	Stack   string
	File    string
	Params  map[string]string
	Changes []Change
	opts    Options
	file    *File
}

// Counts returns how many resources would be created, changed (updated or
// replaced) and deleted.
func (p *Plan) Counts() (create, change, del int) {
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			create++
		case ActionUpdate, ActionReplace:
			change++
		case ActionDelete:
			del++
		}
	}
	return
}

// Empty reports whether applying the plan would change nothing in the lake.
func (p *Plan) Empty() bool {
	c, u, d := p.Counts()
	return c+u+d == 0
}

// Plan compares the file with the lake.
func (d *Deployer) Plan(ctx context.Context, f *File, opts Options) (*Plan, error) {
	owners, err := d.owners(ctx)
	if err != nil {
		return nil, err
	}
	state, err := d.state(ctx, f)
	if err != nil {
		return nil, err
	}
	p := &Plan{Stack: f.Name, File: f.Path, Params: f.Values, opts: opts, file: f}
	var errs Errors
	declared := map[[2]string]bool{}
	for i := range f.resources {
		r := &f.resources[i]
		key := [2]string{r.kind, r.name}
		declared[key] = true
		owner := owners[key]
		if owner != "" && owner != f.Name {
			errs = append(errs, &FieldError{File: f.Path, Line: f.dec.line(r.path + ".name"), Field: r.path + ".name",
				Msg: fmt.Sprintf("%s %q is %v %q; remove it from that stack's file and apply it first", r.kind, r.name, ErrConflict, owner)})
			continue
		}
		cur, exists := state[r.kind][r.name]
		c := Change{Kind: r.kind, Name: r.name, res: r}
		switch {
		case !exists:
			c.Action = ActionCreate
		case r.kind == KindTable:
			continue // created if missing, never changed
		default:
			c.cur = &cur
			c.Adopt = owner == ""
			c.Diffs = diff(cur.view, r.view)
			switch {
			case len(c.Diffs) == 0 && c.Adopt:
				c.Action = ActionAdopt
			case len(c.Diffs) == 0:
				c.Action = ActionNone
			default:
				c.Action, c.Note = d.updateAction(ctx, r, cur)
			}
		}
		p.Changes = append(p.Changes, c)
	}
	// Deletions: what this stack manages and the file no longer declares.
	var dels []Change
	for key, owner := range owners {
		if owner != f.Name || declared[key] {
			continue
		}
		kind, name := key[0], key[1]
		cur, exists := state[kind][name]
		c := Change{Kind: kind, Name: name}
		if !exists {
			c.Action = ActionForget
		} else {
			c.cur = &cur
			c.Action = ActionDelete
			if note, err := d.blocksDelete(ctx, kind, name, cur); err != nil {
				return nil, err
			} else if note != "" && !opts.DeleteData {
				c.Action, c.Note = ActionKeep, note
			} else if note != "" {
				c.Note = note + "; deleted with it (--delete-data)"
			}
		}
		dels = append(dels, c)
	}
	sort.Slice(dels, func(i, j int) bool {
		ki, kj := kindIndex(dels[i].Kind), kindIndex(dels[j].Kind)
		if ki != kj {
			return ki > kj
		}
		return dels[i].Name < dels[j].Name
	})
	// References: a step or trigger must name something that will exist.
	deleted := map[[2]string]bool{}
	for _, c := range dels {
		if c.Action == ActionDelete {
			deleted[[2]string{c.Kind, c.Name}] = true
		}
	}
	exists := func(kind, name string) bool {
		if declared[[2]string{kind, name}] {
			return true
		}
		_, ok := state[kind][name]
		return ok && !deleted[[2]string{kind, name}]
	}
	ref := func(path, field, kind, name string) {
		if name != "" && !exists(kind, name) {
			fp := path + "." + field
			errs = append(errs, &FieldError{File: f.Path, Line: f.dec.line(fp), Field: fp,
				Msg: fmt.Sprintf("no %s %q in this file or the lake", kind, name)})
		}
	}
	for _, r := range f.resources {
		switch r.kind {
		case KindWorkflow:
			for i, s := range r.view.(Workflow).Steps {
				sp := fmt.Sprintf("%s.steps[%d]", r.path, i)
				ref(sp, "job", KindJob, s.Job)
				ref(sp, "crawler", KindCrawler, s.Crawler)
			}
		case KindTrigger:
			t := r.view.(Trigger)
			ref(r.path, "workflow", KindWorkflow, t.Workflow)
			ref(r.path, "job", KindJob, t.Job)
			ref(r.path, "crawler", KindCrawler, t.Crawler)
		case KindTable:
			if db := r.spec.(catalog.Table).Database; !exists(KindDatabase, db) {
				errs = append(errs, &FieldError{File: f.Path, Line: f.dec.line(r.path), Field: r.path, Msg: fmt.Sprintf("no database %q", db)})
			}
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidFile, errs)
	}
	sort.SliceStable(p.Changes, func(i, j int) bool { return kindIndex(p.Changes[i].Kind) < kindIndex(p.Changes[j].Kind) })
	p.Changes = append(p.Changes, dels...)
	return p, nil
}

func kindIndex(kind string) int {
	for i, k := range Kinds {
		if k == kind {
			return i
		}
	}
	return len(Kinds)
}
