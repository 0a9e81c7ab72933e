package icebergrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/auth"
	tarncatalog "github.com/tarn-lake/tarn/internal/catalog"
	tarniceberg "github.com/tarn-lake/tarn/internal/iceberg"
)

// restError is an error with the spec's HTTP status and error type.
type restError struct {
	status int
	typ    string
	err    error
}

func (e *restError) Error() string { return e.err.Error() }
func (e *restError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &restError{http.StatusBadRequest, "BadRequestException", fmt.Errorf(format, args...)}
}

func commitFailed(err error) error {
	return &restError{http.StatusConflict, "CommitFailedException", err}
}

// errorModel is the spec's ErrorModel inside its IcebergErrorResponse.
type errorModel struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    int    `json:"code"`
}

// status maps an error to its HTTP status and the spec's error type, in one
// place.
func status(err error) (int, string) {
	var re *restError
	if errors.As(err, &re) {
		return re.status, re.typ
	}
	switch {
	// Authentication and authorization.
	case errors.Is(err, auth.ErrAccessDenied):
		return http.StatusForbidden, "ForbiddenException"
	case errors.Is(err, auth.ErrMissingAuth), errors.Is(err, auth.ErrSignatureDoesNotMatch), errors.Is(err, auth.ErrInvalidAccessKeyID),
		errors.Is(err, auth.ErrNoSuchKey), errors.Is(err, auth.ErrRequestTimeTooSkewed), errors.Is(err, auth.ErrAuthorizationHeaderMalformed),
		errors.Is(err, auth.ErrUnsupportedAuth), errors.Is(err, auth.ErrMultipleAuth), errors.Is(err, auth.ErrMissingSecurityHeader),
		errors.Is(err, auth.ErrExpiredPresign), errors.Is(err, auth.ErrPresignNotYetValid), errors.Is(err, auth.ErrAuthorizationQueryParametersError):
		return http.StatusUnauthorized, "NotAuthorizedException"
	case errors.Is(err, auth.ErrContentSHA256Mismatch), errors.Is(err, auth.ErrIncompleteBody), errors.Is(err, auth.ErrEntityTooLarge):
		return http.StatusBadRequest, "BadRequestException"

	// The catalog (iceberg-go's sentinels, and tarn's catalog's).
	case errors.Is(err, tarniceberg.ErrNestedNamespace), errors.Is(err, tarniceberg.ErrInvalidLocation):
		return http.StatusBadRequest, "BadRequestException"
	// iceberg-go's sentinels first: tarn's Iceberg catalog reports a table
	// missing with its database as a missing table.
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		return http.StatusNotFound, "NoSuchNamespaceException"
	case errors.Is(err, catalog.ErrNoSuchTable):
		return http.StatusNotFound, "NoSuchTableException"
	case errors.Is(err, tarncatalog.ErrNoSuchDatabase):
		return http.StatusNotFound, "NoSuchNamespaceException"
	case errors.Is(err, tarncatalog.ErrNoSuchTable):
		return http.StatusNotFound, "NoSuchTableException"
	case errors.Is(err, catalog.ErrNoSuchView):
		return http.StatusNotFound, "NoSuchViewException"
	case errors.Is(err, catalog.ErrNamespaceAlreadyExists), errors.Is(err, catalog.ErrTableAlreadyExists), errors.Is(err, catalog.ErrViewAlreadyExists),
		errors.Is(err, tarncatalog.ErrDatabaseExists), errors.Is(err, tarncatalog.ErrTableExists):
		return http.StatusConflict, "AlreadyExistsException"
	case errors.Is(err, catalog.ErrNamespaceNotEmpty), errors.Is(err, tarncatalog.ErrDatabaseNotEmpty):
		return http.StatusConflict, "NamespaceNotEmptyException"
	case errors.Is(err, table.ErrCommitFailed), errors.Is(err, tarncatalog.ErrConcurrentUpdate), isRequirementFailure(err):
		return http.StatusConflict, "CommitFailedException"
	case errors.Is(err, catalog.ErrInvalidIdentifier), errors.Is(err, tarncatalog.ErrInvalidName), errors.Is(err, tarncatalog.ErrInvalidTable),
		errors.Is(err, tarncatalog.ErrInvalidType), errors.Is(err, tarncatalog.ErrUnsupportedTypeConv),
		errors.Is(err, table.ErrInvalidRequirement), errors.Is(err, catalog.ErrEmptyCommitList), errors.Is(err, catalog.ErrMissingIdentifier), errors.Is(err, iceberg.ErrInvalidArgument), errors.Is(err, iceberg.ErrInvalidSchema),
		errors.Is(err, iceberg.ErrInvalidFormatVersion), errors.Is(err, iceberg.ErrInvalidTransform),
		errors.Is(err, iceberg.ErrInvalidPartitionSpec):
		return http.StatusBadRequest, "BadRequestException"
	case errors.Is(err, iceberg.ErrNotImplemented):
		return http.StatusNotImplemented, "NotImplementedException"
	}
	return http.StatusInternalServerError, "InternalServerError"
}

// isRequirementFailure recognizes iceberg-go's failed commit requirements
// (table/requirements.go), which have no sentinel: a catalog that
// re-validates them under its lock reports a lost race with them.
func isRequirementFailure(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "requirement failed")
}

// writeError writes err as the spec's error response (a HEAD request gets
// the status alone).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, typ := status(err)
	if code >= 500 {
		logError(r, err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tarn"`)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error errorModel `json:"error"`
	}{errorModel{Message: err.Error(), Type: typ, Code: code}})
}
