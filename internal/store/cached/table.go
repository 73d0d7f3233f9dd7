package cached

import (
	"container/list"
	"sync"
	"time"
)

// table is one kind of cached record (realms or clients): a bounded map from key to
// slot, evicting the oldest inserted value first. Reads take the read lock only.
//
// Each slot carries a generation, bumped whenever the key is invalidated. A load records
// the generation before it asks the inner store and stores its result only if the
// generation is unchanged when it finishes, so a load that raced a change never puts the
// value it read before the change back. A slot with loads in flight outlives its value
// for that reason; a slot with neither a value nor a load is deleted, so the map holds at
// most max values plus one slot per load in flight.
type table[K comparable, V any] struct {
	max int

	mu    sync.RWMutex
	slots map[K]*slot[K, V]
	// order holds the slots that have a value, oldest insertion first.
	order list.List
	// evictions counts values dropped to stay within max.
	evictions uint64
}

type slot[K comparable, V any] struct {
	key     K
	gen     uint64
	loading int // loads in flight
	filled  bool
	val     V
	err     error // non-nil for a cached negative result (ErrNotFound)
	expires time.Time
	elem    *list.Element
}

func newTable[K comparable, V any](max int) *table[K, V] {
	return &table[K, V]{max: max, slots: make(map[K]*slot[K, V])}
}

// get returns the unexpired value or negative result at key; ok is false on a miss.
// The value is the table's own: the caller must copy it before handing it out.
func (t *table[K, V]) get(key K, now time.Time) (val V, err error, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := t.slots[key]
	if s == nil || !s.filled || !now.Before(s.expires) {
		return val, nil, false
	}
	return s.val, s.err, true
}

// begin registers a load of key and returns its slot and the generation to hand back
// to finish or abandon. It must be called before the inner store is asked.
func (t *table[K, V]) begin(key K) (*slot[K, V], uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.slots[key]
	if s == nil {
		s = &slot[K, V]{key: key}
		t.slots[key] = s
	}
	s.loading++
	return s, s.gen
}

// finish ends a load begun at generation gen, storing val (or the negative result err)
// until expires if the key has not been invalidated since. It reports whether it stored.
func (t *table[K, V]) finish(s *slot[K, V], gen uint64, val V, err error, expires time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.loading--
	if s.gen != gen {
		t.forgetIfIdle(s)
		return false
	}
	if s.filled {
		t.order.Remove(s.elem)
	}
	s.filled, s.val, s.err, s.expires = true, val, err, expires
	s.elem = t.order.PushBack(s)
	for t.order.Len() > t.max {
		oldest := t.order.Front().Value.(*slot[K, V])
		t.empty(oldest)
		t.forgetIfIdle(oldest)
		t.evictions++
	}
	return true
}

// abandon ends a load whose result is not cached.
func (t *table[K, V]) abandon(s *slot[K, V]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.loading--
	t.forgetIfIdle(s)
}

// invalidate drops the value at key and fences off the loads in flight for it. It
// reports whether there was anything to drop or fence.
func (t *table[K, V]) invalidate(key K) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.slots[key]
	if s == nil {
		return false
	}
	t.drop(s)
	return true
}

// invalidateWhere invalidates every key for which match is true and returns how many.
func (t *table[K, V]) invalidateWhere(match func(K) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for key, s := range t.slots {
		if match(key) {
			t.drop(s)
			n++
		}
	}
	return n
}

// clear invalidates every key.
func (t *table[K, V]) clear() {
	t.invalidateWhere(func(K) bool { return true })
}

// counts returns the number of values held and the evictions so far.
func (t *table[K, V]) counts() (entries int, evictions uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.order.Len(), t.evictions
}

// drop bumps the generation and empties s; t.mu is held.
func (t *table[K, V]) drop(s *slot[K, V]) {
	s.gen++
	t.empty(s)
	t.forgetIfIdle(s)
}

// empty removes the value of s, keeping its generation; t.mu is held.
func (t *table[K, V]) empty(s *slot[K, V]) {
	if !s.filled {
		return
	}
	t.order.Remove(s.elem)
	var zero V
	s.filled, s.val, s.err, s.elem = false, zero, nil, nil
}

// forgetIfIdle deletes s from the map when it holds no value and no load needs its
// generation; t.mu is held. A slot with loads in flight is never deleted, so the slot a
// load holds is always the one in the map.
func (t *table[K, V]) forgetIfIdle(s *slot[K, V]) {
	if !s.filled && s.loading == 0 {
		delete(t.slots, s.key)
	}
}
