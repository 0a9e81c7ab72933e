package crawler

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// This file holds the pure part of a crawl: which listed objects are data
// files, and how files group into tables and partitions.

// skipReason tells why a listed object is not a data file ("" if it is one).
// rel is the key relative to the target.
func skipReason(obj storage.ObjectInfo, rel string, exclusions []string) string {
	if strings.HasSuffix(obj.Key, "/") {
		return "folder marker"
	}
	base := path.Base(obj.Key)
	if strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") {
		return "hidden file"
	}
	dirs := strings.Split(rel, "/")
	dirs = dirs[:len(dirs)-1]
	for _, d := range dirs {
		// Hadoop's hidden-path rule: _temporary/, .spark-staging/, _delta_log/ ...
		if strings.HasPrefix(d, "_") || strings.HasPrefix(d, ".") {
			return "hidden folder"
		}
	}
	if obj.Size == 0 {
		return "empty file"
	}
	if excluded(rel, exclusions) {
		return "excluded"
	}
	return ""
}

// excluded reports whether rel (a file path relative to the target) matches an
// exclusion glob: the whole path, any of its folders, or, for patterns
// without "/", the base name or any single folder name.
func excluded(rel string, exclusions []string) bool {
	if len(exclusions) == 0 {
		return false
	}
	segs := strings.Split(rel, "/")
	for _, pat := range exclusions {
		pat = strings.TrimPrefix(pat, "/")
		dirPat := strings.TrimSuffix(pat, "/")
		if ok, _ := doublestar.Match(pat, rel); ok {
			return true
		}
		for i := 1; i < len(segs); i++ {
			if ok, _ := doublestar.Match(dirPat, strings.Join(segs[:i], "/")); ok {
				return true
			}
		}
		if !strings.Contains(dirPat, "/") {
			for _, s := range segs {
				if ok, _ := doublestar.Match(dirPat, s); ok {
					return true
				}
			}
		}
	}
	return false
}

// tableName turns a folder name into a catalog table name: lower case, any
// character outside [a-z0-9_] becomes '_'.
func tableName(folder string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(folder) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "table"
	}
	return b.String()
}

var allDigits = regexp.MustCompile(`^[0-9]+$`)

// isPartitionDir reports whether a folder name looks like a partition:
// key=value, or an unnamed all-digit folder (2025, 01).
func isPartitionDir(name string) bool {
	if k, _, ok := strings.Cut(name, "="); ok && k != "" {
		return true
	}
	return allDigits.MatchString(name)
}

// dataFile is one data file of a table.
type dataFile struct {
	obj    storage.ObjectInfo
	values []string // partition values, in key order
	folder string   // s3:// URI of its partition folder (the table root if unpartitioned)
}

// partGroup is one partition folder.
type partGroup struct {
	values   []string
	location string
	files    int64
	bytes    int64
}

// tableGroup is a table found under a target.
type tableGroup struct {
	name      string
	root      storage.URI // ends in "/" (or is a bucket root)
	keys      []string    // partition key names
	keyTypes  []string    // partition key types
	files     []dataFile  // files at the table's partition depth, by key
	parts     []*partGroup
	partIndex map[string]*partGroup
}

func (g *tableGroup) location() string { return g.root.String() }

