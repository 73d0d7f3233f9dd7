package messaging

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/device"
	v1 "github.com/signet-auth/signet/internal/messaging/messagingv1"
	"github.com/signet-auth/signet/internal/messaging/messagingv1/messagingv1connect"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// apiClient serves the API of w over plain HTTP (Connect protocol) and returns a client;
// tokens "send" and "read" carry those scopes, any other is refused.
func apiClient(t *testing.T, w *world) messagingv1connect.MessagingClient {
	c, _ := apiClientServer(t, w)
	return c
}

// apiClientServer is apiClient that also returns the API; the device channel carries
// frames of 2 KiB.
func apiClientServer(t *testing.T, w *world) (messagingv1connect.MessagingClient, *API) {
	t.Helper()
	api := NewAPI(APIConfig{Store: w.st, Ephemeral: w.eph, MaxMessageBytes: 2 << 10, Verify: func(_ context.Context, realm, tok string) (Caller, error) {
		switch tok {
		case "send":
			return Caller{Realm: realm, ClientID: "backend", Scopes: []string{ScopeSend}}, nil
		case "read":
			return Caller{Realm: realm, ClientID: "auditor", Scopes: []string{ScopeRead}}, nil
		}
		return Caller{}, ErrInvalidToken
	}})
	mux := http.NewServeMux()
	api.Routes(mux, "")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return messagingv1connect.NewMessagingClient(srv.Client(), srv.URL), api
}

func withToken[T any](msg *T, tok string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+tok)
	return req
}

// A message to a phone that is not connected: queued, then a wake-up that names only the
// message, then acknowledged when the app confirms it; the stream reports each change,
// and the status answers the same.
func TestSendToDeviceWakesAndStreams(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.node(prometheus.NewRegistry(), nil)
	c := apiClient(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := c.StreamDeliveryEvents(ctx, withToken(&v1.StreamDeliveryEventsRequest{Realm: "demo"}, "send"))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	// The stream is subscribed once the server has answered its headers.
	_ = stream.ResponseHeader()
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}

	sent, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1",
		Message: &v1.Message{Title: "Statement", Body: "Your statement is ready.", TtlSeconds: 60}}, "send"))
	if err != nil {
		t.Fatal(err)
	}
	id := sent.Msg.GetMessageId()
	if d := sent.Msg.GetDeliveries(); len(d) != 1 || d[0].GetRoute() != RouteQueued {
		t.Errorf("SendToDevice deliveries %v, want d1 queued", d)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(w.fake.Notifications()) == 1 }, "the wake-up")
	n := w.fake.Notifications()[0]
	if !strings.Contains(string(n.Payload), id) || strings.Contains(string(n.Payload), "statement") {
		t.Errorf("wake-up payload %s: want the message id and not its text", n.Payload)
	}
	// The phone, woken, connects and confirms the message (after the push is recorded,
	// as a phone's round trip takes longer than that).
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, err := DeliveryStatus(ctx, w.eph, "demo", id, "d1")
		return err == nil && st.Route == RoutePush
	}, "the push to be recorded")
	inbox := device.Inbox{Ephemeral: w.eph}
	msgs, err := inbox.List(ctx, "demo", "d1")
	if err != nil || len(msgs) != 1 || msgs[0].Body != "Your statement is ready." {
		t.Fatalf("the device's inbox holds %+v, %v", msgs, err)
	}
	if err := inbox.Ack(ctx, "demo", "d1", id); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for stream.Receive() {
		e := stream.Msg()
		if e.GetMessageId() != id {
			continue
		}
		routes = append(routes, e.GetDelivery().GetRoute())
		if e.GetDelivery().GetRoute() == RouteAcknowledged {
			break
		}
	}
	if got := strings.Join(routes, " "); got != "queued push acknowledged" {
		t.Errorf("streamed routes %q, want queued push acknowledged", got)
	}
	st, err := c.GetDeliveryStatus(ctx, withToken(&v1.GetDeliveryStatusRequest{Realm: "demo", MessageId: id}, "send"))
	if err != nil {
		t.Fatal(err)
	}
	// Another client of the realm does not read this client's deliveries.
	if _, err := c.GetDeliveryStatus(ctx, withToken(&v1.GetDeliveryStatusRequest{Realm: "demo", MessageId: id}, "read")); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("another client's status read: %v, want NotFound", err)
	}
	if d := st.Msg.GetDeliveries(); len(d) != 1 || d[0].GetRoute() != RouteAcknowledged || d[0].GetProvider() != "apns" || d[0].GetAttempts() != 1 {
		t.Errorf("status %v, want acknowledged after one push through apns", d)
	}
}

