package messaging

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/apns"
	"github.com/signet-auth/signet/internal/push/fcm"
	"github.com/signet-auth/signet/internal/push/unifiedpush"
	"github.com/signet-auth/signet/internal/store"
)

// Endpoints override the providers' base URLs for the whole node: a test server, or a
// proxy in front of the provider. Empty fields keep the providers' own.
type Endpoints struct {
	APNs string
	FCM  string
}

// SenderOptions shape the senders a node builds.
type SenderOptions struct {
	Endpoints Endpoints
	// Outbound makes the calls to UnifiedPush endpoints, which devices choose, under the
	// node's outbound policy; and to FCM.
	Outbound *outbound.Client
	// RootCAs, when set, replace the system roots for APNs (tests).
	RootCAs *x509.CertPool
	// Timeout bounds one send (default 10 s).
	Timeout time.Duration
	// Recheck is how often a sender's credential is read again, so that a change made
	// through another node takes effect (default 10 s).
	Recheck time.Duration
	Now     func() time.Time
}

// ErrNoCredential means the realm has no credential for the device's provider;
// ErrUnusableCredential that the stored one cannot make a sender (its key or settings no
// longer pass the provider's checks): an administrator must set it again.
var (
	ErrNoCredential       = errors.New("messaging: the realm has no credential for this push provider")
	ErrUnusableCredential = errors.New("messaging: the realm's push credential cannot be used")
)

// Senders builds and keeps one sender per realm and provider from the stored
// credentials: a sender holds a provider connection and a cached access token, so it
// lives as long as its credential does.
type Senders struct {
	creds   Credentials
	opts    SenderOptions
	metrics *Metrics

	mu      sync.Mutex
	senders map[senderKey]*senderEntry
}

type senderKey struct{ realm, provider string }

type senderEntry struct {
	version int64
	checked time.Time
	sender  push.Sender
	close   func()
}

// NewSenders returns a Senders over creds; metrics may be nil.
func NewSenders(creds Credentials, opts SenderOptions, metrics *Metrics) *Senders {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Recheck <= 0 {
		opts.Recheck = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Outbound == nil {
		opts.Outbound = outbound.New(outbound.DefaultPolicy())
	}
	return &Senders{creds: creds, opts: opts, metrics: metrics, senders: map[senderKey]*senderEntry{}}
}

// Get returns the realm's sender for provider, built from its stored credential, or
// ErrNoCredential.
func (s *Senders) Get(ctx context.Context, realm, provider string) (push.Sender, error) {
	k := senderKey{realm, provider}
	now := s.opts.Now()
	s.mu.Lock()
	e := s.senders[k]
	if e != nil && now.Sub(e.checked) < s.opts.Recheck {
		s.mu.Unlock()
		return e.sender, nil
	}
	s.mu.Unlock()

	pc, secret, err := s.creds.open(ctx, realm, provider)
	if errors.Is(err, store.ErrNotFound) {
		s.Forget(realm, provider)
		return nil, ErrNoCredential
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.senders[k]; e != nil && e.version == pc.Version {
		e.checked = now
		return e.sender, nil
	}
	sender, closeFn, err := s.build(provider, pc.Settings, secret)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s credential of realm %s: %w", ErrUnusableCredential, provider, realm, err)
	}
	if old := s.senders[k]; old != nil && old.close != nil {
		old.close()
	}
	sender = s.metrics.instrument(provider, sender)
	s.senders[k] = &senderEntry{version: pc.Version, checked: now, sender: sender, close: closeFn}
	return sender, nil
}

// Forget drops the realm's sender for provider, so the next Get reads the credential
// again: after a change on this node.
func (s *Senders) Forget(realm, provider string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.senders[senderKey{realm, provider}]; e != nil {
		if e.close != nil {
			e.close()
		}
		delete(s.senders, senderKey{realm, provider})
	}
}

// Close closes every sender's connections.
func (s *Senders) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.senders {
		if e.close != nil {
			e.close()
		}
		delete(s.senders, k)
	}
}

func (s *Senders) build(provider string, settings []byte, secret []byte) (push.Sender, func(), error) {
	switch provider {
	case push.ProviderAPNs:
		var c APNs
		if err := unmarshalSettings(settings, &c); err != nil {
			return nil, nil, err
		}
		cfg := apns.Config{Key: secret, KeyID: c.KeyID, TeamID: c.TeamID, Topic: c.Topic,
			Environment: apns.Environment(c.Environment), Port: c.Port}
		if s.opts.Endpoints.APNs != "" {
			cfg.BaseURL, cfg.Port = s.opts.Endpoints.APNs, 0
		}
		opts := []apns.Option{apns.WithTimeout(s.opts.Timeout), apns.WithClock(s.opts.Now)}
		if s.opts.RootCAs != nil {
			opts = append(opts, apns.WithRootCAs(s.opts.RootCAs))
		}
		sender, err := apns.New(cfg, opts...)
		if err != nil {
			return nil, nil, err
		}
		return sender, sender.Close, nil
	case push.ProviderFCM:
		var c FCM
		if err := unmarshalSettings(settings, &c); err != nil {
			return nil, nil, err
		}
		cfg := fcm.Config{ServiceAccountJSON: secret, ProjectID: c.ProjectID, BaseURL: s.opts.Endpoints.FCM}
		sender, err := fcm.New(cfg, fcm.WithOutbound(s.opts.Outbound), fcm.WithTimeout(s.opts.Timeout), fcm.WithClock(s.opts.Now))
		if err != nil {
			return nil, nil, err
		}
		return sender, nil, nil
	case push.ProviderUnifiedPush:
		var c UnifiedPush
		if err := unmarshalSettings(settings, &c); err != nil {
			return nil, nil, err
		}
		sender, err := unifiedpush.New(unifiedpush.Config{VAPIDPrivateKey: string(secret), Subject: c.Subject}, s.opts.Outbound,
			unifiedpush.WithTimeout(s.opts.Timeout), unifiedpush.WithClock(s.opts.Now))
		if err != nil {
			return nil, nil, err
		}
		return sender, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown push provider %q", provider)
}
