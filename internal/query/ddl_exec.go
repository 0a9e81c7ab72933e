package query

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/storage"
)

// DefaultDatabase is the database Athena's catalog always has. tarn creates
// it the first time Athena's SQL looks for it (CREATE TABLE, SHOW TABLES,
// SHOW DATABASES), as Glue creates its own on first use, rather than in
// every new lake, whose catalog stays as the user made it.
const DefaultDatabase = "default"

func (s *Service) ensureDefaultDatabase(ctx context.Context, db string) error {
	if db != DefaultDatabase {
		return nil
	}
	return s.cat.CreateDatabase(ctx, catalog.Database{Name: DefaultDatabase, Description: "Default database"}, true)
}

func (s *Service) runDDL(ctx context.Context, stmt any, req Request, sink Sink, ex *Execution) error {
	dbOr := func(db string) (string, error) { return databaseOr(db, req) }
	emit := func(cols []string, rows [][]any) error {
		cs := make([]Column, len(cols))
		for i, c := range cols {
			cs[i] = Column{Name: c, Type: "VARCHAR"}
		}
		if err := sink.Columns(cs); err != nil {
			return err
		}
		for _, r := range rows {
			if err := sink.Row(r); err != nil {
				return err
			}
			ex.Stats.Rows++
		}
		return nil
	}
	switch st := stmt.(type) {
	case createDatabase:
		if st.Location != "" {
			if _, err := storage.ParseURI(st.Location); err != nil {
				return err
			}
		}
		err := s.cat.CreateDatabase(ctx, catalog.Database{Name: st.Name, Description: st.Comment, Location: st.Location, Properties: st.Properties}, st.IfNotExists)
		if err != nil {
			return err
		}
		return emit(nil, nil)
	case dropDatabase:
		err := s.cat.DropDatabase(ctx, strings.ToLower(st.Name), st.Cascade)
		if st.IfExists && errors.Is(err, catalog.ErrNoSuchDatabase) {
			err = nil
		}
		if errors.Is(err, catalog.ErrDatabaseNotEmpty) {
			return fmt.Errorf("%w: drop its tables first or use DROP DATABASE %s CASCADE", err, st.Name)
		}
		if err != nil {
			return err
		}
		return emit(nil, nil)
	case createTable:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		if err := s.ensureDefaultDatabase(ctx, db); err != nil {
			return err
		}
		t := st.Table
		t.Database, t.Name = db, strings.ToLower(st.Name)
		if t.Location == "" {
			return fmt.Errorf("%w: LOCATION 's3://bucket/prefix/' is required for an external table", catalog.ErrInvalidTable)
		}
		loc, err := storage.ParseURI(t.Location)
		if err != nil {
			return err
		}
		t.Location = loc.Dir().String()
		err = s.cat.CreateTable(ctx, t)
		if st.IfNotExists && errors.Is(err, catalog.ErrTableExists) {
			err = nil
		}
		if err != nil {
			return err
		}
		return emit(nil, nil)
	case dropTable:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		err = s.cat.DropTable(ctx, db, strings.ToLower(st.Name))
		if st.IfExists && errors.Is(err, catalog.ErrNoSuchTable) {
			err = nil
		}
		if err != nil {
			return err
		}
		return emit(nil, nil)
	case repairTable:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		added, err := RepairTable(ctx, s.cat, s.store, t)
		if err != nil {
			return err
		}
		var rows [][]any
		for _, p := range added {
			rows = append(rows, []any{"Repair: Added partition to metastore " + t.Name + ":" + catalog.PartitionName(t.PartitionKeys, p.Values)})
		}
		return emit([]string{"result"}, rows)
	case addPartitions:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		var parts []catalog.Partition
		for _, ps := range st.Parts {
			vals, err := specValues(t, ps.Values)
			if err != nil {
				return err
			}
			loc := ps.Location
			if loc == "" {
				base, err := storage.ParseURI(t.Location)
				if err != nil {
					return err
				}
				loc = base.Join(catalog.PartitionPath(t.PartitionKeys, vals) + "/").String()
			} else {
				u, err := storage.ParseURI(loc)
				if err != nil {
					return err
				}
				loc = u.Dir().String()
			}
			parts = append(parts, catalog.Partition{Values: vals, Location: loc})
		}
		for i := range parts {
			countFiles(ctx, s.store, &parts[i])
		}
		if _, err := s.cat.AddPartitions(ctx, db, t.Name, parts, st.IfNotExists); err != nil {
			return err
		}
		return emit(nil, nil)
	case dropPartitions:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		var vals [][]string
		for _, ps := range st.Parts {
			v, err := specValues(t, ps.Values)
			if err != nil {
				return err
			}
			vals = append(vals, v)
		}
		n, err := s.cat.DropPartitions(ctx, db, t.Name, vals)
		if err != nil {
			return err
		}
		if n < len(vals) && !st.IfExists {
			return fmt.Errorf("%w: %d of %d partitions did not exist in %s (use DROP IF EXISTS)", catalog.ErrNoSuchPartition, len(vals)-n, len(vals), t.FullName())
		}
		return emit(nil, nil)
	case setTableProperties:
		if err := s.setTableProperties(ctx, req, st); err != nil {
			return err
		}
		return emit(nil, nil)
	case alterHiveColumns:
		if err := s.alterHiveColumns(ctx, req, st); err != nil {
			return err
		}
		return emit(nil, nil)
	case showDatabases:
		if err := s.ensureDefaultDatabase(ctx, DefaultDatabase); err != nil {
			return err
		}
		dbs, err := s.cat.ListDatabases(ctx)
		if err != nil {
			return err
		}
		var rows [][]any
		for _, d := range dbs {
			if likeMatch(st.Like, d.Name) {
				rows = append(rows, []any{d.Name})
			}
		}
		return emit([]string{"database_name"}, rows)
	case showTables:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		if err := s.ensureDefaultDatabase(ctx, db); err != nil {
			return err
		}
		ts, err := s.cat.ListTables(ctx, db)
		if err != nil {
			return err
		}
		var rows [][]any
		for _, t := range ts {
			if likeMatch(st.Like, t.Name) {
				rows = append(rows, []any{t.Name})
			}
		}
		return emit([]string{"tab_name"}, rows)
	case showPartitions:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		if len(t.PartitionKeys) == 0 {
			return fmt.Errorf("%w: table %s is not partitioned", catalog.ErrInvalidPartition, t.FullName())
		}
		parts, err := s.cat.ListPartitions(ctx, db, t.Name)
		if err != nil {
			return err
		}
		var rows [][]any
		for _, p := range parts {
			rows = append(rows, []any{catalog.PartitionName(t.PartitionKeys, p.Values)})
		}
		return emit([]string{"partition"}, rows)
	case showCreateTable:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		return emit([]string{"createtab_stmt"}, [][]any{{ShowCreateTable(t)}})
	case describeTable:
		db, err := dbOr(st.DB)
		if err != nil {
			return err
		}
		t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
		if err != nil {
			return err
		}
		var rows [][]any
		for _, c := range t.Columns {
			rows = append(rows, []any{c.Name, c.Type, c.Comment})
		}
		for _, c := range t.PartitionKeys {
			rows = append(rows, []any{c.Name, c.Type, c.Comment})
		}
		if len(t.PartitionKeys) > 0 {
			rows = append(rows, []any{"", "", ""}, []any{"# Partition Information", "", ""}, []any{"# col_name", "data_type", "comment"})
			for _, c := range t.PartitionKeys {
				rows = append(rows, []any{c.Name, c.Type, c.Comment})
			}
		}
		if st.Extended {
			rows = append(rows, []any{"", "", ""}, []any{"# Detailed Table Information", "", ""},
				[]any{"Location", t.Location, ""}, []any{"Format", t.Format, ""}, []any{"Table Type", t.TableType, ""},
				[]any{"Version", fmt.Sprint(t.Version), ""})
		}
		return emit([]string{"col_name", "data_type", "comment"}, rows)
	}
	return fmt.Errorf("%w: %T", ErrUnsupported, stmt)
}

