package oidc

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
)

// cibaGrant redeems an auth_req_id (CIBA Core §10): pending answers authorization_pending
// (slow_down when polled sooner than the interval), a denial access_denied, an expiry
// expired_token, and an approval issues the tokens once.
func (p *Provider) cibaGrant(r *http.Request, realm store.Realm, c store.Client) (tokenResponse, error) {
	ctx := r.Context()
	id := r.PostForm.Get("auth_req_id")
	if id == "" {
		return tokenResponse{}, InvalidRequest("auth_req_id is required")
	}
	rec, err := p.loadCIBA(ctx, realm.Name, id)
	if err != nil {
		return tokenResponse{}, err
	}
	if rec.ClientID != c.ID {
		return tokenResponse{}, InvalidGrant("unknown auth_req_id") // CONFORMANCE §1: another client's id
	}
	if rec.Mode == "push" {
		return tokenResponse{}, UnauthorizedClient("in push mode the tokens go to the client notification endpoint")
	}
	if p.requests == nil {
		return tokenResponse{}, TemporarilyUnavailable("this node does not serve phone requests")
	}
	if rec.Mode == "poll" {
		// A second of tolerance: a client that waits the interval between its sends must
		// not be told to slow down by the network's jitter.
		fresh, err := p.eph.SetNX(ctx, cibaPollKey(realm.Name, id), []byte{1}, cibaInterval*time.Second-time.Second)
		if err != nil {
			return tokenResponse{}, err
		}
		if !fresh {
			return tokenResponse{}, SlowDown("polled sooner than the interval of " + strconv.Itoa(cibaInterval) + " seconds")
		}
	}
	req, err := p.requests.Get(ctx, realm.Name, id)
	if errors.Is(err, authn.ErrNotFound) {
		return tokenResponse{}, ExpiredToken("the auth_req_id has expired")
	}
	if err != nil {
		return tokenResponse{}, err
	}
	switch req.State {
	case authn.Pending:
		return tokenResponse{}, AuthorizationPending("the user has not answered yet")
	case authn.Denied, authn.Cancelled:
		return tokenResponse{}, AccessDeniedToken("the user denied the request")
	case authn.Expired:
		return tokenResponse{}, ExpiredToken("the auth_req_id has expired")
	case authn.Consumed:
		return tokenResponse{}, InvalidGrant("the auth_req_id was used")
	}
	return p.cibaTokens(ctx, realm, c, rec, id, "")
}

// cibaTokens consumes an approved request and issues its tokens: the user is checked
// again (a user locked since the approval gets none). pushID, for push mode, goes into
// the ID token.
func (p *Provider) cibaTokens(ctx context.Context, realm store.Realm, c store.Client, rec cibaRequest, id, pushID string) (tokenResponse, error) {
	out, err := p.requests.Consume(ctx, realm.Name, id, cibaBinding(c.ID))
	switch {
	case errors.Is(err, authn.ErrConsumed), errors.Is(err, authn.ErrNotFound):
		return tokenResponse{}, InvalidGrant("the auth_req_id was used")
	case err != nil:
		return tokenResponse{}, err
	case out.State != authn.Approved:
		return tokenResponse{}, AccessDeniedToken("the user denied the request")
	}
	u, err := p.activeUser(ctx, realm.Name, out.UserID)
	if err != nil {
		return tokenResponse{}, err
	}
	now := p.now()
	g := store.Grant{
		Realm: realm.Name, ID: RandomToken(16), ClientID: c.ID, UserID: u.ID, Scopes: rec.Scopes, Claims: rec.Claims,
		AuthTime: out.ChangedAt, AMR: []string{login.AMRPhone}, ACR: login.ACRSingle, CreatedAt: now, LastUsedAt: now,
	}
	g, refresh, err := p.createGrant(ctx, c, g)
	if err != nil {
		return tokenResponse{}, err
	}
	resp, err := p.userTokensFor(ctx, realm.Name, c, g, u, refresh, "", pushID)
	if err == nil && out.Kind == authn.KindTransaction && p.receipts != nil {
		// Made when the device answered; made now if that failed (Issue finds a kept one).
		if resp.Receipt, err = p.receipts.Issue(ctx, out); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, err
}
