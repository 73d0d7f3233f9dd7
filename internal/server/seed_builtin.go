package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/store"
)

// builtinClients are the clients Signet's own pages and command line sign in with, in
// every realm: the admin console (at the ADMIN listener, /admin/{realm}/console), the
// account console (at the PUBLIC listener, /realms/{realm}/account) and `signet admin
// login` (platform administrators in master, a realm's administrators in their realm).
// All are public clients with PKCE; the consoles' redirect URIs follow the listeners'
// configured public URLs.
func (s *Server) builtinClients(realm string) []store.Client {
	adminURL, publicURL := s.endpointURL(config.Admin), s.endpointURL(config.Public)
	code := func(c store.Client) store.Client {
		c.Realm, c.Enabled, c.Public, c.AuthMethod = realm, true, true, oidc.AuthNone
		c.GrantTypes, c.ResponseTypes = []string{"authorization_code", "refresh_token"}, []string{"code"}
		return c
	}
	console := adminURL + "/admin/" + realm + "/console/"
	account := publicURL + "/realms/" + realm + "/account/"
	return []store.Client{
		code(store.Client{
			ID: admin.ConsoleClientID, Name: "Signet admin console",
			RedirectURIs: []string{console + "callback"}, PostLogoutRedirectURIs: []string{console},
			Scopes: []string{"openid", "profile", admin.Scope},
		}),
		code(store.Client{
			ID: admin.AccountClientID, Name: "Signet account console",
			RedirectURIs: []string{account + "callback"}, PostLogoutRedirectURIs: []string{account},
			Scopes: []string{"openid", "profile", "email"},
		}),
		code(store.Client{
			ID: CLIClientID, Name: "Signet command line",
			// RFC 8252 §7.3: the loopback port is chosen by the CLI at run time.
			RedirectURIs: []string{"http://127.0.0.1/callback"},
			Scopes:       []string{"openid", "profile", admin.Scope, "offline_access"},
		}),
	}
}

// ensureBuiltinClients makes sure realm's built-in clients exist and point at this
// deployment's URLs. An administrator may disable one or change its lifetimes; what the
// consoles depend on (redirect URIs, grant types, scopes, public with PKCE) is set again.
func (s *Server) ensureBuiltinClients(ctx context.Context, realm string) error {
	for _, want := range s.builtinClients(realm) {
		_, err := s.store.CreateClient(ctx, want)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("realm %s client %s: %w", realm, want.ID, err)
		}
		_, err = s.store.UpdateClient(ctx, realm, want.ID, func(c store.Client) (store.Client, error) {
			if c.Public && c.AuthMethod == want.AuthMethod && slices.Equal(c.RedirectURIs, want.RedirectURIs) &&
				slices.Equal(c.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) && slices.Equal(c.GrantTypes, want.GrantTypes) &&
				slices.Equal(c.ResponseTypes, want.ResponseTypes) && slices.Equal(c.Scopes, want.Scopes) && c.SecretHash == nil {
				return c, errUnchanged
			}
			c.Public, c.AuthMethod, c.SecretHash = true, want.AuthMethod, nil
			c.RedirectURIs, c.PostLogoutRedirectURIs = want.RedirectURIs, want.PostLogoutRedirectURIs
			c.GrantTypes, c.ResponseTypes, c.Scopes = want.GrantTypes, want.ResponseTypes, want.Scopes
			return c, nil
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			return fmt.Errorf("realm %s client %s: %w", realm, want.ID, err)
		}
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

// seedBuiltinClients runs ensureBuiltinClients for every realm, once the listeners are
// bound (their URLs may depend on the ports they got).
func (s *Server) seedBuiltinClients(ctx context.Context) error {
	opts := store.ListOptions{Limit: 200}
	for {
		page, err := s.store.ListRealms(ctx, opts)
		if err != nil {
			return err
		}
		for _, r := range page.Items {
			if err := s.ensureBuiltinClients(ctx, r.Name); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		opts.Cursor = page.Next
	}
}
