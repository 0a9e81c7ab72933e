package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// Result is what Apply did.
type Result struct {
	Created, Updated, Replaced, Deleted, Adopted, Kept int
	// Keys are the access keys created, with their secrets: shown once.
	Keys []NewKey
}

// Apply carries out a plan in order: creations and in-place updates kind by
// kind (buckets first, alarms last), then deletions in reverse order. It
// stops at the first error, which names the file, line and field when the
// service's message names a field; what was done before stays done and is
// recorded, so fixing the file and applying again continues. Progress is
// written to w, one line per change.
func (d *Deployer) Apply(ctx context.Context, p *Plan, w io.Writer) (Result, error) {
	var res Result
	f := p.file
	fail := func(c Change, err error) (Result, error) {
		fmt.Fprintf(w, "  ! %s %s: %v\n", c.Kind, c.Name, err)
		if c.res != nil {
			return res, f.applyErr(c, err)
		}
		return res, fmt.Errorf("cannot %s %s %q: %w", c.Action, c.Kind, c.Name, err)
	}
	for _, c := range p.Changes {
		if c.res == nil {
			continue // deletions come last
		}
		switch c.Action {
		case ActionCreate:
			if err := d.create(ctx, c.res, &res); err != nil {
				return fail(c, err)
			}
			res.Created++
		case ActionUpdate:
			if err := d.update(ctx, c); err != nil {
				return fail(c, err)
			}
			res.Updated++
		case ActionReplace:
			if err := d.remove(ctx, c, false); err != nil {
				return fail(c, err)
			}
			if err := d.create(ctx, c.res, &res); err != nil {
				return fail(c, err)
			}
			res.Replaced++
		case ActionKeep:
			res.Kept++
		case ActionAdopt:
			res.Adopted++
		case ActionNone:
			continue
		}
		if c.Kind != KindTable && (c.Action == ActionCreate || c.Adopt) {
			if err := d.record(ctx, f.Name, c.Kind, c.Name, c.Action != ActionCreate); err != nil {
				return res, err
			}
		}
		fmt.Fprintf(w, "  %s\n", c.summary())
	}
	for _, c := range p.Changes {
		if c.res != nil {
			continue
		}
		switch c.Action {
		case ActionDelete:
			if err := d.remove(ctx, c, p.opts.DeleteData); err != nil {
				return fail(c, err)
			}
			if err := d.forget(ctx, c.Kind, c.Name); err != nil {
				return res, err
			}
			res.Deleted++
		case ActionForget:
			if err := d.forget(ctx, c.Kind, c.Name); err != nil {
				return res, err
			}
			continue
		case ActionKeep:
			res.Kept++
		}
		fmt.Fprintf(w, "  %s\n", c.summary())
	}
	if err := d.recordStack(ctx, f); err != nil {
		return res, err
	}
	return res, nil
}

// applyErr points a service's error at the resource's field.
func (f *File) applyErr(c Change, err error) error {
	f.dec.errs = nil
	path := c.res.path
	if c.Kind == KindJob && errors.Is(err, jobs.ErrInvalidJobSQL) {
		field := path + ".sql"
		if _, ok := f.dec.lines[path+".sql_file"]; ok {
			field = path + ".sql_file"
		}
		f.errAt(field, "%v", err)
	} else {
		f.specErr(path, err)
	}
	e := f.dec.errs[0]
	e.Msg = fmt.Sprintf("cannot %s %s %q: %s", verb(c.Action), c.Kind, c.Name, e.Msg)
	return e
}

func verb(action string) string {
	if action == ActionReplace {
		return "re-create"
	}
	return action
}

// summary is one line: "+ job sales_etl", "~ job sales_etl (sql)".
func (c Change) summary() string {
	var b strings.Builder
	switch c.Action {
	case ActionCreate:
		b.WriteString("+ ")
	case ActionUpdate:
		b.WriteString("~ ")
	case ActionReplace:
		b.WriteString("-/+ ")
	case ActionDelete:
		b.WriteString("- ")
	case ActionAdopt:
		b.WriteString("= ")
	case ActionKeep:
		b.WriteString("! ")
	default:
		b.WriteString("  ")
	}
	fmt.Fprintf(&b, "%s %s", c.Kind, c.Name)
	var tags []string
	switch c.Action {
	case ActionCreate:
		tags = append(tags, "created")
	case ActionUpdate:
		tags = append(tags, "updated in place")
	case ActionReplace:
		tags = append(tags, "replaced")
	case ActionDelete:
		tags = append(tags, "deleted")
	case ActionAdopt:
		tags = append(tags, "exists as declared")
	case ActionKeep:
		tags = append(tags, "kept: "+c.Note)
	}
	if c.Adopt && c.Action != ActionKeep {
		tags = append(tags, "adopted into this stack")
	}
	if len(tags) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(tags, ", "))
	}
	return b.String()
}
