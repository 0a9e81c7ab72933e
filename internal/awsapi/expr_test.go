package awsapi

import (
	"errors"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
)

var exprKeys = []catalog.Column{{Name: "year", Type: "int"}, {Name: "month", Type: "string"}, {Name: "Region", Type: "string"}}

func TestCompileExpression(t *testing.T) {
	vals := [][]string{{"2024", "01", "eu"}, {"2024", "10", "us"}, {"2023", "02", "it's"}, {"2025", catalog.DefaultPartitionValue, "eu"}, {"x", "01", "eu"}}
	for _, c := range []struct {
		expr string
		want string // which of vals match, as indexes
	}{
		{"year = 2024", "01"},
		{"year = '2024.0'", "01"}, // numeric key: compared as numbers
		{"month = '01'", "04"},
		{"month > '01'", "12"},                     // text compare; the default partition sorts after digits
		{"year >= 2024 AND NOT month = '10'", "0"}, // NOT of a comparison with NULL is unknown
		{"year < 2024 OR region = 'us'", "12"},
		{"REGION = 'it''s'", "2"},
		{"`region` LIKE 'e_'", "034"},
		{"month IS NULL", "3"},
		{"month IS NOT NULL AND year IN (2023, 2025)", "2"},
		{"year NOT BETWEEN 2024 AND 2024", "23"},
		{"month NOT IN ('01') and region not like '%s'", ""},
		{"((year = 2024))", "01"},
		{"NOT (year = 1999 AND month = '01')", "0123"}, // false AND unknown is false
		{"month = '01' OR year = 2025", "034"},         // unknown OR true is true
		{"year <> 2024", "23"},                         // "x" is not a number: it never matches a numeric comparison
	} {
		f, err := compileExpression(c.expr, exprKeys)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		got := ""
		for i, v := range vals {
			if f(v) {
				got += string(rune('0' + i))
			}
		}
		if got != c.want {
			t.Errorf("%q matches %q, want %q", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{"", "year", "year =", "= 1", "nokey = 1", "year = 1 AND", "year ~ 1", "year IN 1", "year IN (1", "year BETWEEN 1",
		"month LIKE 1", "month = 'open", "`open = 1", "year = 1 year = 2", "(year = 1", "NOT", "year IS 1"} {
		_, err := compileExpression(bad, exprKeys)
		var ae *awsError
		if !errors.As(err, &ae) || ae.code != "InvalidInputException" {
			t.Errorf("%q: %v, want InvalidInputException", bad, err)
		}
	}
}

// FuzzCompileExpression: any input is parsed or refused with
// InvalidInputException, never a panic; a compiled filter never panics on
// values of the right arity.
func FuzzCompileExpression(f *testing.F) {
	for _, s := range []string{"year = 2024", "month BETWEEN '01' AND '03' OR NOT (region IN ('a', 'b'))", "`region` LIKE '%x_'", "month IS NOT NULL", "((((", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fn, err := compileExpression(s, exprKeys)
		if err != nil {
			var ae *awsError
			if !errors.As(err, &ae) || ae.code != "InvalidInputException" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		fn([]string{"2024", "01", "eu"})
		fn([]string{"", "", ""})
	})
}
