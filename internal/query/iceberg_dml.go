package query

import (
	"context"
	"errors"
	"fmt"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/iceberg"
)

// Copy-on-write: UPDATE, DELETE and MERGE INTO find the data files holding
// rows the statement can touch, load those files' live rows into a DuckDB
// temporary table, run the user's statement as written against it (only
// the target's name, and MERGE's source, are replaced), write the table's
// rows as new data files and commit one overwrite snapshot replacing
// exactly the files read (and the delete files that only applied to them).
// The commit asserts the snapshot the statement read: if another writer
// committed first, the new files are deleted and the statement runs again
// on the new state, so no row another writer added is lost.

// icebergBeforeCommit, if set (by tests), runs before a copy-on-write
// statement commits: another writer's commit there makes it a conflict.
var icebergBeforeCommit func(table string)

// Temporary tables of a copy-on-write statement.
const (
	origTable   = "__tarn_orig"
	workTable   = "__tarn_work"
	sourceTable = "__tarn_src"
	filesTable  = "__tarn_affected"
)

func (s *Service) icebergDML(ctx context.Context, ex *Execution, req Request, sink Sink, ice *iceberg.Catalog, t catalog.Table, st iceDML) error {
	if err := allow(req, t, icebergRW...); err != nil {
		return err
	}
	var rows int64
	err := s.icebergRetry(ctx, ex, func(attempt int) error {
		tbl, err := ice.Table(ctx, t.Database, t.Name)
		if err != nil {
			return err
		}
		rows, err = s.copyOnWrite(ctx, ex, req, tbl, t, st, attempt)
		return err
	})
	if err != nil {
		return err
	}
	s.recordDMLLineage(ctx, ex, t, st.Kind, rows)
	return emitRows(ex, sink, rows)
}

