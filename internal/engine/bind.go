package engine

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/iceberg-go/table"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// allowedTableFuncs are the table functions user SQL may call: they compute
// rows and read no files. Every file read goes through a catalog table.
var allowedTableFuncs = map[string]bool{
	"range": true, "generate_series": true, "unnest": true, "json_each": true,
	"json_tree": true, "generate_subscripts": true,
}

// DefaultCatalogName is the catalog name Athena puts before databases
// ("awsdatacatalog"."db"."table"); tarn accepts it.
const DefaultCatalogName = "awsdatacatalog"

// Bound is a SELECT bound to the lake: SQL to run on the session, and per
// catalog table what it will read.
type Bound struct {
	SQL   string
	Scans []*TableScan
	// Rejects names the prefixes of DuckDB reject tables (<p>_errors,
	// <p>_scans) of strictly parsed text tables, when BindOptions.Rejects.
	Rejects []string
	// Relations are the warehouse relations the query reads ("schema.name",
	// lower case), in order of first reference.
	Relations []string
}

// BytesScanned sums the data scanned of every table, as Athena bills it.
func (b *Bound) BytesScanned() int64 {
	var n int64
	for _, s := range b.Scans {
		n += s.BytesScanned
	}
	return n
}

// TableScan is what a query reads of one catalog table.
type TableScan struct {
	Table catalog.Table
	// SQL is the SELECT over the table's selected files that replaces the
	// table in the query.
	SQL               string
	PartitionsTotal   int
	PartitionsScanned int
	// PartitionFiltered is true when every reference to the table restricts
	// its partition keys in its WHERE clause (Athena's "partition filter").
	PartitionFiltered bool
	Files             []FileRef
	// Columns referenced by the query (lower case); nil means all.
	Columns []string
	// BytesScanned is whole files for text formats and the referenced
	// columns' compressed chunks (plus footers) for Parquet.
	BytesScanned int64
}

// FileRef is one data file of a scan.
type FileRef struct {
	URI       string
	Path      string // local path DuckDB reads
	Size      int64
	ETag      string
	Partition int // index into the table's partitions, -1 if unpartitioned
	// header is a CSV file's column names, read before its scan is built.
	header []string
}

// BindOptions change how tables are bound (for writers such as jobs).
type BindOptions struct {
	// Skip, if set, leaves out files a writer has processed already (job
	// bookmarks). It is called for every listed file.
	Skip func(t catalog.Table, f FileRef) bool
	// Rejects parses text tables strictly: rows that do not parse or whose
	// values do not fit their column types go to reject tables (see
	// Bound.Rejects) instead of reading as NULL.
	Rejects bool
	// SerialCSV reads CSV files with one thread: DuckDB's parallel reader
	// cannot pad short rows (Athena's NULLs) in files with quoted newlines.
	SerialCSV bool
	// DescribeOnly binds a statement that will be described (its result
	// columns), not run: compressed files are not read to their end (a
	// job's definition is checked even while a bad file waits for its fix).
	DescribeOnly bool
}

// IsSerialCSVError reports whether err is DuckDB refusing to pad short rows
// in parallel in a CSV file with quoted newlines; binding again with
// BindOptions.SerialCSV reads such files.
func IsSerialCSVError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "does not support null_padding in conjunction with quoted new lines")
}

// refInfo is one reference to a catalog table in the query.
type refInfo struct {
	id       int
	node     node
	alias    string // name the query uses for it (alias or table name)
	table    *boundTable
	filters  []node // prunable conjuncts for this reference
	nullable bool   // on the NULL-extended side of an outer join
	inFrom   bool
}

// scanMarker names tables in the rewritten tree until their scans are
// spliced in.
const scanMarker = "__tarn_scan_7f3a_"

type boundTable struct {
	t    catalog.Table
	view string // marker name in the rewritten tree; also prefixes prune temp tables
	refs []*refInfo
	// ice is an Iceberg table's metadata; at its time travel clause; meta
	// the metadata table ("snapshots" for t$snapshots) it stands for.
	ice  *table.Table
	at   *asOf
	meta string
}

