package store

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// PageRequest reads opts for a keyset listing of kind: the sort key to continue after
// ("" on the first page) and the clamped page size. A cursor of another kind, or one
// that does not decode, is ErrInvalidCursor.
func PageRequest(kind string, opts ListOptions) (after string, limit int, err error) {
	limit = ClampLimit(opts.Limit)
	if opts.Cursor == "" {
		return "", limit, nil
	}
	after, err = DecodeCursor(kind, opts.Cursor)
	if err != nil {
		return "", 0, err
	}
	return after, limit, nil
}

// NewPage builds a page from items read in sort order with a limit of limit+1: the extra
// item only tells that another page follows, and Next continues after the last item kept.
func NewPage[T any](kind string, items []T, limit int, key func(T) string) Page[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return Page[T]{Items: items}
	}
	items = items[:limit]
	return Page[T]{Items: items, Next: EncodeCursor(kind, key(items[limit-1]))}
}

// PageRequestByTime reads opts for a keyset listing of kind ordered by a time, then an
// ID: the time and ID to continue after and the clamped page size. On the first page
// they are the earliest storable time and "", before every stored record, so that one
// query serves every page. A cursor of another kind, or one that does not decode, is
// ErrInvalidCursor.
func PageRequestByTime(kind string, opts ListOptions) (afterTime time.Time, afterID string, limit int, err error) {
	after, limit, err := PageRequest(kind, opts)
	if err != nil {
		return time.Time{}, "", 0, err
	}
	if after == "" {
		return minTime, "", limit, nil
	}
	micros, id, found := strings.Cut(after, "|")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !found || err != nil || id == "" {
		return time.Time{}, "", 0, ErrInvalidCursor
	}
	return time.UnixMicro(us).UTC(), id, limit, nil
}

// NewPageByTime is NewPage for a listing that PageRequestByTime reads: key returns the
// time and ID an item is ordered by.
func NewPageByTime[T any](kind string, items []T, limit int, key func(T) (time.Time, string)) Page[T] {
	return NewPage(kind, items, limit, func(item T) string {
		at, id := key(item)
		return strconv.FormatInt(at.UnixMicro(), 10) + "|" + id
	})
}

// PageRequestBySeq reads opts for a keyset listing of kind ordered by a sequence
// number, highest first: the number to continue below (math.MaxInt64 on the first page)
// and the clamped page size. A cursor of another kind, or one that does not decode, is
// ErrInvalidCursor.
func PageRequestBySeq(kind string, opts ListOptions) (before int64, limit int, err error) {
	after, limit, err := PageRequest(kind, opts)
	if err != nil {
		return 0, 0, err
	}
	if after == "" {
		return math.MaxInt64, limit, nil
	}
	before, err = strconv.ParseInt(after, 10, 64)
	if err != nil {
		return 0, 0, ErrInvalidCursor
	}
	return before, limit, nil
}

// NewPageBySeq is NewPage for a listing that PageRequestBySeq reads: seq returns the
// number an item is ordered by.
func NewPageBySeq[T any](kind string, items []T, limit int, seq func(T) int64) Page[T] {
	return NewPage(kind, items, limit, func(item T) string { return strconv.FormatInt(seq(item), 10) })
}
