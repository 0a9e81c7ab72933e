package crawler

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// A crawl records prefix → table for each table it created, each as its own
// child run, so one crawl's prefixes and tables are not paired across.
func TestCrawlRecordsLineage(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/orders/a.csv", "id,amount\n1,2\n")
	e.putString("raw/users/a.csv", "id,name\n1,ann\n")
	e.crawler("c", Spec{}, "raw/")
	e.start("c", StartOptions{DryRun: true})
	if evs, err := e.cat.LineageEvents(e.ctx, catalog.TableDataset("raw", "orders"), 5); err != nil || len(evs) != 0 {
		t.Fatalf("a dry run recorded %d events: %v", len(evs), err)
	}
	r := e.start("c", StartOptions{})
	g, err := e.cat.TableLineage(e.ctx, "raw", "orders", catalog.LineageQuery{Direction: catalog.Upstream})
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.ObjectDataset("s3://" + bucket + "/raw/orders/")
	if len(g.Nodes) != 2 || g.Nodes[0].Dataset != want {
		t.Fatalf("nodes = %+v, want %v upstream", g.Nodes, want)
	}
	w := g.Nodes[1].Write
	if w == nil || w.JobName != LineageJobName("c") || w.RunID != r.ID+"/orders" || w.JobType != catalog.LineageJobTypeCrawler {
		t.Fatalf("write = %+v", w)
	}
}
