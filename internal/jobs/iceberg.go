package jobs

// A job whose target is iceberg://database.table writes its output into
// that existing Iceberg table as one snapshot per run:
//
//   - append: the output rows are added (INSERT INTO target SELECT ...);
//   - overwrite: every row is replaced by the output (one overwrite
//     snapshot; an empty output empties the table);
//   - overwrite-partitions: Iceberg's dynamic partition overwrite: the data
//     files of exactly the partitions the output rows fall in (their
//     partition tuples under the table's current spec) are replaced by the
//     output; files of other partitions, or written under an older spec,
//     stay. An unpartitioned table is replaced whole, as Spark does;
//   - merge: an upsert on merge_key, MERGE INTO target USING (job SQL) s ON
//     key WHEN MATCHED THEN UPDATE SET (the output's columns) WHEN NOT
//     MATCHED THEN INSERT, copy-on-write: the data files holding a matched
//     key are rewritten (only files whose bounds can hold the output's key
//     range are read).
//
// The sources are bound as for any job (bookmarks skip the files processed
// before, the job's identity is checked on every table), the output is
// materialized once in a temporary table, and the commit is iceberg-go's
// transaction on tarn's Iceberg catalog. The bookmark and the run's
// SUCCEEDED state are written by a commit hook (iceberg.WithCommitHook) in
// the very metadata transaction that swaps the table's metadata_location:
// the snapshot and the bookmark commit together or not at all, so a crash
// at any point neither loses nor repeats rows. The snapshot's summary also
// names the run (tarn.job-run-id). A commit that loses the race with
// another writer is made again on the new table state.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/storage"
)

// IcebergScheme prefixes a target that is an Iceberg table.
const IcebergScheme = "iceberg://"

// Snapshot summary properties a job's commit sets.
const (
	SummaryJob   = "tarn.job"
	SummaryRunID = "tarn.job-run-id"
)

// icebergRetries is how many times a commit that lost a race is made again.
const icebergRetries = 5

// Temporary tables of an Iceberg job run.
const (
	jobOutTable      = "__tarn_job_out"
	jobAffectedTable = "__tarn_job_affected"
	jobRowsTable     = "__tarn_job_rows"
)

func isIcebergTarget(t string) bool {
	return len(t) >= len(IcebergScheme) && strings.EqualFold(t[:len(IcebergScheme)], IcebergScheme)
}

var catalogNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseIcebergTarget parses iceberg://database.table.
func parseIcebergTarget(target string) (db, name string, err error) {
	rest := strings.TrimSuffix(target[len(IcebergScheme):], "/")
	db, name, ok := strings.Cut(rest, ".")
	if !ok || !catalogNameRE.MatchString(db) || !catalogNameRE.MatchString(name) {
		return "", "", fmt.Errorf("%q must be iceberg://database.table (letters, digits and '_')", target)
	}
	return strings.ToLower(db), strings.ToLower(name), nil
}

// icebergTarget returns the Iceberg table a job writes, if it writes one.
func (s Spec) icebergTarget() (db, name string, ok bool) {
	if !isIcebergTarget(s.Target) {
		return "", "", false
	}
	db, name, err := parseIcebergTarget(s.Target)
	return db, name, err == nil
}

