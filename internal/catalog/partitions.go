package catalog

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarn-lake/tarn/internal/meta"
)

// DefaultPartitionValue is Hive's name for the partition of NULL (or empty)
// values. It is valid for a key of any type.
const DefaultPartitionValue = "__HIVE_DEFAULT_PARTITION__"

// encodeValues is the stored (and uniquely indexed) form of partition values.
func encodeValues(values []string) string {
	b, _ := json.Marshal(values)
	return string(b)
}

func decodeValues(s string) ([]string, error) {
	// Fast path for what encodeValues writes when no value needs escaping.
	if len(s) >= 4 && s[0] == '[' && s[1] == '"' && s[len(s)-2] == '"' && s[len(s)-1] == ']' && !strings.ContainsRune(s, '\\') {
		return strings.Split(s[2:len(s)-2], `","`), nil
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("cannot decode stored partition values %q: %w", s, err)
	}
	return v, nil
}

// ColumnList names columns for messages: "a, b, c".
func ColumnList(cols []Column) string {
	return strings.Join(columnNames(cols), ", ")
}

// PartitionName returns the unescaped "k1=v1/k2=v2" name of a partition, for
// messages.
func PartitionName(keys []Column, values []string) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte('/')
		}
		if i < len(keys) {
			b.WriteString(keys[i].Name)
			b.WriteByte('=')
		}
		b.WriteString(v)
	}
	return b.String()
}

// PartitionPath returns the Hive-style relative path of a partition,
// "k1=v1/k2=v2", with names and values escaped as Hive escapes them
// (%XX for control characters and "#%'*/:=?\{[]^ and DEL).
func PartitionPath(keys []Column, values []string) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte('/')
		}
		if i < len(keys) {
			b.WriteString(EscapePathName(keys[i].Name))
			b.WriteByte('=')
		}
		if v == "" {
			v = DefaultPartitionValue
		}
		b.WriteString(EscapePathName(v))
	}
	return b.String()
}

func needsEscape(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	return strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0
}

// EscapePathName escapes a partition key or value for a path as Hive does.
func EscapePathName(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// UnescapePathName reverses EscapePathName; a '%' not followed by two hex
// digits is kept as is (as Hive does).
func UnescapePathName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// checkPartitionValue reports why v cannot be cast to t ("" if it can).
func checkPartitionValue(t Type, v string) string {
	if v == "" {
		return "is empty (use " + DefaultPartitionValue + " for a missing value)"
	}
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	if v == DefaultPartitionValue {
		return ""
	}
	bits := map[Kind]int{KindTinyint: 8, KindSmallint: 16, KindInt: 32, KindBigint: 64}
	switch t.Kind {
	case KindString, KindBinary:
	case KindVarchar, KindChar:
		if n := utf8.RuneCountInString(v); n > t.Length {
			return fmt.Sprintf("is %d characters long, more than %s allows", n, t)
		}
	case KindTinyint, KindSmallint, KindInt, KindBigint:
		if _, err := strconv.ParseInt(v, 10, bits[t.Kind]); err != nil {
			return "is not a " + string(t.Kind)
		}
	case KindFloat, KindDouble:
		size := 64
		if t.Kind == KindFloat {
			size = 32
		}
		if _, err := strconv.ParseFloat(v, size); err != nil {
			return "is not a " + string(t.Kind)
		}
	case KindDecimal:
		if !decimalFits(v, t.Precision, t.Scale) {
			return "is not a " + t.String()
		}
	case KindBoolean:
		switch strings.ToLower(v) {
		case "true", "false", "t", "f", "1", "0":
		default:
			return "is not a boolean (true or false)"
		}
	case KindDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return "is not a date (YYYY-MM-DD)"
		}
	case KindTimestamp:
		if !isTimestamp(v) {
			return "is not a timestamp (YYYY-MM-DD hh:mm:ss[.fff])"
		}
	default:
		return "cannot be a value of " + t.String()
	}
	return ""
}

func decimalFits(v string, prec, scale int) bool {
	s := v
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	return len(intPart) <= prec-scale && len(frac) <= scale
}

var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	time.DateOnly,
}

func isTimestamp(v string) bool {
	for _, l := range timestampLayouts {
		if _, err := time.Parse(l, v); err == nil {
			return true
		}
	}
	return false
}

// partitionKeyTypes parses a table's partition key types.
func partitionKeyTypes(t Table) ([]Type, error) {
	types := make([]Type, len(t.PartitionKeys))
	for i, k := range t.PartitionKeys {
		typ, err := ParseType(k.Type)
		if err != nil {
			return nil, err
		}
		types[i] = typ
	}
	return types, nil
}

