package store

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