func (s *Spec) validateIcebergTarget(bad func(field, format string, args ...any) error) error {
	db, name, err := parseIcebergTarget(s.Target)
	if err != nil {
		return bad("target", "%v", err)
	}
	s.Target = IcebergScheme + db + "." + name
	const why = "an Iceberg table has its own file format, compression, file size and partition spec (its table properties and PARTITIONED BY)"
	if len(s.PartitionBy) > 0 {
		return bad("partition_by", "%s: the rows of %s are partitioned by its spec", why, s.Target)
	}
	if f := strings.ToLower(s.Format); f != "" && f != "parquet" {
		return bad("format", "%s: %q does not apply to %s", why, s.Format, s.Target)
	}
	if s.Compression != "" {
		return bad("compression", "%s: %q does not apply to %s (set write.parquet.compression-codec on the table)", why, s.Compression, s.Target)
	}
	if s.FileSize != 0 && s.FileSize != engine.DefaultFileSize {
		return bad("file_size", "%s: it does not apply to %s (set write.target-file-size-bytes on the table)", why, s.Target)
	}
	if s.Table != "" {
		return bad("table", "%s is already a catalog table; table registers s3:// output in the catalog", s.Target)
	}
	s.Format, s.Compression, s.FileSize = "", "", 0
	if s.Mode == "" {
		s.Mode = ModeAppend
	}
	switch s.Mode {
	case ModeAppend, ModeOverwrite, ModeOverwritePartitions:
		if len(s.MergeKey) > 0 {
			return bad("merge_key", "applies to mode merge only (the mode is %s)", s.Mode)
		}
	case ModeMerge:
		if len(s.MergeKey) == 0 {
			return bad("merge_key", "mode merge needs the output columns that identify a row (merge_key: [id])")
		}
	default:
		return bad("mode", "%q is not one of append, overwrite, overwrite-partitions, merge", s.Mode)
	}
	for i, k := range s.MergeKey {
		field := fmt.Sprintf("merge_key[%d]", i)
		if strings.TrimSpace(k) == "" {
			return bad(field, "empty column name")
		}
		if slices.ContainsFunc(s.MergeKey[:i], func(o string) bool { return strings.EqualFold(o, k) }) {
			return bad(field, "%q is named twice", k)
		}
	}
	return nil
}

// icebergCatalog is the Iceberg catalog the jobs commit through: the
// lake's (Service.Iceberg), else one over the service's catalog.
func (s *Service) icebergCatalog() (*iceberg.Catalog, error) {
	s.iceOnce.Do(func() {
		if s.Iceberg == nil {
			s.Iceberg, s.iceErr = iceberg.New(iceberg.DefaultConfig(), s.cat, s.db, s.store)
		}
	})
	if s.Iceberg == nil {
		return nil, fmt.Errorf("cannot open the Iceberg catalog: %w", s.iceErr)
	}
	return s.Iceberg, nil
}

// icebergTable returns the catalog row of a job's Iceberg target; an error
// wrapping ErrInvalidTarget if it is missing or not an Iceberg table.
func (s *Service) icebergTable(ctx context.Context, spec Spec) (catalog.Table, error) {
	db, name, _ := spec.icebergTarget()
	t, err := s.cat.GetTable(ctx, db, name)
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase) {
		return catalog.Table{}, fmt.Errorf("%w: %s: %w (create it first: CREATE TABLE %s.%s (...) TBLPROPERTIES ('table_type'='ICEBERG'))", ErrInvalidTarget, spec.Target, err, db, name)
	}
	if err != nil {
		return catalog.Table{}, err
	}
	if !iceberg.IsIceberg(t) {
		return catalog.Table{}, fmt.Errorf("%w: %s: %s.%s is not an Iceberg table (convert it with ALTER TABLE %s.%s CONVERT TO ICEBERG, or write s3:// output with table: %s.%s)",
			ErrInvalidTarget, spec.Target, db, name, db, name, db, name)
	}
	return t, nil
}

// refuseIcebergTable refuses s3:// output registered as (table:) an
// Iceberg table: its files are listed by its snapshots, not a manifest of
// tarn's; the job must commit to it as its target.
func (s *Service) refuseIcebergTable(ctx context.Context, spec Spec) error {
	if spec.Table == "" {
		return nil
	}
	db, name, _ := strings.Cut(spec.Table, ".")
	t, err := s.cat.GetTable(ctx, db, name)
	if err == nil && iceberg.IsIceberg(t) {
		return fmt.Errorf("%w: table: %s is an Iceberg table: write it with target: %s%s (and no table:)", ErrInvalidTarget, spec.Table, IcebergScheme, spec.Table)
	}
	return nil
}

