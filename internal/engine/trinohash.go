package engine

import "strings"

// Trino's hash functions (md5, sha1, sha256, sha512) take and return
// varbinary, and Athena SQL feeds them with to_utf8(varchar): dbt-athena's
// snapshots hash their keys with to_hex(md5(to_utf8(...))). DuckDB's
// functions of those names return the digest as lower-case hex text, so
// the call over to_utf8 (a macro, compatMacros) gets unhex() around it:
// md5(to_utf8(s)) is then the 16-byte digest, and to_hex of it Trino's
// upper-case hex. Other md5 calls (Redshift's md5(varchar), DuckDB's own)
// are left as they are: only Trino has to_utf8.
var trinoHashes = map[string]bool{"md5": true, "sha1": true, "sha256": true, "sha512": true}

func rewriteTrinoHashes(tree node) {
	var calls []node
	walk(tree, func(n node) bool {
		if str(n, "class") != "FUNCTION" || !trinoHashes[strings.ToLower(str(n, "function_name"))] || str(n, "schema") != "" {
			return true
		}
		kids, _ := n["children"].([]any)
		if len(kids) != 1 {
			return true
		}
		if arg, ok := kids[0].(node); ok && str(arg, "class") == "FUNCTION" && strings.EqualFold(str(arg, "function_name"), "to_utf8") {
			calls = append(calls, n)
		}
		return true
	})
	for _, n := range calls {
		inner := node{}
		for k, v := range n {
			inner[k] = v
		}
		inner["alias"] = ""
		n["function_name"] = "unhex"
		n["children"] = []any{inner}
	}
}
