package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/messaging"
	v1 "github.com/signet-auth/signet/internal/messaging/messagingv1"
	"github.com/signet-auth/signet/internal/messaging/messagingv1/messagingv1connect"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// grpcMethod is the full gRPC method name of an operation of the messaging service.
func grpcMethod(op string) string { return "/" + messagingv1connect.MessagingName + "/" + op }

// TestGRPCMessagingMTLS: a grpc-go client with a client certificate registered for a
// client of the realm calls SendToDevice over mTLS (listener mode verify) and the
// message reaches the connected phone in band; a client without a certificate is refused
// at the handshake, one whose certificate maps to no client of the realm by the API, and
// the client is refused another realm.
func TestGRPCMessagingMTLS(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	caFile := filepath.Join(t.TempDir(), "client-ca.pem")
	if err := os.WriteFile(caFile, p.clientCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Listeners.GRPC.TLSClientAuth, cfg.Listeners.GRPC.TLSClientCAFile = "verify", caFile
	s := startServer(t, cfg)
	ctx := context.Background()
	phone := enrollPhone(t, s, p)
	dev := phone.Identity().DeviceID

	cert := p.clients["right CA"]
	sum := sha256.Sum256(cert.Certificate[0])
	register := func(id string, scopes ...string) {
		t.Helper()
		if _, err := s.store.CreateClient(ctx, store.Client{Realm: "demo", ID: id, Name: id, Enabled: true, Scopes: scopes,
			TLSClientCertificates: []string{hex.EncodeToString(sum[:])}, GrantTypes: []string{"client_credentials"}}); err != nil {
			t.Fatal(err)
		}
	}
	dial := func(certs ...tls.Certificate) *grpc.ClientConn {
		t.Helper()
		creds := credentials.NewTLS(&tls.Config{RootCAs: pool(p.serverCA), Certificates: certs, MinVersion: tls.VersionTLS13})
		conn, err := grpc.NewClient(s.Addr(config.GRPC), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	send := func(conn *grpc.ClientConn) (*v1.SendResponse, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out := new(v1.SendResponse)
		err := conn.Invoke(ctx, grpcMethod("SendToDevice"), &v1.SendToDeviceRequest{Realm: "demo", DeviceId: dev,
			Message: &v1.Message{Title: "Statement", Body: "Your statement for November is ready."}}, out)
		return out, err
	}

	// The certificate maps to no client yet.
	if _, err := send(dial(*cert)); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an unregistered certificate: %v, want PermissionDenied", err)
	}
	// Without a certificate the verify mode refuses the handshake.
	if _, err := send(dial()); status.Code(err) != codes.Unavailable {
		t.Errorf("no certificate: %v, want the connection refused (Unavailable)", err)
	}

	register("backend", messaging.ScopeSend, messaging.ScopeRead)
	// The certificate was refused a moment ago; its registration is seen within seconds.
	var got *v1.SendResponse
	var err error
	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err = send(dial(*cert))
		return status.Code(err) != codes.PermissionDenied
	}, "the registered certificate to be known")
	if err != nil {
		t.Fatalf("SendToDevice over mTLS: %v", err)
	}
	if len(got.GetMessageId()) != 32 || len(got.GetDeliveries()) != 1 || got.GetDeliveries()[0].GetDeviceId() != dev {
		t.Fatalf("SendToDevice answered %v", got)
	}
	// The phone is connected: the message goes in band, and the status says so.
	conn := dial(*cert)
	testutil.Eventually(t, 10*time.Second, func() bool {
		out := new(v1.GetDeliveryStatusResponse)
		err := conn.Invoke(ctx, grpcMethod("GetDeliveryStatus"), &v1.GetDeliveryStatusRequest{Realm: "demo", MessageId: got.GetMessageId()}, out)
		if err != nil {
			t.Fatalf("GetDeliveryStatus: %v", err)
		}
		r := out.GetDeliveries()[0].GetRoute()
		return r == messaging.RouteInBand || r == messaging.RouteAcknowledged
	}, "the message to be delivered in band")
	// Server reflection, as grpcurl uses it, lists the service.
	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	ans, err := rc.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	var services []string
	for _, svc := range ans.GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	if !slices.Contains(services, messagingv1connect.MessagingName) {
		t.Errorf("reflection lists %v, want %s", services, messagingv1connect.MessagingName)
	}
	_ = rc.CloseSend()
	// Another realm is not this client's.
	out := new(v1.GetDeliveryStatusResponse)
	if err := conn.Invoke(ctx, grpcMethod("GetDeliveryStatus"), &v1.GetDeliveryStatusRequest{Realm: "master", MessageId: got.GetMessageId()}, out); status.Code(err) != codes.PermissionDenied {
		t.Errorf("status in another realm: %v, want PermissionDenied", err)
	}
}

// TestGRPCMessagingBearer: with no client certificate required, a Connect client calls
// the API with an access token from client credentials; a token without the scope, and
// none at all, are refused. (Reflection is checked in TestGRPCMessagingMTLS.)
func TestGRPCMessagingBearer(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	s := startServer(t, cfg)
	ctx := context.Background()
	phone := enrollPhone(t, s, p)
	user := phone.Identity().UserID
	for id, scope := range map[string]string{"sender": messaging.ScopeSend, "reader": messaging.ScopeRead} {
		c := store.Client{Realm: "demo", ID: id, Name: id, Enabled: true, AuthMethod: "client_secret_basic", Scopes: []string{scope}, GrantTypes: []string{"client_credentials"},
			SecretHash: mustHashSecret(t, s, "secret-"+id)}
		if _, err := s.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	httpc := client(pool(p.serverCA), 0, nil)
	token := func(id, scope string) string {
		t.Helper()
		cc := clientcredentials.Config{ClientID: id, ClientSecret: "secret-" + id, Scopes: []string{scope},
			TokenURL: s.URL(config.Public) + "/realms/demo/protocol/openid-connect/token"}
		tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, httpc))
		if err != nil {
			t.Fatalf("client credentials for %s: %v", id, err)
		}
		return tok.AccessToken
	}
	api := messagingv1connect.NewMessagingClient(httpc, s.URL(config.GRPC), connect.WithGRPC())
	call := func(tok string) error {
		req := connect.NewRequest(&v1.SendToUserRequest{Realm: "demo", UserId: user, Message: &v1.Message{Body: "hello"}})
		if tok != "" {
			req.Header().Set("Authorization", "Bearer "+tok)
		}
		_, err := api.SendToUser(ctx, req)
		return err
	}
	if err := call(""); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	if err := call("not-a-token"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("a bad token: %v, want Unauthenticated", err)
	}
	if err := call(token("reader", messaging.ScopeRead)); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("a token without the send scope: %v, want PermissionDenied", err)
	}
	if err := call(token("sender", messaging.ScopeSend)); err != nil {
		t.Errorf("a token with the send scope: %v", err)
	}
}
