package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// current is a resource as the lake has it.
type current struct {
	view any
	spec any
}

// state reads every resource of the lake, by kind and name. Tables are
// read only for the tables the file declares (f may be nil).
func (d *Deployer) state(ctx context.Context, f *File) (map[string]map[string]current, error) {
	l := d.l
	st := map[string]map[string]current{}
	for _, k := range Kinds {
		st[k] = map[string]current{}
	}
	buckets, err := l.Store.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		v := Bucket{Name: b.Name}
		if vs, ok := l.Store.(storage.Versioned); ok {
			if v.Versioning, err = vs.Versioning(ctx, b.Name); err != nil {
				return nil, err
			}
		}
		st[KindBucket][b.Name] = current{view: v, spec: v}
	}
	dbs, err := l.Catalog.ListDatabases(ctx)
	if err != nil {
		return nil, err
	}
	for _, db := range dbs {
		st[KindDatabase][db.Name] = current{view: databaseView(db), spec: db}
	}
	if f != nil {
		for _, r := range f.resources {
			if r.kind != KindTable {
				continue
			}
			t := r.spec.(catalog.Table)
			cur, err := l.Catalog.GetTable(ctx, t.Database, t.Name)
			if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase) {
				continue
			}
			if err != nil {
				return nil, err
			}
			st[KindTable][r.name] = current{spec: cur}
		}
	}
	wgs, err := l.Query.Workgroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range wgs {
		if w.CreatedAt.IsZero() {
			continue // the built-in primary workgroup, never stored
		}
		st[KindWorkgroup][w.Name] = current{view: workgroupView(w), spec: w}
	}
	keys, err := l.Auth.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Admin {
			continue // admin keys are not declared in tarn.yaml
		}
		st[KindAccessKey][k.Name] = current{view: AccessKey{Name: k.Name, Policy: policyView(k.Policy)}, spec: k}
	}
	crs, err := l.Crawlers.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range crs {
		st[KindCrawler][c.Name] = current{view: crawlerView(c), spec: c}
	}
	js, err := l.Jobs.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		st[KindJob][j.Name] = current{view: jobView(j), spec: j}
	}
	wfs, err := l.Workflows.ListWorkflows(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range wfs {
		st[KindWorkflow][w.Name] = current{view: workflowView(w), spec: w}
	}
	trs, err := l.Workflows.ListTriggers(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range trs {
		st[KindTrigger][t.Name] = current{view: triggerView(t), spec: t}
	}
	als, err := l.Alarms.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range als {
		st[KindAlarm][a.Name] = current{view: alarmView(a.Alarm), spec: a.Alarm}
	}
	return st, nil
}

// updateAction decides how a changed resource is changed: in place, by
// replacing it, or not at all (with the reason).
func (d *Deployer) updateAction(ctx context.Context, r *resource, cur current) (action, note string) {
	switch r.kind {
	case KindBucket:
		if r.view.(Bucket).Versioning == storage.VersioningUnversioned {
			return ActionKeep, "not changed: a bucket whose versioning was enabled cannot become unversioned again (use versioning: Suspended)"
		}
	}
	return ActionUpdate, ""
}

// blocksDelete says why deleting a resource would lose data ("" if it
// would not).
func (d *Deployer) blocksDelete(ctx context.Context, kind, name string, cur current) (string, error) {
	switch kind {
	case KindBucket:
		res, err := d.l.Store.List(ctx, name, storage.ListOptions{MaxKeys: 1})
		if err != nil {
			return "", err
		}
		n := len(res.Objects)
		if n == 0 {
			if vs, ok := d.l.Store.(storage.Versioned); ok {
				vr, err := vs.ListVersions(ctx, name, storage.VersionListOptions{MaxKeys: 1})
				if err != nil {
					return "", err
				}
				n = len(vr.Versions)
			}
		}
		if n > 0 {
			return fmt.Sprintf("bucket %q holds objects (apply --delete-data deletes them with the bucket)", name), nil
		}
	case KindDatabase:
		tables, err := d.l.Catalog.ListTables(ctx, name)
		if err != nil {
			return "", err
		}
		if len(tables) > 0 {
			return fmt.Sprintf("database %q holds %d table(s) (apply --delete-data drops them with the database; their files stay)", name, len(tables)), nil
		}
	}
	return "", nil
}

// NewKey is an access key apply created, with its secret (shown once).
type NewKey struct {
	Name, AccessKeyID, SecretAccessKey string
}

// create creates a declared resource.
func (d *Deployer) create(ctx context.Context, r *resource, res *Result) error {
	l := d.l
	switch s := r.spec.(type) {
	case Bucket:
		if err := l.Store.CreateBucket(ctx, s.Name); err != nil {
			return err
		}
		if s.Versioning != "" {
			return d.setVersioning(ctx, s)
		}
		return nil
	case catalog.Database:
		return l.Catalog.CreateDatabase(ctx, s, false)
	case catalog.Table:
		return l.Catalog.CreateTable(ctx, s)
	case query.Workgroup:
		return l.Query.CreateWorkgroup(ctx, s)
	case auth.Policy:
		k, err := l.Auth.CreateKey(ctx, r.name, s)
		if err != nil {
			return err
		}
		res.Keys = append(res.Keys, NewKey{Name: k.Name, AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey})
		return nil
	case crawler.Spec:
		return l.Crawlers.Create(ctx, s)
	case jobs.Spec:
		return l.Jobs.Create(ctx, s)
	case workflow.Workflow:
		return l.Workflows.CreateWorkflow(ctx, s)
	case workflow.Trigger:
		return l.Workflows.CreateTrigger(ctx, s)
	case alarms.Alarm:
		return l.Alarms.Create(ctx, s)
	}
	return fmt.Errorf("cannot create %s %q: unknown kind", r.kind, r.name)
}

func (d *Deployer) setVersioning(ctx context.Context, b Bucket) error {
	vs, ok := d.l.Store.(storage.Versioned)
	if !ok {
		return fmt.Errorf("cannot set versioning of bucket %q: the object store has no versioning", b.Name)
	}
	return vs.SetVersioning(ctx, b.Name, b.Versioning)
}

// update changes a resource in place (keeping its runs, bookmarks,
// history and secrets).
func (d *Deployer) update(ctx context.Context, c Change) error {
	l := d.l
	switch s := c.res.spec.(type) {
	case Bucket:
		return d.setVersioning(ctx, s)
	case auth.Policy:
		return l.Auth.SetPolicy(ctx, c.cur.spec.(auth.Key).AccessKeyID, s)
	case catalog.Database:
		// Its tables stay: a description, location or property is changed
		// where it is.
		return l.Catalog.UpdateDatabase(ctx, s)
	case query.Workgroup:
		return l.Query.UpdateWorkgroup(ctx, s)
	case crawler.Spec:
		return l.Crawlers.Update(ctx, s)
	case jobs.Spec:
		return l.Jobs.Update(ctx, s)
	case workflow.Workflow:
		return l.Workflows.UpdateWorkflow(ctx, s)
	case workflow.Trigger:
		// Enabling goes through SetTriggerEnabled, which also skips what
		// happened while the trigger was off.
		old := c.cur.spec.(workflow.Trigger)
		want := s.Enabled
		s.Enabled = old.Enabled
		if err := l.Workflows.UpdateTrigger(ctx, s); err != nil {
			return err
		}
		if want != old.Enabled {
			return l.Workflows.SetTriggerEnabled(ctx, s.Name, want)
		}
		return nil
	case alarms.Alarm:
		return l.Alarms.Update(ctx, s)
	}
	return fmt.Errorf("cannot update %s %q in place", c.Kind, c.Name)
}

// remove deletes a resource; with data, a bucket is emptied first and a
// database is dropped with its tables.
func (d *Deployer) remove(ctx context.Context, c Change, data bool) error {
	l := d.l
	switch c.Kind {
	case KindBucket:
		if data {
			if err := d.emptyBucket(ctx, c.Name); err != nil {
				return err
			}
		}
		return l.Store.DeleteBucket(ctx, c.Name)
	case KindDatabase:
		return l.Catalog.DropDatabase(ctx, c.Name, data)
	case KindWorkgroup:
		return l.Query.DeleteWorkgroup(ctx, c.Name)
	case KindAccessKey:
		return l.Auth.DeleteKey(ctx, c.cur.spec.(auth.Key).AccessKeyID)
	case KindCrawler:
		return l.Crawlers.Delete(ctx, c.Name)
	case KindJob:
		return l.Jobs.Delete(ctx, c.Name)
	case KindWorkflow:
		return l.Workflows.DeleteWorkflow(ctx, c.Name)
	case KindTrigger:
		return l.Workflows.DeleteTrigger(ctx, c.Name)
	case KindAlarm:
		return l.Alarms.Delete(ctx, c.Name)
	}
	return fmt.Errorf("cannot delete %s %q: unknown kind", c.Kind, c.Name)
}

// emptyBucket deletes every object of a bucket, and every version if the
// store keeps versions.
func (d *Deployer) emptyBucket(ctx context.Context, bucket string) error {
	store := d.l.Store
	for {
		res, err := store.List(ctx, bucket, storage.ListOptions{})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			if err := store.Delete(ctx, bucket, o.Key); err != nil {
				return err
			}
		}
		if !res.IsTruncated {
			break
		}
	}
	vs, ok := store.(storage.Versioned)
	if !ok {
		return nil
	}
	for round := 0; ; round++ {
		res, err := vs.ListVersions(ctx, bucket, storage.VersionListOptions{})
		if err != nil {
			return err
		}
		if len(res.Versions) == 0 {
			return nil
		}
		if round > 1_000_000 {
			return fmt.Errorf("cannot empty bucket %q: versions keep appearing", bucket)
		}
		for _, v := range res.Versions {
			if _, err := vs.DeleteVersion(ctx, bucket, v.Key, v.VersionID); err != nil {
				return err
			}
		}
	}
}
