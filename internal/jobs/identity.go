package jobs

// A job runs with an identity, as a Glue job runs with its IAM role: the
// access key recorded when it was created (the creator's, or a role key the
// creator passed). Its policy is checked, through query.Authorizer (the one
// mapping from a key to Glue, S3 and warehouse resources), on every source
// table and on the target, when the job is created and again on every run,
// whoever starts the run (CLI, REST, a workflow step or a trigger).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// RunAsAdmin is the identity of jobs created without a server (the local
// CLI and tarn apply, which own the lake's files) and of jobs created before
// jobs had identities: the lake's admin. It is no access key id (those
// cannot hold parentheses).
const RunAsAdmin = "(admin)"

// ErrIdentity means a job's identity cannot be used: its key was deleted.
var ErrIdentity = errors.New("job identity unusable")

// KeyStore finds access keys (auth.Service is one). GetKey returns an error
// wrapping auth.ErrNoSuchKey for a key that does not exist.
type KeyStore interface {
	GetKey(ctx context.Context, id string) (auth.Key, error)
}

// Creator is who creates a job through a front end: its key decides which
// identity it may give the job. A nil Creator is the lake's owner.
type Creator = *auth.Key

// resolveIdentity fills spec.RunAs (the creator's key by default) and
// checks that the creator may pass it, as IAM's iam:PassRole: an admin may
// pass any key, another key itself or a key whose rights are within its
// own. verb ("create", "update") says what the caller does, for the errors.
func (s *Service) resolveIdentity(ctx context.Context, spec *Spec, creator Creator, verb string) error {
	if spec.RunAs == "" {
		spec.RunAs = RunAsAdmin
		if creator != nil {
			spec.RunAs = creator.AccessKeyID
		}
	}
	if spec.RunAs == RunAsAdmin {
		if creator != nil && !creator.Admin {
			return fmt.Errorf("cannot %s job %q: access key %q may not run it as the admin (only an admin key may): %w", verb, spec.Name, creator.AccessKeyID, auth.ErrAccessDenied)
		}
		return nil
	}
	if creator != nil && spec.RunAs == creator.AccessKeyID {
		return nil
	}
	role, err := s.roleKey(ctx, spec.Name, spec.RunAs)
	if err != nil {
		return err
	}
	if creator == nil || creator.Admin {
		return nil
	}
	if role.Admin {
		return fmt.Errorf("cannot %s job %q: access key %q may not pass the admin key %q as its role (only an admin key may): %w", verb, spec.Name, creator.AccessKeyID, role.AccessKeyID, auth.ErrAccessDenied)
	}
	if st, ok := coveredBy(role.Policy, creator.Policy); !ok {
		return fmt.Errorf("cannot %s job %q: access key %q may not pass key %q as its role: the role allows %s on %s, which %q may not do: %w",
			verb, spec.Name, creator.AccessKeyID, role.AccessKeyID, strings.Join(st.Actions, ","), strings.Join(st.Resources, ","), creator.AccessKeyID, auth.ErrAccessDenied)
	}
	return nil
}

// roleKey returns the key a job runs as.
func (s *Service) roleKey(ctx context.Context, job, id string) (auth.Key, error) {
	if s.Keys == nil {
		return auth.Key{}, fmt.Errorf("%w: job %q runs as access key %q, but this process has no key store", ErrIdentity, job, id)
	}
	k, err := s.Keys.GetKey(ctx, id)
	if errors.Is(err, auth.ErrNoSuchKey) {
		return auth.Key{}, fmt.Errorf("%w: job %q runs as access key %q, which does not exist (it was deleted?); recreate the job with --role naming an existing key", ErrIdentity, job, id)
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("cannot read the access key job %q runs as: %w", job, err)
	}
	k.SecretAccessKey = ""
	return k, nil
}

// authorizer returns the checks of a job's identity; nil for the admin.
func (s *Service) authorizer(ctx context.Context, spec Spec) (func(string, query.Target) error, error) {
	if spec.RunAs == "" || spec.RunAs == RunAsAdmin {
		return nil, nil
	}
	k, err := s.roleKey(ctx, spec.Name, spec.RunAs)
	if err != nil || k.Admin {
		return nil, err
	}
	return query.Authorizer(&auth.Principal{Key: k, Service: "job"}), nil
}

// authorizeSources asks the identity about every table the bound SQL reads:
// glue:GetTable and s3:GetObject on its location for a catalog table,
// redshift:ReadData for a warehouse relation.
func authorizeSources(authz func(string, query.Target) error, b *engine.Bound) error {
	if authz == nil {
		return nil
	}
	for _, rel := range b.Relations {
		schema, name, _ := strings.Cut(rel, ".")
		if err := authz(warehouse.ActionReadData, query.Target{Database: schema, Table: name}); err != nil {
			return err
		}
	}
	for _, sc := range b.Scans {
		t := query.Target{Database: sc.Table.Database, Table: sc.Table.Name}
		if err := authz("glue:GetTable", t); err != nil {
			return err
		}
		t.Location = sc.Table.Location
		if err := authz("s3:GetObject", t); err != nil {
			return err
		}
	}
	return nil
}

