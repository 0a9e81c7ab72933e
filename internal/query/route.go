package query

import (
	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// Statements are routed here, in one order, for every front end: tarn
// query, the REST API, pgwire and the Athena API all run statements through
// Service.Run, which sends a statement to
//
//  1. the warehouse, when it is a Redshift statement (warehouse.Parse) and
//     not in a form only Athena has (athenaSyntax); the warehouse may still
//     decline one whose objects are not its own, which goes on down the list;
//  2. the catalog, when it is Athena's Hive DDL (parseDDL);
//  3. a lake write: CTAS, INSERT INTO ... SELECT, UNLOAD (parseWrite);
//  4. DuckDB, through the binder, after the statements no key may run
//     (denied) and those not supported yet are refused.
//
// The warehouse knows nothing of Athena: which of two dialects' statements
// with the same first words (CREATE SCHEMA, CREATE TABLE) a text is, is
// decided here.

// athenaSyntax reports whether a statement is in a form only Athena has, so
// it never goes to the warehouse: CREATE SCHEMA or DATABASE with COMMENT,
// LOCATION or DBPROPERTIES (a catalog database); CREATE [EXTERNAL] TABLE
// with Hive's clauses (STORED AS, LOCATION, ROW FORMAT, PARTITIONED BY,
// TBLPROPERTIES); Athena's CTAS with WITH (...) properties; and any
// statement with a name in backticks (`analytics`), which is Hive's quoting
// and neither Redshift's nor DuckDB's (dbt-athena quotes its DDL so).
func athenaSyntax(text string) bool {
	toks, err := sqlscan.Scan(text, sqlscan.Hive)
	if err != nil {
		if toks, err = sqlscan.Scan(text, sqlscan.DuckDB); err != nil {
			return false
		}
	}
	for _, t := range toks {
		if t.Kind == sqlscan.QuotedIdent && t.Quote == '`' {
			return true
		}
	}
	if len(toks) > 3 && toks[0].Is("ALTER") && toks[1].Is("TABLE") {
		for _, t := range toks {
			if t.Is("TBLPROPERTIES") {
				return true // Hive's; Redshift says SET TABLE PROPERTIES
			}
			if t.Is("COLUMNS") {
				return true // Hive's ADD/REPLACE COLUMNS; Redshift says ADD COLUMN
			}
		}
	}
	if len(toks) < 3 || !toks[0].Is("CREATE") {
		return false
	}
	switch {
	case toks[1].Is("SCHEMA") || toks[1].Is("DATABASE"):
		for _, t := range toks {
			if t.Is("LOCATION") || t.Is("DBPROPERTIES") || t.Is("COMMENT") {
				return true
			}
		}
	case toks[1].Is("TABLE") || toks[1].Is("LOCAL") || toks[1].Is("TEMP") || toks[1].Is("TEMPORARY"):
		depth := 0
		for i, t := range toks {
			switch {
			case t.Is("("):
				depth++
			case t.Is(")"):
				depth--
			case depth == 0 && (t.Is("STORED") || t.Is("LOCATION") || t.Is("ROW") || t.Is("PARTITIONED") || t.Is("TBLPROPERTIES") || t.Is("EXTERNAL")):
				return true
			case depth == 0 && t.Is("WITH") && i+1 < len(toks) && toks[i+1].Is("("):
				return true // Athena CTAS properties
			case depth == 0 && t.Is("AS"):
				return false
			}
		}
	}
	return false
}
