package store

import (
	"errors"
	"slices"
	"strconv"
	"testing"
)

func TestPageRequest(t *testing.T) {
	t.Parallel()
	after, limit, err := PageRequest("realm", ListOptions{})
	if after != "" || limit != DefaultPageSize || err != nil {
		t.Errorf("first page = %q, %d, %v; want \"\", %d, nil", after, limit, err, DefaultPageSize)
	}
	after, limit, err = PageRequest("realm", ListOptions{Limit: MaxPageSize + 1, Cursor: EncodeCursor("realm", "m")})
	if after != "m" || limit != MaxPageSize || err != nil {
		t.Errorf("next page = %q, %d, %v; want m, %d, nil", after, limit, err, MaxPageSize)
	}
	for _, cursor := range []string{EncodeCursor("user", "m"), "***", EncodeCursor("realms", "m")} {
		if _, _, err := PageRequest("realm", ListOptions{Cursor: cursor}); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("cursor %q error = %v, want ErrInvalidCursor", cursor, err)
		}
	}
}

func TestNewPage(t *testing.T) {
	t.Parallel()
	key := strconv.Itoa
	if p := NewPage("n", []int(nil), 3, key); p.Items == nil || len(p.Items) != 0 || p.Next != "" {
		t.Errorf("empty page = %#v, want non-nil empty items and no Next", p)
	}
	if p := NewPage("n", []int{1, 2, 3}, 3, key); !slices.Equal(p.Items, []int{1, 2, 3}) || p.Next != "" {
		t.Errorf("full last page = %#v, want 1 2 3 and no Next", p)
	}
	p := NewPage("n", []int{1, 2, 3, 4}, 3, key)
	if !slices.Equal(p.Items, []int{1, 2, 3}) {
		t.Errorf("items = %v, want 1 2 3", p.Items)
	}
	if after, err := DecodeCursor("n", p.Next); after != "3" || err != nil {
		t.Errorf("Next decodes to %q, %v; want 3", after, err)
	}
}
