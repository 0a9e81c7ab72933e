package crawler

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

func TestSpecValidate(t *testing.T) {
	good := func() Spec {
		return Spec{Name: "c1", Database: "Raw", Targets: []string{"s3://lake/raw"}}
	}
	s := good()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Database != "raw" || s.Targets[0] != "s3://lake/raw/" || s.SchemaChangePolicy != "update" ||
		s.DeleteBehavior != "log" || s.RecrawlPolicy != "all" {
		t.Fatalf("defaults not filled: %+v", s)
	}
	bad := []struct {
		field string
		edit  func(*Spec)
	}{
		{"name", func(s *Spec) { s.Name = "" }},
		{"name", func(s *Spec) { s.Name = "a b" }},
		{"database", func(s *Spec) { s.Database = " " }},
		{"targets", func(s *Spec) { s.Targets = nil }},
		{"targets[0]", func(s *Spec) { s.Targets = []string{"/tmp/x"} }},
		{"targets[1]", func(s *Spec) { s.Targets = []string{"s3://lake/raw/", "s3://lake/raw"} }},
		{"targets[1]", func(s *Spec) { s.Targets = []string{"s3://lake/raw/", "s3://lake/raw/sales/"} }},
		{"exclusions[0]", func(s *Spec) { s.Exclusions = []string{"[a"} }},
		{"schema_change_policy", func(s *Spec) { s.SchemaChangePolicy = "merge" }},
		{"delete_behavior", func(s *Spec) { s.DeleteBehavior = "purge" }},
		{"recrawl_policy", func(s *Spec) { s.RecrawlPolicy = "sometimes" }},
	}
	for _, tc := range bad {
		s := good()
		tc.edit(&s)
		err := s.Validate()
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{
		"sales": "sales", "Sales-Data 2025": "sales_data_2025", "é": "_", "": "table", "a.b": "a_b",
	} {
		if got := tableName(in); got != want {
			t.Errorf("tableName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInferPartitionType(t *testing.T) {
	f := func(want string, values ...string) {
		t.Helper()
		if got := inferPartitionType(values); got != want {
			t.Errorf("%v: got %s, want %s", values, got, want)
		}
	}
	f("int", "2025", "01", "7")
	f("int", "-3", "4", "__HIVE_DEFAULT_PARTITION__")
	f("bigint", "1", "9999999999")
	f("string", "1", "99999999999999999999")
	f("date", "2025-01-01", "2024-12-31")
	f("string", "2025-01-01", "2025-13-01")
	f("string", "2025-01-01", "7")
	f("string", "us", "eu")
	f("string")
}

func TestSkipAndExclusions(t *testing.T) {
	excl := []string{"**/_temporary/**", "*.tmp", "archive/**", "**/backup"}
	cases := map[string]string{
		"sales/a.csv":                   "",
		"sales/_SUCCESS":                "hidden file",
		"sales/.a.csv.crc":              "hidden file",
		"sales/":                        "folder marker",
		"sales/_temporary/0/part-1.csv": "hidden folder",
		"sales/x.tmp":                   "excluded",
		"x.tmp":                         "excluded",
		"archive/old/a.csv":             "excluded",
		"sales/backup/b.csv":            "excluded",
		"sales/backups/b.csv":           "",
		"sales/y=1/a.json":              "",
	}
	for rel, want := range cases {
		obj := storage.ObjectInfo{Bucket: "lake", Key: "raw/" + rel, Size: 10}
		if got := skipReason(obj, rel, excl); got != want {
			t.Errorf("%s: got %q, want %q", rel, got, want)
		}
	}
	if got := skipReason(storage.ObjectInfo{Key: "raw/a.csv"}, "a.csv", nil); got != "empty file" {
		t.Errorf("empty file: got %q", got)
	}
}

func objs(keys ...string) []storage.ObjectInfo {
	var out []storage.ObjectInfo
	for _, k := range keys {
		out = append(out, storage.ObjectInfo{Bucket: "lake", Key: k, Size: 100})
	}
	return out
}

func describeGroups(gs []*tableGroup) string {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "%s@%s keys=%v types=%v files=%d parts=%d;", g.name, g.root, g.keys, g.keyTypes, len(g.files), len(g.parts))
	}
	return b.String()
}

func TestGroupTarget(t *testing.T) {
	f := func(target string, keys []string, want string, wantErrs int) {
		t.Helper()
		u, err := storage.ParseURI(target)
		if err != nil {
			t.Fatal(err)
		}
		gs, errs := groupTarget(u.Dir(), objs(keys...))
		if got := describeGroups(gs); got != want || len(errs) != wantErrs {
			t.Errorf("%s %v:\n got %s (%d errors: %v)\nwant %s (%d errors)", target, keys, got, len(errs), errs, want, wantErrs)
		}
	}
	// One table per folder under the target.
	f("s3://lake/raw/", []string{"raw/sales/a.csv", "raw/sales/b.csv", "raw/Customer Data/c.csv"},
		"customer_data@s3://lake/raw/Customer Data/ keys=[] types=[] files=1 parts=0;sales@s3://lake/raw/sales/ keys=[] types=[] files=2 parts=0;", 0)
	// Files directly under the target: a table named after the target folder.
	f("s3://lake/raw/sales/", []string{"raw/sales/sales.csv"},
		"sales@s3://lake/raw/sales/ keys=[] types=[] files=1 parts=0;", 0)
	f("s3://lake/raw/", []string{"raw/x.csv", "raw/y.csv"},
		"raw@s3://lake/raw/ keys=[] types=[] files=2 parts=0;", 0)
	// ... but not next to table folders: that table would contain them.
	f("s3://lake/raw/", []string{"raw/x.csv", "raw/sales/a.csv"},
		"sales@s3://lake/raw/sales/ keys=[] types=[] files=1 parts=0;", 1)
	// Partition folders under the target: the target is the table.
	f("s3://lake/raw/events/", []string{"raw/events/year=2025/month=01/a.json", "raw/events/year=2025/month=02/a.json", "raw/events/year=2024/month=12/b.json"},
		"events@s3://lake/raw/events/ keys=[year month] types=[int int] files=3 parts=3;", 0)
	f("s3://lake/logs/", []string{"logs/2025/01/15/a.csv", "logs/2025/01/16/a.csv", "logs/2025/01/16/b.csv"},
		"logs@s3://lake/logs/ keys=[partition_0 partition_1 partition_2] types=[int int int] files=3 parts=2;", 0)
	// Mixed depth: the odd files are errors, not a new table.
	f("s3://lake/raw/", []string{"raw/t/dt=2025-01-01/a.csv", "raw/t/dt=2025-01-02/a.csv", "raw/t/stray.csv", "raw/t/dt=2025-01-03/x/deep.csv"},
		"t@s3://lake/raw/t/ keys=[dt] types=[date] files=2 parts=2;", 2)
	// A folder that does not match the level's key.
	f("s3://lake/raw/", []string{"raw/t/region=eu/a.csv", "raw/t/region=us/a.csv", "raw/t/zone=x/a.csv"},
		"t@s3://lake/raw/t/ keys=[region] types=[string] files=2 parts=2;", 1)
	// Bucket root target.
	f("s3://lake", []string{"a.csv"}, "lake@s3://lake/ keys=[] types=[] files=1 parts=0;", 0)
	// Escaped values.
	u, _ := storage.ParseURI("s3://lake/t/")
	gs, _ := groupTarget(u, objs("t/k=a%2Fb/x.csv", "t/k=/y.csv"))
	if len(gs) != 1 || gs[0].parts[0].values[0] != "a/b" || gs[0].parts[1].values[0] != "__HIVE_DEFAULT_PARTITION__" {
		t.Errorf("unescaping: %s %+v %+v", describeGroups(gs), gs[0].parts[0], gs[0].parts[1])
	}
}

func TestSniffContent(t *testing.T) {
	for in, want := range map[string]string{
		"  [{\"a\":1}]": "json/array", "\n{\"a\":1}": "json/newline_delimited", "PAR1xxxx": "parquet/",
		"a,b\n1,2": "csv/", "": "csv/", "\xef\xbb\xbf{\"a\":1}": "json/newline_delimited",
	} {
		f, j := sniffContent([]byte(in))
		if got := f + "/" + j; got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
	for key, want := range map[string]string{
		"a.csv": "csv/none", "a.CSV.GZ": "csv/gzip", "a.tsv.zst": "csv/zstd", "a.jsonl": "json/none",
		"a.parquet": "parquet/none", "a.txt": "/none", "a.gz": "/gzip", "part-0000": "/none",
	} {
		f, c := splitExt(key)
		if got := f + "/" + c; got != want {
			t.Errorf("%s: got %s, want %s", key, got, want)
		}
	}
}
