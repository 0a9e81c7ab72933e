package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/tarn-lake/tarn/internal/query"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// newSink returns a result writer for a --format.
func newSink(format string, w io.Writer) (interface {
	query.Sink
	Flush() error
}, error) {
	switch format {
	case "table", "":
		return &tableSink{w: w}, nil
	case "csv":
		return &csvSink{w: csv.NewWriter(w)}, nil
	case "json":
		return &jsonSink{w: bufio.NewWriter(w)}, nil
	}
	return nil, fmt.Errorf("unknown --format %q: use table, csv or json", format)
}

type tableSink struct {
	w    io.Writer
	cols []query.Column
	rows [][]string
}

func (t *tableSink) Columns(cols []query.Column) error { t.cols = cols; return nil }
func (t *tableSink) Row(vals []any) error {
	r := make([]string, len(vals))
	for i, v := range vals {
		r[i] = query.FormatValue(v, t.cols[i].Type)
		if v == nil {
			r[i] = "NULL"
		}
	}
	t.rows = append(t.rows, r)
	return nil
}

func (t *tableSink) Flush() error {
	if len(t.cols) == 0 {
		return nil
	}
	header := make([]string, len(t.cols))
	for i, c := range t.cols {
		header[i] = c.Name
	}
	printTable(t.w, header, t.rows)
	return nil
}

// printTable prints rows aligned under a header.
func printTable(w io.Writer, header []string, rows [][]string) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			if i < len(width) {
				for _, ln := range strings.Split(c, "\n") {
					width[i] = max(width[i], utf8.RuneCountInString(ln))
				}
			}
		}
	}
	bw := bufio.NewWriter(w)
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				bw.WriteString(" | ")
			}
			bw.WriteString(c)
			last := c[strings.LastIndex(c, "\n")+1:]
			if i < len(cells)-1 {
				bw.WriteString(strings.Repeat(" ", max(0, width[i]-utf8.RuneCountInString(last))))
			}
		}
		bw.WriteString("\n")
	}
	line(header)
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = strings.Repeat("-", width[i])
	}
	bw.WriteString(strings.Join(seps, "-+-") + "\n")
	for _, r := range rows {
		line(r)
	}
	bw.Flush()
}

type csvSink struct {
	w    *csv.Writer
	cols []query.Column
	rec  []string
}

func (c *csvSink) Columns(cols []query.Column) error {
	c.cols = cols
	if len(cols) == 0 {
		return nil
	}
	h := make([]string, len(cols))
	for i, col := range cols {
		h[i] = col.Name
	}
	c.rec = make([]string, len(cols))
	return c.w.Write(h)
}
func (c *csvSink) Row(vals []any) error {
	for i, v := range vals {
		c.rec[i] = query.FormatValue(v, c.cols[i].Type)
	}
	return c.w.Write(c.rec)
}
func (c *csvSink) Flush() error { c.w.Flush(); return c.w.Error() }

type jsonSink struct {
	w    *bufio.Writer
	cols []query.Column
	n    int
}

func (j *jsonSink) Columns(cols []query.Column) error { j.cols = cols; return nil }
func (j *jsonSink) Row(vals []any) error {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(j.cols[i].Name)
		b.Write(k)
		b.WriteByte(':')
		e, err := json.Marshal(query.JSONValue(v))
		if err != nil {
			return err
		}
		b.Write(e)
	}
	b.WriteString("}\n")
	j.n++
	_, err := j.w.WriteString(b.String())
	return err
}
func (j *jsonSink) Flush() error { return j.w.Flush() }

// humanBytes renders a byte count as Athena's console does.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progress prints a one-line, self-overwriting status on a terminal and
// nothing otherwise.
type progress struct {
	mu   sync.Mutex
	on   bool
	last time.Time
}

func newProgress() *progress { return &progress{on: isTerminal(os.Stderr)} }

func (p *progress) update(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(os.Stderr, "\r\033[K"+format, args...)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}
