package store

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"
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

func TestPageByTime(t *testing.T) {
	t.Parallel()
	at, id, limit, err := PageRequestByTime("device", ListOptions{})
	if !at.Equal(minTime) || id != "" || limit != DefaultPageSize || err != nil {
		t.Errorf("first page = %v, %q, %d, %v; want the earliest storable time, \"\", %d, nil", at, id, limit, err, DefaultPageSize)
	}
	type item struct {
		at time.Time
		id string
	}
	// Times before 1970 and IDs holding the separator survive the round trip.
	for _, last := range []item{
		{time.Date(2031, 2, 3, 4, 5, 6, 789123000, time.UTC), "d|1"},
		{time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC), "x"},
	} {
		p := NewPageByTime("device", []item{{}, last, {}}, 2, func(i item) (time.Time, string) { return i.at, i.id })
		at, id, _, err := PageRequestByTime("device", ListOptions{Cursor: p.Next})
		if !at.Equal(last.at) || at.Location() != time.UTC || id != last.id || err != nil {
			t.Errorf("cursor after %v %q reads %v %q, %v", last.at, last.id, at, id, err)
		}
	}
	for _, cursor := range []string{
		EncodeCursor("user", "1|a"), EncodeCursor("device", "1"), EncodeCursor("device", "1|"),
		EncodeCursor("device", "x|a"), EncodeCursor("device", "|a"), "***",
	} {
		if _, _, _, err := PageRequestByTime("device", ListOptions{Cursor: cursor}); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("cursor %q error = %v, want ErrInvalidCursor", cursor, err)
		}
	}
}

func TestPageBySeq(t *testing.T) {
	t.Parallel()
	if before, limit, err := PageRequestBySeq("audit", ListOptions{Limit: 7}); before != math.MaxInt64 || limit != 7 || err != nil {
		t.Errorf("first page = %d, %d, %v; want MaxInt64, 7, nil", before, limit, err)
	}
	p := NewPageBySeq("audit", []int64{9, 5, 2}, 2, func(n int64) int64 { return n })
	if before, _, err := PageRequestBySeq("audit", ListOptions{Cursor: p.Next}); before != 5 || err != nil {
		t.Errorf("cursor after 5 reads %d, %v", before, err)
	}
	for _, cursor := range []string{EncodeCursor("device", "5"), EncodeCursor("audit", "five"), EncodeCursor("audit", "1|2")} {
		if _, _, err := PageRequestBySeq("audit", ListOptions{Cursor: cursor}); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("cursor %q error = %v, want ErrInvalidCursor", cursor, err)
		}
	}
}
