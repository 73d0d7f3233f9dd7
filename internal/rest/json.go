package rest

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// WriteJSON answers v as JSON. Responses are never cached: some carry secrets.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
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

// Decode reads a JSON body of at most MaxBodyBytes into v: one JSON value, no unknown
// fields. An empty body is accepted when emptyOK, leaving v as it is.
func Decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && mt != "application/merge-patch+json" {
			return Problemf(http.StatusUnsupportedMediaType, "the body must be application/json")
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
			return BadRequest("the body must hold exactly one JSON value")
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
		return TooLarge()
	case errors.Is(err, io.EOF):
		return BadRequest("the body is empty; a JSON object is required")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return &Problem{Status: http.StatusBadRequest, Detail: "the body is not valid JSON", Cause: err}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return BadRequest("the body must be a JSON %s", describeType(typ.Type.Kind().String()))
		}
		return BadRequest("field %q must be a JSON %s", field, describeType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return BadRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return &Problem{Status: http.StatusBadRequest, Detail: "the body cannot be read as the expected JSON object", Cause: err}
}

// TooLarge is the 413 problem of a body over MaxBodyBytes.
func TooLarge() *Problem {
	return Problemf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", MaxBodyBytes)
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
