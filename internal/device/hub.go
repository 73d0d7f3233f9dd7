package device

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/sigma/message"
)

type userKey struct{ realm, user string }

// deviceKey names a device: its realm and id.
type deviceKey struct{ realm, device string }

// hub knows which devices are connected to this node, by user and by device.
type hub struct {
	srv      *Server
	mu       sync.Mutex
	byUser   map[userKey]map[*conn]struct{}
	byDevice map[deviceKey]map[*conn]struct{}
}

func newHub(s *Server) *hub {
	return &hub{srv: s, byUser: map[userKey]map[*conn]struct{}{}, byDevice: map[deviceKey]map[*conn]struct{}{}}
}

func (h *hub) add(c *conn) {
	k, d := c.dev.who(), deviceKey{c.dev.Realm, c.dev.ID}
	h.mu.Lock()
	if h.byUser[k] == nil {
		h.byUser[k] = map[*conn]struct{}{}
	}
	h.byUser[k][c] = struct{}{}
	if h.byDevice[d] == nil {
		h.byDevice[d] = map[*conn]struct{}{}
	}
	h.byDevice[d][c] = struct{}{}
	h.mu.Unlock()
	h.mark(c)
}

func (h *hub) remove(c *conn) {
	k, d := c.dev.who(), deviceKey{c.dev.Realm, c.dev.ID}
	h.mu.Lock()
	if set := h.byUser[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.byUser, k)
		}
	}
	if set := h.byDevice[d]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.byDevice, d)
		}
	}
	h.mu.Unlock()
	// Always: a note being written while the connection closed is taken back here.
	h.unmark(c)
}

func (h *hub) connected(realm, user string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*conn, 0, len(h.byUser[userKey{realm, user}]))
	for c := range h.byUser[userKey{realm, user}] {
		out = append(out, c)
	}
	return out
}

// start subscribes to notices of new requests and new messages; the subscriptions end
// with ctx.
func (h *hub) start(ctx context.Context) error {
	handlers := []struct {
		channel string
		deliver func(context.Context, string)
	}{{authn.RequestsChannel, h.deliver}, {MessagesChannel, h.deliverMessage}}
	subs := make([]ephemeral.Subscription, 0, len(handlers))
	for _, hd := range handlers {
		sub, err := h.srv.cfg.Ephemeral.Subscribe(ctx, hd.channel)
		if err != nil {
			for _, s := range subs {
				_ = s.Close()
			}
			return err
		}
		subs = append(subs, sub)
	}
	for i, sub := range subs {
		deliver := handlers[i].deliver
		go func() {
			defer sub.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case msg, ok := <-sub.C():
					if !ok {
						return
					}
					deliver(ctx, string(msg))
				}
			}
		}()
	}
	return nil
}

// deliver hands a new request, named by authn's notice "realm\x00user\x00id", to the
// devices it addresses that are connected to this node.
func (h *hub) deliver(ctx context.Context, msg string) {
	parts := strings.Split(msg, "\x00")
	if len(parts) != 3 {
		return
	}
	conns := h.connected(parts[0], parts[1])
	if len(conns) == 0 {
		return // store and forward: the device lists pending requests when it connects
	}
	r, err := h.srv.cfg.Requests.Get(ctx, parts[0], parts[2])
	if err != nil || r.State != authn.Pending {
		return
	}
	v := view(r)
	for _, c := range conns {
		if !r.Addressed(c.dev.ID) {
			continue
		}
		// Each connection on its own goroutine, so a device that stops reading holds up
		// nobody else; a failed write closes its connection.
		go func() {
			if _, u, err := h.srv.lookupDevice(ctx, decodeIDOrZero(c.dev.ID)); err != nil || !h.srv.usable(u) {
				c.closeWith(ws.StatusPolicyViolation, "device no longer active")
				return
			}
			if !c.send(&message.Envelope{Type: message.TypeRequestNew, Request: &v}) {
				c.closeWith(ws.StatusGoingAway, "")
			}
		}()
	}
}

// allow counts one attempt of kind from ip in the current minute, across nodes.
func (s *Server) allow(ctx context.Context, kind, ip string, perMinute int) (bool, error) {
	n, err := s.cfg.Ephemeral.Incr(ctx, "device:"+kind+":"+ip, time.Minute)
	if err != nil {
		return false, err
	}
	return n <= int64(perMinute), nil
}
