package fcm

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Access-token caching.
//
// Google issues service-account access tokens for an hour. A token is reused until
// refreshMargin before it expires, so none is sent that could expire on the way or that
// Google, whose clock may run ahead of ours, already considers expired. Five minutes
// covers the send timeout and any sane clock skew while costing one extra token request
// an hour (Google's own cloud.google.com/go/auth refreshes 3m45s early, oauth2's
// ReuseTokenSource only 10 s). A token with a short lifetime is refreshed after half of
// it instead, so it is not fetched again on every send.
//
// oauth2.ReuseTokenSourceWithExpiry would do the reuse, but it reads time.Now itself,
// so tests could not move its clock; the cache below follows the Sender's clock.
const (
	refreshMargin = 5 * time.Minute
	// refreshRetry is how long a still-valid token keeps serving after a failed early
	// refresh before the next attempt, so a token endpoint outage does not make every
	// send wait for it.
	refreshRetry = 30 * time.Second
	// assumedLifetime is used when the token endpoint gives no expires_in (Google always
	// does); a shorter real lifetime is caught by the retry after a 401.
	assumedLifetime = 5 * time.Minute
)

// tokenCache holds one access token and fetches a new one when it is due: one fetch at a
// time, shared by every caller waiting for it.
type tokenCache struct {
	fetch   func(context.Context) (*oauth2.Token, error)
	now     func() time.Time
	timeout time.Duration

	mu        sync.Mutex
	access    string
	refreshAt time.Time
	expiry    time.Time
	inflight  *tokenFetch
}

type tokenFetch struct {
	done   chan struct{}
	access string
	err    error
}

// get returns a usable access token, fetching one if the cached one is due for refresh.
// ctx bounds only the wait: the fetch itself runs under its own deadline, so a caller
// giving up does not fail the others waiting for the same fetch.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.access != "" && c.now().Before(c.refreshAt) {
		access := c.access
		c.mu.Unlock()
		return access, nil
	}
	f := c.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		c.inflight = f
		// The goroutine belongs to the cache and ends by itself within c.timeout.
		go c.run(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.access, f.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

func (c *tokenCache) run(ctx context.Context, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := c.now()
	tok, err := c.fetch(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(f.done)
	c.inflight = nil
	if err == nil && tok.AccessToken == "" {
		err = errEmptyToken
	}
	if err != nil {
		// An early refresh that fails leaves the current token in service while it lasts.
		if now := c.now(); c.access != "" && now.Before(c.expiry) {
			c.refreshAt = now.Add(refreshRetry)
			f.access = c.access
			return
		}
		f.err = err
		return
	}
	lifetime := lifetimeOf(tok)
	c.access = tok.AccessToken
	c.expiry = start.Add(lifetime) // from before the request: errs on the early side
	c.refreshAt = c.expiry.Add(-min(refreshMargin, lifetime/2))
	f.access = c.access
}

// invalidate drops access if it is still the cached token, after FCM refused it.
func (c *tokenCache) invalidate(access string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == access {
		c.access = ""
	}
}

// lifetimeOf reads the token's lifetime from the response's expires_in (RFC 6749 §5.1),
// so expiry can be measured on the Sender's clock rather than oauth2's time.Now.
func lifetimeOf(tok *oauth2.Token) time.Duration {
	var secs float64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = v
	case json.Number:
		secs, _ = v.Float64()
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	}
	if secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	return assumedLifetime
}
