package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
)

// ErrIdentity means a workflow's identity cannot be used: its key was
// deleted.
var ErrIdentity = errors.New("workflow identity unusable")

// identityOf reads the run_as column: workflows created before identities
// were created by the lake's owner.
func identityOf(runAs string) string {
	if runAs == "" {
		return jobs.RunAsAdmin
	}
	return runAs
}

// resolveIdentity sets who w runs as: its creator's key by default. A key
// may not name another identity (a workflow's sql steps are written by its
// creator, so they run with its rights); the lake's owner and admin keys
// may name any existing key.
func (s *Service) resolveIdentity(ctx context.Context, w *Workflow, creator jobs.Creator) error {
	if w.RunAs == "" {
		w.RunAs = jobs.RunAsAdmin
		if creator != nil {
			w.RunAs = creator.AccessKeyID
		}
	}
	if creator != nil && !creator.Admin && w.RunAs != creator.AccessKeyID {
		return fmt.Errorf("cannot define workflow %q: access key %q may not run it as %q (a workflow runs as the key that defines it; only an admin may name another): %w",
			w.Name, creator.AccessKeyID, w.RunAs, auth.ErrAccessDenied)
	}
	if w.RunAs == jobs.RunAsAdmin || creator != nil && w.RunAs == creator.AccessKeyID {
		return nil
	}
	_, err := s.identityKey(ctx, w.Name, w.RunAs)
	return err
}

func (s *Service) identityKey(ctx context.Context, workflow, id string) (auth.Key, error) {
	if s.Keys == nil {
		return auth.Key{}, fmt.Errorf("%w: workflow %q runs as access key %q, but this process has no key store", ErrIdentity, workflow, id)
	}
	k, err := s.Keys.GetKey(ctx, id)
	if errors.Is(err, auth.ErrNoSuchKey) {
		return auth.Key{}, fmt.Errorf("%w: workflow %q runs as access key %q, which does not exist (it was deleted?); update the workflow with a key that exists",
			ErrIdentity, workflow, id)
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("cannot read the access key workflow %q runs as: %w", workflow, err)
	}
	k.SecretAccessKey = ""
	return k, nil
}

// authorizer returns the checks a run's sql steps are subject to; nil for
// the admin.
func (s *Service) authorizer(ctx context.Context, w Workflow) (func(string, query.Target) error, error) {
	if w.RunAs == "" || w.RunAs == jobs.RunAsAdmin {
		return nil, nil
	}
	k, err := s.identityKey(ctx, w.Name, w.RunAs)
	if err != nil || k.Admin {
		return nil, err
	}
	return query.Authorizer(&auth.Principal{Key: k, Service: "workflow"}), nil
}