// Bind parses a SELECT with DuckDB's parser, resolves every table reference
// to a catalog table (unqualified names use defaultDB), prunes partitions with
// the WHERE clauses, and returns the SQL with each table replaced by a
// subquery over its selected files. A statement that is not a
// SELECT returns ErrNotSelect.
func (s *Session) Bind(ctx context.Context, query, defaultDB string) (*Bound, error) {
	return s.BindWith(ctx, query, defaultDB, BindOptions{})
}

// BindWith is Bind with options.
func (s *Session) BindWith(ctx context.Context, query, defaultDB string, opts BindOptions) (*Bound, error) {
	if strings.Contains(query, scanMarker) {
		return nil, fmt.Errorf("%w: %q is a name reserved by tarn", ErrSyntax, scanMarker)
	}
	tree, err := serialize(ctx, s.conn, rewriteTimeTravel(query))
	if err != nil {
		return nil, err
	}
	if _, err := statementNode(tree); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if containsFold(query, "TO_UTF8") {
		rewriteTrinoHashes(tree)
	}
	tables := map[string]*boundTable{}
	var rels *Relations
	expanded := 0
	whSeen := map[string]bool{}
	var whRels []string
	var order []*boundTable
	var refs []*refInfo
	var walkErr error
	walkScoped(tree, nil, func(n node, ctes *cteScope) bool {
		if walkErr != nil {
			return false
		}
		switch str(n, "type") {
		case "TABLE_FUNCTION":
			fn, _ := n["function"].(node)
			name := strings.ToLower(str(fn, "function_name"))
			if !allowedTableFuncs[name] {
				walkErr = fmt.Errorf("%w: %s() reads outside the catalog; query the data through a catalog table (database.table)", ErrPermission, name)
				return false
			}
		case "BASE_TABLE":
			cat, sch, tbl := str(n, "catalog_name"), str(n, "schema_name"), str(n, "table_name")
			if cat == "" && sch == "" && ctes.has(tbl) {
				return true // a CTE this reference can see: DuckDB resolves it
			}
			if rels == nil {
				if rels, walkErr = s.WarehouseRelations(ctx); walkErr != nil {
					return false
				}
			}
			res, err := rels.Resolve(cat, sch, tbl, defaultDB)
			if err != nil {
				walkErr = fmt.Errorf("%w: %v", catalog.ErrNoSuchDatabase, err)
				return false
			}
			if res.Temp {
				// The session's temporary table: DuckDB reads it natively.
				n["catalog_name"] = "temp"
				n["schema_name"] = "main"
				n["table_name"] = res.Name
				if str(n, "alias") == "" {
					n["alias"] = tbl
				}
				return true
			}
			if res.Warehouse {
				if err := s.e.HasWarehouse(); err != nil {
					walkErr = err
					return false
				}
				// tarn's bookkeeping (view definitions, external schemas) is
				// not for queries; only its Redshift system tables are.
				if res.Schema == SystemSchema && !SystemRelations[res.Name] {
					walkErr = fmt.Errorf("%w: schema %q is tarn's", ErrPermission, SystemSchema)
					return false
				}
				if rels.Kind(res.Schema, res.Name) == KindLateView {
					if expanded++; expanded > 32 {
						walkErr = fmt.Errorf("%w: views nest too deep (or refer to themselves)", ErrSyntax)
						return false
					}
					walkErr = s.expandView(ctx, n, rels, res, tbl)
					key := res.Schema + "." + res.Name
					if !whSeen[key] {
						whSeen[key] = true
						whRels = append(whRels, key)
					}
					return walkErr == nil
				}
				// A warehouse relation: DuckDB reads it natively.
				n["catalog_name"] = WarehouseCatalog
				n["schema_name"] = res.Schema
				n["table_name"] = res.Name
				if str(n, "alias") == "" {
					n["alias"] = tbl
				}
				key := res.Schema + "." + res.Name
				if !whSeen[key] {
					whSeen[key] = true
					whRels = append(whRels, key)
				}
				return true
			}
			db := res.Schema
			if db == "" {
				walkErr = fmt.Errorf("%w: table %q has no database: write database.%s or choose a default database", catalog.ErrNoSuchTable, tbl, tbl)
				return false
			}
			name, metaKind := res.Name, ""
			if base, kind, ok := splitMetadataName(name); ok {
				name, metaKind = base, kind
			}
			var at *asOf
			if atNode, _ := n["at_clause"].(node); atNode != nil {
				if at, walkErr = s.evalAsOf(ctx, atNode); walkErr != nil {
					return false
				}
				n["at_clause"] = nil
			}
			key := db + "." + name + "$" + metaKind + at.key()
			bt := tables[key]
			if bt == nil {
				t, err := s.e.cat.GetTable(ctx, db, name)
				if err == nil && (metaKind != "" || at != nil) && !isIceberg(t) {
					what := "time travel (FOR TIMESTAMP|VERSION AS OF)"
					if metaKind != "" {
						what = "metadata tables ($" + metaKind + ")"
					}
					walkErr = fmt.Errorf("%w: %s.%s is not an Iceberg table; %s need one (CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG'))", catalog.ErrInvalidTable, db, name, what)
					return false
				}
				if err != nil {
					if rels.Schemas[db] && (errors.Is(err, catalog.ErrNoSuchDatabase) || errors.Is(err, catalog.ErrNoSuchTable)) {
						err = fmt.Errorf("%w: %s.%s is neither a warehouse relation nor a catalog table", catalog.ErrNoSuchTable, db, res.Name)
					}
					walkErr = err
					return false
				}
				if t.TableType == catalog.TableTypeVirtualView {
					// An Athena view: its SELECT takes its place, and the
					// tables it reads are bound (and authorized) in turn.
					if expanded++; expanded > 32 {
						walkErr = fmt.Errorf("%w: views nest too deep (or refer to themselves)", ErrSyntax)
						return false
					}
					def := t.Properties[ViewSQLProperty]
					if def == "" {
						walkErr = fmt.Errorf("%w: view %s.%s was not created by tarn's CREATE VIEW: tarn cannot read its definition", catalog.ErrInvalidTable, db, res.Name)
						return false
					}
					names := make([]any, len(t.Columns))
					for i, c := range t.Columns {
						names[i] = c.Name
					}
					walkErr = s.expandDef(ctx, n, rels, [2]string{def, db}, db+"."+res.Name, tbl, names)
					return walkErr == nil
				}
				bt = &boundTable{t: t, view: fmt.Sprintf("%s%d", scanMarker, len(order)+1), at: at, meta: metaKind}
				if isIceberg(t) {
					if bt.ice, walkErr = s.e.loadIceberg(ctx, t); walkErr != nil {
						return false
					}
				}
				tables[key] = bt
				order = append(order, bt)
			}
			alias := str(n, "alias")
			if alias == "" {
				alias = tbl
			}
			r := &refInfo{id: len(refs), node: n, alias: alias, table: bt}
			n["__tarn_ref"] = json.Number(fmt.Sprint(r.id))
			refs = append(refs, r)
			bt.refs = append(bt.refs, r)
		}
		return true
	})
	if walkErr != nil {
		return nil, walkErr
	}

	// Attribute WHERE conjuncts to the references they can prune.
	walk(tree, func(n node) bool {
		if str(n, "type") != "SELECT_NODE" {
			return true
		}
		var from []*refInfo
		var others int // references whose columns tarn does not know
		collectFrom(n["from_table"], false, func(ref node, nullable bool) {
			if idn, ok := ref["__tarn_ref"].(json.Number); ok {
				id, _ := idn.Int64()
				r := refs[id]
				r.inFrom = true
				r.nullable = r.nullable || nullable
				from = append(from, r)
			} else if t := str(ref, "type"); t != "EMPTY" {
				others++
			}
		})
		if len(from) == 0 {
			return true
		}
		for _, c := range conjuncts(n["where_clause"]) {
			if !prunable(c) {
				continue
			}
			if r := attribute(c, from, others); r != nil && !r.nullable {
				r.filters = append(r.filters, c)
			}
		}
		return true
	})

	b := &Bound{Relations: whRels}
	for i, bt := range order {
		rejects := ""
		if opts.Rejects && bt.t.Format == catalog.FormatCSV {
			rejects = fmt.Sprintf("__tarn_rejects_%d", i+1)
			b.Rejects = append(b.Rejects, rejects)
			s.dropLater("DROP TABLE IF EXISTS " + rejects + "_errors")
			s.dropLater("DROP TABLE IF EXISTS " + rejects + "_scans")
		}
		var scan *TableScan
		var err error
		switch {
		case bt.meta != "":
			scan, err = s.metadataScan(ctx, bt)
		case bt.ice != nil:
			scan, err = s.icebergScan(ctx, bt, tree, opts.Skip)
		default:
			scan, err = s.scanTable(ctx, bt, tree, opts, rejects)
		}
		if err != nil {
			return nil, err
		}
		b.Scans = append(b.Scans, scan)
	}
	for _, r := range refs {
		delete(r.node, "__tarn_ref")
		r.node["catalog_name"] = ""
		r.node["schema_name"] = ""
		r.node["table_name"] = r.table.view
		r.node["alias"] = r.alias
	}
	text, err := deserialize(ctx, s.conn, tree)
	if err != nil {
		return nil, err
	}
	// Splice each table's scan in as a subquery. Doing this on the text
	// DuckDB printed (rather than through temp views) saves binding every
	// table twice; the marker is an identifier no user query contains.
	pairs := make([]string, 0, 2*len(order))
	for i := len(order) - 1; i >= 0; i-- { // longest marker first: t10 before t1
		pairs = append(pairs, order[i].view, "("+b.Scans[i].SQL+")")
	}
	b.SQL = strings.NewReplacer(pairs...).Replace(text)
	return b, nil
}

