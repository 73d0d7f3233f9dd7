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

// notifyAttempts bounds the calls of one notification: a network error or a 5xx is tried
// again after a pause; any other answer ends it (a 401 or a redirect is not retried).
var notifyPauses = []time.Duration{time.Second, 5 * time.Second}

// watchCIBA waits on this node for request id's outcome and notifies the client.
func (p *Provider) watchCIBA(realm store.Realm, c store.Client, rec cibaRequest, id string) {
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
		body := map[string]any{"auth_req_id": id}
		if rec.Mode == "push" {
			body = p.pushBody(ctx, realm, c, rec, id, req.State)
		}
		p.notify(ctx, c, rec, body)
	})
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
	body["error"], body["error_description"] = e.Code, e.Description
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
		retry := err != nil
		if err == nil {
			retry = resp.Status >= 500
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

// Close stops waiting for CIBA outcomes: the notifications of requests still pending are
// not sent (their clients poll, or ask again).
func (p *Provider) Close() {
	p.bgStop()
	p.bg.Wait()
}