// specValues orders PARTITION (k=v, ...) values as the table's keys.
func specValues(t catalog.Table, kvs [][2]string) ([]string, error) {
	if len(kvs) != len(t.PartitionKeys) {
		return nil, fmt.Errorf("%w: %s has partition keys (%s), got %d values", catalog.ErrInvalidPartition, t.FullName(), catalog.ColumnList(t.PartitionKeys), len(kvs))
	}
	vals := make([]string, len(t.PartitionKeys))
	for i, k := range t.PartitionKeys {
		found := false
		for _, kv := range kvs {
			if strings.EqualFold(kv[0], k.Name) {
				vals[i], found = kv[1], true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: missing value for partition key %q of %s", catalog.ErrInvalidPartition, k.Name, t.FullName())
		}
	}
	return vals, nil
}

// RepairTable (MSCK REPAIR TABLE) adds the partitions found as Hive-style
// key=value folders below the table's location that the catalog lacks.
func RepairTable(ctx context.Context, cat *catalog.Catalog, store storage.ObjectStore, t catalog.Table) ([]catalog.Partition, error) {
	if len(t.PartitionKeys) == 0 {
		return nil, fmt.Errorf("%w: table %s is not partitioned", catalog.ErrInvalidPartition, t.FullName())
	}
	loc, err := storage.ParseURI(t.Location)
	if err != nil {
		return nil, err
	}
	loc = loc.Dir()
	found := map[string]*catalog.Partition{}
	var order []string
	for o, err := range storage.Walk(ctx, store, loc.Bucket, loc.Key) {
		if err != nil {
			return nil, fmt.Errorf("cannot list %s: %w", loc, err)
		}
		rel := strings.TrimPrefix(o.Key, loc.Key)
		segs := strings.Split(rel, "/")
		if len(segs) <= len(t.PartitionKeys) {
			continue
		}
		vals := make([]string, len(t.PartitionKeys))
		ok := true
		for i, k := range t.PartitionKeys {
			kk, v, has := strings.Cut(segs[i], "=")
			if !has || !strings.EqualFold(kk, k.Name) || v == "" {
				ok = false
				break
			}
			vals[i] = catalog.UnescapePathName(v)
		}
		if !ok {
			continue
		}
		dir := strings.Join(segs[:len(t.PartitionKeys)], "/") + "/"
		if !engine.IsDataFile(strings.Join(segs[len(t.PartitionKeys):], "/"), o.Size) {
			continue
		}
		p := found[dir]
		if p == nil {
			p = &catalog.Partition{Values: vals, Location: loc.Join(dir).String()}
			found[dir] = p
			order = append(order, dir)
		}
		p.FileCount++
		p.Bytes += o.Size
	}
	existing, err := cat.ListPartitions(ctx, t.Database, t.Name)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, p := range existing {
		have[strings.Join(p.Values, "\x00")] = true
	}
	sort.Strings(order)
	var add []catalog.Partition
	for _, dir := range order {
		p := found[dir]
		if !have[strings.Join(p.Values, "\x00")] {
			add = append(add, *p)
		}
	}
	if len(add) == 0 {
		return nil, nil
	}
	if _, err := cat.AddPartitions(ctx, t.Database, t.Name, add, true); err != nil {
		return nil, err
	}
	return add, nil
}

func countFiles(ctx context.Context, store storage.ObjectStore, p *catalog.Partition) {
	u, err := storage.ParseURI(p.Location)
	if err != nil {
		return
	}
	for o, err := range storage.Walk(ctx, store, u.Bucket, u.Key) {
		if err != nil {
			return
		}
		if engine.IsDataFile(strings.TrimPrefix(o.Key, u.Key), o.Size) {
			p.FileCount++
			p.Bytes += o.Size
		}
	}
}

// likeMatch applies SHOW ... LIKE patterns: Hive's '*' wildcard and '|'
// alternatives, or SQL's '%'.
func likeMatch(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	for _, alt := range strings.Split(pattern, "|") {
		g := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(alt), "%", "*"), "_", "?")
		if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(name)); ok {
			return true
		}
	}
	return false
}

