package oidc

import (
	"encoding/json"
	"testing"

	"github.com/signet-auth/signet/internal/login"
)

// Two factors are required by acr_values naming "2" without "1", or by an essential acr
// claim whose values are "2" alone; voluntary or mixed requests need none in particular.
func TestRequiredACR(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		values []string
		claims string
		want   string
	}{
		{nil, "", ""},
		{[]string{"2"}, "", login.ACRMulti},
		{[]string{"1", "2"}, "", ""},
		{[]string{"2", "1"}, "", ""},
		{[]string{"urn:other"}, "", ""},
		{nil, `{"id_token":{"acr":{"essential":true,"values":["2"]}}}`, login.ACRMulti},
		{nil, `{"id_token":{"acr":{"essential":true,"value":"2"}}}`, login.ACRMulti},
		{nil, `{"id_token":{"acr":{"essential":false,"values":["2"]}}}`, ""},
		{nil, `{"id_token":{"acr":{"essential":true,"values":["1","2"]}}}`, ""},
		{nil, `{"userinfo":{"acr":{"essential":true,"values":["2"]}}}`, ""},
		{nil, `{"id_token":{"acr":null}}`, ""},
	} {
		a := authRequest{ACRValues: tc.values, Claims: json.RawMessage(tc.claims)}
		if got := a.requiredACR(); got != tc.want {
			t.Errorf("acr_values %v claims %s: %q, want %q", tc.values, tc.claims, got, tc.want)
		}
	}
}
