package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
)

// dbtMigration keeps each dbt step's nodes (its last attempt's).
const dbtMigration = `
CREATE TABLE workflow_dbt_nodes (
	run_id TEXT NOT NULL,
	step TEXT NOT NULL,
	position INTEGER NOT NULL,
	attempt INTEGER NOT NULL,
	unique_id TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	name TEXT NOT NULL,
	status TEXT NOT NULL,
	rows_affected INTEGER NOT NULL,
	execution_time REAL NOT NULL,
	failures INTEGER NOT NULL,
	message TEXT NOT NULL,
	relation TEXT NOT NULL,
	failing_rows TEXT NOT NULL,
	PRIMARY KEY (run_id, step, position)
);
`

// dbtEndpoint is where dbt steps connect: the server's PostgreSQL
// endpoint, and the admin key that workflows of the lake's owner use.
type dbtEndpoint struct{ addr, adminKey string }

// SetPGEndpoint tells dbt steps the PostgreSQL endpoint's address
// (host:port, as it listens) and the admin access key that workflows
// running as the lake's owner log in with. Without it (the CLI running a
// workflow without a server) dbt steps fail, saying so.
func (s *Service) SetPGEndpoint(addr, adminKeyID string) {
	s.mu.Lock()
	s.endpoint = dbtEndpoint{addr: addr, adminKey: adminKeyID}
	s.mu.Unlock()
}

// DBT returns the runner of dbt steps (its OnModel hook records lineage).
func (s *Service) DBT() *dbt.Runner { return s.dbt }

// dbtKey returns the key a dbt step logs in as, with its secret: the
// workflow's identity, checked now (deleted or deactivated since?).
func (s *Service) dbtKey(ctx context.Context, w Workflow, ep dbtEndpoint) (auth.Key, error) {
	id := identityOf(w.RunAs)
	if id == jobs.RunAsAdmin {
		if ep.adminKey == "" {
			return auth.Key{}, fmt.Errorf("%w: workflow %q runs as the lake's owner, and this process has no admin key for dbt to log in with", ErrIdentity, w.Name)
		}
		id = ep.adminKey
	}
	if _, err := s.identityKey(ctx, w.Name, id); err != nil {
		return auth.Key{}, err
	}
	k, err := s.Keys.GetKey(ctx, id)
	if err != nil {
		return auth.Key{}, fmt.Errorf("cannot read the access key workflow %q runs as: %w", w.Name, err)
	}
	if k.Inactive {
		return auth.Key{}, fmt.Errorf("%w: workflow %q runs as access key %q, which is inactive", ErrIdentity, w.Name, id)
	}
	return k, nil
}

// execDBT runs one attempt of a dbt step and records its nodes, whatever
// the outcome. Its outputs: STEP.models, .tests, .failed (counts),
// .published (the relations write-audit-publish published).
func (s *Service) execDBT(ctx context.Context, run Run, sp Step, attempt int) (string, map[string]string, error) {
	s.mu.Lock()
	ep := s.endpoint
	s.mu.Unlock()
	st := *sp.DBT
	if err := st.Validate(); err != nil {
		return "", nil, err
	}
	vars := map[string]string{}
	for k, v := range st.Vars {
		x, err := expand(v, run.Properties)
		if err != nil {
			return "", nil, fmt.Errorf("dbt var %s: %w", k, err)
		}
		vars[k] = x
	}
	if ep.addr == "" {
		_, err := s.dbt.Run(ctx, dbt.Request{Step: st})
		return "", nil, err
	}
	key, err := s.dbtKey(ctx, run.spec, ep)
	if err != nil {
		return "", nil, err
	}
	req := dbt.Request{Step: st, Vars: vars, Workflow: run.Workflow, RunID: run.ID, StepName: sp.Name, Attempt: attempt, Endpoint: ep.addr,
		AccessKeyID: key.AccessKeyID, Secret: key.SecretAccessKey, Admin: key.Admin}
	key.SecretAccessKey = ""
	if !key.Admin {
		authz := query.Authorizer(&auth.Principal{Key: key, Service: "workflow"})
		req.QueryAuthorize = authz
		req.Authorize = func(action, schema, name, location string) error {
			return authz(action, query.Target{Database: schema, Table: name, Location: location})
		}
	}
	res, err := s.dbt.Run(ctx, req)
	if serr := s.saveDBTNodes(context.WithoutCancel(ctx), run.ID, sp.Name, attempt, res.Nodes); serr != nil && err == nil {
		err = fmt.Errorf("cannot record the dbt step's results: %w", serr)
	}
	out := map[string]string{}
	var models, tests, failed int
	for _, n := range res.Nodes {
		switch n.ResourceType {
		case "model", "seed", "snapshot":
			models++
		case "test", "unit_test":
			tests++
		}
		if n.Failed() {
			failed++
		}
	}
	out["models"], out["tests"], out["failed"] = strconv.Itoa(models), strconv.Itoa(tests), strconv.Itoa(failed)
	var pub []string
	for _, p := range res.Published {
		pub = append(pub, p.Schema+"."+p.Name)
	}
	out["published"] = strings.Join(pub, ",")
	child := ""
	if res.Staging != "" {
		child = "staging " + res.Staging
	}
	return child, out, err
}

// saveDBTNodes replaces a step's recorded nodes with an attempt's.
func (s *Service) saveDBTNodes(ctx context.Context, runID, step string, attempt int, nodes []dbt.Node) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM workflow_dbt_nodes WHERE run_id = ? AND step = ?`, runID, step); err != nil {
			return err
		}
		for i, n := range nodes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO workflow_dbt_nodes (run_id, step, position, attempt, unique_id, resource_type, name, status,
				rows_affected, execution_time, failures, message, relation, failing_rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				runID, step, i, attempt, n.UniqueID, n.ResourceType, n.Name, n.Status, n.RowsAffected, n.ExecutionTime, n.Failures,
				n.Message, n.Relation, n.FailingRows); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadDBTNodes fills the dbt nodes of a run's steps.
func (s *Service) loadDBTNodes(ctx context.Context, run *Run) error {
	hasDBT := false
	for _, sp := range run.spec.Steps {
		if sp.DBT != nil {
			hasDBT = true
		}
	}
	if !hasDBT {
		return nil
	}
	rows, err := s.DB.SQL().QueryContext(ctx, `SELECT step, unique_id, resource_type, name, status, rows_affected, execution_time, failures, message, relation, failing_rows
		FROM workflow_dbt_nodes WHERE run_id = ? ORDER BY step, position`, run.ID)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("cannot read the dbt results of run %s: %w", run.ID, err)
	}
	defer rows.Close()
	byStep := map[string][]dbt.Node{}
	for rows.Next() {
		var step string
		var n dbt.Node
		if err := rows.Scan(&step, &n.UniqueID, &n.ResourceType, &n.Name, &n.Status, &n.RowsAffected, &n.ExecutionTime, &n.Failures,
			&n.Message, &n.Relation, &n.FailingRows); err != nil {
			return err
		}
		byStep[step] = append(byStep[step], n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range run.Steps {
		run.Steps[i].DBT = byStep[run.Steps[i].Name]
	}
	return nil
}
