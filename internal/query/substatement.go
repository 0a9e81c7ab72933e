package query

import (
	"strings"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// SubstatementType is Athena's QueryExecution.SubstatementType of a
// statement: what kind of DDL, DML or UTILITY statement it is
// ("SELECT", "INSERT", "CREATE_TABLE_AS_SELECT", "MERGE", "CREATE_VIEW",
// "ALTER_TABLE", "SHOW_TABLES", ...), from its leading words. Clients
// tell from it whether GetQueryResults' UpdateCount is a row count
// (PyAthena, dbt-athena). "" when the statement is none Athena names.
func SubstatementType(sql string) string {
	sc := sqlscan.NewScanner(sql, sqlscan.Hive)
	var words []string
	ctas := false
	for n := 0; n < 1000; n++ {
		t, err := sc.Next()
		if err != nil || t.Kind == sqlscan.EOF {
			break
		}
		if t.Kind == sqlscan.Ident {
			w := strings.ToUpper(t.Value)
			if len(words) > 0 && words[0] == "CREATE" && w == "AS" {
				ctas = true
				break
			}
			words = append(words, w)
		} else if len(words) > 0 && words[0] == "CREATE" {
			words = append(words, "")
		}
	}
	if len(words) == 0 {
		return ""
	}
	has := func(w string) bool {
		for _, x := range words {
			if x == w {
				return true
			}
		}
		return false
	}
	switch words[0] {
	case "SELECT", "WITH", "VALUES", "TABLE":
		return "SELECT"
	case "INSERT":
		return "INSERT"
	case "MERGE", "UPDATE", "DELETE", "UNLOAD", "OPTIMIZE", "VACUUM", "EXPLAIN":
		return words[0]
	case "MSCK":
		return "MSCK_REPAIR_TABLE"
	case "CREATE":
		switch {
		case has("VIEW"):
			return "CREATE_VIEW"
		case has("DATABASE"), has("SCHEMA"):
			return "CREATE_DATABASE"
		case has("TABLE") && ctas:
			return "CREATE_TABLE_AS_SELECT"
		case has("TABLE"):
			return "CREATE_TABLE"
		}
	case "DROP":
		if len(words) > 1 {
			switch words[1] {
			case "TABLE":
				return "DROP_TABLE"
			case "VIEW":
				return "DROP_VIEW"
			case "DATABASE", "SCHEMA":
				return "DROP_DATABASE"
			}
		}
	case "ALTER":
		switch {
		case has("ADD") && has("PARTITION"):
			return "ALTER_TABLE_ADD_PARTITION"
		case has("DROP") && has("PARTITION"):
			return "ALTER_TABLE_DROP_PARTITION"
		case has("TABLE"):
			return "ALTER_TABLE"
		}
	case "SHOW":
		if len(words) > 1 {
			switch words[1] {
			case "CREATE":
				if len(words) > 2 && words[2] == "VIEW" {
					return "SHOW_CREATE_VIEW"
				}
				return "SHOW_CREATE_TABLE"
			case "TABLES", "DATABASES", "SCHEMAS", "PARTITIONS", "COLUMNS", "VIEWS", "TBLPROPERTIES":
				return "SHOW_" + words[1]
			}
		}
	case "DESCRIBE", "DESC":
		if len(words) > 1 && words[1] == "VIEW" {
			return "DESCRIBE_VIEW"
		}
		return "DESCRIBE_TABLE"
	}
	return ""
}

// WritesRows reports whether a substatement's result is the count of rows
// it wrote (Athena's UpdateCount).
func WritesRows(substatement string) bool {
	switch substatement {
	case "INSERT", "CREATE_TABLE_AS_SELECT", "MERGE", "UPDATE", "DELETE", "UNLOAD":
		return true
	}
	return false
}
