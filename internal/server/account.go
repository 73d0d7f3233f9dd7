package server

import (
	"crypto/ecdsa"
	"net/http"

	"github.com/signet-auth/signet/internal/account"
	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/sigma"
)

// accountConsole mounts the account console on the PUBLIC listener's router, signing in
// with the realms' built-in account client through this listener's provider.
func (s *Server) accountConsole(mux *http.ServeMux) error {
	catalog := s.render.Catalog()
	console, err := account.New(account.Config{
		Prefix: s.cfg.PathPrefix, Store: s.store, Ephemeral: s.eph, Provider: s.provider,
		Passwords: s.passwords, Keyring: s.keyring, Catalog: catalog, Dev: s.cfg.Dev,
		Enrollment: s.accountEnrollment, ClientID: admin.AccountClientID,
		Log: s.log.With("component", "account"),
	})
	if err != nil {
		return err
	}
	console.Routes(mux)
	return nil
}

// accountEnrollment is what the admin and REST APIs make activation codes with, asked
// when a code is made: the DEVICE listener starts after PUBLIC, so its URL is known only
// then. A node that holds no channel keys (it runs neither the device, admin nor api
// role) makes none.
func (s *Server) accountEnrollment() *rest.Enrollment {
	if len(s.channelKeys) == 0 {
		return nil
	}
	fp := sigma.Fingerprint(s.channelKeys[0].Public().(*ecdsa.PublicKey))
	return &rest.Enrollment{PublicURL: s.endpointURL(config.Device), Pepper: s.devicePepper,
		Fingerprint: func() ([32]byte, error) { return fp, nil }}
}
