package authenticator

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/sigma/message"
)

func TestFileKeyStore(t *testing.T) {
	t.Parallel()
	if _, err := NewFileKeyStore(t.TempDir(), "correct horse"); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("a directory open to others: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "keys")
	ks, err := NewFileKeyStore(dir, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	point, err := ks.GenerateKey("phone-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.GenerateKey("phone-1"); err == nil {
		t.Fatal("an alias was overwritten")
	}
	info, err := os.Stat(filepath.Join(dir, "phone-1.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v)", info.Mode(), err)
	}
	// A fresh store (a new process) opens the key with the passphrase and signs.
	again, _ := NewFileKeyStore(dir, "correct horse")
	digest := sha256.Sum256([]byte("statement"))
	sig, err := again.SignDigest("phone-1", digest[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := parsePoint(point)
	if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
		t.Fatalf("signature does not verify with the generated key (%v)", err)
	}
	// The private scalar is not in the file in the clear.
	raw, _ := os.ReadFile(filepath.Join(dir, "phone-1.key"))
	if k, _ := again.open("phone-1"); k != nil {
		scalar, _ := k.Bytes()
		if bytes.Contains(raw, scalar) {
			t.Fatal("the key file holds the private key in the clear")
		}
	}
	if _, err := NewFileKeyStore(dir, "wrong"); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("a wrong passphrase opened the store: %v", err)
	}
	// A file renamed to another alias does not open as that alias.
	if err := os.Rename(filepath.Join(dir, "phone-1.key"), filepath.Join(dir, "phone-2.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := again.PublicKey("phone-2"); err == nil {
		t.Fatal("a key file opened under another alias")
	}
	for _, alias := range []string{"../x", "a/b", "", "."} {
		if _, err := ks.GenerateKey(alias); err == nil {
			t.Errorf("alias %q accepted", alias)
		}
	}
	if _, err := NewFileKeyStore(dir, ""); err == nil {
		t.Fatal("an empty passphrase was accepted")
	}
	if err := ks.DeleteKey("phone-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.PublicKey("phone-1"); err != ErrNoKey {
		t.Fatalf("deleted key: %v", err)
	}
}

func TestParseActivationURL(t *testing.T) {
	t.Parallel()
	fp := strings.Repeat("A", 43)
	a, err := ParseActivationURL("https://device.example.com:8888/auth/enroll#realm=demo&code=ABC&fp=" + fp)
	if err != nil {
		t.Fatal(err)
	}
	if a.ChannelURL != "wss://device.example.com:8888/auth/device/v1" || a.Realm != "demo" || a.Code != "ABC" {
		t.Fatalf("parsed %+v", a)
	}
	if a, err := ParseActivationURL("http://127.0.0.1:8888/enroll#realm=demo&code=ABC&fp=" + fp); err != nil || a.ChannelURL != "ws://127.0.0.1:8888/device/v1" {
		t.Fatalf("plain: %+v %v", a, err)
	}
	for _, bad := range []string{
		"ftp://x/enroll#realm=demo&code=ABC&fp=" + fp,
		"https://x/other#realm=demo&code=ABC&fp=" + fp,
		"https://x/enroll#realm=demo&code=ABC&fp=short",
		"https://x/enroll#code=ABC&fp=" + fp,
		"https://x/enroll?realm=demo&code=ABC&fp=" + fp,
		"https:///enroll#realm=demo&code=ABC&fp=" + fp,
	} {
		if _, err := ParseActivationURL(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseLoginURL(t *testing.T) {
	t.Parallel()
	qr, err := ParseLoginURL("https://device.example.com:8888/auth/login#realm=demo&request=REQ1")
	if err != nil {
		t.Fatal(err)
	}
	if qr.ChannelURL != "wss://device.example.com:8888/auth/device/v1" || qr.Realm != "demo" || qr.RequestID != "REQ1" {
		t.Fatalf("parsed %+v", qr)
	}
	for _, bad := range []string{
		"", "ftp://device.example.com/login#realm=demo&request=R", "https://device.example.com/enroll#realm=demo&request=R",
		"https://device.example.com/login#realm=demo", "https://device.example.com/login#request=R", "https:///login#realm=d&request=R",
		"https://device.example.com/login#%zz",
	} {
		if _, err := ParseLoginURL(bad); err == nil {
			t.Errorf("ParseLoginURL(%q) accepted", bad)
		}
	}
}

func TestMessagesList(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 5, 9, 30, 0, 123e6, time.UTC)
	m := newMessage(&message.Msg{ID: "m1", Title: "Card payment", Body: "12.50 EUR\ncard 4242", CreatedAt: created, ExpiresAt: created.Add(time.Hour)})
	if m.ID != "m1" || m.Title != "Card payment" || m.Body != "12.50 EUR\ncard 4242" ||
		m.CreatedAt != created.Unix() || m.ExpiresAt != created.Add(time.Hour).Unix() {
		t.Fatalf("converted %+v", m)
	}
	l := &Messages{items: []*Message{m}, more: true}
	if l.Len() != 1 || l.Get(0) != m || !l.More() {
		t.Fatal("the list does not give what it holds")
	}
	if (&Messages{}).Len() != 0 {
		t.Fatal("an empty list is not empty")
	}
}
