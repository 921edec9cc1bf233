package casregistry

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is one error of the distribution spec: a code, its HTTP status
// and a message for people.
type apiError struct {
	status  int
	code    string
	message string
	detail  any
	// cause, of an internal error, goes to the server's log only: it may
	// name files under --dir.
	cause error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func blobUnknown(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, "BLOB_UNKNOWN", format, args...)
}

func manifestUnknown(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, "MANIFEST_UNKNOWN", format, args...)
}

func nameUnknown(name string) *apiError {
	return newError(http.StatusNotFound, "NAME_UNKNOWN", "repository %s is not known to this registry", name)
}

func digestInvalid(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "DIGEST_INVALID", format, args...)
}

func manifestInvalid(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "MANIFEST_INVALID", format, args...)
}

func unsupported(format string, args ...any) *apiError {
	return newError(http.StatusMethodNotAllowed, "UNSUPPORTED", format, args...)
}

// internal is a failure of the server itself. Its body says nothing of the
// cause (which may name paths under --dir); the handler logs it.
func internal(err error) *apiError {
	e := newError(http.StatusInternalServerError, "UNKNOWN", "internal error of the registry; its log has the cause")
	e.cause = err
	return e
}

// cacheUnavailable is a failure to reach the remote cache; clients retry 503.
func cacheUnavailable(err error) *apiError {
	return newError(http.StatusServiceUnavailable, "UNAVAILABLE", "the remote cache failed: %v", err)
}

func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return
	}
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	_ = json.NewEncoder(w).Encode(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{e.code, e.message, e.detail}}})
}