func validateValues(t Table, types []Type, values []string) error {
	if len(t.PartitionKeys) == 0 {
		return fmt.Errorf("%w: table %q is not partitioned", ErrInvalidPartition, t.FullName())
	}
	if len(values) != len(t.PartitionKeys) {
		return fmt.Errorf("%w: %d value(s) for %d partition key(s) (%s)", ErrInvalidPartition,
			len(values), len(t.PartitionKeys), strings.Join(columnNames(t.PartitionKeys), ", "))
	}
	for i, v := range values {
		if why := checkPartitionValue(types[i], v); why != "" {
			return fmt.Errorf("%w: value %q of key %q %s", ErrInvalidPartition, v, t.PartitionKeys[i].Name, why)
		}
	}
	return nil
}

// AddPartitions adds partitions to a table in one transaction. Each needs
// one value per partition key, castable to the key's type (else
// ErrInvalidPartition, and nothing is added). An existing partition is
// ErrPartitionExists unless ifNotExists, in which case it is skipped and left
// unchanged. A partition without a Location gets the table location plus its
// Hive path ("s3://b/t/year=2025/month=01/"). It returns how many were added.
func (c *Catalog) AddPartitions(ctx context.Context, db, table string, parts []Partition, ifNotExists bool) (added int, err error) {
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		added, err = addPartitions(ctx, tx, db, table, parts, ifNotExists)
		return err
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// AddPartitionsTx is AddPartitions inside the caller's transaction, for
// services that publish partitions together with their own metadata.
func (c *Catalog) AddPartitionsTx(ctx context.Context, tx *sql.Tx, db, table string, parts []Partition, ifNotExists bool) (int, error) {
	return addPartitions(ctx, tx, db, table, parts, ifNotExists)
}

func addPartitions(ctx context.Context, tx *sql.Tx, db, table string, parts []Partition, ifNotExists bool) (int, error) {
	full := fullName(db, table)
	id, t, err := getTable(ctx, tx, db, table)
	if err != nil {
		return 0, fmt.Errorf("cannot add partitions to table %q: %w", full, err)
	}
	types, err := partitionKeyTypes(t)
	if err != nil {
		return 0, fmt.Errorf("cannot add partitions to table %q: %w", full, err)
	}
	for _, p := range parts {
		if err := validateValues(t, types, p.Values); err != nil {
			return 0, fmt.Errorf("cannot add partition %q to table %q: %w", PartitionName(t.PartitionKeys, p.Values), full, err)
		}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	q := `INSERT INTO catalog_partitions (table_id, values_json, location, file_count, bytes, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	if ifNotExists {
		q += ` ON CONFLICT (table_id, values_json) DO NOTHING`
	}
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("cannot add partitions to table %q: %w", full, err)
	}
	defer stmt.Close()
	at := meta.Now()
	base := ""
	if t.Location != "" {
		base = strings.TrimSuffix(t.Location, "/") + "/"
	}
	added := 0
	for _, p := range parts {
		loc := p.Location
		if loc == "" && base != "" {
			loc = base + PartitionPath(t.PartitionKeys, p.Values) + "/"
		}
		res, err := stmt.ExecContext(ctx, id, encodeValues(p.Values), loc, p.FileCount, p.Bytes, at, at)
		if meta.IsUniqueViolation(err) {
			return 0, fmt.Errorf("cannot add partition %q to table %q: %w", PartitionName(t.PartitionKeys, p.Values), full, ErrPartitionExists)
		}
		if err != nil {
			return 0, fmt.Errorf("cannot add partition %q to table %q: %w", PartitionName(t.PartitionKeys, p.Values), full, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("cannot add partitions to table %q: %w", full, err)
		}
		added += int(n)
	}
	return added, nil
}

// DropPartitions drops the partitions with the given values and returns how
// many it dropped; values that match no partition are skipped (compare the
// count to detect them). Values of the wrong arity are ErrInvalidPartition.
// Data is not touched.
func (c *Catalog) DropPartitions(ctx context.Context, db, table string, values [][]string) (dropped int, err error) {
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		dropped, err = dropPartitions(ctx, tx, db, table, values)
		return err
	})
	if err != nil {
		return 0, err
	}
	return dropped, nil
}

// DropPartitionsTx is DropPartitions inside the caller's transaction.
func (c *Catalog) DropPartitionsTx(ctx context.Context, tx *sql.Tx, db, table string, values [][]string) (int, error) {
	return dropPartitions(ctx, tx, db, table, values)
}

func dropPartitions(ctx context.Context, tx *sql.Tx, db, table string, values [][]string) (int, error) {
	full := fullName(db, table)
	id, t, err := getTable(ctx, tx, db, table)
	if err != nil {
		return 0, fmt.Errorf("cannot drop partitions of table %q: %w", full, err)
	}
	for _, v := range values {
		if len(v) != len(t.PartitionKeys) {
			return 0, fmt.Errorf("cannot drop partition %q of table %q: %w: %d value(s) for %d partition key(s)",
				PartitionName(t.PartitionKeys, v), full, ErrInvalidPartition, len(v), len(t.PartitionKeys))
		}
	}
	if len(values) == 0 {
		return 0, nil
	}
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM catalog_partitions WHERE table_id = ? AND values_json = ?`)
	if err != nil {
		return 0, fmt.Errorf("cannot drop partitions of table %q: %w", full, err)
	}
	defer stmt.Close()
	// A manifest table's files of the partition leave the table with it (as
	// in Athena, the files stay in storage): its readers list the manifest,
	// not the partitions.
	files, err := tx.PrepareContext(ctx, `DELETE FROM catalog_files WHERE table_id = ? AND values_json = ?`)
	if err != nil {
		return 0, fmt.Errorf("cannot drop partitions of table %q: %w", full, err)
	}
	defer files.Close()
	dropped := 0
	for _, v := range values {
		res, err := stmt.ExecContext(ctx, id, encodeValues(v))
		if err != nil {
			return 0, fmt.Errorf("cannot drop partition %q of table %q: %w", PartitionName(t.PartitionKeys, v), full, err)
		}
		if _, err := files.ExecContext(ctx, id, encodeValues(v)); err != nil {
			return 0, fmt.Errorf("cannot drop partition %q of table %q: %w", PartitionName(t.PartitionKeys, v), full, err)
		}
		n, _ := res.RowsAffected()
		dropped += int(n)
	}
	return dropped, nil
}

const partitionColumns = `values_json, location, file_count, bytes, added_at`

func scanPartition(sc interface{ Scan(...any) error }) (Partition, error) {
	var p Partition
	var values, added string
	if err := sc.Scan(&values, &p.Location, &p.FileCount, &p.Bytes, &added); err != nil {
		return Partition{}, err
	}
	var err error
	if p.Values, err = decodeValues(values); err != nil {
		return Partition{}, err
	}
	p.AddedAt = meta.ParseTime(added)
	return p, nil
}

// ListPartitions returns a table's partitions ordered by their values, key
// by key: numerically for numeric keys, as text otherwise, with
// DefaultPartitionValue last.
func (c *Catalog) ListPartitions(ctx context.Context, db, table string) ([]Partition, error) {
	return c.ListPartitionsTx(ctx, nil, db, table)
}

// ListPartitionsTx is ListPartitions inside tx (nil: outside any transaction).
func (c *Catalog) ListPartitionsTx(ctx context.Context, tx *sql.Tx, db, table string) ([]Partition, error) {
	full := fullName(db, table)
	q := c.q(tx)
	id, t, err := getTable(ctx, q, db, table)
	if err != nil {
		return nil, fmt.Errorf("cannot list partitions of table %q: %w", full, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+partitionColumns+` FROM catalog_partitions WHERE table_id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("cannot list partitions of table %q: %w", full, err)
	}
	defer rows.Close()
	var out []Partition
	// Every partition shares one added_at per AddPartitions call; parse each
	// distinct text once.
	times := map[string]time.Time{}
	for rows.Next() {
		var p Partition
		var values, added string
		if err := rows.Scan(&values, &p.Location, &p.FileCount, &p.Bytes, &added); err != nil {
			return nil, fmt.Errorf("cannot list partitions of table %q: %w", full, err)
		}
		if p.Values, err = decodeValues(values); err != nil {
			return nil, fmt.Errorf("cannot list partitions of table %q: %w", full, err)
		}
		at, ok := times[added]
		if !ok {
			at = meta.ParseTime(added)
			times[added] = at
		}
		p.AddedAt = at
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list partitions of table %q: %w", full, err)
	}
	types, err := partitionKeyTypes(t)
	if err != nil {
		return nil, fmt.Errorf("cannot list partitions of table %q: %w", full, err)
	}
	SortPartitions(types, out)
	return out, nil
}

// sortKey is one partition value prepared for comparison.
type sortKey struct {
	num   float64
	big   *big.Rat
	isNum bool
}

// SortPartitions sorts partitions by their values, key by key, using the key
// types: numbers numerically, anything else as text, and
// DefaultPartitionValue (NULL) after every other value.
func SortPartitions(types []Type, parts []Partition) {
	k := len(types)
	if k == 0 || len(parts) < 2 {
		return
	}
	numeric := make([]bool, k)
	anyNumeric := false
	for i, t := range types {
		switch t.Kind {
		case KindTinyint, KindSmallint, KindInt, KindBigint, KindFloat, KindDouble, KindDecimal:
			numeric[i] = true
			anyNumeric = true
		}
	}
	keys := make([]sortKey, len(parts)*k)
	if anyNumeric {
		for pi, p := range parts {
			for i := 0; i < k && i < len(p.Values); i++ {
				if !numeric[i] {
					continue
				}
				sk := &keys[pi*k+i]
				if n, err := strconv.ParseInt(p.Values[i], 10, 64); err == nil && n > -1<<53 && n < 1<<53 {
					sk.num, sk.isNum = float64(n), true
				} else if r, ok := new(big.Rat).SetString(p.Values[i]); ok && !strings.ContainsAny(p.Values[i], "/eE") {
					sk.big, sk.isNum = r, true
				} else if f, err := strconv.ParseFloat(p.Values[i], 64); err == nil {
					sk.num, sk.isNum = f, true
				}
			}
		}
	}
	idx := make([]int, len(parts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		pa, pb := parts[a].Values, parts[b].Values
		for i := 0; i < k && i < len(pa) && i < len(pb); i++ {
			if da, db := pa[i] == DefaultPartitionValue, pb[i] == DefaultPartitionValue; da != db {
				if da {
					return 1
				}
				return -1
			}
			if numeric[i] {
				ka, kb := &keys[a*k+i], &keys[b*k+i]
				switch {
				case ka.isNum && !kb.isNum:
					return -1
				case !ka.isNum && kb.isNum:
					return 1
				case ka.isNum && kb.isNum:
					if c := compareNum(ka, kb); c != 0 {
						return c
					}
				}
			}
			if c := strings.Compare(pa[i], pb[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(pa), len(pb))
	})
	sorted := make([]Partition, len(parts))
	for i, j := range idx {
		sorted[i] = parts[j]
	}
	copy(parts, sorted)
}

func compareNum(a, b *sortKey) int {
	if a.big == nil && b.big == nil {
		return cmp.Compare(a.num, b.num)
	}
	ra, rb := a.big, b.big
	if ra == nil {
		ra = new(big.Rat).SetFloat64(a.num)
	}
	if rb == nil {
		rb = new(big.Rat).SetFloat64(b.num)
	}
	if ra == nil || rb == nil { // NaN or Inf
		return cmp.Compare(a.num, b.num)
	}
	return ra.Cmp(rb)
}

// GetPartition returns the partition with exactly these values.
func (c *Catalog) GetPartition(ctx context.Context, db, table string, values []string) (Partition, error) {
	full := fullName(db, table)
	q := c.db.SQL()
	id, t, err := getTable(ctx, q, db, table)
	if err != nil {
		return Partition{}, fmt.Errorf("cannot get partition of table %q: %w", full, err)
	}
	p, err := scanPartition(q.QueryRowContext(ctx, `SELECT `+partitionColumns+` FROM catalog_partitions WHERE table_id = ? AND values_json = ?`,
		id, encodeValues(values)))
	if errors.Is(err, sql.ErrNoRows) {
		return Partition{}, fmt.Errorf("cannot get partition %q of table %q: %w", PartitionName(t.PartitionKeys, values), full, ErrNoSuchPartition)
	}
	if err != nil {
		return Partition{}, fmt.Errorf("cannot get partition %q of table %q: %w", PartitionName(t.PartitionKeys, values), full, err)
	}
	return p, nil
}

// UpdatePartitionStats sets the file count, bytes and (if not empty) the
// location of the partition with p.Values (ErrNoSuchPartition if none).
func (c *Catalog) UpdatePartitionStats(ctx context.Context, db, table string, p Partition) error {
	return c.db.Tx(ctx, func(tx *sql.Tx) error {
		return updatePartitionStats(ctx, tx, db, table, p)
	})
}

// UpdatePartitionStatsTx is UpdatePartitionStats inside the caller's
// transaction.
func (c *Catalog) UpdatePartitionStatsTx(ctx context.Context, tx *sql.Tx, db, table string, p Partition) error {
	return updatePartitionStats(ctx, tx, db, table, p)
}

func updatePartitionStats(ctx context.Context, tx *sql.Tx, db, table string, p Partition) error {
	full := fullName(db, table)
	id, t, err := getTable(ctx, tx, db, table)
	if err != nil {
		return fmt.Errorf("cannot update partition of table %q: %w", full, err)
	}
	name := PartitionName(t.PartitionKeys, p.Values)
	res, err := tx.ExecContext(ctx, `UPDATE catalog_partitions SET file_count = ?, bytes = ?,
		location = CASE WHEN ? = '' THEN location ELSE ? END, updated_at = ?
		WHERE table_id = ? AND values_json = ?`,
		p.FileCount, p.Bytes, p.Location, p.Location, meta.Now(), id, encodeValues(p.Values))
	if err != nil {
		return fmt.Errorf("cannot update partition %q of table %q: %w", name, full, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cannot update partition %q of table %q: %w", name, full, ErrNoSuchPartition)
	}
	return nil
}