// icebergRetry runs a copy-on-write attempt until it commits, or fails for
// another reason than a concurrent commit.
func (s *Service) icebergRetry(ctx context.Context, ex *Execution, attempt func(n int) error) error {
	var err error
	for n := range icebergRetries {
		if err = attempt(n); err == nil || !errors.Is(err, table.ErrCommitFailed) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%w (another writer committed first %d times; run the statement again)", err, icebergRetries)
}

func (s *Service) copyOnWrite(ctx context.Context, ex *Execution, req Request, tbl *table.Table, t catalog.Table, st iceDML, attempt int) (int64, error) {
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer sess.Release()
	conn := sess.Conn()
	alias := engine.QuoteIdent(st.Alias)

	// The source of a MERGE is bound as the caller's SELECT (its tables
	// authorized, its limits checked) and kept in a temporary table.
	if st.Kind == "MERGE" {
		b, err := s.bindWrite(ctx, ex, req, sess, st.SourceSelect)
		if err != nil {
			return 0, err
		}
		src := b.SQL
		if len(st.SourceColumns) > 0 {
			names := make([]string, len(st.SourceColumns))
			for i, c := range st.SourceColumns {
				names[i] = engine.QuoteIdent(c)
			}
			src = fmt.Sprintf("SELECT * FROM (%s) AS __tarn_s(%s)", src, strings.Join(names, ", "))
		}
		if err := sess.TempTable(ctx, sourceTable, src); err != nil {
			return 0, engineError(err)
		}
	}

	// Subqueries in the statement are bound as the caller's SELECTs.
	bound := map[int]string{}
	for _, sp := range st.Subqueries {
		b, err := s.bindWrite(ctx, ex, req, sess, st.Text[sp[0]+1:sp[1]-1])
		if err != nil {
			return 0, err
		}
		bound[sp[0]] = "(" + b.SQL + ")"
	}
	// rw is the statement's text from..to with its subqueries bound.
	rw := func(from, to int) string {
		var b strings.Builder
		at := from
		for _, sp := range st.Subqueries {
			if sp[0] < from || sp[1] > to {
				continue
			}
			b.WriteString(st.Text[at:sp[0]])
			b.WriteString(bound[sp[0]])
			at = sp[1]
		}
		b.WriteString(st.Text[at:to])
		return b.String()
	}
	where, on := "", ""
	if st.Where != "" {
		where = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rw(st.WhereStart, len(st.Text))), ";"))
	}
	if st.Kind == "MERGE" {
		on = rw(st.OnStart, st.OnEnd)
	}

	// Only files that may hold a row the statement touches are read: the
	// condition's simple conjuncts on the target's columns (and, for
	// MERGE, the range of the source's keys) prune the others by their
	// partitions and column bounds.
	var filter iceberggo.BooleanExpression
	switch {
	case st.Kind == "MERGE":
		filter = s.pruneFilter(ctx, sess, tbl.Schema(), st.Alias, st.On, true, st.SourceAlias)
	case st.Where != "":
		filter = s.pruneFilter(ctx, sess, tbl.Schema(), st.Alias, st.Where, false, "")
	}
	tgt, err := sess.IcebergTarget(ctx, t, tbl, filter)
	if err != nil {
		return 0, err
	}
	countTarget(ex, tgt)
	if err := s.checkTargetScan(ctx, req, t, tgt); err != nil {
		return 0, err
	}
	if st.Kind == "DELETE" && mergeOnRead(tbl) {
		return s.deletePositions(ctx, ex, sess, tbl, tgt, alias, where, attempt)
	}

	cols := make([]string, 0, len(tbl.Schema().Fields()))
	acols := make([]string, 0, len(tbl.Schema().Fields()))
	for _, f := range tbl.Schema().Fields() {
		cols = append(cols, engine.QuoteIdent(f.Name))
		acols = append(acols, alias+"."+engine.QuoteIdent(f.Name))
	}
	// Merge-on-read reads only the rows the statement can touch (those
	// matching its condition, or a source row), numbered, beside the work
	// table: what the statement changed is the difference of the two.
	mor := (st.Kind == "UPDATE" && modeMergeOnRead(tbl, "write.update.mode")) || (st.Kind == "MERGE" && modeMergeOnRead(tbl, "write.merge.mode"))
	if mor {
		orig := fmt.Sprintf("SELECT %s, %s.%s AS __tarn_f, %s.%s AS __tarn_p FROM (%s) AS %s", strings.Join(acols, ", "),
			alias, engine.IcebergFileColumn, alias, engine.IcebergPosColumn, tgt.SQL, alias)
		switch {
		case st.Kind == "MERGE":
			orig += fmt.Sprintf(" SEMI JOIN %s AS %s ON %s", sourceTable, engine.QuoteIdent(st.SourceAlias), on)
		case where != "":
			orig += " WHERE " + where
		}
		if err := sess.TempTable(ctx, origTable, orig); err != nil {
			return 0, fmt.Errorf("cannot run %s on %s: %w", st.Kind, t.FullName(), engineError(err))
		}
		// Copied in the rows' order, the work table's row ids are those of
		// the rows read (__tarn_rid below is the latter's rowid).
		if err := sess.TempTable(ctx, workTable, fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), origTable)); err != nil {
			return 0, engineError(err)
		}
		// The work table's row ids must be the rows' numbers (DuckDB keeps
		// insertion order): checked on the count, the ends and a sample.
		var off int64
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s) - (SELECT count(*) FROM %[2]s)
			+ (SELECT count(*) FROM %[1]s WHERE rowid < 0 OR rowid >= (SELECT count(*) FROM %[2]s))
			+ (SELECT count(*) FROM (SELECT *, rowid AS __tarn_rid FROM %[2]s USING SAMPLE 1024 ROWS) o LEFT JOIN %[1]s w ON w.rowid = o.__tarn_rid WHERE w.rowid IS NULL OR %[3]s)`,
			workTable, origTable, rowsDiffer(cols))).Scan(&off); err != nil {
			return 0, engineError(err)
		}
		if off != 0 {
			mor = false // DuckDB numbered them otherwise: copy-on-write
		}
	}
	var affected []string
	if !mor {
		// The data files holding rows the statement can touch. For MERGE
		// these are the files with a row matching a source row: a source
		// row unmatched in them is unmatched in the whole table, so WHEN
		// NOT MATCHED inserts exactly what it would on the whole table.
		var detect string
		switch {
		case st.Kind == "MERGE":
			detect = fmt.Sprintf("SELECT DISTINCT %s.%s FROM (%s) AS %s JOIN %s AS %s ON %s", alias, engine.IcebergFileColumn, tgt.SQL, alias,
				sourceTable, engine.QuoteIdent(st.SourceAlias), on)
		case st.Where != "":
			detect = fmt.Sprintf("SELECT DISTINCT %s.%s FROM (%s) AS %s WHERE %s", alias, engine.IcebergFileColumn, tgt.SQL, alias, where)
		default:
			detect = fmt.Sprintf("SELECT DISTINCT %s FROM (%s)", engine.IcebergFileColumn, tgt.SQL)
		}
		if err := sess.TempTable(ctx, filesTable, detect); err != nil {
			return 0, fmt.Errorf("cannot run %s on %s: %w", st.Kind, t.FullName(), engineError(err))
		}
		if affected, err = queryStrings(ctx, sess, "SELECT * FROM "+filesTable+" WHERE "+engine.IcebergFileColumn+" IS NOT NULL"); err != nil {
			return 0, err
		}
		if len(affected) == 0 && st.Kind != "MERGE" {
			return 0, nil // no row matches: no snapshot
		}
		work := fmt.Sprintf("SELECT %s FROM (%s) WHERE %s IN (SELECT * FROM %s)", strings.Join(cols, ", "), tgt.SQL, engine.IcebergFileColumn, filesTable)
		if err := sess.TempTable(ctx, workTable, work); err != nil {
			return 0, engineError(err)
		}
	}
	if st.Kind == "MERGE" && st.Matched {
		// As the SQL standard (and Spark, Trino, Athena): a target row
		// matched by two source rows is an error, not a random update.
		var dup int64
		q := fmt.Sprintf("SELECT count(*) FROM (SELECT %s.rowid FROM %s AS %s JOIN %s AS %s ON %s GROUP BY %s.rowid HAVING count(*) > 1)",
			alias, workTable, alias, sourceTable, engine.QuoteIdent(st.SourceAlias), on, alias)
		if err := conn.QueryRowContext(ctx, q).Scan(&dup); err != nil {
			return 0, fmt.Errorf("cannot run MERGE on %s: %w", t.FullName(), engineError(err))
		}
		if dup > 0 {
			return 0, fmt.Errorf("%w: MERGE INTO %s: %d target rows match more than one source row; a row can be updated or deleted once per statement", ErrSyntax, t.FullName(), dup)
		}
	}

	// The user's statement, on the temporary table under the target's
	// name (or alias), MERGE's source on its temporary table.
	text := st.Text
	stmt := text[:st.TargetStart] + workTable + " AS " + alias
	if st.Kind == "MERGE" {
		stmt += rw(st.TargetEnd, st.SourceStart) + sourceTable + " AS " + engine.QuoteIdent(st.SourceAlias) + rw(st.SourceEnd, len(text))
	} else {
		stmt += rw(st.TargetEnd, len(text))
	}
	res, err := conn.ExecContext(ctx, stmt)
	if err != nil {
		return 0, fmt.Errorf("cannot run %s on %s: %w", st.Kind, t.FullName(), engineError(err))
	}
	changed, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if changed == 0 {
		return 0, nil
	}

	if mor {
		return changed, s.mergeOnReadCommit(ctx, ex, sess, tbl, tgt, cols, attempt)
	}

	// New data files for the rows now in the temporary table.
	var add []iceberggo.DataFile
	var after int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+workTable).Scan(&after); err != nil {
		return 0, err
	}
	if after > 0 {
		wr, err := sess.WriteIceberg(ctx, "SELECT * FROM "+workTable, icebergWriteSpec(tbl, ex, attempt))
		if err != nil {
			return 0, engineError(err)
		}
		add = wr.Files
	}
	if err := s.commitReplace(ctx, ex, sess, tbl, tgt, affected, add, false); err != nil {
		return 0, err
	}
	return changed, nil
}

// commitReplace commits one snapshot replacing the data files named by
// paths (files of tgt) with add, dropping the delete files that applied
// only to replaced files, asserting the snapshot tgt was read from. On
// failure the added files are deleted.
//
// rewrite commits the change as a compaction (operation "replace", as
// Spark's and Trino's do: the same rows in other files, which incremental
// readers skip) instead of an overwrite.
func (s *Service) commitReplace(ctx context.Context, ex *Execution, sess *engine.Session, tbl *table.Table, tgt *engine.IcebergTarget, paths []string, add []iceberggo.DataFile, rewrite bool) error {
	replaced := map[string]bool{}
	var del []iceberggo.DataFile
	for _, p := range paths {
		task, ok := tgt.Tasks[p]
		if !ok {
			s.eng.DeleteIcebergFiles(context.WithoutCancel(ctx), add)
			return fmt.Errorf("cannot commit: data file %s is not in the snapshot read", p)
		}
		replaced[p] = true
		del = append(del, task.File)
	}
	// A delete file goes when every data file it applies to goes.
	stillUsed := map[string]bool{}
	candidates := map[string]iceberggo.DataFile{}
	all := tgt.All
	if all == nil {
		all = tgt.Tasks
	}
	for p, task := range all {
		for _, d := range append(append([]iceberggo.DataFile{}, task.DeleteFiles...), task.EqualityDeleteFiles...) {
			if replaced[p] {
				candidates[d.FilePath()] = d
			} else {
				stillUsed[d.FilePath()] = true
			}
		}
	}
	var dropDeletes []iceberggo.DataFile
	for path, d := range candidates {
		if !stillUsed[path] || onlyFor(d, replaced) || s.deletesOnlyIn(ctx, sess, d, replaced) {
			dropDeletes = append(dropDeletes, d)
		}
	}
	txn := tbl.NewTransaction()
	// The rows were read from this snapshot and written with this spec:
	// another commit to either makes this one fail (and run again).
	err := txn.AssertRefSnapshotID(table.MainBranch)
	if err == nil {
		err = txn.AssertDefaultShape()
	}
	if err == nil {
		switch {
		case len(del) == 0:
			err = txn.AddDataFiles(ctx, add, snapshotProps(ex), table.WithoutAutoNameMapping())
		case rewrite && len(add) > 0:
			rw := txn.NewRewrite(snapshotProps(ex))
			for _, d := range del {
				rw.DeleteFile(d)
			}
			for _, d := range dropDeletes {
				rw.DeleteFile(d)
			}
			for _, a := range add {
				rw.AddDataFile(a)
			}
			err = rw.Commit(ctx)
		default:
			err = txn.ReplaceFiles(ctx, del, add, dropDeletes, snapshotProps(ex), table.WithoutAutoNameMapping())
		}
	}
	if err == nil {
		if icebergBeforeCommit != nil {
			icebergBeforeCommit(strings.Join(tbl.Identifier(), "."))
		}
		err = commitOrDiscard(ctx, tbl, txn)
	}
	if err != nil {
		if !errors.Is(err, errCommitUnknown) {
			s.eng.DeleteIcebergFiles(context.WithoutCancel(ctx), add)
		}
		return fmt.Errorf("cannot commit to Iceberg table %s: %w", strings.Join(tbl.Identifier(), "."), err)
	}
	ex.wrote = true
	for _, f := range add {
		ex.written = append(ex.written, f.FilePath())
	}
	return nil
}

func queryStrings(ctx context.Context, sess *engine.Session, q string) ([]string, error) {
	rows, err := sess.Conn().QueryContext(ctx, q)
	if err != nil {
		return nil, engineError(err)
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

// icebergOptimize runs OPTIMIZE ... REWRITE DATA USING BIN_PACK [WHERE p]:
// the data files smaller than the target size (write.target-file-size-bytes,
// or optimize_rewrite_min_data_file_size_bytes) or carrying deletes, in
// partitions holding more than one such file or any delete, and the files
// of older partition specs, are rewritten into files of the target size
// (one per partition of the current spec) in one replace snapshot. With WHERE, only
// files holding a matching row are considered.
func (s *Service) icebergOptimize(ctx context.Context, ex *Execution, req Request, sink Sink, ice *iceberg.Catalog, t catalog.Table, st iceOptimize) error {
	if err := allow(req, t, icebergRW...); err != nil {
		return err
	}
	var rows int64
	err := s.icebergRetry(ctx, ex, func(attempt int) error {
		tbl, err := ice.Table(ctx, t.Database, t.Name)
		if err != nil {
			return err
		}
		rows, err = s.optimize(ctx, ex, req, tbl, t, st, attempt)
		return err
	})
	if err != nil {
		return err
	}
	return emitRows(ex, sink, rows)
}

func (s *Service) optimize(ctx context.Context, ex *Execution, req Request, tbl *table.Table, t catalog.Table, st iceOptimize, attempt int) (int64, error) {
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer sess.Release()
	var filter iceberggo.BooleanExpression
	if st.Where != "" {
		filter = s.pruneFilter(ctx, sess, tbl.Schema(), t.Name, st.Where, false, "")
	}
	tgt, err := sess.IcebergTarget(ctx, t, tbl, filter)
	if err != nil {
		return 0, err
	}
	countTarget(ex, tgt)
	if err := s.checkTargetScan(ctx, req, t, tgt); err != nil {
		return 0, err
	}
	if len(tgt.Tasks) == 0 {
		return 0, nil
	}
	props := tbl.Properties()
	target := engine.IcebergTargetFileSize(props)
	small := int64(props.GetInt("optimize_rewrite_min_data_file_size_bytes", int(target*3/4)))
	matching := map[string]bool{}
	if st.Where != "" {
		name := engine.QuoteIdent(t.Name)
		files, err := queryStrings(ctx, sess, fmt.Sprintf("SELECT DISTINCT %s.%s FROM (%s) AS %s WHERE %s", name, engine.IcebergFileColumn, tgt.SQL, name, st.Where))
		if err != nil {
			return 0, fmt.Errorf("cannot run OPTIMIZE on %s: %w", t.FullName(), err)
		}
		for _, f := range files {
			matching[f] = true
		}
	}
	spec := tbl.Spec()
	curSpec := spec.ID()
	// Group candidate files by partition (spec and tuple).
	groups := map[string][]string{}
	hasDeletes := map[string]bool{}
	for p, task := range tgt.Tasks {
		if st.Where != "" && !matching[p] {
			continue
		}
		f := task.File
		del := len(task.DeleteFiles)+len(task.EqualityDeleteFiles) > 0
		if f.FileSizeBytes() >= small && !del && int(f.SpecID()) == curSpec {
			continue
		}
		key := fmt.Sprintf("%d/%v", f.SpecID(), partitionKey(f.Partition()))
		groups[key] = append(groups[key], p)
		hasDeletes[key] = hasDeletes[key] || del
	}
	var paths []string
	for key, files := range groups {
		// Files of an older spec move to the current one as well.
		old := !strings.HasPrefix(key, fmt.Sprintf("%d/", curSpec))
		if len(files) > 1 || hasDeletes[key] || old {
			paths = append(paths, files...)
		}
	}
	if len(paths) == 0 {
		return 0, nil
	}
	if err := sess.TempTable(ctx, filesTable, "SELECT unnest(?::VARCHAR[]) AS f", paths); err != nil {
		return 0, engineError(err)
	}
	var cols []string
	for _, f := range tbl.Schema().Fields() {
		cols = append(cols, engine.QuoteIdent(f.Name))
	}
	q := fmt.Sprintf("SELECT %s FROM (%s) WHERE %s IN (SELECT f FROM %s)", strings.Join(cols, ", "), tgt.SQL, engine.IcebergFileColumn, filesTable)
	wr, err := sess.WriteIceberg(ctx, q, icebergWriteSpec(tbl, ex, attempt))
	if err != nil {
		return 0, engineError(err)
	}
	if err := s.commitReplace(ctx, ex, sess, tbl, tgt, paths, wr.Files, true); err != nil {
		return 0, err
	}
	return wr.Rows, nil
}

// partitionKey prints a partition tuple in field id order.
func partitionKey(p map[int]any) string {
	ids := make([]int, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d=%#v;", id, p[id])
	}
	return b.String()
}

// countTarget adds what a statement reads of its target (every live file,
// with its delete files) to its statistics.
func countTarget(ex *Execution, tgt *engine.IcebergTarget) {
	for _, task := range tgt.Tasks {
		ex.Stats.FilesScanned++
		ex.Stats.BytesScanned += task.File.FileSizeBytes()
		for _, d := range task.DeleteFiles {
			ex.Stats.BytesScanned += d.FileSizeBytes()
		}
		for _, d := range task.EqualityDeleteFiles {
			ex.Stats.BytesScanned += d.FileSizeBytes()
		}
	}
}

// filePathFieldID is the field id of a position delete file's file_path.
const filePathFieldID = 2147483546

// onlyFor reports whether a position delete file names only data files of
// replaced (by its referenced data file, or equal bounds of file_path):
// planning attaches it to every older file of its partition, but it
// deletes nothing in the others.
func onlyFor(d iceberggo.DataFile, replaced map[string]bool) bool {
	if d.ContentType() != iceberggo.EntryContentPosDeletes {
		return false
	}
	if r := d.ReferencedDataFile(); r != nil && *r != "" {
		return replaced[*r]
	}
	lo, hi := d.LowerBoundValues()[filePathFieldID], d.UpperBoundValues()[filePathFieldID]
	return len(lo) > 0 && string(lo) == string(hi) && replaced[string(lo)]
}

// deletesOnlyIn reads the data file paths a position delete file names and
// reports whether all are in replaced. Any doubt keeps the delete file.
func (s *Service) deletesOnlyIn(ctx context.Context, sess *engine.Session, d iceberggo.DataFile, replaced map[string]bool) bool {
	if d.ContentType() != iceberggo.EntryContentPosDeletes {
		return false
	}
	b, k, err := iceberg.ParseLocation(d.FilePath())
	if err != nil {
		return false
	}
	p, cleanup, err := s.eng.LocalPath(ctx, b, k)
	if err != nil {
		return false
	}
	defer cleanup()
	paths, err := queryStrings(ctx, sess, "SELECT DISTINCT file_path FROM read_parquet("+engine.QuoteString(p)+")")
	if err != nil || len(paths) == 0 {
		return false
	}
	for _, f := range paths {
		if !replaced[f] {
			return false
		}
	}
	return true
}

// mergeOnRead reports whether a table's DELETEs write position delete
// files (write.delete.mode=merge-on-read, format version 2) rather than
// rewrite data files.
func mergeOnRead(tbl *table.Table) bool {
	return tbl.Metadata().Version() >= 2 && strings.EqualFold(tbl.Properties().Get(table.WriteDeleteModeKey, ""), table.WriteModeMergeOnRead)
}

// deletePositions runs a DELETE as merge-on-read: the positions of the
// rows it deletes go to position delete files, one per partition of the
// data files they are in, committed as one snapshot asserting the one read.
func (s *Service) deletePositions(ctx context.Context, ex *Execution, sess *engine.Session, tbl *table.Table, tgt *engine.IcebergTarget, alias, where string, attempt int) (int64, error) {
	if where == "" {
		where = "true"
	}
	const deletesTable = "__tarn_deletes"
	q := fmt.Sprintf("SELECT %s.%s AS file_path, %s.%s AS pos FROM (%s) AS %s WHERE %s", alias, engine.IcebergFileColumn, alias, engine.IcebergPosColumn, tgt.SQL, alias, where)
	if err := sess.TempTable(ctx, deletesTable, q); err != nil {
		return 0, fmt.Errorf("cannot run DELETE on %s: %w", strings.Join(tbl.Identifier(), "."), engineError(err))
	}
	files, err := queryStrings(ctx, sess, "SELECT DISTINCT file_path FROM "+deletesTable+" ORDER BY 1")
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, nil
	}
	list, err := deleteGroups(tbl, tgt, files)
	if err != nil {
		return 0, err
	}
	wr, err := sess.WriteIcebergDeletes(ctx, "SELECT * FROM "+deletesTable, icebergWriteSpec(tbl, ex, attempt), list)
	if err != nil {
		return 0, engineError(err)
	}
	if err := s.commitRowDelta(ctx, ex, tbl, nil, wr.Files); err != nil {
		return 0, err
	}
	return wr.Rows, nil
}

// deleteGroups groups data files (of tgt) by partition for position delete
// files: one per partition spec and tuple.
func deleteGroups(tbl *table.Table, tgt *engine.IcebergTarget, files []string) ([]engine.IcebergDeleteGroup, error) {
	groups := map[string]*engine.IcebergDeleteGroup{}
	var order []string
	for _, f := range files {
		task, ok := tgt.Tasks[f]
		if !ok {
			return nil, fmt.Errorf("cannot delete: data file %s is not in the snapshot read", f)
		}
		df := task.File
		key := fmt.Sprintf("%d/%s", df.SpecID(), partitionKey(df.Partition()))
		g := groups[key]
		if g == nil {
			spec := tbl.Metadata().PartitionSpecByID(int(df.SpecID()))
			if spec == nil {
				return nil, fmt.Errorf("cannot delete: data file %s has partition spec %d, which the table lacks", f, df.SpecID())
			}
			g = &engine.IcebergDeleteGroup{Spec: *spec, Partition: df.Partition()}
			groups[key] = g
			order = append(order, key)
		}
		g.Files = append(g.Files, f)
	}
	list := make([]engine.IcebergDeleteGroup, 0, len(order))
	for _, k := range order {
		list = append(list, *groups[k])
	}
	return list, nil
}

// commitRowDelta commits new data files and position delete files as one
// snapshot asserting the snapshot read and the spec written with; on
// failure the files are deleted.
func (s *Service) commitRowDelta(ctx context.Context, ex *Execution, tbl *table.Table, data, deletes []iceberggo.DataFile) error {
	txn := tbl.NewTransaction()
	err := txn.AssertRefSnapshotID(table.MainBranch)
	if err == nil {
		err = txn.AssertDefaultShape()
	}
	if err == nil {
		rd := txn.NewRowDelta(snapshotProps(ex))
		if len(data) > 0 {
			rd.AddRows(data...)
		}
		if len(deletes) > 0 {
			rd.AddDeletes(deletes...)
		}
		err = rd.Commit(ctx)
	}
	if err == nil {
		if icebergBeforeCommit != nil {
			icebergBeforeCommit(strings.Join(tbl.Identifier(), "."))
		}
		err = commitOrDiscard(ctx, tbl, txn)
	}
	all := append(append([]iceberggo.DataFile{}, data...), deletes...)
	if err != nil {
		if !errors.Is(err, errCommitUnknown) {
			s.eng.DeleteIcebergFiles(context.WithoutCancel(ctx), all)
		}
		return fmt.Errorf("cannot commit to Iceberg table %s: %w", strings.Join(tbl.Identifier(), "."), err)
	}
	ex.wrote = true
	for _, f := range data {
		ex.written = append(ex.written, f.FilePath())
	}
	return nil
}

// checkTargetScan holds what a statement reads of its target to the
// workgroup's bytes-scanned cutoff, as the binder's scans are.
func (s *Service) checkTargetScan(ctx context.Context, req Request, t catalog.Table, tgt *engine.IcebergTarget) error {
	wg, err := s.Workgroup(ctx, req.Workgroup)
	if err != nil || wg.BytesScannedCutoff <= 0 {
		return err
	}
	var total int64
	for _, task := range tgt.Tasks {
		total += task.File.FileSizeBytes()
		for _, d := range append(append([]iceberggo.DataFile{}, task.DeleteFiles...), task.EqualityDeleteFiles...) {
			total += d.FileSizeBytes()
		}
	}
	if total > wg.BytesScannedCutoff {
		return fmt.Errorf("%w: it would read %d bytes of %s (%d data files), the cutoff of workgroup %q is %d bytes; narrow the condition on partition columns",
			ErrScanLimit, total, t.FullName(), len(tgt.Tasks), wg.Name, wg.BytesScannedCutoff)
	}
	return nil
}

// modeMergeOnRead reports whether a table's property key (write.update.mode,
// write.merge.mode) asks for merge-on-read (format version 2).
func modeMergeOnRead(tbl *table.Table, key string) bool {
	return tbl.Metadata().Version() >= 2 && strings.EqualFold(tbl.Properties().Get(key, ""), table.WriteModeMergeOnRead)
}

// rowsDiffer is SQL true when row w of the work table differs from row o
// of the rows read.
func rowsDiffer(cols []string) string {
	var w, o []string
	for _, c := range cols {
		w = append(w, "w."+c)
		o = append(o, "o."+c)
	}
	return fmt.Sprintf("ROW(%s) IS DISTINCT FROM ROW(%s)", strings.Join(w, ", "), strings.Join(o, ", "))
}

// mergeOnReadCommit commits what an UPDATE or MERGE changed without
// rewriting the files it read: the rows read that are gone or differ get
// position deletes, the rows that are new or differ go to new data files;
// one snapshot.
func (s *Service) mergeOnReadCommit(ctx context.Context, ex *Execution, sess *engine.Session, tbl *table.Table, tgt *engine.IcebergTarget, cols []string, attempt int) error {
	const diff, gone, added = "__tarn_diff", "__tarn_gone", "__tarn_added"
	// One pass over both: each row read that is gone or changed, each row
	// of the result that is new or changed.
	if err := sess.TempTable(ctx, diff, fmt.Sprintf("SELECT o.__tarn_f AS file_path, o.__tarn_p AS pos, w.rowid AS wrid FROM (SELECT *, rowid AS __tarn_rid FROM %s) o FULL JOIN %s w ON w.rowid = o.__tarn_rid WHERE w.rowid IS NULL OR o.__tarn_rid IS NULL OR %s",
		origTable, workTable, rowsDiffer(cols))); err != nil {
		return engineError(err)
	}
	if err := sess.TempTable(ctx, gone, "SELECT file_path, pos FROM "+diff+" WHERE file_path IS NOT NULL"); err != nil {
		return engineError(err)
	}
	var wcols []string
	for _, c := range cols {
		wcols = append(wcols, "w."+c)
	}
	if err := sess.TempTable(ctx, added, fmt.Sprintf("SELECT %s FROM %s w SEMI JOIN (SELECT wrid FROM %s WHERE wrid IS NOT NULL) d ON w.rowid = d.wrid",
		strings.Join(wcols, ", "), workTable, diff)); err != nil {
		return engineError(err)
	}
	files, err := queryStrings(ctx, sess, "SELECT DISTINCT file_path FROM "+gone+" ORDER BY 1")
	if err != nil {
		return err
	}
	var data, deletes []iceberggo.DataFile
	fail := func(err error) error {
		s.eng.DeleteIcebergFiles(context.WithoutCancel(ctx), append(data, deletes...))
		return err
	}
	var n int64
	if err := sess.Conn().QueryRowContext(ctx, "SELECT count(*) FROM "+added).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		wr, err := sess.WriteIceberg(ctx, "SELECT * FROM "+added, icebergWriteSpec(tbl, ex, attempt))
		if err != nil {
			return engineError(err)
		}
		data = wr.Files
	}
	if len(files) > 0 {
		groups, err := deleteGroups(tbl, tgt, files)
		if err != nil {
			return fail(err)
		}
		w := icebergWriteSpec(tbl, ex, attempt)
		w.RunID += "-d"
		wr, err := sess.WriteIcebergDeletes(ctx, "SELECT * FROM "+gone, w, groups)
		if err != nil {
			return fail(engineError(err))
		}
		deletes = wr.Files
	}
	if len(data) == 0 && len(deletes) == 0 {
		return nil
	}
	return s.commitRowDelta(ctx, ex, tbl, data, deletes)
}
