package engine

import (
	"errors"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// Engine error kinds: DuckDB's errors, classified once here by the error
// type duckdb-go reports, so callers map them with errors.Is instead of
// reading DuckDB's messages. An error of a kind still wraps DuckDB's error
// and keeps its message.
var (
	ErrParser         = errors.New("parser error")        // DuckDB could not parse the SQL
	ErrCatalog        = errors.New("catalog error")       // a catalog object is missing or clashes
	ErrNotFound       = errors.New("no such object")      // a catalog error: the object does not exist
	ErrExists         = errors.New("object exists")       // a catalog error: the object already exists
	ErrNoSuchFunction = errors.New("no such function")    // a function or table function is unknown
	ErrNoSuchSchema   = errors.New("no such schema")      // a schema is unknown
	ErrBinder         = errors.New("binder error")        // names or types do not bind
	ErrNoSuchColumn   = errors.New("no such column")      // a binder error naming a column
	ErrConversion     = errors.New("conversion error")    // a value does not convert to its type
	ErrOutOfRange     = errors.New("out of range")        // a value is out of its type's range
	ErrInvalidInput   = errors.New("invalid input")       // input (a file, an argument) is malformed
	ErrConstraint     = errors.New("constraint error")    // a constraint was violated
	ErrNotImplemented = errors.New("not implemented")     // DuckDB does not support this
	ErrInterrupt      = errors.New("interrupted")         // the statement was interrupted
	ErrTxAborted      = errors.New("transaction aborted") // an earlier error aborted the transaction
	ErrConflict       = errors.New("transaction conflict")
	ErrOutOfMemory    = errors.New("out of memory")
	ErrIO             = errors.New("I/O error")
	// ErrPermission (engine.go) is DuckDB's Permission Error too.
)

// Error is a DuckDB error with its kinds. errors.Is matches each of its
// kinds; errors.As reaches the *duckdb.Error it wraps.
type Error struct {
	Kinds []error
	err   error
}

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is one of e's kinds.
func (e *Error) Is(target error) bool {
	for _, k := range e.Kinds {
		if k == target {
			return true
		}
	}
	return false
}

// Classify returns err with its engine error kinds when it is (or wraps) a
// DuckDB error, and err unchanged otherwise. It is idempotent.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ee *Error
	if errors.As(err, &ee) {
		return err
	}
	kinds := kindsOf(err)
	if len(kinds) == 0 {
		return err
	}
	return &Error{Kinds: kinds, err: err}
}

// Is reports whether err is a DuckDB error of kind, classified or not.
// It looks at DuckDB's error only: tarn's own errors wrapping a shared
// sentinel (ErrPermission) are not DuckDB's and so are not of a kind.
func Is(err, kind error) bool {
	if err == nil {
		return false
	}
	for _, k := range kindsOf(err) {
		if k == kind {
			return true
		}
	}
	return false
}

// kindsOf classifies err by the type of the *duckdb.Error it wraps. Where a
// caller turned DuckDB's error into text (fmt %s or %v), the type is read
// back from the "<Type> Error: " prefix duckdb-go itself reads it from.
// Within a type, the message tells the object (a column, a function) apart;
// DuckDB reports no finer code.
func kindsOf(err error) []error {
	var de *duckdb.Error
	var typ duckdb.ErrorType
	msg := err.Error()
	if errors.As(err, &de) {
		typ, msg = de.Type, de.Msg
	} else {
		typ, _ = typeFromText(msg)
	}
	switch typ {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		return []error{ErrParser}
	case duckdb.ErrorTypeCatalog:
		k := []error{ErrCatalog}
		switch {
		case strings.Contains(msg, "Function"):
			k = append(k, ErrNoSuchFunction)
		case strings.Contains(msg, "Schema") && strings.Contains(msg, "does not exist"):
			k = append(k, ErrNoSuchSchema, ErrNotFound)
		case strings.Contains(msg, "Schema"):
			k = append(k, ErrNoSuchSchema)
		}
		switch {
		case strings.Contains(msg, "already exists"):
			k = append(k, ErrExists)
		case strings.Contains(msg, "does not exist"):
			k = append(k, ErrNotFound)
		}
		return k
	case duckdb.ErrorTypeBinder:
		k := []error{ErrBinder}
		switch {
		case strings.Contains(msg, "olumn"):
			k = append(k, ErrNoSuchColumn)
		case strings.Contains(msg, "function"):
			k = append(k, ErrNoSuchFunction)
		}
		return k
	case duckdb.ErrorTypeConversion:
		return []error{ErrConversion}
	case duckdb.ErrorTypeOutOfRange:
		return []error{ErrOutOfRange}
	case duckdb.ErrorTypeInvalidInput:
		return []error{ErrInvalidInput}
	case duckdb.ErrorTypeConstraint:
		return []error{ErrConstraint}
	case duckdb.ErrorTypeNotImplemented:
		return []error{ErrNotImplemented}
	case duckdb.ErrorTypeInterrupt:
		return []error{ErrInterrupt}
	case duckdb.ErrorTypePermission:
		return []error{ErrPermission}
	case duckdb.ErrorTypeOutOfMemory:
		return []error{ErrOutOfMemory}
	case duckdb.ErrorTypeIO, duckdb.ErrorTypeHTTP, duckdb.ErrorTypeNetwork:
		return []error{ErrIO}
	case duckdb.ErrorTypeTransaction:
		switch {
		case strings.Contains(msg, "Current transaction is aborted"):
			return []error{ErrTxAborted}
		case strings.Contains(msg, "onflict"):
			return []error{ErrConflict}
		}
	}
	if strings.Contains(msg, "Current transaction is aborted") {
		return []error{ErrTxAborted} // not always under its type
	}
	return nil
}

// typePrefixes are the "<Type> Error" names duckdb-go reads error types
// from, for the types kindsOf distinguishes.
var typePrefixes = []struct {
	name string
	typ  duckdb.ErrorType
}{
	{"Parser Error", duckdb.ErrorTypeParser},
	{"Syntax Error", duckdb.ErrorTypeSyntax},
	{"Catalog Error", duckdb.ErrorTypeCatalog},
	{"Binder Error", duckdb.ErrorTypeBinder},
	{"Conversion Error", duckdb.ErrorTypeConversion},
	{"Out of Range Error", duckdb.ErrorTypeOutOfRange},
	{"Invalid Input Error", duckdb.ErrorTypeInvalidInput},
	{"Constraint Error", duckdb.ErrorTypeConstraint},
	{"Not implemented Error", duckdb.ErrorTypeNotImplemented},
	{"INTERRUPT Error", duckdb.ErrorTypeInterrupt},
	{"Permission Error", duckdb.ErrorTypePermission},
	{"Out of Memory Error", duckdb.ErrorTypeOutOfMemory},
	{"IO Error", duckdb.ErrorTypeIO},
	{"HTTP Error", duckdb.ErrorTypeHTTP},
	{"TransactionContext Error", duckdb.ErrorTypeTransaction},
}

// typeFromText finds the first "<Type> Error: " in a message that lost its
// *duckdb.Error (tarn's wrappers put their own words before it).
func typeFromText(msg string) (duckdb.ErrorType, bool) {
	best, typ := -1, duckdb.ErrorTypeInvalid
	for _, p := range typePrefixes {
		if i := strings.Index(msg, p.name+": "); i >= 0 && (best < 0 || i < best) {
			best, typ = i, p.typ
		}
	}
	return typ, best >= 0
}
