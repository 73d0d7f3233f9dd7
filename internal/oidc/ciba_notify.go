package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/store"
)

// CIBA ping and push (CIBA Core §10.2, §10.3): the node that made a request waits for
// its outcome and calls the client's notification endpoint with the client's
// notification token: in ping mode with the request's id (the client then redeems it at
// the token endpoint), in push mode with the tokens themselves, or the error.

// notifyPauses are the pauses before a ping is sent again after a network error or a 5xx;
// any other answer ends it (a 401 or a redirect is not retried). A push is sent once.
var notifyPauses = []time.Duration{time.Second, 5 * time.Second}

// watchCIBA waits on this node for request id's outcome and notifies the client. It
// reports false once the provider is closing (the caller then refuses the request).
func (p *Provider) watchCIBA(realm store.Realm, c store.Client, rec cibaRequest, id string) bool {
	p.bgMu.Lock()
	defer p.bgMu.Unlock()
	if p.bgClosed {
		return false
	}
	p.bg.Go(func() {
		ctx, cancel := context.WithTimeout(p.bgCtx, authn.MaxTTL+time.Minute)
		defer cancel()
		// A poll every few seconds besides the notices: a lost notice delays, never loses.
		req, err := p.requests.Wait(ctx, realm.Name, id, 5*time.Second)
		if err != nil {
			if !errors.Is(err, authn.ErrClosed) && ctx.Err() == nil {
				p.log.Warn("ciba: waiting for a request failed", "request", id, "err", err)
			}
			return
		}
		// The client as it is now: one disabled or pointed elsewhere since gets nothing, or
		// gets it where it says now.
		c, err := p.st.GetClient(ctx, realm.Name, c.ID)
		if err != nil || !c.Enabled || c.BackchannelTokenDeliveryMode != rec.Mode {
			return
		}
		body := map[string]any{"auth_req_id": id}
		if rec.Mode == "push" {
			body = p.pushBody(ctx, realm, c, rec, id, req.State)
		}
		p.notify(ctx, c, rec, body)
	})
	return true
}

// stopping reports whether Close has begun.
func (p *Provider) stopping() bool {
	p.bgMu.Lock()
	defer p.bgMu.Unlock()
	return p.bgClosed
}

// pushBody is what push mode sends: the tokens of an approval, or the error.
func (p *Provider) pushBody(ctx context.Context, realm store.Realm, c store.Client, rec cibaRequest, id string, state authn.State) map[string]any {
	body := map[string]any{"auth_req_id": id}
	var err error
	switch state {
	case authn.Approved:
		var tok tokenResponse
		if tok, err = p.cibaTokens(ctx, realm, c, rec, id, id); err == nil {
			b, _ := json.Marshal(tok)
			_ = json.Unmarshal(b, &body)
			return body
		}
	case authn.Expired:
		err = ExpiredToken("the auth_req_id has expired")
	default:
		err = AccessDenied("the user denied the request")
	}
	e := AsError(err)
	code := e.Code
	if code != "expired_token" && code != "access_denied" {
		// CIBA Core §12: a push carries access_denied, expired_token or transaction_failed.
		code = "access_denied"
	}
	body["error"], body["error_description"] = code, e.Description
	return body
}

// notify POSTs body to the client's notification endpoint.
func (p *Provider) notify(ctx context.Context, c store.Client, rec cibaRequest, body map[string]any) {
	payload, _ := json.Marshal(body)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelClientNotificationEndpoint, bytes.NewReader(payload))
		if err != nil {
			p.log.Warn("ciba: bad notification endpoint", "client", c.ID, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+rec.NotificationToken)
		resp, err := p.out.Do(ctx, req)
		// Ping is safe to send again; push carries tokens, so it is sent at most once.
		retry := err != nil && rec.Mode == "ping"
		if err == nil {
			retry = resp.Status >= 500 && rec.Mode == "ping"
			if resp.Status >= 300 && !retry {
				// A refusal or a redirect (never followed) ends it: a 401 is not retried.
				p.log.Warn("ciba: the client's notification endpoint refused", "client", c.ID, "status", resp.Status)
			}
		}
		if !retry || attempt == len(notifyPauses) {
			if retry {
				p.log.Warn("ciba: notification not delivered", "client", c.ID, "err", err)
			}
			return
		}
		t := time.NewTimer(notifyPauses[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Close stops waiting for CIBA outcomes and waits for the notifications under way: the
// notifications of requests still pending are not sent (ping clients may poll; others ask
// again). New ping and push requests are refused from then on.
func (p *Provider) Close() {
	p.bgMu.Lock()
	p.bgClosed = true
	p.bgMu.Unlock()
	p.bgStop()
	p.bg.Wait()
}