// checkIcebergOutput checks a job's output columns against its Iceberg
// target's columns: each output column must be a column of the table
// (matched by name, case-insensitively; table columns the output lacks are
// written NULL), and each merge_key column must be in the output. It
// returns the output's names in the table's order ("" for a column the
// output lacks).
func checkIcebergOutput(spec Spec, tableCols []string, out []catalog.Column) ([]string, error) {
	outNames := make([]string, len(out))
	for i, c := range out {
		outNames[i] = c.Name
	}
	has := func(names []string, n string) int {
		return slices.IndexFunc(names, func(o string) bool { return strings.EqualFold(o, n) })
	}
	for i, c := range out {
		if has(outNames[:i], c.Name) >= 0 {
			return nil, fmt.Errorf("%w: the SQL has two columns named %q; name them apart (AS ...)", ErrInvalidJobSQL, c.Name)
		}
		if has(tableCols, c.Name) < 0 {
			return nil, fmt.Errorf("%w: %s has no column %q (it has %s); rename the output column or add it with ALTER TABLE ... ADD COLUMNS",
				ErrInvalidTarget, spec.Target, c.Name, strings.Join(tableCols, ", "))
		}
	}
	for i, k := range spec.MergeKey {
		if has(outNames, k) < 0 {
			return nil, fmt.Errorf("%w: merge_key[%d]: the SQL has no column %q (it has %s)", ErrInvalidSpec, i, k, strings.Join(outNames, ", "))
		}
	}
	order := make([]string, len(tableCols))
	for i, tc := range tableCols {
		if j := has(outNames, tc); j >= 0 {
			order[i] = outNames[j]
		}
	}
	return order, nil
}

