package messaging

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-auth/signet/internal/callers"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral"
	v1 "github.com/signet-auth/signet/internal/messaging/messagingv1"
	"github.com/signet-auth/signet/internal/messaging/messagingv1/messagingv1connect"
	"github.com/signet-auth/signet/internal/store"
)

// Scopes a caller of the gRPC API needs: to send messages, and to read what became of
// them. A client identified by its certificate has the scopes it is registered with; a
// bearer token, those it was issued with.
const (
	ScopeSend = "signet:messaging:send"
	ScopeRead = "signet:messaging:read"
)

// Message limits of the API.
const (
	DefaultMessageTTL = 5 * time.Minute
	MaxMessageTTL     = 24 * time.Hour
)

// Caller is who calls the API: a client of the realm (package callers identifies it).
type Caller = callers.Caller

// ErrInvalidToken is what APIConfig.Verify returns for a token it refuses.
var ErrInvalidToken = callers.ErrInvalidToken

// APIConfig is what the gRPC API needs; all but Log are required.
type APIConfig struct {
	Store     store.Store
	Ephemeral ephemeral.Store
	// Verify checks an access token issued by realm (ErrInvalidToken when it is not
	// valid) and tells whose it is.
	Verify callers.Verify
	Log    *slog.Logger
	// MaxMessageBytes is the device channel's frame limit (device.max_message_bytes;
	// 0: the default): a message no frame could carry is refused.
	MaxMessageBytes int
}

// API serves signet.messaging.v1.Messaging on the GRPC listener.
type API struct {
	cfg     APIConfig
	inbox   device.Inbox
	callers *callers.Identifier
	// done ends the event streams at shutdown: a stream waits for events, not for its
	// caller, and must not hold the listener's drain.
	done      chan struct{}
	closeOnce sync.Once
}

var _ messagingv1connect.MessagingHandler = (*API)(nil)

// NewAPI returns the API.
func NewAPI(cfg APIConfig) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg, inbox: device.Inbox{Ephemeral: cfg.Ephemeral}, callers: callers.New(cfg.Store, cfg.Verify),
		done: make(chan struct{})}
}

// Shutdown ends the open event streams; the listener calls it as it drains.
func (a *API) Shutdown() { a.closeOnce.Do(func() { close(a.done) }) }

// maxRequestBytes bounds a request message, compressed or not, before the caller is
// known: a message is a title and a body.
const maxRequestBytes = 64 << 10

// Routes mounts the service and gRPC server reflection (v1 and v1alpha, so grpcurl
// works) on mux. Connect, gRPC and gRPC-Web clients are all served.
func (a *API) Routes(mux *http.ServeMux, prefix string) {
	path, h := messagingv1connect.NewMessagingHandler(a, connect.WithReadMaxBytes(maxRequestBytes))
	mux.Handle(prefix+path, http.StripPrefix(prefix, withPeer(http.MaxBytesHandler(h, 2*maxRequestBytes))))
	reflector := grpcreflect.NewStaticReflector(messagingv1connect.MessagingName)
	p1, h1 := grpcreflect.NewHandlerV1(reflector)
	mux.Handle(prefix+p1, http.StripPrefix(prefix, h1))
	p2, h2 := grpcreflect.NewHandlerV1Alpha(reflector)
	mux.Handle(prefix+p2, http.StripPrefix(prefix, h2))
}

type peerKey struct{}

// withPeer passes the connection's TLS state (its client certificate) to the handlers,
// which connect does not expose.
func withPeer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, r.TLS)))
	})
}

// authorize identifies the caller for realm, by its client certificate or its bearer
// token, and checks it holds one of scopes. A certificate that maps to no client of the
// realm, or a token without the scope, is refused as PermissionDenied: connecting is not
// being permitted.
func (a *API) authorize(ctx context.Context, h http.Header, realm string, scopes ...string) (Caller, error) {
	if realm == "" {
		return Caller{}, connect.NewError(connect.CodeInvalidArgument, errors.New("realm is required"))
	}
	st, _ := ctx.Value(peerKey{}).(*tls.ConnectionState)
	c, err := a.callers.Authorize(ctx, realm, st, h, scopes...)
	var scope *callers.ScopeError
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, callers.ErrNoCredentials):
		return Caller{}, connect.NewError(connect.CodeUnauthenticated,
			errors.New("a client certificate registered for a client of the realm, or an access token (Authorization: Bearer), is required"))
	case errors.Is(err, callers.ErrInvalidToken):
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New("the access token is not valid for this realm"))
	case errors.Is(err, callers.ErrUnregisteredCertificate):
		return Caller{}, connect.NewError(connect.CodePermissionDenied, errors.New("the client certificate is not registered for an enabled client of this realm"))
	case errors.As(err, &scope):
		return Caller{}, connect.NewError(connect.CodePermissionDenied, scope)
	}
	return Caller{}, unavailable(err)
}

func unavailable(err error) error {
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("try again: %w", err))
}

