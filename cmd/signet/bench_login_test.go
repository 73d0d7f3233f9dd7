package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestBenchLoginFlow: the flow `signet bench login` repeats signs the demo user in on a
// real dev server, login page through token, and gets an ID token; a wrong password is
// an error, not a success.
func TestBenchLoginFlow(t *testing.T) {
	t.Parallel()
	b, roots := devServerBanner(t)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}}
	o := loginLoadOpts{public: b.public, clientID: "demo-app", secret: b.secret, username: b.user, password: b.password, redirect: "http://127.0.0.1:9/callback"}
	idt, err := loginFlow(context.Background(), transport, o)
	if err != nil || strings.Count(idt, ".") != 2 {
		t.Fatalf("flow: %q %v", idt, err)
	}
	o.password += "x"
	if _, err := loginFlow(context.Background(), transport, o); err == nil {
		t.Fatal("a wrong password completed the flow")
	}
}

// devServerBanner starts a dev server and returns what its banner says and its CA as a
// certificate pool.
func devServerBanner(t *testing.T) (devBanner, *x509.CertPool) {
	t.Helper()
	_, out := devServerWithOutput(t)
	b, err := readDevBanner(bufio.NewScanner(strings.NewReader(out.String())))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(b.ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", b.ca)
	}
	return b, roots
}