// collectFrom lists the references of a FROM clause with whether each is on
// the NULL-extended side of an outer join.
func collectFrom(ref any, nullable bool, fn func(ref node, nullable bool)) {
	n, ok := ref.(node)
	if !ok {
		return
	}
	if str(n, "type") != "JOIN" {
		fn(n, nullable)
		return
	}
	left, right := nullable, nullable
	switch str(n, "join_type") {
	case "LEFT":
		right = true
	case "RIGHT":
		left = true
	case "OUTER":
		left, right = true, true
	case "INNER":
	default: // SEMI, ANTI, MARK, ... : do not prune
		left, right = true, true
	}
	collectFrom(n["left"], left, fn)
	collectFrom(n["right"], right, fn)
}

// attribute returns the one reference whose partition keys a conjunct
// restricts, or nil if the conjunct mentions anything else.
func attribute(c node, from []*refInfo, others int) *refInfo {
	var target *refInfo
	cols := columnRefs(c)
	if len(cols) == 0 {
		return nil
	}
	for _, names := range cols {
		var r *refInfo
		switch len(names) {
		case 1:
			if others > 0 {
				return nil // an unknown relation might own this column
			}
			for _, cand := range from {
				if hasColumn(cand.table.t, names[0]) {
					if r != nil && r != cand {
						return nil // ambiguous
					}
					r = cand
				}
			}
			if r == nil || !isPartitionKey(r.table.t, names[0]) {
				return nil
			}
		case 2:
			for _, cand := range from {
				if strings.EqualFold(cand.alias, names[0]) {
					r = cand
				}
			}
			if r == nil || !isPartitionKey(r.table.t, names[1]) {
				return nil
			}
		default:
			return nil
		}
		if target != nil && target != r {
			return nil
		}
		target = r
	}
	return target
}

