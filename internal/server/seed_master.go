package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"time"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/store"
)

// What every node makes sure of in the master realm.
const (
	// AdminUsername is the administrator created on first start.
	AdminUsername = "admin"
	// CLIClientID is the public client `signet admin login` signs in with, a built-in
	// client of every realm (builtinClients).
	CLIClientID = "signet-cli"
	// BootstrapClientID is the dev-mode client whose credentials `signet admin` finds in
	// the data directory.
	BootstrapClientID = "signet-admin-bootstrap"
	// BootstrapFile is that file, in the data directory.
	BootstrapFile = "admin-bootstrap.json"
	// bootstrappedAttribute records that the first start created the administrator, so
	// a later start never creates one again (an administrator may delete or rename it).
	bootstrappedAttribute = "signet.bootstrapped_at"
)

// AdminBootstrap is what dev mode writes to BootstrapFile: client credentials of the
// master realm with the admin scope, and where to use them.
type AdminBootstrap struct {
	AdminURL     string `json:"admin_url"`
	TokenURL     string `json:"token_url"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	CAFile       string `json:"ca_file"`
}

// seedMaster makes sure the master realm exists (its built-in clients, the CLI's among
// them, follow once the listeners are bound) and, on the first start only, creates the
// administrator with a random one-time password, which is printed once (PrintURLs) and
// never stored but as its Argon2id hash. Several nodes may run it at once: the store's
// unique keys let exactly one create each record.
func (s *Server) seedMaster(ctx context.Context) error {
	_, err := s.store.CreateRealm(ctx, store.Realm{Name: admin.MasterRealm, DisplayName: "Master", Enabled: true})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("master realm: %w", err)
	}
	master, err := s.store.GetRealm(ctx, admin.MasterRealm)
	if err != nil {
		return fmt.Errorf("master realm: %w", err)
	}
	if master.Attributes[bootstrappedAttribute] == "" {
		if err := s.createAdministrator(ctx); err != nil {
			return err
		}
		_, err := s.store.UpdateRealm(ctx, admin.MasterRealm, func(r store.Realm) (store.Realm, error) {
			r.Attributes = maps.Clone(r.Attributes)
			if r.Attributes == nil {
				r.Attributes = map[string]string{}
			}
			if r.Attributes[bootstrappedAttribute] == "" {
				r.Attributes[bootstrappedAttribute] = time.Now().UTC().Format(time.RFC3339)
			}
			return r, nil
		})
		if err != nil {
			return fmt.Errorf("master realm: %w", err)
		}
	}
	if !s.cfg.Dev {
		return s.disableBootstrapClient(ctx)
	}
	return nil
}

// createAdministrator creates the master realm's administrator unless a user of that
// name exists (another node made it, or a start that failed half-way did).
func (s *Server) createAdministrator(ctx context.Context) error {
	_, err := s.store.GetUserByUsername(ctx, admin.MasterRealm, AdminUsername)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("master realm administrator: %w", err)
	}
	pw := oidc.RandomToken(18)
	hash, err := s.passwords.Hash(ctx, pw)
	if err != nil {
		return err
	}
	_, err = s.store.CreateUser(ctx, store.User{
		Realm: admin.MasterRealm, ID: oidc.NewIdentifier(), Username: AdminUsername, Enabled: true,
		PasswordHash: hash, PasswordChangedAt: time.Now(),
		Attributes: map[string]string{admin.PasswordTemporaryAttribute: "true"},
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil // another node created it at the same moment, and prints its password
	case err != nil:
		return fmt.Errorf("master realm administrator: %w", err)
	}
	s.adminPassword = pw
	// The password itself goes to the console only: nothing secret is logged.
	s.log.Info("created the master realm administrator; its one-time password is printed once on the console",
		"realm", admin.MasterRealm, "user", AdminUsername)
	return nil
}

// disableBootstrapClient: outside dev mode, the dev-mode bootstrap client (whose secret
// sits in a file) must not keep working on a database that dev mode once used.
func (s *Server) disableBootstrapClient(ctx context.Context) error {
	c, err := s.store.GetClient(ctx, admin.MasterRealm, BootstrapClientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !c.Enabled {
		return nil
	}
	if err != nil {
		return fmt.Errorf("master realm client %s: %w", BootstrapClientID, err)
	}
	_, err = s.store.UpdateClient(ctx, admin.MasterRealm, BootstrapClientID, func(c store.Client) (store.Client, error) {
		c.Enabled = false
		return c, nil
	})
	if err != nil {
		return fmt.Errorf("disable master realm client %s: %w", BootstrapClientID, err)
	}
	s.log.Warn("disabled the development bootstrap client of the master realm: this node does not run in dev mode",
		"client_id", BootstrapClientID)
	return nil
}

// seedAdminBootstrap makes sure the dev-mode bootstrap client exists, enabled, and
// returns its secret, reusing the one in BootstrapFile while it matches.
func (s *Server) seedAdminBootstrap(ctx context.Context) (string, error) {
	var known AdminBootstrap
	if b := readSecretFile(filepath.Join(s.cfg.DataDir, BootstrapFile)); b != "" {
		_ = json.Unmarshal([]byte(b), &known) // a damaged file only means a new secret
	}
	secret, err := s.ensureClientSecret(ctx, store.Client{
		Realm: admin.MasterRealm, ID: BootstrapClientID, Name: "Development bootstrap (dev mode only)", Enabled: true,
		AuthMethod: oidc.AuthClientSecretBasic, GrantTypes: []string{"client_credentials"}, Scopes: []string{admin.Scope},
	}, known.ClientSecret)
	if err != nil {
		return "", fmt.Errorf("master realm client %s: %w", BootstrapClientID, err)
	}
	// A node that ran outside dev mode disabled it; dev mode turns it on again.
	c, err := s.store.GetClient(ctx, admin.MasterRealm, BootstrapClientID)
	if err == nil && !c.Enabled {
		_, err = s.store.UpdateClient(ctx, admin.MasterRealm, BootstrapClientID, func(c store.Client) (store.Client, error) {
			c.Enabled = true
			return c, nil
		})
	}
	if err != nil {
		return "", fmt.Errorf("master realm client %s: %w", BootstrapClientID, err)
	}
	return secret, nil
}

// writeAdminBootstrap writes BootstrapFile once the listeners are bound, since the URLs
// in it may depend on the ports they got.
func (s *Server) writeAdminBootstrap() error {
	b := AdminBootstrap{
		AdminURL:     s.endpointURL(config.Admin),
		TokenURL:     s.endpointURL(config.Public) + "/realms/" + admin.MasterRealm + "/protocol/openid-connect/token",
		ClientID:     BootstrapClientID,
		ClientSecret: s.bootstrapSecret,
		CAFile:       DevCAFile(s.cfg),
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(filepath.Join(s.cfg.DataDir, BootstrapFile), append(data, '\n'), 0o600)
}
