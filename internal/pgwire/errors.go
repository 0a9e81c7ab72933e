package pgwire

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// SQLSTATE codes tarn answers with (PostgreSQL's Appendix A).
const (
	codeSyntax            = "42601" // syntax_error
	codeUndefinedTable    = "42P01" // undefined_table
	codeUndefinedColumn   = "42703" // undefined_column
	codeUndefinedFunction = "42883" // undefined_function
	codeUndefinedObject   = "42704" // undefined_object
	codeInvalidSchema     = "3F000" // invalid_schema_name
	codeDuplicateTable    = "42P07" // duplicate_table
	codeWrongObjectType   = "42809" // wrong_object_type
	codeIntegrity         = "23000" // integrity_constraint_violation
	codeNotNull           = "23502" // not_null_violation
	codeForeignKey        = "23503" // foreign_key_violation
	codeUnique            = "23505" // unique_violation
	codeCheck             = "23514" // check_violation
	codeDuplicateSchema   = "42P06" // duplicate_schema
	codeDependentObjects  = "2BP01" // dependent_objects_still_exist
	codePermission        = "42501" // insufficient_privilege
	codeNotSupported      = "0A000" // feature_not_supported
	codeLimitExceeded     = "54000" // program_limit_exceeded
	codeCancelled         = "57014" // query_canceled
	codeShutdown          = "57P01" // admin_shutdown
	codeInvalidText       = "22P02" // invalid_text_representation
	codeOutOfRange        = "22003" // numeric_value_out_of_range
	codeDataException     = "22000" // data_exception
	codeInvalidPassword   = "28P01" // invalid_password
	codeInvalidAuth       = "28000" // invalid_authorization_specification
	codeProtocol          = "08P01" // protocol_violation
	codeInvalidParameter  = "22023" // invalid_parameter_value
	codeUndefinedPrepared = "26000" // invalid_sql_statement_name
	codeUndefinedCursor   = "34000" // invalid_cursor_name
	codeInternal          = "XX000" // internal_error
	codeInFailedTx        = "25P02" // in_failed_sql_transaction
	codeActiveTx          = "25001" // active_sql_transaction
	codeSerialization     = "40001" // serialization_failure
	codeResources         = "53000" // insufficient_resources
)

// pgError is an error with its SQLSTATE, for errors pgwire raises itself.
type pgError struct {
	code string
	msg  string
	hint string
}

func (e *pgError) Error() string { return e.msg }

func newError(code, msg, hint string) error { return &pgError{code: code, msg: msg, hint: hint} }

