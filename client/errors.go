package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// APIError is an error answer of the tasktail API.
type APIError struct {
	Status  int    // HTTP status
	Code    string // the API's error code, e.g. "invalid_argument"
	Message string // e.g. "level: must be one of …"
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
}

// Is matches an APIError against the sentinels below by code.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	return ok && t.Status == 0 && t.Code == e.Code
}

// Sentinels for errors.Is; they match any APIError with their code.
var (
	ErrInvalidArgument = &APIError{Code: "invalid_argument"}
	ErrUnauthenticated = &APIError{Code: "unauthenticated"}
	ErrPermission      = &APIError{Code: "permission_denied"}
	ErrNotFound        = &APIError{Code: "not_found"}
	ErrTaskFinished    = &APIError{Code: "task_finished"}
	ErrTooLarge        = &APIError{Code: "too_large"}
	ErrMediaType       = &APIError{Code: "unsupported_media_type"}
	ErrRateLimited     = &APIError{Code: "rate_limited"}
	ErrUnavailable     = &APIError{Code: "unavailable"}
	ErrInternal        = &APIError{Code: "internal"}
)

// apiError reads an error answer; a body that is not the API's JSON still yields an
// APIError with the HTTP status.
func apiError(resp *http.Response) *APIError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10)) // a short read only shortens the message
	return apiErrorOf(resp.StatusCode, raw)
}

// apiErrorOf reads an error answer's body.
func apiErrorOf(status int, raw []byte) *APIError {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		return e
	}
	e.Code, e.Message = "http_"+fmt.Sprint(status), http.StatusText(status)
	return e
}

// permanent reports whether retrying the same request cannot help.
func (e *APIError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout
}
