package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
)

// openLineagePython is the virtualenv's python if it has openlineage-python
// (.ci/run installs it from .ci/requirements-lineage.txt).
func openLineagePython(t *testing.T) string {
	t.Helper()
	const python = "../../.venv/bin/python"
	if _, err := os.Stat(python); err == nil && exec.Command(python, "-c", "import openlineage.client").Run() == nil {
		return python
	}
	if os.Getenv("CI") != "" {
		t.Fatal("openlineage-python is not installed in .venv (.ci/run installs it)")
	}
	t.Skip("openlineage-python is not installed in .venv")
	return ""
}

// openlineage-python's HTTP transport, as dbt-ol and Airflow use it, posts
// a START with the inputs and a COMPLETE with the output; tarn pairs them
// into an edge of the graph.
func TestOpenLineagePythonClient(t *testing.T) {
	python := openLineagePython(t)
	l, url, admin := lineageLake(t)
	poster := lineageKey(t, l, "airflow", `{"Effect": "Allow", "Action": "tarn:PutLineage", "Resource": "arn:aws:glue:*:*:table/curated/*"},
		{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/curated/*"}`)
	cmd := exec.Command(python, "testdata/openlineage_emit.py", url, auth.Token(poster))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("openlineage_emit.py: %v\n%s", err, errb.String())
	}
	runID := strings.TrimSpace(out.String())
	c := &client{t: t, url: url, key: admin}
	var g apitypes.LineageGraph
	if code := c.do("GET", "/api/v1/lineage?table=curated.report&direction=upstream&depth=1", nil, &g); code != 200 {
		t.Fatalf("get: %d", code)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Dataset.Name != "curated.daily" {
		t.Fatalf("nodes: %+v", g.Nodes)
	}
	w := g.Nodes[1].Write
	if w == nil || w.RunID != runID || w.Rows != 42 || w.JobNamespace != "airflow" || w.JobName != "orders_dag.daily_report" || w.JobType != "TASK" {
		t.Fatalf("write: %+v (run %s)", w, runID)
	}
	// The same client with a key that may not write curated.report: refused.
	reader := lineageKey(t, l, "reader", `{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "*"}`)
	cmd = exec.Command(python, "testdata/openlineage_emit.py", url, auth.Token(reader))
	errb.Reset()
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil {
		t.Fatal("a key without tarn:PutLineage emitted lineage")
	}
}
