package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Arguments and run properties are values a user, a trigger or an uploaded
// object key supplies; they must never become SQL text. tarn's SQL goes
// through the engine's binder (json_serialize_sql, then the scans spliced
// into the printed text) and the query service, neither of which carries
// prepared-statement parameters, so each ${name} is replaced by a literal
// that can only be its value, chosen by where the placeholder stands:
//
//   - in SQL code: a number (it parses as one) as a numeric literal, any
//     other value as a single-quoted string literal with ' doubled, a list
//     (an event trigger's objects) as such literals separated by commas,
//     which fits IN (...) and [...];
//   - inside a '...' string: the value with ' doubled (and \ doubled in an
//     E'...' string, where a backslash escapes), so '${day}' stays one string;
//   - inside a "..." identifier: the value with " doubled;
//   - inside a $$...$$ string: the value, which may not contain '$';
//   - inside a comment: nothing is replaced (a newline or */ in a value
//     would end the comment).
//
// The scanner follows DuckDB's lexer on these points (nested block
// comments, E strings, dollar quotes), which tests check against DuckDB.

// Arg is the value of one placeholder.
type Arg struct {
	Value string
	// List makes Value a comma-separated list whose items are literals of
	// their own in SQL code.
	List bool
}

// ErrUnsafeArgument: a value cannot be placed where its placeholder stands.
var ErrUnsafeArgument = errors.New("argument cannot be placed safely in the SQL")

var numberRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func isIdentByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

