package device

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/testutil"
)

// inboxBackends runs fn on the in-process store, whose clock the test moves (advance),
// and on Redis (SIGNET_TEST_REDIS_URL), where advance is nil: time there only passes.
func inboxBackends(t *testing.T, fn func(t *testing.T, eph ephemeral.Store, advance func(time.Duration))) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		clock := testutil.NewClock(time.Now())
		st := memory.New(memory.WithClock(clock.Now))
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st, clock.Advance)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		st, err := redis.Open(t.Context(), testutil.RedisURL(t), redis.WithPrefix("signet-test:inbox:"+rand.Text()[:10]+":"))
		if err != nil {
			t.Fatalf("open Redis: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st, nil)
	})
}

// notices subscribes to channel and returns what arrives, one notice at a time.
func notices(t *testing.T, eph ephemeral.Store, channel string) func() string {
	t.Helper()
	sub, err := eph.Subscribe(t.Context(), channel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return func() string {
		t.Helper()
		select {
		case m := <-sub.C():
			return string(m)
		case <-time.After(5 * time.Second):
			t.Fatalf("no notice on %s", channel)
			return ""
		}
	}
}

func TestInboxPutListGetAck(t *testing.T) {
	inboxBackends(t, func(t *testing.T, eph ephemeral.Store, _ func(time.Duration)) {
		ctx := t.Context()
		ib := Inbox{Ephemeral: eph}
		newMsgs, acks := notices(t, eph, MessagesChannel), notices(t, eph, AcksChannel)
		exp := time.Now().Add(time.Hour)
		first, err := ib.Put(ctx, Message{Realm: "demo", DeviceID: "dev-a", Title: "Statement ready", Body: "Your statement\n\tis ready.", ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.ID) != 32 || strings.Trim(first.ID, "0123456789abcdef") != "" || first.CreatedAt.IsZero() || !first.ExpiresAt.Equal(exp) {
			t.Fatalf("put returned %+v; want a 128-bit hex id, the creation time and the expiry", first)
		}
		if got := newMsgs(); got != "demo\x00dev-a\x00"+first.ID {
			t.Fatalf("notice %q", got)
		}
		second, err := ib.Put(ctx, Message{ID: "order-42.shipped", Realm: "demo", DeviceID: "dev-a", Title: "Shipped", ExpiresAt: exp})
		if err != nil || second.ID != "order-42.shipped" {
			t.Fatalf("put with an id: %+v, %v", second, err)
		}
		newMsgs()
		if _, err := ib.Put(ctx, Message{ID: "order-42.shipped", Realm: "demo", DeviceID: "dev-a", ExpiresAt: exp}); !errors.Is(err, ErrMessageExists) {
			t.Fatalf("the same id again: %v", err)
		}

		list, err := ib.List(ctx, "demo", "dev-a")
		if err != nil || len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID {
			t.Fatalf("list: %+v, %v; want both, oldest first", list, err)
		}
		if m := list[0]; m.Realm != "demo" || m.DeviceID != "dev-a" || m.Title != "Statement ready" || m.Body != "Your statement\n\tis ready." ||
			!m.CreatedAt.Equal(first.CreatedAt) || !m.ExpiresAt.Equal(exp) {
			t.Fatalf("listed %+v", m)
		}
		if m, err := ib.Get(ctx, "demo", "dev-a", first.ID); err != nil || m.Title != "Statement ready" {
			t.Fatalf("get: %+v, %v", m, err)
		}

		// Another device, or the same device id in another realm, sees and acks nothing.
		for _, other := range [][2]string{{"demo", "dev-b"}, {"other", "dev-a"}} {
			if l, err := ib.List(ctx, other[0], other[1]); err != nil || len(l) != 0 {
				t.Fatalf("%v lists %+v, %v", other, l, err)
			}
			if _, err := ib.Get(ctx, other[0], other[1], first.ID); !errors.Is(err, ErrMessageNotFound) {
				t.Fatalf("%v gets another's message: %v", other, err)
			}
			if err := ib.Ack(ctx, other[0], other[1], first.ID); !errors.Is(err, ErrMessageNotFound) {
				t.Fatalf("%v acks another's message: %v", other, err)
			}
		}

		if err := ib.Ack(ctx, "demo", "dev-a", first.ID); err != nil {
			t.Fatal(err)
		}
		if got := acks(); got != "demo\x00dev-a\x00"+first.ID {
			t.Fatalf("ack notice %q", got)
		}
		if err := ib.Ack(ctx, "demo", "dev-a", first.ID); !errors.Is(err, ErrMessageNotFound) {
			t.Fatalf("second ack: %v", err)
		}
		if _, err := ib.Get(ctx, "demo", "dev-a", first.ID); !errors.Is(err, ErrMessageNotFound) {
			t.Fatalf("get after ack: %v", err)
		}
		if l, err := ib.List(ctx, "demo", "dev-a"); err != nil || len(l) != 1 || l[0].ID != second.ID {
			t.Fatalf("list after ack: %+v, %v", l, err)
		}
		for _, id := range []string{"", "nope", strings.Repeat("a", 65), "a\x00b", "../x"} {
			if err := ib.Ack(ctx, "demo", "dev-a", id); !errors.Is(err, ErrMessageNotFound) {
				t.Errorf("ack %q: %v", id, err)
			}
		}
	})
}

func TestInboxExpiry(t *testing.T) {
	inboxBackends(t, func(t *testing.T, eph ephemeral.Store, advance func(time.Duration)) {
		ctx := t.Context()
		ib := Inbox{Ephemeral: eph}
		ttl := time.Hour
		if advance == nil {
			ttl = 1500 * time.Millisecond
		}
		short, err := ib.Put(ctx, Message{Realm: "demo", DeviceID: "dev-a", Title: "soon gone", ExpiresAt: time.Now().Add(ttl)})
		if err != nil {
			t.Fatal(err)
		}
		long, err := ib.Put(ctx, Message{Realm: "demo", DeviceID: "dev-a", Title: "stays", ExpiresAt: time.Now().Add(3 * ttl)})
		if err != nil {
			t.Fatal(err)
		}
		if advance != nil {
			advance(ttl + time.Minute)
		}
		gone := func() bool {
			_, err := ib.Get(ctx, "demo", "dev-a", short.ID)
			return errors.Is(err, ErrMessageNotFound)
		}
		testutil.Eventually(t, 10*time.Second, gone, "the message to expire")
		if l, err := ib.List(ctx, "demo", "dev-a"); err != nil || len(l) != 1 || l[0].ID != long.ID {
			t.Fatalf("list after the first expiry: %+v, %v", l, err)
		}
		if err := ib.Ack(ctx, "demo", "dev-a", short.ID); !errors.Is(err, ErrMessageNotFound) {
			t.Fatalf("ack of an expired message: %v", err)
		}
		if _, err := ib.Get(ctx, "demo", "dev-a", long.ID); err != nil {
			t.Fatalf("the later message went too: %v", err)
		}
	})
}

// At most MaxWaitingMessages wait for one device, also when they arrive at once; an
// acknowledged or expired message makes room.
func TestInboxBound(t *testing.T) {
	inboxBackends(t, func(t *testing.T, eph ephemeral.Store, advance func(time.Duration)) {
		ctx := t.Context()
		ib := Inbox{Ephemeral: eph}
		exp := time.Now().Add(time.Hour)
		put := func(device string) (Message, error) {
			return ib.Put(ctx, Message{Realm: "demo", DeviceID: device, Title: "hi", ExpiresAt: exp})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		stored, full := 0, 0
		var other []error
		for range MaxWaitingMessages + 20 {
			wg.Go(func() {
				_, err := put("dev-a")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					stored++
				case errors.Is(err, ErrInboxFull):
					full++
				default:
					other = append(other, err)
				}
			})
		}
		wg.Wait()
		if stored != MaxWaitingMessages || full != 20 || len(other) > 0 {
			t.Fatalf("%d stored, %d refused as full, others %v", stored, full, other)
		}
		list, err := ib.List(ctx, "demo", "dev-a")
		if err != nil || len(list) != MaxWaitingMessages {
			t.Fatalf("%d listed, %v", len(list), err)
		}
		// Another device has its own bound.
		if _, err := put("dev-b"); err != nil {
			t.Fatal(err)
		}
		if err := ib.Ack(ctx, "demo", "dev-a", list[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := put("dev-a"); err != nil {
			t.Fatalf("after an ack: %v", err)
		}
		if _, err := put("dev-a"); !errors.Is(err, ErrInboxFull) {
			t.Fatalf("the 101st: %v", err)
		}
		// A refused message leaves nothing behind.
		if l, _ := ib.List(ctx, "demo", "dev-a"); len(l) != MaxWaitingMessages {
			t.Fatalf("%d listed after a refusal", len(l))
		}
		if advance != nil {
			// Expired messages make room, though their index entries have not expired
			// by the Inbox's own clock.
			advance(2 * time.Hour)
			if _, err := put("dev-a"); err != nil {
				t.Fatalf("after the others expired: %v", err)
			}
			if l, _ := ib.List(ctx, "demo", "dev-a"); len(l) != 1 {
				t.Fatalf("%d listed after the expiry", len(l))
			}
		}
	})
}

// Of concurrent acks of one message exactly one succeeds.
func TestInboxConcurrentAcks(t *testing.T) {
	inboxBackends(t, func(t *testing.T, eph ephemeral.Store, _ func(time.Duration)) {
		ctx := t.Context()
		ib := Inbox{Ephemeral: eph}
		for round := range 5 {
			m, err := ib.Put(ctx, Message{Realm: "demo", DeviceID: "dev-a", Title: fmt.Sprint("round ", round), ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			errs := make([]error, 20)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					<-start
					errs[i] = ib.Ack(ctx, "demo", "dev-a", m.ID)
				})
			}
			close(start)
			wg.Wait()
			ok, notFound := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrMessageNotFound):
					notFound++
				default:
					t.Fatalf("ack: %v", err)
				}
			}
			if ok != 1 || notFound != len(errs)-1 {
				t.Fatalf("round %d: %d acks succeeded, %d not found", round, ok, notFound)
			}
		}
		if l, err := ib.List(ctx, "demo", "dev-a"); err != nil || len(l) != 0 {
			t.Fatalf("left after the acks: %+v, %v", l, err)
		}
	})
}

