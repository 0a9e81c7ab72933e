package engine_test

import (
	"context"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/storage"
)

// The Iceberg spec's bucket test vectors (Appendix B): the 32-bit hash of
// each value; the bucket is (hash & MaxInt32) % N.
func TestIcebergBucketSpecVectors(t *testing.T) {
	bucket := func(hash int32, n int32) int32 { return int32((uint32(hash) & 0x7fffffff) % uint32(n)) }
	ts := time.Date(2017, 11, 16, 22, 31, 8, 0, time.UTC)
	days := ts.Unix() / 86400
	timeMicros := int64((22*3600 + 31*60 + 8) * 1e6)
	u := uuid.MustParse("f79c3e09-677c-4bbd-a479-3f349cb785e7")
	for _, n := range []int32{1, 7, 16, 1000, 1 << 30} {
		cases := []struct {
			name string
			got  int32
			hash int32
			lit  iceberggo.Literal
		}{
			{"int 34", engine.IcebergBucketLong(34, n), 2017239379, iceberggo.NewLiteral(int32(34))},
			{"long 34", engine.IcebergBucketLong(34, n), 2017239379, iceberggo.NewLiteral(int64(34))},
			{"decimal 14.20", engine.IcebergBucketDecimal(big.NewInt(1420), n), -500754589, nil},
			{"date 2017-11-16", engine.IcebergBucketLong(days, n), -653330422, iceberggo.NewLiteral(iceberggo.Date(days))},
			{"time 22:31:08", engine.IcebergBucketLong(timeMicros, n), -662762989, iceberggo.NewLiteral(iceberggo.Time(timeMicros))},
			{"timestamp", engine.IcebergBucketLong(ts.UnixMicro(), n), -2047944441, iceberggo.NewLiteral(iceberggo.Timestamp(ts.UnixMicro()))},
			{"string iceberg", engine.IcebergBucket([]byte("iceberg"), n), 1210000089, iceberggo.NewLiteral("iceberg")},
			{"uuid", engine.IcebergBucket(u[:], n), 1488055340, iceberggo.NewLiteral(u)},
			{"binary 00010203", engine.IcebergBucket([]byte{0, 1, 2, 3}, n), -188683207, iceberggo.NewLiteral([]byte{0, 1, 2, 3})},
		}
		for _, c := range cases {
			if want := bucket(c.hash, n); c.got != want {
				t.Errorf("bucket[%d](%s) = %d, want %d", n, c.name, c.got, want)
			}
			if c.lit != nil {
				out := iceberggo.BucketTransform{NumBuckets: int(n)}.Apply(iceberggo.Optional[iceberggo.Literal]{Val: c.lit, Valid: true})
				if !out.Valid || out.Val.Any() != any(c.got) {
					t.Errorf("bucket[%d](%s) = %d, iceberg-go says %v", n, c.name, c.got, out.Val)
				}
			}
		}
	}
	// Negative decimals hash their two's-complement bytes.
	for _, v := range []int64{-1, -128, -129, -32768, 255, 256, -1420} {
		lit := iceberggo.DecimalLiteral(iceberggo.Decimal{Val: decimalNum(v), Scale: 2})
		out := iceberggo.BucketTransform{NumBuckets: 1000}.Apply(iceberggo.Optional[iceberggo.Literal]{Val: lit, Valid: true})
		if got := engine.IcebergBucketDecimal(big.NewInt(v), 1000); !out.Valid || out.Val.Any() != any(got) {
			t.Errorf("bucket(decimal unscaled %d) = %d, iceberg-go says %v", v, got, out.Val)
		}
	}
}

func iceSchema() *iceberggo.Schema {
	return iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "id", Type: iceberggo.PrimitiveTypes.Int64},
		iceberggo.NestedField{ID: 2, Name: "ts", Type: iceberggo.PrimitiveTypes.Timestamp},
		iceberggo.NestedField{ID: 3, Name: "s", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 4, Name: "d", Type: iceberggo.PrimitiveTypes.Date},
		iceberggo.NestedField{ID: 5, Name: "n", Type: iceberggo.PrimitiveTypes.Int32},
		iceberggo.NestedField{ID: 6, Name: "dec", Type: iceberggo.DecimalTypeOf(9, 2)},
		iceberggo.NestedField{ID: 7, Name: "tz", Type: iceberggo.PrimitiveTypes.TimestampTz},
		iceberggo.NestedField{ID: 8, Name: "st", Type: &iceberggo.StructType{FieldList: []iceberggo.NestedField{
			{ID: 9, Name: "x", Type: iceberggo.PrimitiveTypes.Int32},
			{ID: 10, Name: "y", Type: iceberggo.PrimitiveTypes.String},
		}}},
		iceberggo.NestedField{ID: 11, Name: "l", Type: &iceberggo.ListType{ElementID: 12, Element: iceberggo.PrimitiveTypes.Int64, ElementRequired: false}},
		iceberggo.NestedField{ID: 13, Name: "m", Type: &iceberggo.MapType{KeyID: 14, KeyType: iceberggo.PrimitiveTypes.String, ValueID: 15, ValueType: iceberggo.PrimitiveTypes.Int32}},
	)
}