// Literal returns v as a SQL literal: numeric if v parses as a number,
// else a string literal.
func Literal(v string) string {
	if numberRE.MatchString(v) {
		if v[0] == '-' || v[0] == '+' {
			return "(" + v + ")" // "x-${n}" must not become the comment "x--1"
		}
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func listLiteral(v string) string {
	if v == "" {
		return "NULL" // IN (NULL) matches nothing; IN () does not parse
	}
	items := SplitList(v)
	for i, it := range items {
		items[i] = Literal(it)
	}
	return strings.Join(items, ", ")
}

// listEscaper keeps a list's separator out of its items: an S3 key may hold
// a comma, so items are joined with "," after "%" and "," in them are
// percent-encoded (as in a URI), and SplitList decodes them.
var listEscaper = strings.NewReplacer("%", "%25", ",", "%2C")

// JoinList joins items into a list value (such as ${objects}) that
// SplitList splits back exactly, whatever the items hold.
func JoinList(items []string) string {
	esc := make([]string, len(items))
	for i, it := range items {
		esc[i] = listEscaper.Replace(it)
	}
	return strings.Join(esc, ",")
}

// SplitList splits a list value made by JoinList.
func SplitList(v string) []string {
	items := strings.Split(v, ",")
	for i, it := range items {
		if strings.Contains(it, "%") {
			items[i] = strings.NewReplacer("%2C", ",", "%2c", ",", "%25", "%").Replace(it)
		}
	}
	return items
}

var dollarTagRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

// SubstituteSQL replaces each ${name} of sqlText whose name valid accepts
// with lookup's value, quoted for where it stands (see above). It returns
// the names lookup did not know (in order, once each); their placeholders
// are left as they were.
func SubstituteSQL(sqlText string, valid func(name string) bool, lookup func(name string) (Arg, bool)) (string, []string, error) {
	var out strings.Builder
	var missing []string
	seen := map[string]bool{}
	// placeholder reports the name of a ${name} at i, and its length.
	placeholder := func(i int) (string, int, bool) {
		if !strings.HasPrefix(sqlText[i:], "${") {
			return "", 0, false
		}
		end := strings.IndexByte(sqlText[i+2:], '}')
		if end < 0 {
			return "", 0, false
		}
		name := sqlText[i+2 : i+2+end]
		if !valid(name) {
			return "", 0, false
		}
		return name, end + 3, true
	}
	value := func(name string) (Arg, bool) {
		a, ok := lookup(name)
		if !ok && !seen[name] {
			seen[name] = true
			missing = append(missing, name)
		}
		return a, ok
	}
	prevIdent := func() bool {
		s := out.String()
		return len(s) > 0 && (isIdentByte(s[len(s)-1]) || strings.ContainsRune(`'"$`, rune(s[len(s)-1])))
	}
	n := len(sqlText)
	for i := 0; i < n; {
		c := sqlText[i]
		switch {
		case c == '-' && i+1 < n && sqlText[i+1] == '-':
			j := strings.IndexByte(sqlText[i:], '\n')
			if j < 0 {
				j = n - i
			}
			out.WriteString(sqlText[i : i+j])
			i += j
		case c == '/' && i+1 < n && sqlText[i+1] == '*':
			// DuckDB nests block comments.
			depth, j := 1, i+2
			for j < n && depth > 0 {
				switch {
				case strings.HasPrefix(sqlText[j:], "/*"):
					depth, j = depth+1, j+2
				case strings.HasPrefix(sqlText[j:], "*/"):
					depth, j = depth-1, j+2
				default:
					j++
				}
			}
			out.WriteString(sqlText[i:j])
			i = j
		case c == '\'' || c == '"':
			escapes := c == '\'' && i > 0 && (sqlText[i-1] == 'e' || sqlText[i-1] == 'E') && (i == 1 || !isIdentByte(sqlText[i-2]))
			out.WriteByte(c)
			j := i + 1
			for j < n {
				d := sqlText[j]
				if d == c {
					if j+1 < n && sqlText[j+1] == c {
						out.WriteString(sqlText[j : j+2])
						j += 2
						continue
					}
					break
				}
				if escapes && d == '\\' && j+1 < n {
					out.WriteString(sqlText[j : j+2])
					j += 2
					continue
				}
				if name, l, ok := placeholder(j); ok {
					if a, ok := value(name); ok {
						v := strings.ReplaceAll(a.Value, string(c), string(c)+string(c))
						if escapes {
							v = strings.ReplaceAll(v, `\`, `\\`)
						}
						out.WriteString(v)
					} else {
						out.WriteString(sqlText[j : j+l])
					}
					j += l
					continue
				}
				out.WriteByte(d)
				j++
			}
			if j < n {
				out.WriteByte(c)
				j++
			}
			i = j
		case c == '$' && !strings.HasPrefix(sqlText[i:], "${") && (i == 0 || !isIdentByte(sqlText[i-1])) && dollarTagRE.MatchString(sqlText[i:]):
			tag := dollarTagRE.FindString(sqlText[i:])
			out.WriteString(tag)
			j := i + len(tag)
			for j < n && !strings.HasPrefix(sqlText[j:], tag) {
				if name, l, ok := placeholder(j); ok {
					if a, ok := value(name); ok {
						if strings.Contains(a.Value, "$") {
							return "", nil, fmt.Errorf("%w: the value of ${%s} contains '$' and stands in the dollar-quoted string %s...%s; write '${%s}' instead",
								ErrUnsafeArgument, name, tag, tag, name)
						}
						out.WriteString(a.Value)
					} else {
						out.WriteString(sqlText[j : j+l])
					}
					j += l
					continue
				}
				out.WriteByte(sqlText[j])
				j++
			}
			if j < n {
				out.WriteString(tag)
				j += len(tag)
			}
			i = j
		default:
			name, l, ok := placeholder(i)
			if !ok {
				out.WriteByte(c)
				i++
				continue
			}
			a, found := value(name)
			if !found {
				out.WriteString(sqlText[i : i+l])
				i += l
				continue
			}
			lit := Literal(a.Value)
			if a.List {
				lit = listLiteral(a.Value)
			}
			// E${x}, x${x}, U&${x} would make a prefixed string of the literal.
			if prevIdent() {
				out.WriteByte(' ')
			}
			out.WriteString(lit)
			if i+l < n && (isIdentByte(sqlText[i+l]) || strings.ContainsRune(`'"$`, rune(sqlText[i+l]))) {
				out.WriteByte(' ')
			}
			i += l
		}
	}
	return out.String(), missing, nil
}
