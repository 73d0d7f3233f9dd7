package store

import (
	"encoding/base64"
	"strings"
)

// EncodeCursor makes an opaque cursor for a listing kind ("realm", "user", ...) from the
// sort key of the last item on a page. Cursors are typed: one kind never decodes as another.
func EncodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + kind + "|" + key))
}

// DecodeCursor returns the sort key in a cursor of the given kind, or ErrInvalidCursor.
func DecodeCursor(kind, cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", ErrInvalidCursor
	}
	prefix := "v1|" + kind + "|"
	s := string(raw)
	if !strings.HasPrefix(s, prefix) {
		return "", ErrInvalidCursor
	}
	return strings.TrimPrefix(s, prefix), nil
}

// ClampLimit applies the default and maximum page size.
func ClampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	default:
		return limit
	}
}
