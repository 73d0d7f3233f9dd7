package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// DemoUser is the user dev mode creates in the demo realm.
type DemoUser struct {
	Realm    string
	Username string
	Password string
}

// Demo data dev mode creates on first start.
const (
	demoRealm    = "demo"
	demoClientID = "demo-app"
	demoUsername = "demo"
)

// seedDev creates the demo realm, its confidential client and its user on first start.
// The client secret and the user's password are kept in the data directory (mode 0600)
// so every start can print them; only their hashes are in the database.
func (s *Server) seedDev(ctx context.Context) (*DemoClient, *DemoUser, error) {
	_, err := s.store.CreateRealm(ctx, store.Realm{Name: demoRealm, DisplayName: "Demo", Enabled: true})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, nil, err
	}
	secretFile := filepath.Join(s.cfg.DataDir, "demo-client-secret")
	secret, err := s.ensureClientSecret(ctx, store.Client{
		Realm: demoRealm, ID: demoClientID, Name: "Demo application", Enabled: true,
		AuthMethod:    oidc.AuthClientSecretBasic,
		GrantTypes:    []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes: []string{"code"},
		RedirectURIs:  []string{"http://127.0.0.1/callback"},
		Scopes:        []string{"openid", "profile", "email", "address", "phone", "offline_access"},
	}, readSecretFile(secretFile))
	if err != nil {
		return nil, nil, fmt.Errorf("demo client: %w", err)
	}
	if err := pki.WriteFileAtomic(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return nil, nil, err
	}
	user, err := s.seedDemoUser(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("demo user: %w", err)
	}
	return &DemoClient{Realm: demoRealm, ClientID: demoClientID, Secret: secret}, user, nil
}

// readSecretFile returns the secret kept in path, or "" if there is none.
func readSecretFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ensureClientSecret creates the confidential client c with a new secret when it does
// not exist, and returns known, the secret kept in the data directory, when it still
// matches the stored hash. When it does not (the file was lost), the client gets a new
// secret rather than a wrong one being printed.
func (s *Server) ensureClientSecret(ctx context.Context, c store.Client, known string) (string, error) {
	hasher, err := oidc.NewPeppers(s.store, s.keyring).Hasher(ctx, c.Realm)
	if err != nil {
		return "", err
	}
	stored, err := s.store.GetClient(ctx, c.Realm, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		secret := oidc.NewSecret()
		c.SecretHash = hasher.Hash(secret)
		_, err = s.store.CreateClient(ctx, c)
		return secret, err
	case err != nil:
		return "", err
	case known != "" && hasher.Verify(known, stored.SecretHash):
		return known, nil
	}
	secret := oidc.NewSecret()
	_, err = s.store.UpdateClient(ctx, c.Realm, c.ID, func(cur store.Client) (store.Client, error) {
		cur.SecretHash = hasher.Hash(secret)
		return cur, nil
	})
	return secret, err
}

// seedDemoUser creates the demo user with a password kept in the data directory, and
// sets that password again when the stored hash no longer matches it.
func (s *Server) seedDemoUser(ctx context.Context) (*DemoUser, error) {
	file := filepath.Join(s.cfg.DataDir, "demo-user-password")
	pw := readSecretFile(file)
	if pw == "" {
		pw = oidc.RandomToken(12)
	}
	u, err := s.store.GetUserByUsername(ctx, demoRealm, demoUsername)
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash, err := s.passwords.Hash(ctx, pw)
		if err != nil {
			return nil, err
		}
		_, err = s.store.CreateUser(ctx, store.User{
			Realm: demoRealm, ID: oidc.NewIdentifier(), Username: demoUsername, Email: "demo@example.com",
			EmailVerified: true, Enabled: true, PasswordHash: hash, PasswordChangedAt: time.Now(),
			Profile: store.Profile{Name: "Demo User", GivenName: "Demo", FamilyName: "User"},
		})
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if ok, _, _ := s.passwords.Verify(ctx, pw, u.PasswordHash); !ok {
			hash, err := s.passwords.Hash(ctx, pw)
			if err != nil {
				return nil, err
			}
			_, err = s.store.UpdateUser(ctx, demoRealm, u.ID, func(cur store.User) (store.User, error) {
				cur.PasswordHash, cur.PasswordChangedAt, cur.FailedLogins = hash, time.Now(), 0
				return cur, nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if err := pki.WriteFileAtomic(file, []byte(pw+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &DemoUser{Realm: demoRealm, Username: demoUsername, Password: pw}, nil
}