func hasColumn(t catalog.Table, name string) bool {
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return isPartitionKey(t, name)
}

func isPartitionKey(t catalog.Table, name string) bool {
	for _, c := range t.PartitionKeys {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return false
}

// scanTable prunes a table's partitions, lists its files, builds its scan SQL
// and computes its data scanned.
func (s *Session) scanTable(ctx context.Context, bt *boundTable, tree node, opts BindOptions, rejects string) (*TableScan, error) {
	skip, serial := opts.Skip, opts.SerialCSV
	t := bt.t
	scan := &TableScan{Table: t, Columns: referencedColumns(tree, bt)}
	var parts []catalog.Partition
	selected := []int{-1}
	if len(t.PartitionKeys) > 0 {
		var err error
		parts, err = s.partitions(ctx, bt)
		if err != nil {
			return nil, err
		}
		scan.PartitionsTotal = len(parts)
		selected, err = s.prune(ctx, bt, parts)
		if err != nil {
			return nil, err
		}
		scan.PartitionsScanned = len(selected)
		scan.PartitionFiltered = true
		for _, r := range bt.refs {
			if !r.inFrom || len(r.filters) == 0 {
				scan.PartitionFiltered = false
			}
		}
	}
	files, err := s.e.listFiles(ctx, t, parts, selected)
	if err != nil {
		return nil, err
	}
	if skip != nil {
		kept := files[:0]
		for _, f := range files {
			if !skip(t, f) {
				kept = append(kept, f)
			}
		}
		files = kept
	}
	uris := make([]string, len(files))
	for i, f := range files {
		uris[i] = f.URI
	}
	s.e.files.add(uris)
	s.held = append(s.held, uris...)
	if err := s.fetch(ctx, files); err != nil { // a remote store's files, in parallel
		return nil, fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
	}
	for i := range files {
		p, cleanup, err := s.fetchedPath(ctx, files[i].URI)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s of table %s: %w", files[i].URI, t.FullName(), err)
		}
		s.cleanups = append(s.cleanups, cleanup)
		files[i].Path = p
		// DuckDB's readers overflow their stack on deeply nested JSON and
		// stop without an error where a truncated gzip ends: check first
		// (once per unchanged file).
		check := s.e.CheckCompressed
		if t.Format == catalog.FormatJSON {
			check = s.e.CheckJSONFile
		}
		if t.Format != catalog.FormatParquet && (t.Format == catalog.FormatJSON || !opts.DescribeOnly) {
			if err := check(ctx, p); err != nil {
				return nil, fmt.Errorf("cannot read %s of table %s: %w", files[i].URI, t.FullName(), err)
			}
		}
	}
	scan.Files = files
	absent, err := s.e.fileSchemas(ctx, s, t, files)
	if err != nil {
		return nil, err
	}
	scan.SQL, err = scanSQL(t, parts, files, rejects, serial, absent)
	if err != nil {
		return nil, err
	}
	scan.BytesScanned, err = s.e.bytesScanned(ctx, s, t, files, scan.Columns)
	if err != nil {
		return nil, err
	}
	return scan, nil
}

