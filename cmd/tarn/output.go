package main

import (
	"bufio"
	"encoding/csv"
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

// printer prints a result in the typed result encoding (query.EncodeValue),
// whether it came from the engine in this process or from a server's REST
// API: the same values print the same bytes either way.
type printer interface {
	Columns(cols []query.Column) error
	// Row receives encoded values; the slice is reused.
	Row(vals []any) error
	Flush() error
}

// newPrinter returns the printer of a --format.
func newPrinter(format string, w io.Writer) (printer, error) {
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

// encodingSink feeds a printer with the engine's values, encoded.
type encodingSink struct {
	p    printer
	cols []query.Column
	enc  []any
}

func (e *encodingSink) Columns(cols []query.Column) error {
	e.cols = append([]query.Column(nil), cols...)
	e.enc = make([]any, len(cols))
	return e.p.Columns(cols)
}

func (e *encodingSink) Row(vals []any) error {
	for i, v := range vals {
		e.enc[i] = query.EncodeValue(v, e.cols[i].Type)
	}
	return e.p.Row(e.enc)
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
		r[i] = query.TextTyped(v, t.cols[i].Type)
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

// Row writes NULL as an empty field, as Athena's CSV results do.
func (c *csvSink) Row(vals []any) error {
	for i, v := range vals {
		c.rec[i] = query.TextTyped(v, c.cols[i].Type)
	}
	return c.w.Write(c.rec)
}
func (c *csvSink) Flush() error { c.w.Flush(); return c.w.Error() }

type jsonSink struct {
	w    *bufio.Writer
	cols []query.Column
}

func (j *jsonSink) Columns(cols []query.Column) error { j.cols = cols; return nil }
func (j *jsonSink) Row(vals []any) error {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(query.MarshalValue(j.cols[i].Name))
		b.WriteByte(':')
		b.WriteString(query.MarshalTyped(v, j.cols[i].Type))
	}
	b.WriteString("}\n")
	_, err := j.w.WriteString(b.String())
	return err
}
func (j *jsonSink) Flush() error { return j.w.Flush() }

// printStats prints a statement's statistics line on stderr, the same with
// or without a server (via names it, else "").
func printStats(w io.Writer, ex query.Execution, via string) {
	st := ex.Stats
	fmt.Fprintf(w, "%s: %d rows in %s, data scanned %s (%d bytes)",
		ex.State, st.Rows, st.Elapsed.Round(time.Millisecond), humanBytes(st.BytesScanned), st.BytesScanned)
	if st.PartitionsTotal > 0 {
		fmt.Fprintf(w, ", partitions %d of %d", st.PartitionsScanned, st.PartitionsTotal)
	}
	if st.BytesScanned > 0 {
		fmt.Fprintf(w, ", $%.6f at Athena's price", st.CostUSD)
	}
	if via != "" {
		fmt.Fprintf(w, " via %s", via)
	}
	fmt.Fprintf(w, ", query id %s\n", ex.ID)
}

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
