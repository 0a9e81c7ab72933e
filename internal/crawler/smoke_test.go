package crawler

import "testing"

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	e.putTestdata("raw/messy/messy.csv", "messy.csv")
	e.putTestdata("raw/cities/cities.tsv", "cities.tsv")
	e.putTestdata("raw/fruits/fruits.psv", "fruits.psv")
	e.putTestdata("raw/noheader/noheader.csv", "noheader.csv")
	e.putTestdata("raw/nested/nested.json", "nested.json")
	e.putTestdata("raw/array/array.json", "array.json")
	e.putTestdata("raw/broken/broken.json", "broken.json")
	e.putTestdata("raw/typed/typed.parquet", "typed.parquet")
	e.crawler("c1", Spec{}, "raw/")
	r := e.start("c1", StartOptions{})
	for _, tr := range r.Tables {
		t.Logf("%s %s %s %v %s", tr.Table, tr.Action, tr.Format, cols(tr.Columns), tr.Location)
	}
	t.Logf("%+v", r.FileErrors)
	for _, n := range tableNames(r) {
		tb := e.table(n)
		t.Logf("%s %v", n, tb.FormatOptions)
	}
}