// checkIcebergTarget checks, when a job is created or updated, that its
// target is an Iceberg table and that its output (boundSQL, if the SQL
// could be bound) fits it.
func (s *Service) checkIcebergTarget(ctx context.Context, sess *engine.Session, spec Spec, boundSQL string) error {
	t, err := s.icebergTable(ctx, spec)
	if err != nil || boundSQL == "" {
		return err
	}
	cols, err := sess.Describe(ctx, boundSQL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	_, err = checkIcebergOutput(spec, names, cols)
	return err
}

// icebergActions are what a run asks of its identity on its Iceberg
// target, as Athena asks them: its metadata read and updated, new files
// put; a run that replaces rows also reads the table's files.
func icebergActions(mode string) []string {
	a := []string{"glue:GetTable", "glue:UpdateTable", "s3:PutObject"}
	if mode != ModeAppend {
		a = append(a, "s3:GetObject")
	}
	return a
}

// writeIceberg writes a bound job's output into its Iceberg target and
// commits it with the bookmark (see the top of this file).
func (s *Service) writeIceberg(ctx context.Context, sess *engine.Session, spec Spec, b *engine.Bound, parquetFiles []string, run *Run, logf func(string, ...any)) error {
	ice, err := s.icebergCatalog()
	if err != nil {
		return err
	}
	t, err := s.icebergTable(ctx, spec)
	if err != nil {
		return err
	}
	tbl, err := ice.Table(ctx, t.Database, t.Name)
	if err != nil {
		return err
	}
	cols, err := sess.Describe(ctx, b.SQL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	fields := tbl.Schema().Fields()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	order, err := checkIcebergOutput(spec, names, cols)
	if err != nil {
		return err
	}
	present := make([]bool, len(order))
	for i, n := range order {
		present[i] = n != ""
	}
	// The output, in the table's column order, read once.
	proj := make([]string, len(order))
	for i, n := range order {
		if n == "" {
			proj[i] = "NULL AS " + engine.QuoteIdent(names[i])
		} else {
			proj[i] = engine.QuoteIdent(n) + " AS " + engine.QuoteIdent(names[i])
		}
	}
	// (Created empty, then filled: the statement that reads the sources
	// must be the session's last for the rows-read accounting.)
	out := "SELECT " + strings.Join(proj, ", ") + " FROM (" + b.SQL + ") AS __tarn_job_output"
	if err := sess.TempTable(ctx, jobOutTable, out+" LIMIT 0"); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	res, err := sess.Conn().ExecContext(ctx, "INSERT INTO "+jobOutTable+" "+out)
	if err != nil {
		return err
	}
	if run.Stats.RowsWritten, err = res.RowsAffected(); err != nil {
		return err
	}
	deadLetters := func(rej []engine.Rejected) (storage.URI, error) {
		// Next to the source the rows came from, as a warehouse load
		// keeps them (not below the Iceberg table: its files are its own).
		for _, sc := range b.Scans {
			for _, f := range sc.Files {
				if f.URI == rej[0].File || f.Path == rej[0].File {
					return storage.ParseURI(sc.Table.Location)
				}
			}
		}
		return storage.ParseURI(b.Scans[0].Table.Location)
	}
	if err := s.account(ctx, sess, b, parquetFiles, run, deadLetters, logf); err != nil {
		return err
	}
	if err := s.checkRejected(spec, run); err != nil {
		return err
	}
	var key []string // the merge key, as table columns
	if spec.Mode == ModeMerge {
		for _, k := range spec.MergeKey {
			key = append(key, names[slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, k) })])
		}
		var dup int64
		q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1)",
			jobOutTable, notNull(key, ""), quoteList(key, ""))
		if err := sess.Conn().QueryRowContext(ctx, q).Scan(&dup); err != nil {
			return err
		}
		if dup > 0 {
			return fmt.Errorf("%w: merge_key (%s) is not unique in the job's output: %d keys appear more than once; a row can be merged once per run (deduplicate in the SQL, e.g. QUALIFY row_number() OVER (PARTITION BY %s ORDER BY ...) = 1)",
				ErrInvalidJobSQL, strings.Join(spec.MergeKey, ", "), dup, strings.Join(spec.MergeKey, ", "))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if n > 0 {
			if tbl, err = ice.Table(ctx, t.Database, t.Name); err != nil {
				return err
			}
			if !slices.Equal(schemaNames(tbl.Schema()), names) {
				return fmt.Errorf("%w: the columns of %s changed while the job ran; run it again", ErrInvalidTarget, spec.Target)
			}
		}
		err = s.icebergCommit(ctx, sess, spec, t, tbl, key, present, b, run, n, logf)
		if err == nil || !errors.Is(err, table.ErrCommitFailed) || n+1 >= icebergRetries || ctx.Err() != nil {
			if err != nil && errors.Is(err, table.ErrCommitFailed) {
				err = fmt.Errorf("%w (another writer committed first %d times)", err, n+1)
			}
			return err
		}
		logf("another writer committed to %s first: committing again on its new state", spec.Target)
	}
}

func schemaNames(sc *iceberggo.Schema) []string {
	var out []string
	for _, f := range sc.Fields() {
		out = append(out, f.Name)
	}
	return out
}

// quoteList is "a"."k1", "a"."k2" (alias "" for none).
func quoteList(cols []string, alias string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = qualified(alias, c)
	}
	return strings.Join(out, ", ")
}

func qualified(alias, col string) string {
	if alias == "" {
		return engine.QuoteIdent(col)
	}
	return alias + "." + engine.QuoteIdent(col)
}

func notNull(cols []string, alias string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = qualified(alias, c) + " IS NOT NULL"
	}
	return strings.Join(out, " AND ")
}

// keyMatch is the merge condition t.k = o.k AND ...
func keyMatch(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = qualified("__t", c) + " = " + qualified("__o", c)
	}
	return strings.Join(out, " AND ")
}