func TestInboxValidation(t *testing.T) {
	t.Parallel()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	ib := Inbox{Ephemeral: st}
	ctx := context.Background()
	now := time.Now()
	ok := Message{Realm: "demo", DeviceID: "dev-a", Title: "Hello", Body: "Line one\nline two\tindented", ExpiresAt: now.Add(time.Hour)}
	for name, tc := range map[string]struct {
		change func(*Message)
		valid  bool
	}{
		"ok":                      {func(*Message) {}, true},
		"title of 200 bytes":      {func(m *Message) { m.Title = strings.Repeat("é", 100) }, true},
		"body of 4096 bytes":      {func(m *Message) { m.Body = strings.Repeat("ab\n\t", 1024) }, true},
		"empty title and body":    {func(m *Message) { m.Title, m.Body = "", "" }, true},
		"unicode":                 {func(m *Message) { m.Title, m.Body = "Überweisung ✓", "日本語 👍" }, true},
		"an id of its own":        {func(m *Message) { m.ID = "A-z_0.9" }, true},
		"no realm":                {func(m *Message) { m.Realm = "" }, false},
		"no device":               {func(m *Message) { m.DeviceID = "" }, false},
		"NUL in the device":       {func(m *Message) { m.DeviceID = "a\x00b" }, false},
		"no expiry":               {func(m *Message) { m.ExpiresAt = time.Time{} }, false},
		"expired":                 {func(m *Message) { m.ExpiresAt = now.Add(-time.Second) }, false},
		"too far":                 {func(m *Message) { m.ExpiresAt = now.Add(MaxMessageTTL + time.Hour) }, false},
		"title of 201 bytes":      {func(m *Message) { m.Title = strings.Repeat("a", 201) }, false},
		"body of 4097 bytes":      {func(m *Message) { m.Body = strings.Repeat("a", 4097) }, false},
		"title not UTF-8":         {func(m *Message) { m.Title = "a\xffb" }, false},
		"body not UTF-8":          {func(m *Message) { m.Body = "\xc3" }, false},
		"newline in the title":    {func(m *Message) { m.Title = "a\nb" }, false},
		"tab in the title":        {func(m *Message) { m.Title = "a\tb" }, false},
		"carriage return in body": {func(m *Message) { m.Body = "a\r\nb" }, false},
		"escape in the body":      {func(m *Message) { m.Body = "\x1b[31mred" }, false},
		"DEL in the body":         {func(m *Message) { m.Body = "a\x7f" }, false},
		"C1 control in the title": {func(m *Message) { m.Title = "a\u0085b" }, false},
		"NUL in the body":         {func(m *Message) { m.Body = "a\x00b" }, false},
		"id with a slash":         {func(m *Message) { m.ID = "a/b" }, false},
		"id too long":             {func(m *Message) { m.ID = strings.Repeat("a", 65) }, false},
	} {
		t.Run(name, func(t *testing.T) {
			m := ok
			m.DeviceID = "dev-" + strings.ReplaceAll(name, " ", "-")
			tc.change(&m)
			_, err := ib.Put(ctx, m)
			switch {
			case tc.valid && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.valid && !errors.Is(err, ErrInvalidMessage):
				t.Fatalf("put: %v; want ErrInvalidMessage", err)
			}
			if !tc.valid && m.Realm != "" && validName(m.DeviceID) {
				if l, _ := ib.List(ctx, m.Realm, m.DeviceID); len(l) != 0 {
					t.Fatalf("a refused message was stored: %+v", l)
				}
			}
		})
	}
}
