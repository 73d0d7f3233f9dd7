package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/store"
)

// DemoClient is the confidential client dev mode creates in the demo realm.
type DemoClient struct {
	Realm    string
	ClientID string
	Secret   string
}

// Demo data dev mode creates on first start.
const (
	demoRealm    = "demo"
	demoClientID = "demo-app"
)

// seedDev creates the demo realm and its confidential client on first start. The client
// secret is kept in the data directory (mode 0600) so every start can print it; only its
// hash is in the database, as for every client.
func (s *Server) seedDev(ctx context.Context) (*DemoClient, error) {
	_, err := s.store.CreateRealm(ctx, store.Realm{Name: demoRealm, DisplayName: "Demo", Enabled: true})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	hasher, err := oidc.NewPeppers(s.store, s.keyring).Hasher(ctx, demoRealm)
	if err != nil {
		return nil, err
	}
	secretFile := filepath.Join(s.cfg.DataDir, "demo-client-secret")
	secret := ""
	if b, err := os.ReadFile(secretFile); err == nil {
		secret = strings.TrimSpace(string(b))
	}
	c, err := s.store.GetClient(ctx, demoRealm, demoClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		secret = oidc.NewSecret()
		_, err = s.store.CreateClient(ctx, store.Client{
			Realm: demoRealm, ID: demoClientID, Name: "Demo application", Enabled: true,
			AuthMethod: oidc.AuthClientSecretBasic, SecretHash: hasher.Hash(secret),
			GrantTypes:    []string{"authorization_code", "refresh_token", "client_credentials"},
			ResponseTypes: []string{"code"},
			RedirectURIs:  []string{"http://127.0.0.1/callback"},
			Scopes:        []string{"openid", "profile", "email", "address", "phone", "offline_access"},
		})
	case err == nil && (secret == "" || !hasher.Verify(secret, c.SecretHash)):
		// The secret file was lost: issue a new secret rather than print a wrong one.
		secret = oidc.NewSecret()
		_, err = s.store.UpdateClient(ctx, demoRealm, demoClientID, func(c store.Client) (store.Client, error) {
			c.SecretHash = hasher.Hash(secret)
			return c, nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("demo client: %w", err)
	}
	if err := pki.WriteFileAtomic(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &DemoClient{Realm: demoRealm, ClientID: demoClientID, Secret: secret}, nil
}
