package oidc

import (
	"net/http"

	"github.com/signet-auth/signet/internal/inproc"
)

// LocalClient returns an HTTP client that calls this provider's protocol endpoints (token,
// certs, discovery, userinfo, revoke) in process: a request to the provider's public URL is
// served by its handlers without a network round trip, so Signet's own pages (the admin and
// account consoles) are relying parties of the provider through the standard client
// libraries on any node, also one that does not run the PUBLIC listener. Requests anywhere
// else fail.
func (p *Provider) LocalClient() *http.Client {
	p.localOnce.Do(func() {
		mux := http.NewServeMux()
		p.Routes(mux)
		c, err := inproc.Client(p.publicURL, mux)
		if err != nil {
			panic(err) // the public URL was checked when the configuration was loaded
		}
		p.local = c
	})
	return p.local
}
