package admin

import (
	"net/http"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// realm loads the realm named in the path; a missing one is 404.
func (a *API) realm(r *http.Request) (store.Realm, error) { return rest.Realm(r, a.st) }