// groupTarget groups the data files under target into tables. files must be
// sorted by key and already filtered by skipReason. Files at a depth that
// does not match their table's partition depth, or whose partition folder
// does not match the key of its level, are returned as file errors.
//
// Each folder under the target is a table, unless all of them are partition
// folders: then the target is the table. Files directly under a target
// that has table folders are file errors: a table there would contain the
// other tables. A target with files only is one table.
//
// Two partition folders whose values are the same (dt= and
// dt=__HIVE_DEFAULT_PARTITION__, a%20b and "a b") would be one partition
// with one location: the first folder in key order is the partition, the
// files of the others are file errors.
func groupTarget(target storage.URI, files []storage.ObjectInfo) ([]*tableGroup, []FileError) {
	type relFile struct {
		obj  storage.ObjectInfo
		dirs []string
	}
	rels := make([]relFile, 0, len(files))
	firstDirs := map[string]bool{}
	for _, o := range files {
		rel := strings.TrimPrefix(o.Key, target.Key)
		segs := strings.Split(rel, "/")
		rf := relFile{obj: o, dirs: segs[:len(segs)-1]}
		rels = append(rels, rf)
		if len(rf.dirs) > 0 {
			firstDirs[rf.dirs[0]] = true
		}
	}
	targetName := target.Bucket
	if k := strings.TrimSuffix(target.Key, "/"); k != "" {
		targetName = path.Base(k)
	}
	allPartitions := len(firstDirs) > 0
	for d := range firstDirs {
		if !isPartitionDir(d) {
			allPartitions = false
			break
		}
	}

	type pending struct {
		name  string
		root  storage.URI
		files []relFile
	}
	var order []string
	byRoot := map[string]*pending{}
	add := func(name string, root storage.URI, f relFile) {
		p := byRoot[root.Key]
		if p == nil {
			p = &pending{name: name, root: root}
			byRoot[root.Key] = p
			order = append(order, root.Key)
		}
		p.files = append(p.files, f)
	}
	var errs []FileError
	for _, f := range rels {
		if allPartitions || len(firstDirs) == 0 {
			add(tableName(targetName), target, f)
			continue
		}
		if len(f.dirs) == 0 {
			errs = append(errs, FileError{URI: f.obj.URI(), Error: fmt.Sprintf(
				"file directly under the crawl target %s next to table folders; move it into its own folder", target)})
			continue
		}
		root := target.Join(f.dirs[0] + "/")
		add(tableName(f.dirs[0]), root, relFile{obj: f.obj, dirs: f.dirs[1:]})
	}
	sort.Strings(order)

	var tables []*tableGroup
	for _, k := range order {
		p := byRoot[k]
		// The table's partition depth is the most common depth of its files
		// (the shallower one on a tie).
		count := map[int]int{}
		for _, f := range p.files {
			count[len(f.dirs)]++
		}
		depth, best := 0, -1
		for d, n := range count {
			if n > best || n == best && d < depth {
				depth, best = d, n
			}
		}
		var ok []relFile
		for _, f := range p.files {
			if len(f.dirs) != depth {
				errs = append(errs, FileError{URI: f.obj.URI(), Error: fmt.Sprintf(
					"inconsistent partition depth: file is %d folder(s) below table root %s, other files are %d", len(f.dirs), p.root, depth)})
				continue
			}
			ok = append(ok, f)
		}
		// Each level's key: the most common key=value key at that level, or
		// partition_<level> if most folders there are unnamed (named[lvl]
		// false; a key=value folder can be named partition_x too).
		keys := make([]string, depth)
		named := make([]bool, depth)
		for lvl := range depth {
			kc := map[string]int{}
			for _, f := range ok {
				kc[dirKey(f.dirs[lvl])]++
			}
			key, n := "", -1
			for k, c := range kc {
				if c > n || c == n && k < key {
					key, n = k, c
				}
			}
			named[lvl] = key != ""
			if key == "" {
				key = fmt.Sprintf("partition_%d", lvl)
			}
			keys[lvl] = key
		}
		g := &tableGroup{name: p.name, root: p.root, keys: keys, partIndex: map[string]*partGroup{}}
		for _, f := range ok {
			values := make([]string, depth)
			bad := ""
			for lvl, d := range f.dirs {
				k := dirKey(d)
				if named[lvl] && k != keys[lvl] || !named[lvl] && k != "" {
					bad = fmt.Sprintf("partition folder %q does not match partition key %q of level %d", d, keys[lvl], lvl)
					break
				}
				values[lvl] = dirValue(d)
			}
			if bad != "" {
				errs = append(errs, FileError{URI: f.obj.URI(), Error: bad})
				continue
			}
			folder := p.root
			if depth > 0 {
				folder = p.root.Join(strings.Join(f.dirs, "/") + "/")
			}
			var pg *partGroup
			if depth > 0 {
				pk := partKey(values)
				pg = g.partIndex[pk]
				if pg == nil {
					pg = &partGroup{values: values, location: folder.String()}
					g.partIndex[pk] = pg
					g.parts = append(g.parts, pg)
				} else if pg.location != folder.String() {
					errs = append(errs, FileError{URI: f.obj.URI(), Error: fmt.Sprintf(
						"partition folder %s has the same partition values as %s, which is the partition; the file is not read",
						folder, pg.location)})
					continue
				}
			}
			g.files = append(g.files, dataFile{obj: f.obj, values: values, folder: folder.String()})
			if pg != nil {
				pg.files++
				pg.bytes += f.obj.Size
			}
		}
		if len(g.files) == 0 {
			continue
		}
		g.keyTypes = make([]string, depth)
		for lvl := range depth {
			vals := make([]string, 0, len(g.parts))
			for _, pg := range g.parts {
				vals = append(vals, pg.values[lvl])
			}
			g.keyTypes[lvl] = inferPartitionType(vals)
		}
		tables = append(tables, g)
	}
	return tables, errs
}