// keyRange is the range of the output's merge keys, k >= min AND k <= max
// for each key column of an integer or string type, for pruning the data
// files a merge reads (by partition and column bounds): a file outside it
// holds no matching row. nil (read every file) if no column qualifies.
func keyRange(ctx context.Context, sess *engine.Session, sc *iceberggo.Schema, key []string) iceberggo.BooleanExpression {
	var preds []iceberggo.BooleanExpression
	for _, k := range key {
		f, ok := sc.FindFieldByName(k)
		if !ok {
			continue
		}
		// As the table's type: the output's may differ ('10' < '9').
		cast := "VARCHAR"
		if _, ok := f.Type.(iceberggo.StringType); !ok {
			cast = "BIGINT"
		}
		col := "CAST(" + engine.QuoteIdent(k) + " AS " + cast + ")"
		q := fmt.Sprintf("SELECT min(%s), max(%s) FROM %s", col, col, jobOutTable)
		ref := iceberggo.Reference(f.Name)
		switch f.Type.(type) {
		case iceberggo.Int32Type, iceberggo.Int64Type:
			var lo, hi sql.NullInt64
			if sess.Conn().QueryRowContext(ctx, q).Scan(&lo, &hi) != nil || !lo.Valid || !hi.Valid {
				continue
			}
			if _, small := f.Type.(iceberggo.Int32Type); small {
				preds = append(preds, iceberggo.GreaterThanEqual(ref, int32(lo.Int64)), iceberggo.LessThanEqual(ref, int32(hi.Int64)))
			} else {
				preds = append(preds, iceberggo.GreaterThanEqual(ref, lo.Int64), iceberggo.LessThanEqual(ref, hi.Int64))
			}
		case iceberggo.StringType:
			var lo, hi sql.NullString
			if sess.Conn().QueryRowContext(ctx, q).Scan(&lo, &hi) != nil || !lo.Valid || !hi.Valid {
				continue
			}
			preds = append(preds, iceberggo.GreaterThanEqual(ref, lo.String), iceberggo.LessThanEqual(ref, hi.String))
		}
	}
	switch len(preds) {
	case 0:
		return nil
	case 1:
		return preds[0]
	}
	return iceberggo.NewAnd(preds[0], preds[1], preds[2:]...)
}

