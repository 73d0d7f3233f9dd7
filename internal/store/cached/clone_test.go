package cached

import (
	"slices"
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

// TestCloneClientKeepsSlicesApart: the copies share one array per element type, yet an
// append to one never shows in another, and nil and empty stay as they were.
func TestCloneClientKeepsSlicesApart(t *testing.T) {
	t.Parallel()
	orig := store.Client{
		RedirectURIs: []string{"https://a/cb"}, PostLogoutRedirectURIs: []string{}, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"api", "read"}, SecretHash: []byte{1, 2}, JWKS: []byte{}, Attributes: map[string]string{"k": "v"},
	}
	c := cloneClient(orig)
	if c.ResponseTypes != nil || c.Contacts != nil || c.RegistrationTokenHash != nil {
		t.Fatal("a nil slice became non-nil")
	}
	if c.PostLogoutRedirectURIs == nil || len(c.PostLogoutRedirectURIs) != 0 || c.JWKS == nil || len(c.JWKS) != 0 {
		t.Fatal("an empty slice became nil or grew")
	}
	c.RedirectURIs = append(c.RedirectURIs, "evil")
	c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, "evil")
	c.SecretHash = append(c.SecretHash, 0xff)
	if c.GrantTypes[0] != "client_credentials" || c.Scopes[0] != "api" || !slices.Equal(orig.RedirectURIs, []string{"https://a/cb"}) {
		t.Fatalf("an append ran into a neighbouring copy: %+v", c)
	}
	c.Scopes[0] = "evil"
	if orig.Scopes[0] != "api" {
		t.Fatal("the copy aliases the original")
	}
}
