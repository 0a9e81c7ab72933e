package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
)

func TestCSVHeader(t *testing.T) {
	dir := t.TempDir()
	f := func(name string, body []byte, opts map[string]string, want string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := csvHeader(context.Background(), p, opts)
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.Join(got, "|"); g != want || (want == "" && got != nil) {
			t.Errorf("%s: %q, want %q", name, g, want)
		}
	}
	f("plain.csv", []byte("id, amount ,region\n1,2,3\n"), nil, "id|amount|region")
	f("bom.csv", []byte("\ufeffid,\"re,gion\",\"a \"\"b\"\"\"\r\n1,2,3\r\n"), nil, `id|re,gion|a "b"`)
	f("tab.tsv", []byte("id\tregion\n1\tx\n"), map[string]string{catalog.OptDelimiter: "\t"}, "id|region")
	f("quote.csv", []byte("id,'re,gion'\n"), map[string]string{catalog.OptQuote: "'"}, "")
	f("empty.csv", nil, nil, "")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("order_id,campaign\n1,x\n"))
	zw.Close()
	f("z.csv.gz", gz.Bytes(), nil, "order_id|campaign")
}

func TestCSVLayout(t *testing.T) {
	data := []col{{"id", "BIGINT"}, {"amount", "DOUBLE"}, {"Campaign", "VARCHAR"}}
	parts := []col{{"year", "BIGINT"}}
	f := func(header, want string) {
		t.Helper()
		var h []string
		if header != "" {
			h = strings.Split(header, ",")
		}
		var got []string
		for _, c := range csvLayout(data, parts, h) {
			got = append(got, c.name+" "+c.duck)
		}
		if g := strings.Join(got, ","); g != want {
			t.Errorf("%q: %q, want %q", header, g, want)
		}
	}
	f("", "")                                 // headerless: by position
	f("id,amount,campaign", "")               // the table's columns in order: by position
	f("id,amount", "id BIGINT,amount DOUBLE") // older file: by name, Campaign NULL
	f("campaign,ID,amount", "Campaign VARCHAR,id BIGINT,amount DOUBLE")
	f("id,year,amount", "id BIGINT,__tarn_partition_1 VARCHAR,amount DOUBLE")
	f("id,amount,other", "") // a column the table lacks: by position
	f("id,id", "")           // duplicate names: by position
	f("id,,amount", "")
}