// What each caller may do, and what bad input gets.
func TestAPIRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := apiClient(t, w)
	ctx := context.Background()
	msg := &v1.Message{Body: "hello"}
	for _, tc := range []struct {
		name string
		call func() error
		want connect.Code
	}{
		{"no token", func() error {
			_, err := c.SendToDevice(ctx, connect.NewRequest(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: msg}))
			return err
		}, connect.CodeUnauthenticated},
		{"bad token", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: msg}, "forged"))
			return err
		}, connect.CodeUnauthenticated},
		{"read scope sends", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: msg}, "read"))
			return err
		}, connect.CodePermissionDenied},
		{"unknown device", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "nope", Message: msg}, "send"))
			return err
		}, connect.CodeNotFound},
		{"no message", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1"}, "send"))
			return err
		}, connect.CodeInvalidArgument},
		{"ttl too long", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: &v1.Message{Body: "x", TtlSeconds: 90000}}, "send"))
			return err
		}, connect.CodeInvalidArgument},
		{"control characters", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: &v1.Message{Title: "a\x00b"}}, "send"))
			return err
		}, connect.CodeInvalidArgument},
		{"larger than a channel frame", func() error {
			_, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: &v1.Message{Body: strings.Repeat("x", 4000)}}, "send"))
			return err
		}, connect.CodeInvalidArgument},
		{"unknown user", func() error {
			_, err := c.SendToUser(ctx, withToken(&v1.SendToUserRequest{Realm: "demo", UserId: "nobody", Message: msg}, "send"))
			return err
		}, connect.CodeNotFound},
		{"unknown message", func() error {
			_, err := c.GetDeliveryStatus(ctx, withToken(&v1.GetDeliveryStatusRequest{Realm: "demo", MessageId: "0123"}, "read"))
			return err
		}, connect.CodeNotFound},
		{"no realm", func() error {
			_, err := c.GetDeliveryStatus(ctx, withToken(&v1.GetDeliveryStatusRequest{MessageId: "0123"}, "read"))
			return err
		}, connect.CodeInvalidArgument},
	} {
		if err := tc.call(); connect.CodeOf(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	// SendToUser addresses every active device of the user under one message id.
	w.enroll("d2", "", "")
	out, err := c.SendToUser(ctx, withToken(&v1.SendToUserRequest{Realm: "demo", UserId: "u1", Message: msg}, "send"))
	if err != nil || len(out.Msg.GetDeliveries()) != 2 {
		t.Errorf("SendToUser = %v, %v; want two deliveries", out, err)
	}
}

// A disabled or locked user is sent nothing; the server's shutdown ends open streams.
func TestAPIUserStateAndShutdown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, api := apiClientServer(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := w.st.UpdateUser(ctx, "demo", "u1", func(u store.User) (store.User, error) {
		u.LockedUntil = time.Now().Add(time.Hour)
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	msg := &v1.Message{Body: "hello"}
	if _, err := c.SendToDevice(ctx, withToken(&v1.SendToDeviceRequest{Realm: "demo", DeviceId: "d1", Message: msg}, "send")); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("SendToDevice to a locked user's device: %v, want FailedPrecondition", err)
	}
	if _, err := c.SendToUser(ctx, withToken(&v1.SendToUserRequest{Realm: "demo", UserId: "u1", Message: msg}, "send")); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("SendToUser to a locked user: %v, want FailedPrecondition", err)
	}
	stream, err := c.StreamDeliveryEvents(ctx, withToken(&v1.StreamDeliveryEventsRequest{Realm: "demo"}, "read"))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	_ = stream.ResponseHeader()
	api.Shutdown()
	if stream.Receive() || connect.CodeOf(stream.Err()) != connect.CodeUnavailable {
		t.Errorf("an open stream at shutdown: %v, want it ended with Unavailable", stream.Err())
	}
}