// TestWriteIcebergPartitions writes rows with every transform and checks
// each file's partition tuple against iceberg-go's own transforms of the
// rows in it, and the columns' field ids.
func TestWriteIcebergPartitions(t *testing.T) {
	e, _, store, _ := testEngine(t)
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	sch := iceSchema()
	fid := 1000
	next := func() *int { fid++; return &fid }
	specA, err := iceberggo.NewPartitionSpecOpts(
		iceberggo.AddPartitionFieldByName("ts", "ts_day", iceberggo.DayTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("id", "id_bucket", iceberggo.BucketTransform{NumBuckets: 4}, sch, next()),
		iceberggo.AddPartitionFieldByName("s", "s_trunc", iceberggo.TruncateTransform{Width: 2}, sch, next()),
		iceberggo.AddPartitionFieldByName("n", "n", iceberggo.IdentityTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("d", "d_month", iceberggo.MonthTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("tz", "tz_hour", iceberggo.HourTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("dec", "dec_trunc", iceberggo.TruncateTransform{Width: 50}, sch, next()),
		iceberggo.AddPartitionFieldByName("s", "s_bucket", iceberggo.BucketTransform{NumBuckets: 3}, sch, next()),
	)
	if err != nil {
		t.Fatal(err)
	}
	specB, err := iceberggo.NewPartitionSpecOpts(
		iceberggo.AddPartitionFieldByName("ts", "ts_year", iceberggo.YearTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("d", "d", iceberggo.IdentityTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("tz", "tz", iceberggo.IdentityTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("dec", "dec_b", iceberggo.BucketTransform{NumBuckets: 5}, sch, next()),
		iceberggo.AddPartitionFieldByName("d", "d_b", iceberggo.BucketTransform{NumBuckets: 5}, sch, next()),
		iceberggo.AddPartitionFieldByName("id", "id_t", iceberggo.TruncateTransform{Width: 3}, sch, next()),
		iceberggo.AddPartitionFieldByName("dec", "dec", iceberggo.IdentityTransform{}, sch, next()),
		iceberggo.AddPartitionFieldByName("s", "s", iceberggo.IdentityTransform{}, sch, next()),
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, spec := range []iceberggo.PartitionSpec{specA, specB} {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkPartitions(t, e, sch, spec) })
	}
}

func checkPartitions(t *testing.T, e *engine.Engine, sch *iceberggo.Schema, spec iceberggo.PartitionSpec) {
	ctx := context.Background()
	sess, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	query := `SELECT * FROM (VALUES
		(1, TIMESTAMP '2025-01-02 03:04:05', 'héllo', DATE '2025-01-31', 7, 12.34, TIMESTAMPTZ '2025-01-02 03:04:05+00', {'x': 1, 'y': 'a'}, [1, 2], MAP {'k': 1}),
		(2, TIMESTAMP '1969-12-31 23:59:59.999999', 'a/b=c d', DATE '1969-12-31', -7, -12.34, TIMESTAMPTZ '1969-12-31 23:30:00+00', NULL, NULL, NULL),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, {'x': NULL, 'y': NULL}, [], MAP {}),
		(4, TIMESTAMP '2025-01-02 23:59:59', 'héllo', DATE '2025-01-01', 7, 0.49, TIMESTAMPTZ '2025-01-02 03:59:00+00', {'x': 2, 'y': 'b'}, [3], MAP {'z': 2}),
		(-5, TIMESTAMP '2000-02-29 12:00:00', '日本語テキスト', DATE '2000-02-29', 0, -0.01, TIMESTAMPTZ '2000-02-29 12:00:00+00', NULL, [NULL], NULL)
	) v`
	res, err := sess.WriteIceberg(ctx, query, engine.IcebergWrite{Location: "s3://lake/db/t", Schema: sch, Spec: spec, RunID: "r" + fmt.Sprint(spec.ID()), FormatVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 {
		t.Fatalf("rows = %d, want 5", res.Rows)
	}
	var total int64
	seen := map[int64]bool{}
	for _, df := range res.Files {
		total += df.Count()
		if !strings.HasPrefix(df.FilePath(), "s3://lake/db/t/data/") || df.FileFormat() != iceberggo.ParquetFile {
			t.Errorf("file %s (%s): not under the table's data folder", df.FilePath(), df.FileFormat())
		}
		u, _ := storage.ParseURI(df.FilePath())
		p, cleanup, err := e.LocalPath(ctx, u.Bucket, u.Key)
		if err != nil {
			t.Fatal(err)
		}
		// Read back by field id, under other names: the ids must be there.
		rows, err := sess.Conn().QueryContext(ctx, fmt.Sprintf(`SELECT a, b, c, dd, nn, de, z, stx FROM read_parquet('%s', schema = MAP {
			1: {name: 'a', type: 'BIGINT', default_value: NULL}, 2: {name: 'b', type: 'TIMESTAMP', default_value: NULL},
			3: {name: 'c', type: 'VARCHAR', default_value: NULL}, 4: {name: 'dd', type: 'DATE', default_value: NULL},
			5: {name: 'nn', type: 'INTEGER', default_value: NULL}, 6: {name: 'de', type: 'VARCHAR', default_value: NULL},
			7: {name: 'z', type: 'TIMESTAMPTZ', default_value: NULL}, 8: {name: 'stx', type: 'STRUCT(x INTEGER, y VARCHAR)', default_value: NULL}})`, p))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var ts, d, tz *time.Time
			var s, dec *string
			var n *int32
			var st any
			if err := rows.Scan(&id, &ts, &s, &d, &n, &dec, &tz, &st); err != nil {
				t.Fatal(err)
			}
			seen[id] = true
			want := map[int]any{}
			apply := func(fieldID int, tr iceberggo.Transform, lit iceberggo.Literal) {
				if lit == nil {
					want[fieldID] = nil
					return
				}
				out := tr.Apply(iceberggo.Optional[iceberggo.Literal]{Val: lit, Valid: true})
				want[fieldID] = out.Val.Any()
			}
			var tsL, sL, dL, nL, decL, tzL iceberggo.Literal
			if ts != nil {
				tsL = iceberggo.NewLiteral(iceberggo.Timestamp(ts.UnixMicro()))
			}
			if s != nil {
				sL = iceberggo.NewLiteral(*s)
			}
			if d != nil {
				dL = iceberggo.NewLiteral(iceberggo.Date(d.Unix() / 86400))
			}
			if n != nil {
				nL = iceberggo.NewLiteral(*n)
			}
			if dec != nil {
				l, err := iceberggo.NewLiteral(*dec).(iceberggo.StringLiteral).To(iceberggo.DecimalTypeOf(9, 2))
				if err != nil {
					t.Fatal(err)
				}
				decL = l
			}
			if tz != nil {
				tzL = iceberggo.NewLiteral(iceberggo.Timestamp(tz.UnixMicro()))
			}
			lits := map[int]iceberggo.Literal{1: iceberggo.NewLiteral(id), 2: tsL, 3: sL, 4: dL, 5: nL, 6: decL, 7: tzL}
			for _, f := range spec.Fields() {
				apply(f.FieldID, f.Transform, lits[f.SourceID()])
			}
			got := df.Partition()
			for k, w := range want {
				if !reflect.DeepEqual(normalize(got[k]), normalize(w)) {
					t.Errorf("row %d, partition field %d: file says %#v, iceberg-go's transform %#v", id, k, got[k], w)
				}
			}
		}
		rows.Close()
		cleanup()
	}
	if total != 5 || len(seen) != 5 {
		t.Fatalf("files hold %d rows (%v), want 5", total, seen)
	}
	// Every row of one tuple is in one file: ids 1 and 4 differ.
	if len(res.Files) != 5 {
		t.Errorf("%d files, want one per distinct tuple (5)", len(res.Files))
	}
}

func decimalNum(v int64) decimal128.Num { return decimal128.FromI64(v) }

func normalize(v any) any {
	if d, ok := v.(iceberggo.Decimal); ok {
		return d.Val.BigInt().String() + "e-" + fmt.Sprint(d.Scale)
	}
	return v
}

func TestWriteIcebergUnpartitionedBadCast(t *testing.T) {
	e, _, store, _ := testEngine(t)
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	sess, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	sch := iceberggo.NewSchema(0, iceberggo.NestedField{ID: 1, Name: "id", Type: iceberggo.PrimitiveTypes.Int32})
	_, err = sess.WriteIceberg(ctx, `SELECT 'x'`, engine.IcebergWrite{Location: "s3://lake/t", Schema: sch, Spec: *iceberggo.UnpartitionedSpec, RunID: "r2"})
	if err == nil {
		t.Fatal("a value that is no int was written")
	}
	for o, err := range storage.Walk(ctx, store, "lake", "") {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(o.Key, "/") {
			t.Errorf("left behind: %s", o.Key)
		}
	}
	res, err := sess.WriteIceberg(ctx, `SELECT range::INT FROM range(10)`, engine.IcebergWrite{Location: "s3://lake/t", Schema: sch, Spec: *iceberggo.UnpartitionedSpec, RunID: "r3"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 10 || len(res.Files) != 1 || res.Files[0].Count() != 10 {
		t.Fatalf("rows %d, files %d", res.Rows, len(res.Files))
	}
	if lo := res.Files[0].LowerBoundValues()[1]; len(lo) != 4 {
		t.Errorf("lower bound of id: %v", lo)
	}
}

func TestWriteIcebergRequired(t *testing.T) {
	e, _, store, _ := testEngine(t)
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	sess, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	sch := iceberggo.NewSchema(0, iceberggo.NestedField{ID: 1, Name: "id", Type: iceberggo.PrimitiveTypes.Int64, Required: true},
		iceberggo.NestedField{ID: 2, Name: "v", Type: iceberggo.PrimitiveTypes.String})
	w := engine.IcebergWrite{Location: "s3://lake/r", Schema: sch, Spec: *iceberggo.UnpartitionedSpec, RunID: "r1"}
	if _, err := sess.WriteIceberg(ctx, `SELECT * FROM (VALUES (1, 'a'), (NULL, 'b'))`, w); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("a NULL in a required column: %v", err)
	}
	w.RunID = "r2"
	res, err := sess.WriteIceberg(ctx, `SELECT * FROM (VALUES (1, NULL), (2, 'b'))`, w)
	if err != nil || res.Rows != 2 {
		t.Fatalf("%v %v", res, err)
	}
}

// TestWriteIcebergPartitionedFileSize: a partition larger than the target
// file size is cut into several files, each in the partition's folder with
// its values.
func TestWriteIcebergPartitionedFileSize(t *testing.T) {
	e, _, store, _ := testEngine(t)
	ctx := context.Background()
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	sess, err := e.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Release()
	sch := iceberggo.NewSchema(0, iceberggo.NestedField{ID: 1, Name: "id", Type: iceberggo.PrimitiveTypes.Int64},
		iceberggo.NestedField{ID: 2, Name: "k", Type: iceberggo.PrimitiveTypes.String})
	spec, err := iceberggo.NewPartitionSpecOpts(iceberggo.AddPartitionFieldByName("k", "k", iceberggo.IdentityTransform{}, sch, nil))
	if err != nil {
		t.Fatal(err)
	}
	w := engine.IcebergWrite{Location: "s3://lake/fs", Schema: sch, Spec: spec, RunID: "r1",
		Properties: iceberggo.Properties{"write.target-file-size-bytes": "100000"}}
	res, err := sess.WriteIceberg(ctx, `SELECT range, CASE WHEN range < 5 THEN 'small' ELSE 'big' END FROM range(200000)`, w)
	if err != nil {
		t.Fatal(err)
	}
	byPart := map[any]int64{}
	files := map[any]int{}
	var fid int
	for _, f := range spec.Fields() {
		fid = f.FieldID
	}
	for _, f := range res.Files {
		k := f.Partition()[fid]
		byPart[k] += f.Count()
		files[k]++
		if !strings.Contains(f.FilePath(), fmt.Sprintf("/k=%v/", k)) {
			t.Errorf("file %s is not in its partition's folder", f.FilePath())
		}
	}
	if byPart["small"] != 5 || byPart["big"] != 199995 || files["small"] != 1 || files["big"] < 2 {
		t.Errorf("rows %v in files %v", byPart, files)
	}
}
