package oidc

import "net/http"

// setNoStoreJSON sets the headers of every direct protocol response: JSON, never cached
// (RFC 6749 §5.1). One backing array holds the three values, so this costs one small
// allocation instead of three.
func setNoStoreJSON(h http.Header) {
	v := []string{"application/json", "no-store", "no-cache"}
	h["Content-Type"], h["Cache-Control"], h["Pragma"] = v[0:1:1], v[1:2:2], v[2:3:3]
}

// writeTokenResponse writes a successful token response (RFC 6749 §5.1) with the same
// bytes writeJSON writes for it, without reflection.
func writeTokenResponse(w http.ResponseWriter, resp *tokenResponse) error {
	setNoStoreJSON(w.Header())
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(appendTokenResponse(make([]byte, 0, 128+len(resp.AccessToken)+len(resp.RefreshToken)+len(resp.IDToken)+len(resp.Scope)+len(resp.Receipt)), resp))
	return err
}
