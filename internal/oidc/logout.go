package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/web"
)

// logoutConfirmAge bounds how long a logout confirmation form stays valid.
const logoutConfirmAge = 10 * time.Minute

// logout is OpenID Connect RP-Initiated Logout 1.0. A valid id_token_hint logs the user
// out at once; without one the user confirms on a page (a cross-site GET alone never
// ends a session). The browser is sent to post_logout_redirect_uri only when it is
// registered, exactly, for the client the hint was issued to; everything else ends on
// Signet's own page.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	if err := p.logoutErr(w, r); err != nil {
		p.errorPage(w, r, err)
	}
}

func (p *Provider) logoutErr(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	v, err := authzParams(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	hint, clientID := v.Get("id_token_hint"), v.Get("client_id")
	var hinted idTokenClaims
	if hint != "" {
		hinted, err = p.verifyIDToken(ctx, realm.Name, hint)
		if err != nil {
			return InvalidRequest("id_token_hint is not an ID token of this realm").WithCause(err)
		}
		switch {
		case clientID == "" && len(hinted.Audience) == 1:
			clientID = hinted.Audience[0]
		case clientID != "" && !audienceHas(hinted.Audience, clientID):
			return InvalidRequest("id_token_hint was not issued to client_id")
		}
	}
	redirect := v.Get("post_logout_redirect_uri")
	if redirect != "" {
		if hint == "" {
			return InvalidRequest("post_logout_redirect_uri needs an id_token_hint")
		}
		c, err := p.st.GetClient(ctx, realm.Name, clientID)
		if errors.Is(err, store.ErrNotFound) || err == nil && !slices.Contains(c.PostLogoutRedirectURIs, redirect) {
			return InvalidRequest("post_logout_redirect_uri is not registered for the client")
		}
		if err != nil {
			return err
		}
	}
	locale := p.render.Catalog().Negotiate(v.Get("ui_locales"), r.Header.Get("Accept-Language"))
	browser := session.BrowserID(r, realm.Name)
	// Without a session there is nothing to confirm. With one, only an ID token of this
	// very session logs out without asking: a hint must not let another site end a
	// session it did not see (another session's token, a signed userinfo response).
	confirmed := browser == "" || hint != "" && hinted.SessionID != "" && hinted.SessionID == browser
	if !confirmed && browser != "" {
		if r.Method != http.MethodPost || v.Get("confirm") == "" {
			return p.render.RenderView(w, http.StatusOK, web.View{
				Name: "logout_confirm", Locale: locale, TitleKey: "logout.title", FormActions: []string{origin(redirect)},
				Data: map[string]any{
					"Action": p.Issuer(realm.Name) + "/protocol/openid-connect/logout",
					"CSRF":   p.csrf.Token("logout:" + browser),
					"Params": keep(v, "id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales"),
				},
			})
		}
		if err := p.csrf.Verify(v.Get(web.CSRFFieldName), "logout:"+browser, logoutConfirmAge); err != nil {
			return InvalidRequest("the logout form expired; try again").WithCause(err)
		}
	}
	s, err := p.sessions.End(ctx, w, r, realm)
	switch {
	case err == nil:
		if _, err := p.st.RevokeUserGrants(ctx, realm.Name, s.UserID, s.ID, "logout", p.now()); err != nil {
			return err
		}
	case !errors.Is(err, session.ErrNoSession):
		return err
	}
	if redirect != "" {
		q := url.Values{}
		if st := v.Get("state"); st != "" {
			q.Set("state", st)
		}
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		if len(q) == 0 {
			sep = ""
		}
		http.Redirect(w, r, redirect+sep+q.Encode(), http.StatusSeeOther)
		return nil
	}
	return p.render.RenderView(w, http.StatusOK, web.View{Name: "logged_out", Locale: locale, TitleKey: "logout.done_title"})
}

// keep returns the named parameters of v that are set, for hidden form fields.
func keep(v url.Values, names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if x := v.Get(n); x != "" {
			out[n] = x
		}
	}
	return out
}
