package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// checkSessionPage is the OP iframe of OpenID Connect Session Management 1.0 §3.2. Its
// script is a static file (CSP script-src 'self', nothing inline); the page tells it
// the realm's browser-state cookie.
var checkSessionPage = template.Must(template.New("check_session").Parse(`<!doctype html>
<html data-opbs-cookie="{{.Cookie}}"><head><meta charset="utf-8"><title>Signet session</title>
<script src="{{.Script}}"></script></head><body></body></html>`))

// checkSession serves the iframe. It is the one page that other sites must frame (the
// relying party embeds it), so it allows framing from any https origin and loopback; it
// has no UI and no state-changing action, so there is nothing to clickjack.
func (p *Provider) checkSession(w http.ResponseWriter, r *http.Request) {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		p.errorPage(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; "+
		"frame-ancestors https: http://localhost:* http://127.0.0.1:* http://[::1]:*; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	_ = checkSessionPage.Execute(w, struct{ Cookie, Script string }{
		session.BrowserStateCookie(realm.Name), p.prefix + "/static/check-session.js",
	})
}

// sessionState is the session_state authorization response parameter (OIDC Session
// Management §4.2) for client on the origin of redirectURI.
func sessionState(clientID, redirectURI string, s store.Session) string {
	salt := RandomToken(12)
	sum := sha256.Sum256([]byte(clientID + " " + origin(redirectURI) + " " + session.BrowserState(s) + " " + salt))
	return base64.RawURLEncoding.EncodeToString(sum[:]) + "." + salt
}
