// Package rest holds what Signet's two JSON APIs, the admin API and the business REST
// API, share: RFC 9457 problems for every error, strict JSON bodies, route tables
// mounted with problem answers for unknown paths and methods, cursor pages, ETags, and
// the JSON form of users, devices and activation codes with the operations on them.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/store"
)

// Problem is an RFC 9457 problem: the status and detail the caller sees, and the
// internal cause, which is logged and never shown.
type Problem struct {
	Status int
	Detail string
	Cause  error
	// Header holds response headers the problem needs (WWW-Authenticate, Allow,
	// Retry-After).
	Header http.Header
}

func (p *Problem) Error() string {
	msg := fmt.Sprintf("%d %s", p.Status, p.Detail)
	if p.Cause != nil {
		msg += ": " + p.Cause.Error()
	}
	return msg
}

func (p *Problem) Unwrap() error { return p.Cause }

// Problemf is a problem of status whose detail is formatted.
func Problemf(status int, format string, args ...any) *Problem {
	return &Problem{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 problem.
func BadRequest(format string, args ...any) *Problem {
	return Problemf(http.StatusBadRequest, format, args...)
}

// Conflict is a 409 problem.
func Conflict(format string, args ...any) *Problem {
	return Problemf(http.StatusConflict, format, args...)
}

// ProblemBody is the RFC 9457 §3.1 document.
type ProblemBody struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// StoreError turns a store error about what (for example `user "x" in realm "y"`) into
// the problem the caller sees: a missing record 404, a taken name 409, a broken rule 400,
// an outage 503. Anything else stays an internal error.
func StoreError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &Problem{Status: http.StatusNotFound, Detail: what + " not found", Cause: err}
	case errors.Is(err, store.ErrConflict):
		return &Problem{Status: http.StatusConflict, Detail: what + " already exists, or a unique name or email in it is taken", Cause: err}
	case errors.Is(err, store.ErrInvalidCursor):
		return &Problem{Status: http.StatusBadRequest, Detail: "the cursor is not valid for this listing", Cause: err}
	case errors.Is(err, store.ErrInvalid):
		return &Problem{Status: http.StatusBadRequest, Detail: InvalidDetail(err), Cause: err}
	}
	return err
}

// InvalidDetail is the message of an error that wraps store.ErrInvalid, without the
// sentinel's prefix: the store's rule messages speak of the input only.
func InvalidDetail(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, store.ErrInvalid.Error()+": "); i >= 0 {
		msg = msg[i+len(store.ErrInvalid.Error())+2:]
	}
	return msg
}

// AsProblem turns any error into the problem written to the caller.
func AsProblem(err error) *Problem {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, ephemeral.ErrUnavailable):
		return &Problem{Status: http.StatusServiceUnavailable, Detail: "the service is temporarily unavailable; try again", Cause: err,
			Header: http.Header{"Retry-After": {"5"}}}
	default:
		return &Problem{Status: http.StatusInternalServerError, Detail: "internal error", Cause: err}
	}
}

// WriteProblem answers err as application/problem+json. Causes are logged, never sent.
func WriteProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the caller went away; nobody reads an answer
	}
	p := AsProblem(err)
	level := slog.LevelDebug
	if p.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.Int("status", p.Status), slog.String("detail", p.Detail), slog.String("request_id", ops.RequestID(r.Context()))}
	if p.Cause != nil {
		attrs = append(attrs, slog.String("cause", p.Cause.Error()))
	}
	log.LogAttrs(r.Context(), level, "API problem", attrs...)
	h := w.Header()
	for k, vs := range p.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(ProblemBody{
		Type: "about:blank", Title: http.StatusText(p.Status), Status: p.Status, Detail: p.Detail,
		Instance: r.URL.Path,
	})
}