// sqlState maps an error to its SQLSTATE: the one place where tarn's
// errors (and DuckDB's, which the query service passes on with their
// message) become PostgreSQL's codes.
func sqlState(err error) string {
	var pe *pgError
	switch {
	case errors.As(err, &pe):
		return pe.code
	case errors.Is(err, query.ErrQueryTimeout):
		// PostgreSQL's statement_timeout is 57014 too.
		return codeCancelled
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codeCancelled
	case errors.Is(err, query.ErrTxAborted):
		return codeInFailedTx
	case errors.Is(err, query.ErrTxLakeWrite):
		return codeActiveTx
	case errors.Is(err, query.ErrTxLimit):
		return codeResources
	case errors.Is(err, auth.ErrAccessDenied), errors.Is(err, query.ErrPermission):
		return codePermission
	case errors.Is(err, query.ErrSyntax):
		return codeSyntax
	case errors.Is(err, catalog.ErrNoSuchTable):
		return codeUndefinedTable
	case errors.Is(err, catalog.ErrNoSuchDatabase):
		return codeInvalidSchema
	case errors.Is(err, catalog.ErrTableExists):
		return codeDuplicateTable
	case errors.Is(err, catalog.ErrDatabaseExists):
		return codeDuplicateSchema
	case errors.Is(err, catalog.ErrDatabaseNotEmpty):
		return codeDependentObjects
	case errors.Is(err, query.ErrNoSuchWorkgroup):
		return codeUndefinedObject
	case errors.Is(err, query.ErrUnsupported), errors.Is(err, warehouse.ErrUnsupported):
		return codeNotSupported
	case errors.Is(err, warehouse.ErrWrongObjectType):
		return codeWrongObjectType
	case errors.Is(err, warehouse.ErrObjectExists):
		return codeDuplicateTable
	case errors.Is(err, warehouse.ErrNoSuchObject):
		return codeUndefinedTable
	case errors.Is(err, query.ErrScanLimit), errors.Is(err, query.ErrPartitionFilter), errors.Is(err, query.ErrResultTooLarge):
		return codeLimitExceeded
	case errors.Is(err, engine.ErrClosed):
		return codeShutdown
	case errors.Is(err, catalog.ErrInvalidName), errors.Is(err, catalog.ErrInvalidType), errors.Is(err, catalog.ErrInvalidTable),
		errors.Is(err, catalog.ErrInvalidPartition):
		return codeInvalidParameter
	}
	// DuckDB's errors, by their engine error kind.
	switch is := func(kind error) bool { return engine.Is(err, kind) }; {
	case is(engine.ErrParser):
		return codeSyntax
	case is(engine.ErrCatalog) && is(engine.ErrNoSuchFunction):
		return codeUndefinedFunction
	case is(engine.ErrCatalog) && is(engine.ErrNoSuchSchema):
		return codeInvalidSchema
	case is(engine.ErrCatalog):
		return codeUndefinedTable
	case is(engine.ErrNoSuchColumn):
		return codeUndefinedColumn
	case is(engine.ErrNoSuchFunction):
		return codeUndefinedFunction
	case is(engine.ErrConversion):
		return codeInvalidText
	case is(engine.ErrOutOfRange):
		return codeOutOfRange
	case is(engine.ErrInvalidInput):
		return codeDataException
	case is(engine.ErrPermission):
		return codePermission
	case is(engine.ErrNotImplemented):
		return codeNotSupported
	case is(engine.ErrInterrupt):
		return codeCancelled
	case is(engine.ErrTxAborted):
		return codeInFailedTx
	case is(engine.ErrConstraint):
		// DuckDB reports one type for every constraint; its message
		// tells which (PostgreSQL's class 23 codes).
		switch msg := err.Error(); {
		case strings.Contains(msg, "NOT NULL constraint failed"):
			return codeNotNull
		case strings.Contains(msg, "CHECK constraint failed"):
			return codeCheck
		case strings.Contains(msg, "foreign key"):
			return codeForeignKey
		case strings.Contains(msg, "primary key"), strings.Contains(msg, "unique constraint"):
			return codeUnique
		}
		return codeIntegrity
	case is(engine.ErrConflict):
		// Two transactions changed the same rows: the later commit loses.
		return codeSerialization
	}
	return codeInternal
}

// duckNotNull is DuckDB's NOT NULL violation: table and column.
var duckNotNull = regexp.MustCompile(`NOT NULL constraint failed: ([^.\s]+)\.([^.\s]+)\s*$`)

// errorResponse is the ErrorResponse message for err.
func errorResponse(err error) *pgproto3.ErrorResponse {
	e := &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: sqlState(err), Message: err.Error()}
	var pe *pgError
	if errors.As(err, &pe) {
		e.Hint = pe.hint
	}
	switch e.Code {
	case codeNotNull:
		// PostgreSQL's wording, which clients match (dbt's contract
		// tests do): DuckDB says "NOT NULL constraint failed: t.col".
		if m := duckNotNull.FindStringSubmatch(e.Message); m != nil {
			e.Message = fmt.Sprintf("null value in column %q of relation %q violates not-null constraint", m[2], m[1])
		}
	case codeCancelled:
		if !errors.Is(err, query.ErrQueryTimeout) {
			// A timeout's message names the workgroup limit that stopped it.
			e.Message = "canceling statement due to user request"
		}
	case codePermission:
		if e.Hint == "" {
			e.Hint = "the access key's policy does not allow this; ask an admin to extend it (tarn keys)"
		}
	}
	return e
}
