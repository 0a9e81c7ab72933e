package dbt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Artifacts are what dbt wrote of a run: its results and the project's
// manifest.
type Artifacts struct {
	// Nodes in the order dbt ran them (dbt's DAG order).
	Nodes []Node
	// DBTVersion and InvocationID are from run_results.json.
	DBTVersion   string
	InvocationID string
	// Command is the dbt command (build, run, ...).
	Command  string
	compiled map[string]string // unique_id → compiled SQL
	manifest manifest
}

type runResults struct {
	Metadata struct {
		DBTVersion   string `json:"dbt_version"`
		InvocationID string `json:"invocation_id"`
	} `json:"metadata"`
	Args struct {
		Which string `json:"which"`
	} `json:"args"`
	Results []struct {
		UniqueID        string          `json:"unique_id"`
		Status          string          `json:"status"`
		ExecutionTime   float64         `json:"execution_time"`
		Message         *string         `json:"message"`
		Failures        *int64          `json:"failures"`
		AdapterResponse json.RawMessage `json:"adapter_response"`
		CompiledCode    *string         `json:"compiled_code"`
		RelationName    *string         `json:"relation_name"`
	} `json:"results"`
}

type manifest struct {
	Nodes   map[string]manifestNode `json:"nodes"`
	Sources map[string]manifestNode `json:"sources"`
}

type manifestNode struct {
	UniqueID     string `json:"unique_id"`
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	Database     string `json:"database"`
	Schema       string `json:"schema"`
	Alias        string `json:"alias"`
	Identifier   string `json:"identifier"` // sources
	SourceName   string `json:"source_name"`
	RelationName string `json:"relation_name"`
	AttachedNode string `json:"attached_node"`
	DependsOn    struct {
		Nodes []string `json:"nodes"`
	} `json:"depends_on"`
	Config struct {
		Materialized string `json:"materialized"`
	} `json:"config"`
}

// ReadArtifacts reads run_results.json and manifest.json from dbt's target
// folder. A missing manifest is not an error (dbt may fail before writing
// it); missing results are.
func ReadArtifacts(targetDir string) (Artifacts, error) {
	rr, err := os.ReadFile(filepath.Join(targetDir, "run_results.json"))
	if err != nil {
		return Artifacts{}, fmt.Errorf("cannot read dbt's run results: %w", err)
	}
	mf, err := os.ReadFile(filepath.Join(targetDir, "manifest.json"))
	if err != nil && !os.IsNotExist(err) {
		return Artifacts{}, fmt.Errorf("cannot read dbt's manifest: %w", err)
	}
	return ParseArtifacts(rr, mf)
}

// ParseArtifacts parses run_results.json and manifest.json (nil if
// absent).
func ParseArtifacts(runResultsJSON, manifestJSON []byte) (Artifacts, error) {
	var rr runResults
	if err := json.Unmarshal(runResultsJSON, &rr); err != nil {
		return Artifacts{}, fmt.Errorf("cannot parse dbt's run_results.json: %w", err)
	}
	a := Artifacts{DBTVersion: rr.Metadata.DBTVersion, InvocationID: rr.Metadata.InvocationID, Command: rr.Args.Which, compiled: map[string]string{}}
	if len(manifestJSON) > 0 {
		if err := json.Unmarshal(manifestJSON, &a.manifest); err != nil {
			return Artifacts{}, fmt.Errorf("cannot parse dbt's manifest.json: %w", err)
		}
	}
	for _, r := range rr.Results {
		if r.UniqueID == "" {
			return Artifacts{}, fmt.Errorf("cannot parse dbt's run_results.json: a result without unique_id")
		}
		n := Node{UniqueID: r.UniqueID, Status: r.Status, ExecutionTime: r.ExecutionTime, RowsAffected: -1}
		if r.Message != nil {
			n.Message = *r.Message
		}
		if r.Failures != nil {
			n.Failures = *r.Failures
		}
		if r.RelationName != nil {
			n.Relation = *r.RelationName
		}
		if r.CompiledCode != nil {
			a.compiled[r.UniqueID] = *r.CompiledCode
		}
		var resp struct {
			RowsAffected *int64 `json:"rows_affected"`
		}
		if len(r.AdapterResponse) > 0 && json.Unmarshal(r.AdapterResponse, &resp) == nil && resp.RowsAffected != nil {
			n.RowsAffected = *resp.RowsAffected
		}
		// The resource type and name: from the manifest, else from the id
		// (resource_type.package.name[.hash]).
		parts := strings.Split(r.UniqueID, ".")
		n.ResourceType = parts[0]
		if len(parts) >= 3 {
			n.Name = parts[2]
		}
		if m, ok := a.manifest.Nodes[r.UniqueID]; ok {
			n.ResourceType, n.Name = m.ResourceType, m.Name
			if n.Relation == "" && m.AttachedNode != "" {
				n.Relation = a.manifest.Nodes[m.AttachedNode].RelationName
			}
		}
		a.Nodes = append(a.Nodes, n)
	}
	return a, nil
}

// Compiled returns a node's compiled SQL ("" if dbt did not compile it).
func (a Artifacts) Compiled(uniqueID string) string { return a.compiled[uniqueID] }

// Inputs returns the relations a node read, from the manifest's
// depends_on: sources as "source:schema.identifier" and models, seeds
// and snapshots by their relation name.
func (a Artifacts) Inputs(uniqueID string) (sources, refs []string) {
	m, ok := a.manifest.Nodes[uniqueID]
	if !ok {
		return nil, nil
	}
	for _, d := range m.DependsOn.Nodes {
		if s, ok := a.manifest.Sources[d]; ok {
			id := s.Identifier
			if id == "" {
				id = s.Name
			}
			sources = append(sources, s.Schema+"."+id)
			continue
		}
		if n, ok := a.manifest.Nodes[d]; ok && n.RelationName != "" {
			refs = append(refs, n.Schema+"."+aliasOf(n))
		}
	}
	return sources, refs
}

// Relation returns schema and name of a model, seed or snapshot.
func (a Artifacts) Relation(uniqueID string) (schema, name string, ok bool) {
	m, ok := a.manifest.Nodes[uniqueID]
	if !ok || m.RelationName == "" {
		return "", "", false
	}
	return m.Schema, aliasOf(m), true
}

func aliasOf(n manifestNode) string {
	if n.Alias != "" {
		return n.Alias
	}
	return n.Name
}

// Failed returns the nodes that fail the step.
func (a Artifacts) Failed() []Node {
	var out []Node
	for _, n := range a.Nodes {
		if n.Failed() {
			out = append(out, n)
		}
	}
	return out
}
