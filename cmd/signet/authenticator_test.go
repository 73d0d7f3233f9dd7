package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlite"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/sigma"
)

// TestAuthenticatorAgainstDevServer, tried as a new user would: an administrator creates
// an activation code with `signet admin activation create`, `signet authenticator
// enroll` redeems it over the device channel of a dev server (TLS, dev CA), a request
// made on another node (the test, sharing the server's database and Redis) waits for the
// offline device, `signet authenticator run --once --approve-all --number N` approves
// it, and the signed answer verifies against the device key. The device
// then shows in `signet admin device list`, its last device is not locked without
// --force, and the audit log records the enrollment and the lock.
func TestAuthenticatorAgainstDevServer(t *testing.T) {
	t.Parallel()
	redisURL := testutil.RedisURL(t)
	dir, banner := devServerWithOutput(t, "SIGNET_REDIS_URL="+redisURL)
	admin := adminRunner(t, adminEnv(t, dir))
	png := filepath.Join(t.TempDir(), "qr.png")
	out, _ := admin(exitOK, "activation", "create", "--realm", "demo", "--user", "demo", "--png", png, "-o", "json")
	var act struct {
		URL  string `json:"url"`
		Code string `json:"code"`
	}
	if err := json.Unmarshal([]byte(out), &act); err != nil || act.URL == "" || len(act.Code) != 26 {
		t.Fatalf("activation create: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("QR PNG: %v", err)
	}
	// The table form draws the QR code in the terminal.
	out, _ = admin(exitOK, "activation", "create", "--realm", "demo", "--user", "demo")
	if !strings.Contains(out, "█") || !strings.Contains(out, "signet authenticator enroll '") {
		t.Fatalf("activation create without -o json:\n%s", out)
	}

	profile := filepath.Join(t.TempDir(), "authenticator.json")
	env := []string{"SIGNET_AUTHENTICATOR_PASSPHRASE=correct horse battery staple"}
	ca := filepath.Join(dir, "dev-ca", "ca.pem")
	auth := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, env, append([]string{"authenticator", "--profile", profile, "--ca", ca}, args...)...)
		if code != want {
			t.Fatalf("signet authenticator %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	if out := auth(exitOK, "enroll", act.URL, "--name", "laptop"); !strings.Contains(out, `enrolled device`) || !strings.Contains(out, `"laptop"`) {
		t.Fatalf("enroll: %s", out)
	}
	// The code is single use.
	if code, _, errOut := runCLI(t, env, "authenticator", "--profile", filepath.Join(t.TempDir(), "p.json"), "--ca", ca, "enroll", act.URL); code != exitFailure || !strings.Contains(errOut, "used already") {
		t.Fatalf("second enrollment with one code: exit %d, %s", code, errOut)
	}
	if out := auth(exitOK, "list"); !strings.Contains(out, "laptop") || !strings.Contains(out, "demo") {
		t.Fatalf("list: %s", out)
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUserByUsername(context.Background(), "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	// Another node: the same database and Redis, its own request service.
	eph, err := redis.Open(context.Background(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer eph.Close()
	outbox := events.NewOutbox(st)
	reqs, err := authn.New(context.Background(), authn.Config{Store: eph, Events: authn.SinkFunc(func(ctx context.Context, e authn.Event) error {
		return outbox.Append(ctx, e.Record())
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer reqs.Close()
	req, err := device.Ask(context.Background(), st, reqs, time.Now(), authn.NewRequest{
		Realm: "demo", UserID: u.ID, ClientID: "demo-client", Kind: authn.KindPushLogin, Text: "Sign in to the demo app",
		RequesterIP: "192.0.2.10", Binding: []byte("test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A message from a business application waits for the offline device too: run shows
	// it and acknowledges it.
	devs, err := st.UserDevices(context.Background(), "demo", u.ID)
	if err != nil || len(devs) != 1 {
		t.Fatalf("the user's devices: %d, %v", len(devs), err)
	}
	inbox := device.Inbox{Ephemeral: eph}
	if _, err := inbox.Put(context.Background(), device.Message{Realm: "demo", DeviceID: devs[0].ID, Title: "Statement ready",
		Body: "Your November statement\nis ready.", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	out = auth(exitOK, "run", "--once", "--approve-all", "--number", req.MatchNumber)
	if !strings.Contains(out, "Sign in to the demo app") || !strings.Contains(out, "ip=192.0.2.10") || !strings.Contains(out, "approved") {
		t.Fatalf("run: %s", out)
	}
	if !strings.Contains(out, "title: Statement ready") || !strings.Contains(out, "| Your November statement\n  | is ready.") {
		t.Fatalf("run did not show the waiting message:\n%s", out)
	}
	if left, err := inbox.List(context.Background(), "demo", devs[0].ID); err != nil || len(left) != 0 {
		t.Fatalf("run did not acknowledge the message: %d left, %v", len(left), err)
	}
	stored, err := reqs.Consume(context.Background(), "demo", req.ID, []byte("test"))
	if err != nil || stored.State != authn.Approved {
		t.Fatalf("request after run: %v %v", stored.State, err)
	}
	_ = outbox.Close(context.Background())
	evs, err := st.ListEvents(context.Background(), "demo", store.EventFilter{Subject: req.ID}, store.ListOptions{})
	if err != nil || len(evs.Items) != 3 || evs.Items[1].Type != "authn.approved" {
		t.Fatalf("events of the request: %+v, %v; want created, approved, consumed", evs.Items, err)
	}
	rc, err := device.ReceiptFor(stored)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sigmaKey(rc.DeviceKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigma.VerifyApproval(pub, rc.Statement, rc.Signature); err != nil {
		t.Fatalf("the stored approval does not verify: %v", err)
	}

	// A transaction: approved on the device, its receipt kept by the server, fetched with
	// the admin CLI and checked offline against the realm's JWKS; one changed byte of
	// the amount breaks it.
	tx, err := device.Ask(context.Background(), st, reqs, time.Now(), authn.NewRequest{
		Realm: "demo", UserID: u.ID, ClientID: "demo-client", Kind: authn.KindTransaction, Text: "Pay 120.00 EUR to ACME",
		AuthorizationDetails: []byte(`[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"120.00"},"creditorName":"ACME"}]`),
		Binding:              []byte("test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := auth(exitOK, "run", "--once", "--approve-all", "--number", tx.MatchNumber); !strings.Contains(out, "approved") {
		t.Fatalf("run: %s", out)
	}
	receiptFile := filepath.Join(t.TempDir(), "receipt.jws")
	if out, _ := admin(exitOK, "receipt", "get", "--realm", "demo", tx.ID, "--save", receiptFile); !strings.Contains(out, "approved") {
		t.Fatalf("receipt get: %s", out)
	}
	b, err := readDevBanner(bufio.NewScanner(strings.NewReader(banner.String())))
	if err != nil {
		t.Fatal(err)
	}
	certs := b.public + "/realms/demo/protocol/openid-connect/certs"
	code, out, errOut := runCLI(t, nil, "receipt", "verify", receiptFile, "--jwks", certs, "--ca", ca)
	if code != exitOK || !strings.Contains(out, "approved") || !strings.Contains(out, `"amount":"120.00"`) || !strings.Contains(out, "Pay 120.00 EUR to ACME") {
		t.Fatalf("receipt verify: exit %d\n%s%s", code, out, errOut)
	}
	jws, _ := os.ReadFile(receiptFile)
	parts := strings.Split(strings.TrimSpace(string(jws)), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"120.00"`, `"920.00"`, 1)))
	tampered := filepath.Join(t.TempDir(), "tampered.jws")
	if err := os.WriteFile(tampered, []byte(strings.Join(parts, ".")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "receipt", "verify", tampered, "--jwks", certs, "--ca", ca); code != exitFailure || !strings.Contains(errOut, "receipt invalid") {
		t.Fatalf("a receipt with a changed amount: exit %d, %s", code, errOut)
	}

	// A QR login: the login page's code names the request; scan takes it and approves.
	qr, err := reqs.Create(context.Background(), authn.NewRequest{Realm: "demo", Kind: authn.KindQRLogin,
		ClientID: "demo-client", Text: "Sign in to the demo app", Binding: []byte("page")})
	if err != nil {
		t.Fatal(err)
	}
	if out := auth(exitOK, "scan", device.LoginURL(b.device, "demo", qr.ID), "--approve-all", "--number", qr.MatchNumber); !strings.Contains(out, "approved") {
		t.Fatalf("scan: %s", out)
	}
	if got, err := reqs.Consume(context.Background(), "demo", qr.ID, []byte("page")); err != nil || got.State != authn.Approved || got.UserID != u.ID {
		t.Fatalf("the QR login after scan: %v for %q, %v", got.State, got.UserID, err)
	}

	// A message that arrives while run waits is shown and acknowledged at once.
	runCtx, stopRun := context.WithCancel(context.Background())
	var runOut, runErr testutil.SyncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(runCtx, []string{"authenticator", "--profile", profile, "--ca", ca, "run"}, env, &runOut, &runErr)
	}()
	testutil.Eventually(t, 10*time.Second, func() bool { return strings.Contains(runOut.String(), "connected as") },
		"run to connect: %s", runErr.String())
	if _, err := inbox.Put(context.Background(), device.Message{Realm: "demo", DeviceID: devs[0].ID, Title: "Card payment",
		Body: "12.50 EUR", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		left, err := inbox.List(context.Background(), "demo", devs[0].ID)
		return strings.Contains(runOut.String(), "title: Card payment") && err == nil && len(left) == 0
	}, "run to show and acknowledge the message as it arrived:\n%s", runOut.String())
	stopRun()
	if code := <-exited; code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, runErr.String())
	}

	out, _ = admin(exitOK, "device", "list", "--realm", "demo", "--user", "demo", "-o", "json")
	var devices []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &devices); err != nil || len(devices) != 1 || devices[0].State != "active" {
		t.Fatalf("device list: %v\n%s", err, out)
	}
	id := devices[0].ID
	if _, errOut := admin(exitFailure, "device", "lock", "--realm", "demo", id); !strings.Contains(errOut, "last active device") {
		t.Fatalf("locking the last device without --force: %s", errOut)
	}
	admin(exitOK, "device", "lock", "--realm", "demo", id, "--force")
	// A locked device cannot connect.
	if code, _, errOut := runCLI(t, env, "authenticator", "--profile", profile, "--ca", ca, "run", "--once"); code != exitFailure {
		t.Fatalf("a locked device connected: exit %d %s", code, errOut)
	}
	out, _ = admin(exitOK, "device", "audit", "--realm", "demo")
	for _, want := range []string{"enrolled", "locked", "activation_created"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q:\n%s", want, out)
		}
	}
}

func sigmaKey(point []byte) (*ecdsa.PublicKey, error) {
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}
