package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Partition projection (Athena): a table with projection.enabled = 'true'
// computes its partitions from its properties instead of the catalog, so a
// table with years of hourly partitions needs no MSCK REPAIR and no
// partition registry. Supported types: enum, integer, date and injected
// (values taken from the query's WHERE clause); the location of a partition
// is storage.location.template with ${key} replaced, or the table's location
// with key=value folders.

var (
	// ErrProjection is a table's projection properties being unusable.
	ErrProjection = errors.New("invalid partition projection")
	// ErrInjectedFilter is a query that does not give the values of an
	// injected projection column with = or IN in its WHERE clause.
	ErrInjectedFilter = errors.New("injected partition projection column not filtered")
)

// injectedError names the table and injected column a query must filter.
// It unwraps to ErrInjectedFilter.
type injectedError struct{ table, column string }

func (e *injectedError) Error() string {
	return fmt.Sprintf("partition projection column %s of table %s is injected: the query must filter it with = or IN", e.column, e.table)
}

func (e *injectedError) Unwrap() error { return ErrInjectedFilter }

// injectedKeys returns the partition keys of a projected table whose
// projection type is injected.
func injectedKeys(t catalog.Table) []catalog.Column {
	var out []catalog.Column
	for _, k := range t.PartitionKeys {
		if strings.EqualFold(strings.TrimSpace(t.Properties["projection."+k.Name+".type"]), "injected") {
			out = append(out, k)
		}
	}
	return out
}

// maxProjected bounds the partitions one projection may produce.
const maxProjected = 1_000_000

// projected reports whether a table uses partition projection.
func projected(t catalog.Table) bool {
	return strings.EqualFold(t.Properties["projection.enabled"], "true") && len(t.PartitionKeys) > 0
}

// projectPartitions computes a table's partitions from its projection
// properties, at time now (for NOW in date ranges). injected holds the
// values of the injected keys (by lower-case name), taken from the query; a
// missing injected key is an error naming it.
func projectPartitions(t catalog.Table, now time.Time, injected map[string][]string) ([]catalog.Partition, error) {
	values := make([][]string, len(t.PartitionKeys))
	total := 1
	tmpl := t.Properties["storage.location.template"]
	for i, k := range t.PartitionKeys {
		var vs []string
		var err error
		if strings.EqualFold(strings.TrimSpace(t.Properties["projection."+k.Name+".type"]), "injected") {
			var ok bool
			if vs, ok = injected[strings.ToLower(k.Name)]; !ok {
				return nil, &injectedError{table: t.FullName(), column: k.Name}
			}
			if tmpl != "" {
				for _, v := range vs {
					if !safeSegment(v) {
						return nil, fmt.Errorf("%w: value %q of injected partition projection column %s of table %s cannot be a path in storage.location.template",
							storage.ErrInvalidKey, v, k.Name, t.FullName())
					}
				}
			}
		} else if vs, err = projectKey(t, k.Name, now); err != nil {
			return nil, fmt.Errorf("%w on %s, key %q: %v", ErrProjection, t.FullName(), k.Name, err)
		}
		values[i] = vs
		total *= max(1, len(vs))
		if total > maxProjected {
			return nil, fmt.Errorf("%w on %s: more than %d partitions", ErrProjection, t.FullName(), maxProjected)
		}
	}
	loc := t.Location
	if !strings.HasSuffix(loc, "/") {
		loc += "/"
	}
	var out []catalog.Partition
	cur := make([]string, len(values))
	var rec func(i int)
	rec = func(i int) {
		if i == len(values) {
			p := catalog.Partition{Values: append([]string(nil), cur...)}
			if tmpl != "" {
				l := tmpl
				for j, k := range t.PartitionKeys {
					l = strings.ReplaceAll(l, "${"+k.Name+"}", cur[j])
				}
				if !strings.HasSuffix(l, "/") {
					l += "/"
				}
				p.Location = l
			} else {
				p.Location = loc + catalog.PartitionPath(t.PartitionKeys, cur) + "/"
			}
			out = append(out, p)
			return
		}
		for _, v := range values[i] {
			cur[i] = v
			rec(i + 1)
		}
	}
	rec(0)
	return out, nil
}

