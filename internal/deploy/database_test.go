package deploy

import (
	"context"
	"strings"
	"testing"
)

// TestDatabaseChangedInPlace: a database's description, location and
// properties are changed where they are, also when it holds tables: no
// replace, nothing kept back, no drop suggested, and the tables stay.
func TestDatabaseChangedInPlace(t *testing.T) {
	ctx := context.Background()
	l, d := testLake(t)
	dir := t.TempDir()
	path := writeStack(t, dir, pipelineYAML, etlSQL)
	apply(t, d, plan(t, d, path, nil, Options{}))
	if tables, err := l.Catalog.ListTables(ctx, "raw"); err != nil || len(tables) != 1 {
		t.Fatalf("tables of raw: %d %v", len(tables), err)
	}
	before, err := l.Catalog.GetDatabase(ctx, "raw")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(pipelineYAML, "  - name: raw\n", "  - name: raw\n    description: the raw zone\n    location: s3://lake/raw/\n    properties: {owner: data-eng}\n", 1)
	path = writeStack(t, dir, y, etlSQL)
	p := plan(t, d, path, nil, Options{})
	text := render(p)
	for _, want := range []string{"~ database raw", `description: (none) -> "the raw zone"`, "Plan: 0 to create, 1 to change, 0 to delete."} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"-/+", "! database", "drop", "re-create"} {
		if strings.Contains(text, bad) {
			t.Errorf("plan for a changed description has %q:\n%s", bad, text)
		}
	}
	res, out := apply(t, d, p)
	if res.Updated != 1 || res.Replaced != 0 || !strings.Contains(out, "~ database raw (updated in place)") {
		t.Errorf("apply: %+v\n%s", res, out)
	}
	after, err := l.Catalog.GetDatabase(ctx, "raw")
	if err != nil || after.Description != "the raw zone" || after.Location != "s3://lake/raw/" || after.Properties["owner"] != "data-eng" || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("database after apply: %+v %v (before %+v)", after, err, before)
	}
	if tables, err := l.Catalog.ListTables(ctx, "raw"); err != nil || len(tables) != 1 {
		t.Errorf("tables of raw after apply: %d %v", len(tables), err)
	}
	if !plan(t, d, path, nil, Options{}).Empty() {
		t.Error("not converged after the update")
	}
}
