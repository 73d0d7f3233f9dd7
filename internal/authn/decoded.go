package authn

import (
	"slices"
	"sync"
)

// decoded keeps the requests this node has written or read, each with the version it
// had, so a read that finds the same version in the ephemeral store takes a copy instead
// of decoding the JSON again: a push approval reads its request five times (delivery,
// answer, the waiter, consumption), and decoding was a sixth of the server's work.
type decoded struct {
	mu sync.Mutex
	m  map[string]decodedEntry
}

type decodedEntry struct {
	version uint64
	r       Request
}

// maxDecoded bounds the requests kept; beyond it an arbitrary one is dropped.
const maxDecoded = 4096

func (d *decoded) get(key string, version uint64) (Request, bool) {
	d.mu.Lock()
	e, ok := d.m[key]
	d.mu.Unlock()
	if !ok || e.version != version {
		return Request{}, false
	}
	return e.r.clone(), true
}

func (d *decoded) put(key string, r *Request) {
	c := r.clone()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]decodedEntry{}
	}
	if _, ok := d.m[key]; !ok && len(d.m) >= maxDecoded {
		for k := range d.m {
			delete(d.m, k)
			break
		}
	}
	d.m[key] = decodedEntry{version: r.version, r: c}
}

// clone copies r deeply enough that neither copy's changes reach the other.
func (r *Request) clone() Request {
	c := *r
	c.Devices = slices.Clone(r.Devices)
	c.AuthorizationDetails = slices.Clone(r.AuthorizationDetails)
	c.Binding = slices.Clone(r.Binding)
	if r.Answer != nil {
		a := *r.Answer
		a.Signature = slices.Clone(a.Signature)
		a.DeviceKey = slices.Clone(a.DeviceKey)
		c.Answer = &a
	}
	return c
}
