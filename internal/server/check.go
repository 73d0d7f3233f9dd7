package server

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/signet-auth/signet/internal/config"
	redisstore "github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/tlsconf"
)

// Check validates cfg completely: the structural rules of config.Validate, then what only
// building the parts shows (certificate files that parse and match their keys, client CA
// bundles, the Redis URL), using the same code the server starts with. It returns
// config.Problems, every problem at once, or nil.
func Check(cfg *config.Config) error {
	var ps config.Problems
	if err := cfg.Validate(); err != nil {
		errors.As(err, &ps)
	}
	if cfg.Keys.EncryptionKey != "" {
		if _, err := Keyring(cfg.Keys); err != nil {
			ps = append(ps, config.Problem{Key: "keys.encryption_key (SIGNET_KEYS_ENCRYPTION_KEY)", Msg: err.Error()})
		}
	}
	if err := KeyPolicy(cfg.Keys).Validate(); err != nil {
		ps = append(ps, config.Problem{Key: "keys.rotation_period (SIGNET_KEYS_ROTATION_PERIOD)", Msg: err.Error()})
	}
	if cfg.Redis.URL != "" {
		if _, err := redisstore.ParseURL(cfg.Redis.URL); err != nil {
			ps = append(ps, config.Problem{Key: "redis.url (SIGNET_REDIS_URL)", Msg: err.Error()})
		}
	}
	for _, ep := range config.Endpoints {
		l := cfg.Listener(ep)
		if !cfg.HasRole(ep.Role()) || !l.TLSEnabled() || !hasCertificate(*l) || hasProblemUnder(ps, ep) {
			continue
		}
		opts, err := tlsOptions(*l, nil)
		if err == nil {
			opts.ReloadInterval = -1 // checking only: no file watching
			_, err = tlsconf.New(opts)
		}
		if err != nil {
			ps = append(ps, config.Problem{Key: ep.Key() + " (SIGNET_" + string(ep) + "_TLS_*)", Msg: err.Error()})
		}
	}
	return ps.Err()
}

func hasCertificate(l config.Listener) bool {
	return l.TLSKey != "" || l.TLSKeyFile != "" || l.TLSCertificate != "" || l.TLSCertificateFile != ""
}

// hasProblemUnder reports whether a structural problem was already found for ep, so the
// same mistake is not reported twice.
func hasProblemUnder(ps config.Problems, ep config.Endpoint) bool {
	for _, p := range ps {
		if strings.HasPrefix(p.Key, ep.Key()+".") {
			return true
		}
	}
	return false
}

// Keyring opens the configured key-encryption keys: the current one seals, every one opens.
func Keyring(kc config.KeysConfig) (*keys.Keyring, error) {
	primary, err := keys.ParseKEK(kc.EncryptionKey)
	if err != nil {
		return nil, err
	}
	var old []*keys.KEK
	for i, s := range kc.PreviousEncryptionKeys {
		k, err := keys.ParseKEK(s)
		if err != nil {
			return nil, fmt.Errorf("previous key %d: %w", i+1, err)
		}
		old = append(old, k)
	}
	return keys.NewKeyring(primary, old...)
}

// KeyPolicy is the signing-key rotation policy the configuration sets.
func KeyPolicy(kc config.KeysConfig) keys.Policy {
	return keys.Policy{RotationPeriod: kc.RotationPeriod, PrepublishFor: kc.PrepublishFor, RetainFor: kc.RetainFor}
}

// tlsOptions maps a listener's configuration onto tlsconf; the server and Check share it.
func tlsOptions(l config.Listener, log *slog.Logger) (tlsconf.Options, error) {
	auth, err := tlsconf.ParseClientAuth(l.TLSClientAuth)
	if err != nil {
		return tlsconf.Options{}, err
	}
	return tlsconf.Options{
		CertFile: l.TLSCertificateFile, KeyFile: l.TLSKeyFile,
		CertPEM: []byte(l.TLSCertificate), KeyPEM: []byte(l.TLSKey),
		ClientAuth:   auth,
		ClientCAFile: l.TLSClientCAFile, ClientCAPEM: []byte(l.TLSClientCA),
		Logger: log,
	}, nil
}
