package unifiedpush

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/push"
)

func TestParseSubscription(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, token, endpoint string
	}{
		{"browser toJSON", `{"endpoint":"https://push.example.net/wpush/v2/abc","expirationTime":null,"keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`,
			"https://push.example.net/wpush/v2/abc"},
		{"padded base64url", `{"endpoint":"https://push.example.net/x","keys":{"p256dh":"` + rfcUAPublic + `=","auth":"` + rfcAuth + `=="}}`,
			"https://push.example.net/x"},
		{"ntfy query kept", `{"endpoint":"https://ntfy.example/upAbC?up=1","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`,
			"https://ntfy.example/upAbC?up=1"},
		// Plain http parses; the outbound policy decides whether it may be reached.
		{"plain http", `{"endpoint":"http://10.0.0.5:8080/up","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`,
			"http://10.0.0.5:8080/up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sub, err := ParseSubscription(tt.token)
			if err != nil {
				t.Fatalf("ParseSubscription: %v", err)
			}
			if got := sub.Endpoint.String(); got != tt.endpoint {
				t.Errorf("endpoint = %s, want %s", got, tt.endpoint)
			}
			if !bytes.Equal(sub.P256DH.Bytes(), b64(t, rfcUAPublic)) || !bytes.Equal(sub.Auth, b64(t, rfcAuth)) {
				t.Errorf("keys not decoded as given")
			}
		})
	}
}

func TestParseSubscriptionRefusesMalformed(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint":"https://push.example.net/wpush/v2/abc"`
	keys := func(p256dh, auth string) string {
		return `{` + ep + `,"keys":{"p256dh":"` + p256dh + `","auth":"` + auth + `"}}`
	}
	uaRaw := b64(t, rfcUAPublic)
	enc := base64.RawURLEncoding.EncodeToString
	offCurve := append([]byte(nil), uaRaw...)
	offCurve[64] ^= 1
	compressed := append([]byte{0x02 | uaRaw[64]&1}, uaRaw[1:33]...)

	tests := []struct {
		name, token, want string
	}{
		{"empty", ``, "not a PushSubscription"},
		{"not JSON", `endpoint=https://x`, "not a PushSubscription"},
		{"JSON array", `["https://push.example.net"]`, "not a PushSubscription"},
		{"trailing data", keys(rfcUAPublic, rfcAuth) + `{}`, "trailing data"},
		{"no endpoint", `{"keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`, "endpoint is missing"},
		{"endpoint not a string", `{"endpoint":42,"keys":{}}`, "not a PushSubscription"},
		{"ftp endpoint", `{"endpoint":"ftp://push.example.net/x","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`, `scheme "ftp"`},
		{"relative endpoint", `{"endpoint":"/wpush/abc","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`, `scheme ""`},
		{"opaque endpoint", `{"endpoint":"https:push.example.net","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`, "no host"},
		{"user info", `{"endpoint":"https://u:p@push.example.net/x","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`, "user info"},
		{"fragment", `{"endpoint":"https://push.example.net/x#f","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`, "fragment"},
		{"no keys", `{` + ep + `}`, "keys.p256dh is missing"},
		{"no auth", keys(rfcUAPublic, ""), "keys.auth is missing"},
		{"p256dh not base64url", keys("BCVx+r7N/eNg", rfcAuth), "keys.p256dh is not base64url"},
		{"p256dh 64 bytes", keys(enc(uaRaw[:64]), rfcAuth), "keys.p256dh is 64 bytes, want 65"},
		{"p256dh 66 bytes", keys(enc(append(uaRaw, 0)), rfcAuth), "keys.p256dh is 66 bytes, want 65"},
		{"p256dh compressed", keys(enc(compressed), rfcAuth), "keys.p256dh is 33 bytes, want 65"},
		{"p256dh wrong prefix", keys(enc(append([]byte{0x05}, uaRaw[1:]...)), rfcAuth), "not an uncompressed"},
		{"p256dh off the curve", keys(enc(offCurve), rfcAuth), "not a point on P-256"},
		{"auth 15 bytes", keys(rfcUAPublic, enc(make([]byte, 15))), "keys.auth is 15 bytes, want 16"},
		{"auth 17 bytes", keys(rfcUAPublic, enc(make([]byte, 17))), "keys.auth is 17 bytes, want 16"},
		{"too long", `{"endpoint":"https://push.example.net/` + strings.Repeat("a", MaxTokenBytes) + `"}`, "more than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSubscription(tt.token)
			if !errors.Is(err, push.ErrInvalidToken) {
				t.Fatalf("err = %v, want push.ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			// The defect is named, the values are not.
			for _, secret := range []string{rfcUAPublic, rfcAuth, "wpush/v2/abc", "u:p"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats token content %q", err, secret)
				}
			}
		})
	}
}
