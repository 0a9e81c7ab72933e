package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/engine"
)

func TestCheckJSONDepth(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	for _, tc := range []struct {
		in   string
		max  int
		deep bool
	}{
		{`{"a": [1, 2, {"b": 3}]}`, 3, false},
		{`{"a": [1, 2, {"b": 3}]}`, 2, true},
		{"{\"a\": 1}\n{\"a\": [[1]]}\n", 3, false},
		{"{\"a\": 1}\n{\"a\": [[[1]]]}\n", 3, true},
		// Brackets inside strings, escaped quotes and backslashes do not nest.
		{`{"a": "[[[[{{{{", "b": "\"[[[[", "c": "\\", "d": [1]}`, 2, false},
		{`{"a": "\\\"[[[["}`, 1, false},
		{deep(30000), engine.MaxJSONDepth, true},
		{deep(engine.MaxJSONDepth), engine.MaxJSONDepth, false},
		// Malformed JSON is DuckDB's to report; closers never go negative.
		{`]]]]{"a": 1}`, 1, false},
	} {
		err := engine.CheckJSONDepth(strings.NewReader(tc.in), tc.max)
		if got := errors.Is(err, engine.ErrJSONTooDeep); got != tc.deep || (err != nil && !got) {
			t.Errorf("%.40q (max %d): %v, want too deep %t", tc.in, tc.max, err, tc.deep)
		}
	}
}

func FuzzCheckJSONDepth(f *testing.F) {
	f.Add([]byte(`{"a": [1, "]]", {"b": null}]}`), 2)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 64 {
			return
		}
		// Must never panic, and a stream of only closers is never too deep.
		_ = engine.CheckJSONDepth(strings.NewReader(string(data)), max)
	})
}
