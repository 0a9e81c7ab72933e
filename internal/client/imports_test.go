package client

import (
	"os/exec"
	"strings"
	"testing"
)

// The client links no service of the lake (nor DuckDB or SQLite through
// them): only the API's wire types and storage's plain types, so that a
// program that talks to a server stays small and cgo-free.
func TestImportsNoService(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the imports with")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/tarn-lake/tarn/"
	allowed := []string{mod + "internal/client", mod + "internal/api/apitypes", mod + "internal/storage"}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "duckdb") || strings.Contains(p, "sqlite") {
			t.Errorf("the client links %s", p)
		}
		if !strings.HasPrefix(p, mod) {
			continue
		}
		ok := false
		for _, a := range allowed {
			if p == a || strings.HasPrefix(p, a+"/internal/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("the client links %s: wire types belong in internal/api/apitypes", p)
		}
	}
}