// authorizeTarget asks the identity about what a run writes: the files
// (s3:PutObject, and s3:DeleteObject when it replaces files) and the output
// table (glue:UpdateTable, or glue:CreateTable and glue:CreateDatabase when
// missing), or for a warehouse target redshift:WriteData on the table.
func (s *Service) authorizeTarget(ctx context.Context, authz func(string, query.Target) error, spec Spec) error {
	if authz == nil {
		return nil
	}
	if t, ok := spec.warehouseTarget(); ok {
		return authz(warehouse.ActionWriteData, query.Target{Database: t.Schema, Table: t.Name})
	}
	if _, _, ok := spec.icebergTarget(); ok {
		t, err := s.icebergTable(ctx, spec)
		if err != nil {
			return err
		}
		for _, a := range icebergActions(spec.Mode) {
			if err := authz(a, query.Target{Database: t.Database, Table: t.Name, Location: t.Location}); err != nil {
				return err
			}
		}
		return nil
	}
	loc := query.Target{Location: spec.Target}
	if err := authz("s3:PutObject", loc); err != nil {
		return err
	}
	if spec.Mode != ModeAppend {
		if err := authz("s3:DeleteObject", loc); err != nil {
			return err
		}
	}
	if spec.Table == "" {
		return nil
	}
	dbName, tblName, _ := strings.Cut(spec.Table, ".")
	t := query.Target{Database: dbName, Table: tblName}
	existing, err := s.cat.GetTable(ctx, dbName, tblName)
	switch {
	case err == nil:
		if err := authz("glue:UpdateTable", t); err != nil {
			return err
		}
		if existing.Location != "" && existing.Location != spec.Target {
			if err := authz("s3:PutObject", query.Target{Database: dbName, Table: tblName, Location: existing.Location}); err != nil {
				return err
			}
		}
		return nil
	case errors.Is(err, catalog.ErrNoSuchDatabase):
		if err := authz("glue:CreateDatabase", query.Target{Database: dbName}); err != nil {
			return err
		}
	case !errors.Is(err, catalog.ErrNoSuchTable):
		return err
	}
	return authz("glue:CreateTable", t)
}

// coveredBy reports whether every Allow statement of role is allowed by
// creator, and returns the first that is not. It is conservative: a role
// pattern counts as covered only if each creator Allow pattern that covers
// it matches every string the role's pattern matches, and no creator Deny
// pattern can match any of them. The role's own Deny statements only take
// rights away and are ignored.
func coveredBy(role, creator auth.Policy) (auth.Statement, bool) {
	for _, st := range role.Statements {
		if st.Effect != auth.Allow {
			continue
		}
		for _, a := range st.Actions {
			for _, r := range st.Resources {
				if !pairCovered(strings.ToLower(a), r, creator) {
					return auth.Statement{Effect: auth.Allow, Actions: []string{a}, Resources: []string{r}}, false
				}
			}
		}
	}
	return auth.Statement{}, true
}

func pairCovered(action, resource string, creator auth.Policy) bool {
	allowed := false
	for _, st := range creator.Statements {
		var actionHit, resourceHit bool
		for _, a := range st.Actions {
			a = strings.ToLower(a)
			if st.Effect == auth.Deny && patternsIntersect(a, action) || st.Effect == auth.Allow && patternCovers(a, action) {
				actionHit = true
			}
		}
		for _, r := range st.Resources {
			if st.Effect == auth.Deny && patternsIntersect(r, resource) || st.Effect == auth.Allow && patternCovers(r, resource) {
				resourceHit = true
			}
		}
		if actionHit && resourceHit {
			if st.Effect == auth.Deny {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

// patternCovers reports whether pattern p matches every string pattern q
// matches (* any run, ? one character): p's * may take any part of q, p's ?
// one character of q that is not *, and a literal only itself.
func patternCovers(p, q string) bool {
	memo := map[[2]int]bool{}
	var f func(i, j int) bool
	f = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(q)
		case p[i] == '*':
			r = f(i+1, j) || j < len(q) && f(i, j+1)
		case j == len(q):
			r = false
		case p[i] == '?':
			r = q[j] != '*' && f(i+1, j+1)
		default:
			r = q[j] == p[i] && f(i+1, j+1)
		}
		memo[key] = r
		return r
	}
	return f(0, 0)
}

// patternsIntersect reports whether some string matches both patterns.
func patternsIntersect(p, q string) bool {
	memo := map[[2]int]bool{}
	var f func(i, j int) bool
	f = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var r bool
		switch {
		case i < len(p) && p[i] == '*':
			r = f(i+1, j) || j < len(q) && f(i, j+1)
		case j < len(q) && q[j] == '*':
			r = f(i, j+1) || i < len(p) && f(i+1, j)
		case i == len(p) || j == len(q):
			r = i == len(p) && j == len(q)
		default:
			r = (p[i] == '?' || q[j] == '?' || p[i] == q[j]) && f(i+1, j+1)
		}
		memo[key] = r
		return r
	}
	return f(0, 0)
}
