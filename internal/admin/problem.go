package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/store"
)

// maxBodyBytes bounds every request body of the admin API.
const maxBodyBytes = 1 << 20

// Problem is an RFC 9457 problem: the status and detail the caller sees, and the
// internal cause, which is logged and never shown.
type Problem struct {
	Status int
	Detail string
	Cause  error
	// header holds response headers the problem needs (WWW-Authenticate, Allow).
	header http.Header
}

func (p *Problem) Error() string {
	msg := fmt.Sprintf("%d %s", p.Status, p.Detail)
	if p.Cause != nil {
		msg += ": " + p.Cause.Error()
	}
	return msg
}

func (p *Problem) Unwrap() error { return p.Cause }

func problemf(status int, format string, args ...any) *Problem {
	return &Problem{Status: status, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Problem {
	return problemf(http.StatusBadRequest, format, args...)
}

func conflict(format string, args ...any) *Problem {
	return problemf(http.StatusConflict, format, args...)
}

// problemBody is the RFC 9457 §3.1 document.
type problemBody struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// storeError turns a store error about what (for example `user "x" in realm "y"`) into
// the problem the caller sees: a missing record 404, a taken name 409, a broken rule 400,
// an outage 503. Anything else stays an internal error.
func storeError(err error, what string) error {
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
		// The store's rule messages speak of the input only; drop the sentinel's prefix.
		msg := err.Error()
		if i := strings.Index(msg, store.ErrInvalid.Error()+": "); i >= 0 {
			msg = msg[i+len(store.ErrInvalid.Error())+2:]
		}
		return &Problem{Status: http.StatusBadRequest, Detail: msg, Cause: err}
	}
	return err
}

// asProblem turns any error into the problem written to the caller.
func asProblem(err error) *Problem {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, ephemeral.ErrUnavailable):
		return &Problem{Status: http.StatusServiceUnavailable, Detail: "the service is temporarily unavailable; try again", Cause: err,
			header: http.Header{"Retry-After": {"5"}}}
	default:
		return &Problem{Status: http.StatusInternalServerError, Detail: "internal error", Cause: err}
	}
}

// writeProblem answers err as application/problem+json. Causes are logged, never sent.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the caller went away; nobody reads an answer
	}
	p := asProblem(err)
	level := slog.LevelDebug
	if p.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.Int("status", p.Status), slog.String("detail", p.Detail), slog.String("request_id", ops.RequestID(r.Context()))}
	if p.Cause != nil {
		attrs = append(attrs, slog.String("cause", p.Cause.Error()))
	}
	log.LogAttrs(r.Context(), level, "admin API problem", attrs...)
	h := w.Header()
	for k, vs := range p.header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(problemBody{
		Type: "about:blank", Title: http.StatusText(p.Status), Status: p.Status, Detail: p.Detail,
		Instance: r.URL.Path,
	})
}

// writeJSON answers v as JSON. Admin responses are never cached: some carry secrets.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if v == nil {
		w.WriteHeader(status)
		return nil
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most maxBodyBytes into v: one JSON value, no unknown
// fields. An empty body is accepted when emptyOK, leaving v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && mt != "application/merge-patch+json" {
			return problemf(http.StatusUnsupportedMediaType, "the body must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && emptyOK {
		return nil
	}
	if err == nil {
		// Exactly one value: trailing data means the body is not what the caller meant.
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			return badRequest("the body must hold exactly one JSON value")
		}
		return nil
	}
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return problemf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", maxBodyBytes)
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; a JSON object is required")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return &Problem{Status: http.StatusBadRequest, Detail: "the body is not valid JSON", Cause: err}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("the body must be a JSON %s", describeType(typ.Type.Kind().String()))
		}
		return badRequest("field %q must be a JSON %s", field, describeType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return &Problem{Status: http.StatusBadRequest, Detail: "the body cannot be read as the expected JSON object", Cause: err}
}

// describeType names a Go kind in JSON terms for messages.
func describeType(kind string) string {
	switch kind {
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "ptr":
		return "value of another type"
	}
	return "number"
}