// SendToDevice sends a message to one device.
func (a *API) SendToDevice(ctx context.Context, req *connect.Request[v1.SendToDeviceRequest]) (*connect.Response[v1.SendResponse], error) {
	m := req.Msg
	caller, err := a.authorize(ctx, req.Header(), m.GetRealm(), ScopeSend)
	if err != nil {
		return nil, err
	}
	if m.GetDeviceId() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("device_id is required"))
	}
	d, err := a.cfg.Store.GetDevice(ctx, m.GetRealm(), m.GetDeviceId())
	if errors.Is(err, store.ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such device in the realm"))
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if d.State != store.DeviceActive {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("the device is %s", d.State))
	}
	if err := a.activeUser(ctx, m.GetRealm(), d.UserID); err != nil {
		return nil, err
	}
	return a.send(ctx, caller, m.GetRealm(), []string{d.ID}, m.GetMessage())
}

// SendToUser sends a message to every active device of a user.
func (a *API) SendToUser(ctx context.Context, req *connect.Request[v1.SendToUserRequest]) (*connect.Response[v1.SendResponse], error) {
	m := req.Msg
	caller, err := a.authorize(ctx, req.Header(), m.GetRealm(), ScopeSend)
	if err != nil {
		return nil, err
	}
	if m.GetUserId() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("user_id is required"))
	}
	if err := a.activeUser(ctx, m.GetRealm(), m.GetUserId()); err != nil {
		return nil, err
	}
	ds, err := a.cfg.Store.UserDevices(ctx, m.GetRealm(), m.GetUserId())
	if err != nil {
		return nil, unavailable(err)
	}
	var ids []string
	for _, d := range ds {
		if d.State == store.DeviceActive {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("the user has no active device"))
	}
	return a.send(ctx, caller, m.GetRealm(), ids, m.GetMessage())
}

// activeUser refuses a user who is missing, disabled or locked: such a user is asked
// and told nothing (PRODUCT.md: refused at every entry point).
func (a *API) activeUser(ctx context.Context, realm, id string) error {
	u, err := a.cfg.Store.GetUser(ctx, realm, id)
	if errors.Is(err, store.ErrNotFound) {
		return connect.NewError(connect.CodeNotFound, errors.New("no such user in the realm"))
	}
	if err != nil {
		return unavailable(err)
	}
	if !u.Enabled || time.Now().Before(u.LockedUntil) {
		return connect.NewError(connect.CodeFailedPrecondition, errors.New("the user is disabled or locked"))
	}
	return nil
}

func messageKey(realm, id string) string { return "messaging:message:" + realm + "\x00" + id }

// sentMessage is what the API keeps of a message: who sent it (only that client reads
// its deliveries) and to which devices.
type sentMessage struct {
	Client  string   `json:"client"`
	Devices []string `json:"devices"`
}

// send puts the message in each device's inbox under one id, its delivery queued first
// (the delivery policy, hearing of the message, then records what it does). A device
// whose inbox refuses it is reported failed, the others still get it; only when none
// does is the call refused.
func (a *API) send(ctx context.Context, caller Caller, realm string, devices []string, msg *v1.Message) (*connect.Response[v1.SendResponse], error) {
	if msg == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("message is required"))
	}
	ttl := DefaultMessageTTL
	if s := msg.GetTtlSeconds(); s != 0 {
		ttl = time.Duration(s) * time.Second
	}
	if ttl <= 0 || ttl > MaxMessageTTL {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("ttl_seconds must be between 1 and %d", int(MaxMessageTTL.Seconds())))
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	expires := time.Now().Add(ttl)
	// Checked before anything is kept, so bad input leaves nothing behind.
	probe := device.Message{ID: id, Realm: realm, DeviceID: devices[0], Title: msg.GetTitle(), Body: msg.GetBody(), ExpiresAt: expires}
	if err := device.CheckMessage(probe); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if probe.CreatedAt = time.Now(); !device.Deliverable(probe, a.cfg.MaxMessageBytes) {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("the message is larger than the device channel carries (device.max_message_bytes)"))
	}
	keep := ttl + messageStatusKeep
	record, _ := json.Marshal(sentMessage{Client: caller.ClientID, Devices: devices})
	if _, err := a.cfg.Ephemeral.Set(ctx, messageKey(realm, id), record, keep); err != nil {
		return nil, unavailable(err)
	}
	out := &v1.SendResponse{MessageId: id}
	delivered := 0
	var last error
	for _, dev := range devices {
		st := Status{Route: RouteQueued, UpdatedAt: time.Now().UTC()}
		if err := recordStatus(ctx, a.cfg.Ephemeral, realm, id, dev, st, keep, true); err != nil {
			return nil, unavailable(err)
		}
		_, err := a.inbox.Put(ctx, device.Message{ID: id, Realm: realm, DeviceID: dev, Title: msg.GetTitle(), Body: msg.GetBody(), ExpiresAt: expires})
		switch {
		case err == nil:
			delivered++
		case errors.Is(err, device.ErrInboxFull), errors.Is(err, device.ErrInvalidMessage):
			st = Status{Route: RouteFailed, Error: err.Error(), UpdatedAt: time.Now().UTC()}
			_ = recordStatus(ctx, a.cfg.Ephemeral, realm, id, dev, st, keep, true)
			last = err
		default:
			return nil, unavailable(err)
		}
		out.Deliveries = append(out.Deliveries, delivery(dev, st))
	}
	if delivered == 0 {
		_ = a.cfg.Ephemeral.Delete(ctx, messageKey(realm, id))
		if errors.Is(last, device.ErrInboxFull) {
			return nil, connect.NewError(connect.CodeResourceExhausted, errors.New("too many messages wait for the device"))
		}
		return nil, connect.NewError(connect.CodeInvalidArgument, last)
	}
	return connect.NewResponse(out), nil
}