// dirKey is the key of a key=value folder, "" for an unnamed folder.
func dirKey(d string) string {
	if k, _, ok := strings.Cut(d, "="); ok && k != "" {
		return k
	}
	return ""
}

// dirValue is the value of a partition folder: the text after the first "="
// (Hive-unescaped: %2F → /; empty → the default partition), or the whole name of an unnamed folder.
func dirValue(d string) string {
	k, v, ok := strings.Cut(d, "=")
	if !ok || k == "" {
		return d
	}
	if v == "" {
		return catalog.DefaultPartitionValue
	}
	return catalog.UnescapePathName(v)
}

func partKey(values []string) string { return strings.Join(values, "\x00") }

var intValue = regexp.MustCompile(`^[+-]?[0-9]+$`)
var dateValue = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// inferPartitionType types a partition key from all its values: int (bigint
// beyond int32) if all are integers (zero padding allowed), date if all are
// ISO dates, string otherwise.
func inferPartitionType(values []string) string {
	isInt, isDate, big, any := true, true, false, false
	for _, v := range values {
		if v == catalog.DefaultPartitionValue {
			continue
		}
		any = true
		if isInt {
			if !intValue.MatchString(v) {
				isInt = false
			} else if n, err := strconv.ParseInt(v, 10, 64); err != nil {
				isInt = false
			} else if n > math.MaxInt32 || n < math.MinInt32 {
				big = true
			}
		}
		if isDate {
			if !dateValue.MatchString(v) {
				isDate = false
			} else if _, err := time.Parse(time.DateOnly, v); err != nil {
				isDate = false
			}
		}
		if !isInt && !isDate {
			break
		}
	}
	switch {
	case !any:
		return "string"
	case isInt && big:
		return "bigint"
	case isInt:
		return "int"
	case isDate:
		return "date"
	}
	return "string"
}

// partitionColumns returns the group's partition keys as catalog columns.
func (g *tableGroup) partitionColumns() []catalog.Column {
	if len(g.keys) == 0 {
		return nil
	}
	cols := make([]catalog.Column, len(g.keys))
	for i, k := range g.keys {
		cols[i] = catalog.Column{Name: k, Type: g.keyTypes[i]}
	}
	return cols
}

// withoutIcebergTables leaves out every file of an Iceberg table: a folder
// with a metadata/ folder holding *.metadata.json files is one (whoever
// wrote it: tarn, Spark, Trino, PyIceberg). Its data files are only those
// its snapshots name, which a crawler cannot see; its catalog (the Iceberg
// REST catalog, or ALTER TABLE ... CONVERT TO ICEBERG) keeps it.
func withoutIcebergTables(files []storage.ObjectInfo) []storage.ObjectInfo {
	var roots []string
	for _, f := range files {
		dir, base := path.Split(f.Key)
		if strings.HasSuffix(base, ".metadata.json") || strings.HasSuffix(base, ".metadata.json.gz") {
			if d := strings.TrimSuffix(dir, "/"); path.Base(d) == "metadata" {
				roots = append(roots, strings.TrimSuffix(d, "metadata"))
			}
		}
	}
	if len(roots) == 0 {
		return files
	}
	kept := files[:0]
	for _, f := range files {
		inside := false
		for _, r := range roots {
			if strings.HasPrefix(f.Key, r) {
				inside = true
				break
			}
		}
		if !inside {
			kept = append(kept, f)
		}
	}
	return kept
}
