package totp

import (
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
)

// rfcSecret is the RFC 6238 Appendix B SHA1 seed, ASCII "12345678901234567890".
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

// rfcVectors are RFC 6238 Appendix B (SHA1); six digits are the last six of the eight.
var rfcVectors = []struct {
	unix int64
	code string
}{
	{59, "287082"},          // 94287082
	{1111111109, "081804"},  // 07081804
	{1111111111, "050471"},  // 14050471
	{1234567890, "005924"},  // 89005924
	{2000000000, "279037"},  // 69279037
	{20000000000, "353130"}, // 65353130
}

func newStore(t *testing.T) ephemeral.Store {
	t.Helper()
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

func at(unix int64) Option {
	return WithClock(func() time.Time { return time.Unix(unix, 0) })
}

func TestRFC6238Vectors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range rfcVectors {
		v := NewVerifier(newStore(t), at(tc.unix))
		if err := v.Verify(ctx, "alice", rfcSecret, tc.code); err != nil {
			t.Errorf("T=%d code %s: %v", tc.unix, tc.code, err)
		}
		if err := v.Verify(ctx, "bob", rfcSecret, wrong(tc.code)); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("T=%d wrong code %s: %v; want ErrInvalidCode", tc.unix, wrong(tc.code), err)
		}
	}
}

// wrong changes the last digit.
func wrong(code string) string {
	last := code[len(code)-1]
	return code[:len(code)-1] + string('0'+(last-'0'+1)%10)
}

func TestSkew(t *testing.T) {
	t.Parallel()
	const issued, code = 1111111109, "081804" // step 37037036
	for name, tc := range map[string]struct {
		now  int64
		want error
	}{
		"same step":  {issued, nil},
		"one later":  {issued + 30, nil},
		"one early":  {issued - 30, nil},
		"two later":  {issued + 60, ErrInvalidCode},
		"two early":  {issued - 60, ErrInvalidCode},
		"long after": {issued + 3600, ErrInvalidCode},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := NewVerifier(newStore(t), at(tc.now)).Verify(context.Background(), "alice", rfcSecret, code)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify at T%+d = %v; want %v", tc.now-issued, err, tc.want)
			}
		})
	}
}

func TestMalformedCodes(t *testing.T) {
	t.Parallel()
	v := NewVerifier(newStore(t), at(59))
	for _, code := range []string{
		"", "28708", "2870820", "0287082", "28708a", "28708 ", " 287082", "287082\n",
		"+28708", "-28708", "287-082", "２８７０８２", "28708\x00", "abcdef",
	} {
		if err := v.Verify(context.Background(), "alice", rfcSecret, code); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("Verify(%q) = %v; want ErrInvalidCode", code, err)
		}
	}
	// None of those consumed the valid code.
	if err := v.Verify(context.Background(), "alice", rfcSecret, "287082"); err != nil {
		t.Errorf("valid code after malformed ones: %v", err)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var now atomic.Int64
	now.Store(1111111109)
	v := NewVerifier(newStore(t), WithClock(func() time.Time { return time.Unix(now.Load(), 0) }))

	if err := v.Verify(ctx, "alice", rfcSecret, "081804"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := v.Verify(ctx, "alice", rfcSecret, "081804"); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("reuse in the same step = %v; want ErrInvalidCode", err)
	}
	now.Add(30) // the code is still inside the skew window
	if err := v.Verify(ctx, "alice", rfcSecret, "081804"); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("reuse one step later = %v; want ErrInvalidCode", err)
	}
	// The replay record is per user: another user with the same secret is unaffected.
	if err := v.Verify(ctx, "bob", rfcSecret, "081804"); err != nil {
		t.Errorf("other user, same code: %v", err)
	}
}

func TestConcurrentRedemption(t *testing.T) {
	t.Parallel()
	v := NewVerifier(newStore(t), at(59))
	const n = 50
	var ok, invalid atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			switch err := v.Verify(context.Background(), "alice", rfcSecret, "287082"); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrInvalidCode):
				invalid.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || invalid.Load() != n-1 {
		t.Errorf("%d accepted, %d refused; want 1 and %d", ok.Load(), invalid.Load(), n-1)
	}
}

type failingStore struct{ ephemeral.Store }

func (failingStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, ephemeral.ErrUnavailable
}

func TestStoreErrorWrapped(t *testing.T) {
	t.Parallel()
	err := NewVerifier(failingStore{}, at(59)).Verify(context.Background(), "alice", rfcSecret, "287082")
	if !errors.Is(err, ephemeral.ErrUnavailable) || errors.Is(err, ErrInvalidCode) {
		t.Errorf("Verify with failing store = %v; want ErrUnavailable, not ErrInvalidCode", err)
	}
}

func TestBadSecret(t *testing.T) {
	t.Parallel()
	v := NewVerifier(newStore(t), at(59))
	for _, secret := range []string{"", "not base32!", "GEZDGNBVGY3TQOJQ" /* 10 bytes */} {
		err := v.Verify(context.Background(), "alice", secret, "287082")
		if err == nil || errors.Is(err, ErrInvalidCode) {
			t.Errorf("secret %q: %v; want a secret error", secret, err)
		}
	}
	// Lower case and padding, as some apps and libraries write them, are accepted.
	if err := v.Verify(context.Background(), "alice", " "+strings.ToLower(rfcSecret)+"====", "287082"); err != nil {
		t.Errorf("lower-case padded secret: %v", err)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	k, err := Generate("Signet Example", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret)
	if err != nil || len(raw) != 20 {
		t.Fatalf("secret %q: %v, %d bytes; want 20", k.Secret, err, len(raw))
	}
	parsed, err := otp.NewKeyFromURL(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Type() != "totp" || parsed.Issuer() != "Signet Example" || parsed.AccountName() != "alice@example.com" ||
		parsed.Secret() != k.Secret || parsed.Period() != 30 || parsed.Digits() != otp.DigitsSix ||
		parsed.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("URL %s does not describe an SHA1/6/30 key for the account", k.URL)
	}

	other, err := Generate("Signet Example", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if other.Secret == k.Secret {
		t.Error("two keys share a secret")
	}

	// What an app computes from the key verifies.
	now := time.Unix(1700000000, 0)
	code, err := pqtotp.GenerateCode(k.Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewVerifier(newStore(t), at(now.Unix())).Verify(context.Background(), "alice", k.Secret, code); err != nil {
		t.Errorf("code from generated key: %v", err)
	}
}

func TestGenerateRefusesColon(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]string{{"Sig:net", "alice"}, {"Signet", "ali:ce"}, {"", "alice"}, {"Signet", ""}} {
		if _, err := Generate(tc[0], tc[1]); err == nil {
			t.Errorf("Generate(%q, %q) succeeded", tc[0], tc[1])
		}
	}
}