// ShowCreateTable renders a table as Athena's CREATE EXTERNAL TABLE.
func ShowCreateTable(t catalog.Table) string {
	var b strings.Builder
	if def := t.Properties[engine.ViewSQLProperty]; t.TableType == catalog.TableTypeVirtualView && def != "" {
		fmt.Fprintf(&b, "CREATE VIEW `%s`.`%s` AS\n%s", t.Database, t.Name, def)
		return b.String()
	}
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE `%s`.`%s`(\n", t.Database, t.Name)
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ")"
		}
		fmt.Fprintf(&b, "  `%s` %s%s\n", strings.ReplaceAll(c.Name, "`", "``"), c.Type, sep)
	}
	if len(t.PartitionKeys) > 0 {
		b.WriteString("PARTITIONED BY (\n")
		for i, c := range t.PartitionKeys {
			sep := ","
			if i == len(t.PartitionKeys)-1 {
				sep = ")"
			}
			fmt.Fprintf(&b, "  `%s` %s%s\n", c.Name, c.Type, sep)
		}
	}
	switch t.Format {
	case catalog.FormatParquet:
		b.WriteString("STORED AS PARQUET\n")
	case catalog.FormatJSON:
		b.WriteString("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nSTORED AS TEXTFILE\n")
	default:
		d := t.FormatOptions[catalog.OptDelimiter]
		fmt.Fprintf(&b, "ROW FORMAT DELIMITED\n  FIELDS TERMINATED BY '%s'\nSTORED AS TEXTFILE\n", escapeDelim(d))
	}
	fmt.Fprintf(&b, "LOCATION\n  '%s'\n", t.Location)
	props := map[string]string{}
	for k, v := range t.Properties {
		props[k] = v
	}
	if strings.EqualFold(t.FormatOptions[catalog.OptHeader], "true") {
		props["skip.header.line.count"] = "1"
	}
	if len(props) > 0 {
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("TBLPROPERTIES (\n")
		for i, k := range keys {
			sep := ","
			if i == len(keys)-1 {
				sep = ")"
			}
			fmt.Fprintf(&b, "  '%s'='%s'%s\n", k, strings.ReplaceAll(props[k], "'", "\\'"), sep)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func escapeDelim(d string) string {
	switch d {
	case "\t":
		return `\t`
	case "\x01":
		return `\001`
	case "'":
		return `\'`
	}
	return d
}