// sent reads what the API kept of message id, for its sender only: another client of the
// realm gets NotFound, as for a message that never was.
func (a *API) sent(ctx context.Context, caller Caller, realm, id string) (sentMessage, error) {
	notFound := connect.NewError(connect.CodeNotFound, errors.New("no such message of this client in the realm (or no longer)"))
	e, err := a.cfg.Ephemeral.Get(ctx, messageKey(realm, id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return sentMessage{}, notFound
	}
	if err != nil {
		return sentMessage{}, unavailable(err)
	}
	var m sentMessage
	if json.Unmarshal(e.Value, &m) != nil || m.Client != caller.ClientID {
		return sentMessage{}, notFound
	}
	return m, nil
}

// GetDeliveryStatus tells how a message reached each device it was sent to; a client
// reads only the messages it sent.
func (a *API) GetDeliveryStatus(ctx context.Context, req *connect.Request[v1.GetDeliveryStatusRequest]) (*connect.Response[v1.GetDeliveryStatusResponse], error) {
	m := req.Msg
	caller, err := a.authorize(ctx, req.Header(), m.GetRealm(), ScopeRead, ScopeSend)
	if err != nil {
		return nil, err
	}
	sm, err := a.sent(ctx, caller, m.GetRealm(), m.GetMessageId())
	if err != nil {
		return nil, err
	}
	out := &v1.GetDeliveryStatusResponse{}
	for _, dev := range sm.Devices {
		st, err := DeliveryStatus(ctx, a.cfg.Ephemeral, m.GetRealm(), m.GetMessageId(), dev)
		if err != nil && !errors.Is(err, ephemeral.ErrNotFound) {
			return nil, unavailable(err)
		}
		out.Deliveries = append(out.Deliveries, delivery(dev, st))
	}
	return connect.NewResponse(out), nil
}

// StreamDeliveryEvents streams the deliveries of the caller's messages in the realm as
// they are recorded, on any node, until the caller goes or the server stops. Deliveries
// of sign-in requests and of other clients' messages are not the caller's to see.
func (a *API) StreamDeliveryEvents(ctx context.Context, req *connect.Request[v1.StreamDeliveryEventsRequest], stream *connect.ServerStream[v1.DeliveryEvent]) error {
	realm := req.Msg.GetRealm()
	caller, err := a.authorize(ctx, req.Header(), realm, ScopeRead, ScopeSend)
	if err != nil {
		return err
	}
	sub, err := a.cfg.Ephemeral.Subscribe(ctx, DeliveriesChannel)
	if err != nil {
		return unavailable(err)
	}
	defer sub.Close()
	// The response headers go at once: a caller that has them knows it is subscribed.
	if err := stream.Send(nil); err != nil {
		return err
	}
	mine := map[string]bool{} // message id → the caller's, as read once
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.done:
			return connect.NewError(connect.CodeUnavailable, errors.New("the server is stopping; call again"))
		case b, ok := <-sub.C():
			if !ok {
				return connect.NewError(connect.CodeUnavailable, errors.New("the event stream ended; call again"))
			}
			var e Event
			if json.Unmarshal(b, &e) != nil || e.Realm != realm {
				continue
			}
			own, seen := mine[e.ID]
			if !seen {
				_, err := a.sent(ctx, caller, realm, e.ID)
				own = err == nil
				if len(mine) >= 10_000 {
					clear(mine)
				}
				mine[e.ID] = own
			}
			if !own {
				continue
			}
			if err := stream.Send(&v1.DeliveryEvent{Realm: e.Realm, MessageId: e.ID, Delivery: delivery(e.Device, e.Status)}); err != nil {
				return err
			}
		}
	}
}

func delivery(dev string, st Status) *v1.Delivery {
	d := &v1.Delivery{DeviceId: dev, Route: st.Route, Provider: st.Provider, Attempts: int32(st.Attempts), Error: st.Error}
	if !st.UpdatedAt.IsZero() {
		d.UpdatedAt = timestamppb.New(st.UpdatedAt)
	}
	return d
}
