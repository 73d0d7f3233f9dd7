package authn

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/sigma"
)

// TestCallback: a callback's headers are sealed to its realm and URL and open again;
// only the events that end the request carry it, and its record hands it to the event
// log; a bad callback is ErrInvalid.
func TestCallback(t *testing.T) {
	t.Parallel()
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	cb, err := SealCallback(ring, "demo", Callback{URL: "https://app.example.com/cb", Headers: map[string]string{"Authorization": "Bearer s3cret"}})
	if err != nil || strings.Contains(string(cb.Headers), "s3cret") {
		t.Fatalf("sealed %+v, %v", cb, err)
	}
	if h, err := OpenCallbackHeaders(ring, "demo", *cb); err != nil || h["Authorization"] != "Bearer s3cret" {
		t.Errorf("opened %v, %v", h, err)
	}
	moved := *cb
	moved.URL = "https://evil.example.com/cb"
	if _, err := OpenCallbackHeaders(ring, "demo", moved); err == nil {
		t.Error("headers sealed for one URL open for another")
	}
	if _, err := OpenCallbackHeaders(ring, "other", *cb); err == nil {
		t.Error("headers sealed for one realm open in another")
	}
	// Within the raw limit but six bytes each once JSON escapes them: refused, so the
	// request's last event is never too large to keep.
	escaped := map[string]string{"X-Note": strings.Repeat("<", 8000)}
	if _, err := SealCallback(ring, "demo", Callback{URL: "https://app.example.com/cb", Headers: escaped}); !errors.Is(err, ErrInvalid) {
		t.Errorf("headers sealing to more than an event carries: %v, want ErrInvalid", err)
	}

	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	f := newFixture(t, st, nil)
	r := f.create(func(n *NewRequest) { n.Callback = cb })
	if r.Callback == nil || r.Callback.URL != cb.URL {
		t.Fatalf("request callback %+v", r.Callback)
	}
	if _, err := f.svc.Answer(t.Context(), "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	f.events.mu.Lock()
	events := append([]Event(nil), f.events.events...)
	f.events.mu.Unlock()
	for _, e := range events {
		ends := e.Type == "authn.approved"
		if rec := e.Record(); (rec.Callback != nil) != ends || ends && rec.Callback.URL != cb.URL {
			t.Errorf("%s carries callback %+v", e.Type, rec.Callback)
		}
		if strings.Contains(string(e.Record().Data), "callback") {
			t.Errorf("%s data shows the callback: %s", e.Type, e.Record().Data)
		}
	}
	if _, err := f.svc.Create(context.Background(), NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "c", UserID: f.user,
		Devices: []string{"phone-a"}, Binding: binding, Callback: &store.EventCallback{URL: "gopher://x"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a request with a bad callback URL: %v", err)
	}
	for _, c := range []Callback{
		{URL: "javascript:alert(1)"}, {URL: "https://example.com/", Headers: map[string]string{"Connection": "close"}},
		{URL: "https://example.com/", Headers: map[string]string{"X-A": "a\nb"}}, {URL: "https://example.com/", Headers: map[string]string{"": "a"}},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", c, err)
		}
	}
}
