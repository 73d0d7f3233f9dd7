package apns

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/push/apns/apnstest"
)

// Retiring an idle connection closes it. Close runs the connection's state hook
// synchronously, and that hook is the one retire installs: it must not wait on itself.
func TestRetireIdleConnectionCloses(t *testing.T) {
	t.Parallel()
	fake := apnstest.NewServer(t, apnstest.Config{})
	u, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(newTransport(fake.CertPool()), u.Host)
	t.Cleanup(c.close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := c.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A connection with nothing in flight, as when the first request on a fresh one
	// failed before it was sent: SetStateHook in retire has no change to report, so only
	// Close runs the hook.
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.retire(cc)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("retire of an idle connection did not return")
	}
	if cc.Err() == nil {
		t.Error("the retired idle connection is still open")
	}
	if got, err := c.get(ctx); err != nil || got == cc {
		t.Errorf("get after retire = %p, %v; want a new connection", got, err)
	}
}