func projectKey(t catalog.Table, key string, now time.Time) ([]string, error) {
	prop := func(name string) string { return t.Properties["projection."+key+"."+name] }
	switch strings.ToLower(strings.TrimSpace(prop("type"))) {
	case "enum":
		var out []string
		for _, v := range strings.Split(prop("values"), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("projection.<key>.values is empty")
		}
		return out, nil
	case "integer":
		lo, hi, ok := strings.Cut(prop("range"), ",")
		a, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		b, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
		if !ok || err1 != nil || err2 != nil || b < a {
			return nil, fmt.Errorf("projection.<key>.range %q must be 'min,max'", prop("range"))
		}
		step := int64(1)
		if s := prop("interval"); s != "" {
			if step, err1 = strconv.ParseInt(s, 10, 64); err1 != nil || step <= 0 {
				return nil, fmt.Errorf("projection.<key>.interval %q must be a positive integer", s)
			}
		}
		digits, _ := strconv.Atoi(prop("digits"))
		if (b-a)/step > maxProjected {
			return nil, fmt.Errorf("more than %d values", maxProjected)
		}
		var out []string
		for v := a; v <= b; v += step {
			s := strconv.FormatInt(v, 10)
			for len(s) < digits {
				s = "0" + s
			}
			out = append(out, s)
		}
		return out, nil
	case "date":
		layout := javaLayout(prop("format"))
		if layout == "" {
			return nil, fmt.Errorf("projection.<key>.format %q: use a date format such as yyyy-MM-dd or yyyy/MM/dd/HH", prop("format"))
		}
		lo, hi, ok := strings.Cut(prop("range"), ",")
		if !ok {
			return nil, fmt.Errorf("projection.<key>.range %q must be 'start,end'", prop("range"))
		}
		start, err := projDate(strings.TrimSpace(lo), layout, now)
		if err != nil {
			return nil, err
		}
		end, err := projDate(strings.TrimSpace(hi), layout, now)
		if err != nil {
			return nil, err
		}
		n := 1
		if s := prop("interval"); s != "" {
			if n, err = strconv.Atoi(s); err != nil || n <= 0 {
				return nil, fmt.Errorf("projection.<key>.interval %q must be a positive integer", s)
			}
		}
		unit := strings.ToUpper(prop("interval.unit"))
		if unit == "" {
			unit = "DAYS"
		}
		var out []string
		for d, i := start, 0; !d.After(end); i++ {
			if i > maxProjected {
				return nil, fmt.Errorf("more than %d values", maxProjected)
			}
			out = append(out, d.Format(layout))
			if d, err = addUnit(d, n, unit); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "":
		return nil, errors.New("projection.<key>.type is missing (enum, integer, date or injected)")
	}
	return nil, fmt.Errorf("projection.<key>.type %q is not enum, integer, date or injected", prop("type"))
}

// safeSegment reports whether an injected value can replace ${key} in a
// location template without leaving the template's folder: no empty, "."
// or ".." segments, backslashes or NUL bytes.
func safeSegment(v string) bool {
	if strings.ContainsAny(v, "\\\x00") {
		return false
	}
	for _, s := range strings.Split(v, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// javaLayout turns a Java date format (as Athena takes it) into a Go layout.
func javaLayout(f string) string {
	if f == "" {
		return ""
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05")
	out := r.Replace(f)
	if out == f {
		return ""
	}
	return out
}

func projDate(s, layout string, now time.Time) (time.Time, error) {
	if rest, ok := strings.CutPrefix(strings.ToUpper(s), "NOW"); ok {
		now = now.UTC()
		if rest == "" {
			return now, nil
		}
		sign := 1
		switch rest[0] {
		case '-':
			sign = -1
		case '+':
		default:
			return time.Time{}, fmt.Errorf("date %q: write NOW, NOW-3DAYS or NOW+1HOURS", s)
		}
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		n, err := strconv.Atoi(rest[1:i])
		if err != nil {
			return time.Time{}, fmt.Errorf("date %q: write NOW-3DAYS", s)
		}
		return addUnit(now, sign*n, rest[i:])
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q does not match the format: %v", s, err)
	}
	return t, nil
}

func addUnit(t time.Time, n int, unit string) (time.Time, error) {
	switch strings.TrimSuffix(strings.ToUpper(unit), "S") {
	case "YEAR":
		return t.AddDate(n, 0, 0), nil
	case "MONTH":
		return t.AddDate(0, n, 0), nil
	case "WEEK":
		return t.AddDate(0, 0, 7*n), nil
	case "DAY":
		return t.AddDate(0, 0, n), nil
	case "HOUR":
		return t.Add(time.Duration(n) * time.Hour), nil
	case "MINUTE":
		return t.Add(time.Duration(n) * time.Minute), nil
	case "SECOND":
		return t.Add(time.Duration(n) * time.Second), nil
	}
	return time.Time{}, fmt.Errorf("interval unit %q is not YEARS, MONTHS, WEEKS, DAYS, HOURS, MINUTES or SECONDS", unit)
}

// partitions returns the partitions of a table a query binds: for a
// projected table with injected keys, their values come from the
// references' WHERE clauses.
func (s *Session) partitions(ctx context.Context, bt *boundTable) ([]catalog.Partition, error) {
	t := bt.t
	if !projected(t) {
		return s.e.cat.ListPartitions(ctx, t.Database, t.Name)
	}
	var injected map[string][]string
	if keys := injectedKeys(t); len(keys) > 0 {
		injected = map[string][]string{}
		for _, k := range keys {
			vs, err := s.injectedValues(ctx, bt, k)
			if err != nil {
				return nil, err
			}
			injected[strings.ToLower(k.Name)] = vs
		}
	}
	return projectPartitions(t, time.Now(), injected)
}

// injectedValues returns the values of an injected key that the query
// selects: every reference to the table must restrict the key with
// key = expr, key IN (exprs) or an OR of those, where the expressions use no
// column. The values are the union over the references, each expression
// cast to the key's type and back to text by DuckDB (so 2025, '2025' and
// 2025::BIGINT all give "2025"). Pruning later evaluates the whole WHERE
// clause over the projected partitions, so a superset is harmless.
func (s *Session) injectedValues(ctx context.Context, bt *boundTable, k catalog.Column) ([]string, error) {
	var exprs []node
	for _, r := range bt.refs {
		found := false
		if r.inFrom {
			for _, f := range r.filters {
				if es, ok := injectedExprs(f, k.Name); ok {
					exprs = append(exprs, es...)
					found = true
					break
				}
			}
		}
		if !found {
			return nil, &injectedError{table: bt.t.FullName(), column: k.Name}
		}
	}
	typ, err := catalog.ParseType(k.Type)
	if err != nil {
		return nil, err
	}
	// One row per value: unnest a list of casts, each over one expression.
	tree, err := serialize(ctx, s.conn, fmt.Sprintf("SELECT unnest([CAST(TRY_CAST(__tarn_v AS %s) AS VARCHAR)])", typ.DuckDB()))
	if err != nil {
		return nil, err
	}
	var list node
	walk(tree, func(n node) bool {
		if list == nil && str(n, "class") == "FUNCTION" && strings.EqualFold(str(n, "function_name"), "list_value") {
			list = n
		}
		return list == nil
	})
	var cast any
	if ch, _ := list["children"].([]any); len(ch) == 1 {
		cast = ch[0]
	}
	if cast == nil {
		return nil, fmt.Errorf("cannot project partitions of %s: unexpected cast template", bt.t.FullName())
	}
	items := make([]any, 0, len(exprs))
	for _, e := range exprs {
		c := deepCopy(cast)
		walk(c, func(n node) bool {
			if str(n, "class") == "COLUMN_REF" {
				for key := range n {
					delete(n, key)
				}
				for key, v := range deepCopy(e).(node) {
					n[key] = v
				}
				n["alias"] = ""
				return false
			}
			return true
		})
		items = append(items, c)
	}
	list["children"] = items
	q, err := deserialize(ctx, s.conn, tree)
	if err != nil {
		return nil, fmt.Errorf("cannot project partitions of %s: %w", bt.t.FullName(), err)
	}
	rows, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot project partitions of %s from the values of %s: %w", bt.t.FullName(), k.Name, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	out := []string{}
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if v.Valid && !seen[v.String] { // NULL (or a value not of the key's type) selects nothing
			seen[v.String] = true
			out = append(out, v.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot project partitions of %s from the values of %s: %w", bt.t.FullName(), k.Name, err)
	}
	return out, nil
}

// injectedExprs returns the value expressions of a conjunct that restricts
// key to a list of values: key = v, v = key, key IN (v, ...), or an OR of
// those. The values must not reference columns.
func injectedExprs(c node, key string) ([]node, bool) {
	isKey := func(v any) bool {
		n, ok := v.(node)
		if !ok || str(n, "class") != "COLUMN_REF" {
			return false
		}
		names := strs(n, "column_names")
		return len(names) > 0 && strings.EqualFold(names[len(names)-1], key)
	}
	value := func(v any) (node, bool) {
		n, ok := v.(node)
		return n, ok && len(columnRefs(n)) == 0
	}
	switch {
	case str(c, "class") == "COMPARISON" && (str(c, "type") == "COMPARE_EQUAL" || str(c, "type") == "COMPARE_NOT_DISTINCT_FROM"):
		if isKey(c["left"]) {
			v, ok := value(c["right"])
			return []node{v}, ok
		}
		if isKey(c["right"]) {
			v, ok := value(c["left"])
			return []node{v}, ok
		}
	case str(c, "class") == "OPERATOR" && str(c, "type") == "COMPARE_IN":
		ch, _ := c["children"].([]any)
		if len(ch) < 2 || !isKey(ch[0]) {
			return nil, false
		}
		var out []node
		for _, e := range ch[1:] {
			v, ok := value(e)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case str(c, "class") == "CONJUNCTION" && str(c, "type") == "CONJUNCTION_OR":
		ch, _ := c["children"].([]any)
		var out []node
		for _, e := range ch {
			n, ok := e.(node)
			if !ok {
				return nil, false
			}
			vs, ok := injectedExprs(n, key)
			if !ok {
				return nil, false
			}
			out = append(out, vs...)
		}
		return out, len(out) > 0
	}
	return nil, false
}