// prune returns the indexes of the partitions any reference may read. It
// evaluates the references' partition filters with DuckDB over a temp table
// of partition values, so every SQL predicate DuckDB knows works.
func (s *Session) prune(ctx context.Context, bt *boundTable, parts []catalog.Partition) ([]int, error) {
	all := func() []int {
		out := make([]int, len(parts))
		for i := range out {
			out[i] = i
		}
		return out
	}
	var ors []any
	for _, r := range bt.refs {
		if !r.inFrom || len(r.filters) == 0 {
			return all(), nil
		}
		var ands []any
		for _, f := range r.filters {
			c := deepCopy(f)
			unqualify(c)
			ands = append(ands, c)
		}
		ors = append(ors, conjunction("CONJUNCTION_AND", ands))
	}
	if len(parts) == 0 {
		return nil, nil
	}
	t := bt.t
	raw := bt.view + "_parts"
	cols := []string{"__tarn_pid INTEGER"}
	proj := []string{"__tarn_pid"}
	for _, k := range t.PartitionKeys {
		cols = append(cols, QuoteIdent(k.Name)+" VARCHAR")
		typ, err := catalog.ParseType(k.Type)
		if err != nil {
			return nil, err
		}
		proj = append(proj, fmt.Sprintf("TRY_CAST(%s AS %s) AS %s", QuoteIdent(k.Name), typ.DuckDB(), QuoteIdent(k.Name)))
	}
	if _, err := s.conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (%s)", raw, strings.Join(cols, ", "))); err != nil {
		return nil, fmt.Errorf("cannot prune partitions of %s: %w", t.FullName(), err)
	}
	s.dropLater("DROP TABLE IF EXISTS " + raw)
	err := s.conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", raw)
		if err != nil {
			return err
		}
		row := make([]driver.Value, len(t.PartitionKeys)+1)
		for i, p := range parts {
			row[0] = int32(i)
			for j := range t.PartitionKeys {
				if j < len(p.Values) {
					row[j+1] = p.Values[j]
				} else {
					row[j+1] = nil
				}
			}
			if err := app.AppendRow(row...); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("cannot prune partitions of %s: %w", t.FullName(), err)
	}
	typed := bt.view + "_pv"
	if _, err := s.conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT %s FROM %s", typed, strings.Join(proj, ", "), raw)); err != nil {
		return nil, fmt.Errorf("cannot prune partitions of %s: %w", t.FullName(), err)
	}
	s.dropLater("DROP VIEW IF EXISTS " + typed)

	tmpl, err := serialize(ctx, s.conn, "SELECT __tarn_pid FROM "+typed+" WHERE true ORDER BY 1")
	if err != nil {
		return nil, err
	}
	root, _ := statementNode(tmpl)
	where := ors[0]
	if len(ors) > 1 {
		where = conjunction("CONJUNCTION_OR", ors)
	}
	root["where_clause"] = where
	q, err := deserialize(ctx, s.conn, tmpl)
	if err != nil {
		return all(), nil // a filter DuckDB cannot print back: read everything
	}
	rows, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		// The filter may fail on partition values alone (e.g. a type error the
		// full query would report too): do not prune, let the query decide.
		return all(), nil
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func conjunction(typ string, children []any) node {
	if len(children) == 1 {
		if n, ok := children[0].(node); ok {
			return n
		}
	}
	return node{"class": "CONJUNCTION", "type": typ, "alias": "", "children": children,
		"query_location": json.Number("18446744073709551615")}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case node:
		m := make(node, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// referencedColumns returns the lower-case names of the table's columns the
// query may read; nil means all of them (a star that may expand to it).
func referencedColumns(tree node, bt *boundTable) []string {
	aliases := map[string]bool{}
	for _, r := range bt.refs {
		aliases[strings.ToLower(r.alias)] = true
	}
	star := false
	names := map[string]bool{}
	walk(tree, func(n node) bool {
		switch str(n, "class") {
		case "STAR":
			rel := strings.ToLower(str(n, "relation_name"))
			if rel == "" || aliases[rel] {
				star = true
			}
		case "COLUMN_REF":
			for _, c := range strs(n, "column_names") {
				names[strings.ToLower(c)] = true
			}
		}
		return !star
	})
	if star {
		return nil
	}
	out := []string{}
	for _, c := range bt.t.Columns {
		if names[strings.ToLower(c.Name)] {
			out = append(out, strings.ToLower(c.Name))
		}
	}
	sort.Strings(out)
	return out
}

// expandView replaces a reference to a late-binding view, in place, by a
// subquery of its definition; the walk then binds what the view reads.
// Unqualified names in the definition that are not the view's CTEs or
// warehouse relations are tables of the database the view was created in.
func (s *Session) expandView(ctx context.Context, n node, rels *Relations, res Resolved, name string) error {
	return s.expandDef(ctx, n, rels, rels.Late[res.Schema+"."+res.Name], res.Schema+"."+res.Name, name, []any{})
}

// ViewSQLProperty is the catalog property that holds an Athena view's
// SELECT (a VIRTUAL_VIEW table created by CREATE VIEW).
const ViewSQLProperty = "tarn.view.sql"

// expandDef replaces the table reference n by the view definition def (its
// SELECT, and the database its unqualified names are in); cols, if not
// empty, name its columns (an Athena view's _colN).
func (s *Session) expandDef(ctx context.Context, n node, rels *Relations, def [2]string, label, name string, cols []any) error {
	tree, err := serialize(ctx, s.conn, def[0])
	if err != nil {
		return fmt.Errorf("cannot expand view %s: %w", label, err)
	}
	root, err := statementNode(tree)
	if err != nil {
		return err
	}
	if def[1] != "" {
		walkScoped(root, nil, func(x node, own *cteScope) bool {
			if str(x, "type") == "BASE_TABLE" && str(x, "catalog_name") == "" && str(x, "schema_name") == "" {
				t := strings.ToLower(str(x, "table_name"))
				if !own.has(t) && rels.Kind(PublicSchema, t) == "" && !SystemRelations[t] {
					x["catalog_name"] = DefaultCatalogName
					x["schema_name"] = def[1]
				}
			}
			return true
		})
	}
	alias := str(n, "alias")
	if alias == "" {
		alias = name
	}
	for k := range n {
		delete(n, k)
	}
	n["type"] = "SUBQUERY"
	n["alias"] = alias
	n["column_name_alias"] = cols
	n["sample"] = nil
	n["query_location"] = json.Number("18446744073709551615")
	n["subquery"] = node{"node": root, "named_param_map": []any{}}
	return nil
}
