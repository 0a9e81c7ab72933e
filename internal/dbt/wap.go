package dbt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// stagingMark is in every staging schema's name, between the real
// schema's name and the run's id.
const stagingMark = "__tarn_wap_"

// StagingSchema is the schema a write-audit-publish run builds a target
// schema's models in: "<schema>__tarn_wap_<run>", where run is the last
// part of the workflow run's id (its random suffix), lower case.
func StagingSchema(schema, runID string) string {
	id := runID
	if i := strings.LastIndexAny(id, "-_"); i >= 0 {
		id = id[i+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	id = b.String()
	if id == "" {
		id = "run"
	}
	return strings.ToLower(schema) + stagingMark + id
}

// realSchema maps a schema dbt built in (the staging schema, or a custom
// schema dbt derived from it: "<staging>_<custom>") to the schema it is
// published to; ok is false for a schema outside the staging one.
func realSchema(schema, staging, target string) (string, bool) {
	s := strings.ToLower(schema)
	switch {
	case s == staging:
		return target, true
	case strings.HasPrefix(s, staging+"_"):
		return target + s[len(staging):], true
	}
	return "", false
}

// lsNode is a line of `dbt ls --output json`.
type lsNode struct {
	UniqueID     string `json:"unique_id"`
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	Schema       string `json:"schema"`
	Alias        string `json:"alias"`
	Config       struct {
		Materialized string `json:"materialized"`
	} `json:"config"`
}

// parseLs reads `dbt ls --output json` lines; other lines are skipped.
func parseLs(out []byte) ([]lsNode, error) {
	var nodes []lsNode
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var n lsNode
		if err := json.Unmarshal(line, &n); err != nil {
			return nil, fmt.Errorf("cannot parse dbt ls output: %w", err)
		}
		if n.UniqueID == "" {
			continue
		}
		if n.Alias == "" {
			n.Alias = n.Name
		}
		nodes = append(nodes, n)
	}
	return nodes, sc.Err()
}

// stagingPlan is what a write-audit-publish run builds where.
type stagingPlan struct {
	// schemas maps each staging schema dbt will build in to its real one.
	schemas map[string]string
	// incremental lists, by staging schema, the incremental models whose
	// published rows must be copied there first.
	incremental map[string][]string
}

// planStaging checks that every selected model, seed and snapshot builds
// under the staging schema and lists what to copy first.
func planStaging(nodes []lsNode, staging, target string) (stagingPlan, error) {
	p := stagingPlan{schemas: map[string]string{staging: target}, incremental: map[string][]string{}}
	for _, n := range nodes {
		switch n.ResourceType {
		case "model", "seed", "snapshot":
		default:
			continue
		}
		if n.Config.Materialized == "ephemeral" {
			continue
		}
		real, ok := realSchema(n.Schema, staging, target)
		if !ok {
			return p, fmt.Errorf("%w: write-audit-publish: %s %s writes to schema %q, not under the step's schema %q (a snapshot's target_schema, or a generate_schema_name macro that ignores the target), so readers would see it before its tests ran; exclude it from this step (exclude: %s) or run it in a step without publish",
				ErrInvalidStep, n.ResourceType, n.Name, n.Schema, target, n.Name)
		}
		st := strings.ToLower(n.Schema)
		p.schemas[st] = real
		if n.Config.Materialized == "incremental" || n.ResourceType == "snapshot" {
			p.incremental[st] = append(p.incremental[st], n.Alias)
		}
	}
	return p, nil
}
