package jobs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// A run that fails after writing reports nothing written: its rows are
// counted as discarded and its log says nothing was published. Its dead
// letters hold each rejected line as written (a CRLF file, a blank line)
// and one message for a short row.
func TestFailedRunFigures(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\r\n1,10,North,2025-01-01\r\n2,abc,South,2025-01-02\r\n\r\n4,40\r\n5,50,West,2025-01-05\r\n")
	e.create(jobs.Spec{Name: "strict", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "s3://lake/curated/strict/", PartitionBy: []string{"region"},
		Table: "curated.strict", MaxRejected: "1"})
	run, err := e.l.Jobs.Start(e.ctx, "strict", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrTooManyRejected) || run.State != jobs.StateFailed {
		t.Fatalf("run: %v %+v", err, run)
	}
	st := run.Stats
	if st.RowsRead != 4 || st.RowsWritten != 0 || st.FilesWritten != 0 || st.BytesWritten != 0 || st.Partitions != nil ||
		st.RowsRejected != 2 || st.RowsDiscarded != 2 || st.RowsFiltered != 0 {
		t.Errorf("failed run's figures: %+v", st)
	}
	if log := strings.Join(run.Log, "\n"); !strings.Contains(log, "discarded 2 rows in 2 files") || !strings.Contains(log, "nothing was published") ||
		!strings.Contains(log, "wrote 2 rows in 2 files") || !strings.Contains(log, "not published yet") {
		t.Errorf("log:\n%s", log)
	}
	if saved, err := e.l.Jobs.GetRun(e.ctx, run.ID); err != nil || saved.Stats.RowsWritten != 0 || saved.Stats.RowsDiscarded != 2 {
		t.Errorf("stored run: %+v, %v", saved.Stats, err)
	}

	u, _ := storage.ParseURI(st.RejectedURI)
	rc, _, err := e.l.Store.Get(e.ctx, u.Bucket, u.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	var got []string
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for dec.More() {
		var r struct {
			Line     int    `json:"line"`
			Column   string `json:"column"`
			Error    string `json:"error"`
			Original string `json:"original"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %q %s", r.Line, r.Column, r.Original, r.Error))
	}
	want := []string{
		`3 amount "2,abc,South,2025-01-02" Error when converting column "amount". Could not convert string "abc" to 'DOUBLE'`,
		`5 region,day "4,40" Expected Number of Columns: 4 Found: 2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dead letters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