// icebergCommit is one attempt at writing the output and committing it.
// present tells, by table column, whether the output has it.
func (s *Service) icebergCommit(ctx context.Context, sess *engine.Session, spec Spec, t catalog.Table, tbl *table.Table, key []string, present []bool,
	b *engine.Bound, run *Run, attempt int, logf func(string, ...any)) error {
	conn := sess.Conn()
	data := "SELECT * FROM " + jobOutTable
	var tgt *engine.IcebergTarget
	var replace []string // data files the snapshot removes
	var matched int64
	if spec.Mode != ModeAppend {
		var filter iceberggo.BooleanExpression
		if spec.Mode == ModeMerge {
			filter = keyRange(ctx, sess, tbl.Schema(), key)
		}
		var err error
		if tgt, err = sess.IcebergTarget(ctx, t, tbl, filter); err != nil {
			return err
		}
		total := len(tgt.All)
		if tgt.All == nil {
			total = len(tgt.Tasks)
		}
		logf("%s reads %d of the %d data files of %s", spec.Mode, len(tgt.Tasks), total, spec.Target)
	}
	switch spec.Mode {
	case ModeOverwrite:
		for p := range tgt.Tasks {
			replace = append(replace, p)
		}
	case ModeMerge:
		names := schemaNames(tbl.Schema())
		cols := quoteList(names, "__t")
		detect := fmt.Sprintf("SELECT DISTINCT __t.%s FROM (%s) AS __t JOIN %s AS __o ON %s", engine.IcebergFileColumn, tgt.SQL, jobOutTable, keyMatch(key))
		if err := sess.TempTable(ctx, jobAffectedTable, detect); err != nil {
			return err
		}
		var err error
		if replace, err = strings1(ctx, sess, "SELECT * FROM "+jobAffectedTable+" WHERE "+engine.IcebergFileColumn+" IS NOT NULL"); err != nil {
			return err
		}
		// The rows of the files rewritten, read once.
		rows := fmt.Sprintf("SELECT * FROM (%s) WHERE %s IN (SELECT * FROM %s)", tgt.SQL, engine.IcebergFileColumn, jobAffectedTable)
		if err := sess.TempTable(ctx, jobRowsTable, rows); err != nil {
			return err
		}
		q := fmt.Sprintf("SELECT count(*) FROM %s AS __o WHERE EXISTS (SELECT 1 FROM %s AS __t WHERE %s)", jobOutTable, jobRowsTable, keyMatch(key))
		if err := conn.QueryRowContext(ctx, q).Scan(&matched); err != nil {
			return err
		}
		// The rewritten files' rows no output row matches; the matched
		// rows with the output's values (columns the output lacks keep
		// the table's); the output rows that match none.
		updated := make([]string, len(names))
		for i, n := range names {
			if present[i] {
				updated[i] = qualified("__o", n)
			} else {
				updated[i] = qualified("__t", n)
			}
		}
		data = fmt.Sprintf(`SELECT %[1]s FROM %[2]s AS __t WHERE NOT EXISTS (SELECT 1 FROM %[3]s AS __o WHERE %[4]s)
			UNION ALL SELECT %[5]s FROM %[2]s AS __t JOIN %[3]s AS __o ON %[4]s
			UNION ALL SELECT * FROM %[3]s AS __o WHERE NOT EXISTS (SELECT 1 FROM %[2]s AS __t WHERE %[4]s)`,
			cols, jobRowsTable, jobOutTable, keyMatch(key), strings.Join(updated, ", "))
	}
	w := engine.IcebergWrite{Location: tbl.Location(), Schema: tbl.Schema(), Spec: tbl.Spec(), Properties: tbl.Properties(),
		FormatVersion: tbl.Metadata().Version(), RunID: fmt.Sprintf("%s-%d", run.ID, attempt)}
	var add []iceberggo.DataFile
	var res *engine.IcebergWriteResult
	var rows int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+data+")").Scan(&rows); err != nil {
		return err
	}
	if rows > 0 {
		var err error
		if res, err = sess.WriteIceberg(ctx, data, w); err != nil {
			return err
		}
		add = res.Files
	}
	discard := func() { s.eng.DeleteIcebergFiles(context.WithoutCancel(ctx), add) }
	if spec.Mode == ModeOverwritePartitions {
		touched, names := map[string]bool{}, map[string]bool{}
		for _, f := range add {
			touched[partitionKey(f.Partition())] = true
			names[partitionName(tbl.Spec(), f.Partition())] = true
		}
		ps := tbl.Spec()
		specID := int32(ps.ID())
		for p, task := range tgt.Tasks {
			if task.File.SpecID() == specID && touched[partitionKey(task.File.Partition())] {
				replace = append(replace, p)
			}
		}
		parts := make([]string, 0, len(names))
		for k := range names {
			parts = append(parts, k)
		}
		sort.Strings(parts)
		run.Stats.Partitions = parts
	}
	sort.Strings(replace)
	var del, dropDeletes []iceberggo.DataFile
	if len(replace) > 0 {
		gone := map[string]bool{}
		for _, p := range replace {
			gone[p] = true
			del = append(del, tgt.Tasks[p].File)
		}
		// A delete file goes when every data file it applies to goes.
		cands, used := map[string]iceberggo.DataFile{}, map[string]bool{}
		all := tgt.All
		if all == nil {
			all = tgt.Tasks
		}
		for p, task := range all {
			for _, d := range append(slices.Clone(task.DeleteFiles), task.EqualityDeleteFiles...) {
				if gone[p] {
					cands[d.FilePath()] = d
				} else {
					used[d.FilePath()] = true
				}
			}
		}
		for p, d := range cands {
			if !used[p] {
				dropDeletes = append(dropDeletes, d)
			}
		}
	}
	if len(add) == 0 && len(del) == 0 {
		// Nothing to commit (an empty output, or overwrite of an empty
		// table): no snapshot; the bookmark still moves.
		logf("nothing to write to %s: no snapshot", spec.Target)
		run.Stats.FilesWritten, run.Stats.BytesWritten, run.Stats.SnapshotID = 0, 0, 0
		return s.publishRun(ctx, nil, spec, b, run)
	}
	txn := tbl.NewTransaction()
	props := iceberggo.Properties{SummaryJob: spec.Name, SummaryRunID: run.ID}
	var err error
	if spec.Mode != ModeAppend {
		// The rows replaced were read from this snapshot with this spec:
		// another commit to either fails this one (and it runs again).
		if err = txn.AssertRefSnapshotID(table.MainBranch); err == nil {
			err = txn.AssertDefaultShape()
		}
	}
	if err == nil {
		if len(del) == 0 {
			err = txn.AddDataFiles(ctx, add, props, table.WithoutAutoNameMapping())
		} else {
			err = txn.ReplaceFiles(ctx, del, add, dropDeletes, props, table.WithoutAutoNameMapping())
		}
	}
	if err != nil {
		discard()
		return fmt.Errorf("cannot commit to Iceberg table %s: %w", t.FullName(), err)
	}
	staged, err := txn.StagedTable()
	if err != nil || staged.CurrentSnapshot() == nil {
		discard()
		return fmt.Errorf("cannot commit to Iceberg table %s: no snapshot staged: %v", t.FullName(), err)
	}
	snap := staged.CurrentSnapshot()
	run.Stats.SnapshotID = snap.SnapshotID
	run.Stats.FilesWritten = len(add)
	if res != nil {
		run.Stats.BytesWritten = res.Bytes
	}
	switch spec.Mode {
	case ModeMerge:
		run.Stats.RowsUpdated = matched
		logf("merge on %s: %d rows updated, %d inserted; %d data files rewritten", strings.Join(spec.MergeKey, ", "), matched, run.Stats.RowsWritten-matched, len(del))
	case ModeAppend:
	default:
		logf("%s: %d data files replaced", spec.Mode, len(del))
	}
	logf("committing snapshot %d of %s: %d rows in %d files (%d bytes)", snap.SnapshotID, spec.Target, rows, len(add), run.Stats.BytesWritten)
	killPoint("job-iceberg-written")
	if beforeIcebergCommit != nil {
		beforeIcebergCommit(run.ID)
	}
	hooked := false
	hctx := iceberg.WithCommitHook(ctx, func(ctx context.Context, tx *sql.Tx) error {
		hooked = true
		if err := s.publishRun(ctx, tx, spec, b, run); err != nil {
			return err
		}
		killPoint("job-iceberg-commit")
		return nil
	})
	_, err = txn.Commit(hctx)
	if err == nil {
		killPoint("job-iceberg-committed")
	}
	if err != nil && !errors.Is(err, table.ErrCommitFailed) {
		// The catalog may have taken it (a cancelled context, a failed
		// reply): look, without the run's context.
		bg := context.WithoutCancel(ctx)
		if fresh, rerr := s.Iceberg.Table(bg, t.Database, t.Name); rerr == nil && fresh.Metadata().SnapshotByID(snap.SnapshotID) != nil {
			err = nil // committed, with the bookmark
		} else if rerr != nil {
			run.State = StateRunning
			return fmt.Errorf("cannot commit to Iceberg table %s, and cannot tell whether it committed: %w", t.FullName(), err)
		}
	}
	if err != nil {
		run.State = StateRunning
		discard()
		removeSnapshotFiles(ctx, tbl, snap)
		return fmt.Errorf("cannot commit to Iceberg table %s: %w", t.FullName(), err)
	}
	if !hooked {
		return s.publishRun(ctx, nil, spec, b, run)
	}
	return nil
}

