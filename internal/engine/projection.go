package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// Partition projection (Athena): a table with projection.enabled = 'true'
// computes its partitions from its properties instead of the catalog, so a
// table with years of hourly partitions needs no MSCK REPAIR and no
// partition registry. Supported types: enum, integer and date; the location
// of a partition is storage.location.template with ${key} replaced, or the
// table's location with key=value folders.

// ErrProjection is a table's projection properties being unusable.
var ErrProjection = errors.New("invalid partition projection")

// maxProjected bounds the partitions one projection may produce.
const maxProjected = 1_000_000

// projected reports whether a table uses partition projection.
func projected(t catalog.Table) bool {
	return strings.EqualFold(t.Properties["projection.enabled"], "true") && len(t.PartitionKeys) > 0
}

// projectPartitions computes a table's partitions from its projection
// properties, at time now (for NOW in date ranges).
func projectPartitions(t catalog.Table, now time.Time) ([]catalog.Partition, error) {
	values := make([][]string, len(t.PartitionKeys))
	total := 1
	for i, k := range t.PartitionKeys {
		vs, err := projectKey(t, k.Name, now)
		if err != nil {
			return nil, fmt.Errorf("%w on %s, key %q: %v", ErrProjection, t.FullName(), k.Name, err)
		}
		values[i] = vs
		total *= max(1, len(vs))
		if total > maxProjected {
			return nil, fmt.Errorf("%w on %s: more than %d partitions", ErrProjection, t.FullName(), maxProjected)
		}
	}
	tmpl := t.Properties["storage.location.template"]
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
	switch strings.ToLower(prop("type")) {
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
	case "injected":
		return nil, errors.New("injected projection is not supported yet: use enum, integer or date")
	case "":
		return nil, errors.New("projection.<key>.type is missing (enum, integer or date)")
	}
	return nil, fmt.Errorf("projection.<key>.type %q is not enum, integer or date", prop("type"))
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