// beforeIcebergCommit, if set (tests), runs after a run wrote its data
// files and before it commits them.
var beforeIcebergCommit func(runID string)

// publishRun records a succeeded run and its bookmark in tx (the Iceberg
// commit's metadata transaction), or in a transaction of its own.
func (s *Service) publishRun(ctx context.Context, tx *sql.Tx, spec Spec, b *engine.Bound, run *Run) error {
	prev, prevEnd := run.State, run.EndedAt
	run.State = StateSucceeded
	run.EndedAt = time.Now().UTC()
	do := func(tx *sql.Tx) error {
		if spec.Bookmarks {
			if err := writeBookmarks(ctx, tx, spec.Name, b, run.ID); err != nil {
				return err
			}
		}
		return s.saveRunTx(ctx, tx, run)
	}
	var err error
	if tx != nil {
		err = do(tx)
	} else {
		err = s.db.Tx(ctx, do)
	}
	if err != nil {
		run.State, run.EndedAt = prev, prevEnd
	}
	return err
}

// writeBookmarks records the files a run read.
func writeBookmarks(ctx context.Context, tx *sql.Tx, job string, b *engine.Bound, runID string) error {
	for _, sc := range b.Scans {
		for _, f := range sc.Files {
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_bookmarks (job, source, uri, etag, run_id) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (job, source, uri) DO UPDATE SET etag = excluded.etag, run_id = excluded.run_id`,
				job, sc.Table.FullName(), f.URI, f.ETag, runID); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeSnapshotFiles deletes the manifest list and manifests a snapshot
// that was not committed wrote.
func removeSnapshotFiles(ctx context.Context, tbl *table.Table, snap *table.Snapshot) {
	ctx = context.WithoutCancel(ctx)
	fs, err := tbl.FS(ctx)
	if err != nil {
		return
	}
	if ms, err := snap.Manifests(fs); err == nil {
		for _, m := range ms {
			if m.SnapshotID() == snap.SnapshotID {
				_ = fs.Remove(m.FilePath())
			}
		}
	}
	if snap.ManifestList != "" {
		_ = fs.Remove(snap.ManifestList)
	}
}

// collectIcebergGarbage removes the data files a run that did not commit
// wrote below its Iceberg target's data/ (<run>-<attempt>-<n>.parquet, and
// its _staging/ folders). A run whose snapshot is in the table (its commit
// reported an error but went through) keeps them. Manifests of a snapshot
// staged but never committed are orphans VACUUM removes.
func (s *Service) collectIcebergGarbage(ctx context.Context, spec Spec, runID string) {
	t, err := s.icebergTable(ctx, spec)
	if err != nil {
		return
	}
	ice, err := s.icebergCatalog()
	if err != nil {
		return
	}
	tbl, err := ice.Table(ctx, t.Database, t.Name)
	if err != nil {
		return
	}
	for _, snap := range tbl.Metadata().Snapshots() {
		if snap.Summary != nil && snap.Summary.Properties[SummaryRunID] == runID {
			return
		}
	}
	loc, err := storage.ParseURI(strings.TrimSuffix(t.Location, "/") + "/")
	if err != nil {
		return
	}
	data := loc.Join("data/")
	for o, err := range storage.Walk(ctx, s.store, data.Bucket, data.Key) {
		if err != nil {
			return
		}
		base := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
		if strings.HasPrefix(base, runID+"-") || strings.HasPrefix(o.Key, data.Key+"_staging/"+runID+"-") {
			_ = s.store.Delete(ctx, o.Bucket, o.Key)
		}
	}
}

// partitionKey is a partition tuple as a comparable string.
func partitionKey(p map[int]any) string {
	ids := make([]int, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d=%v;", id, p[id])
	}
	return b.String()
}

// partitionName is a partition tuple as Hive names it (day=2025-01-01/...;
// transforms show their result, as Iceberg's $partitions table does).
func partitionName(spec iceberggo.PartitionSpec, p map[int]any) string {
	var parts []string
	for _, f := range spec.Fields() {
		parts = append(parts, fmt.Sprintf("%s=%v", f.Name, p[f.FieldID]))
	}
	return strings.Join(parts, "/")
}

func strings1(ctx context.Context, sess *engine.Session, q string) ([]string, error) {
	rows, err := sess.Conn().QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
