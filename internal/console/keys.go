package console

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/rest"
)

// keysPage lists the realm's signing keys, newest first, with the form that rotates
// one algorithm's keys.
func (c *Console) keysPage(q *req) error {
	var ks rest.Page[admin.Key]
	if err := q.call("GET", q.apiRealm("keys"), nil, &ks); err != nil {
		return err
	}
	slices.SortStableFunc(ks.Items, func(a, b admin.Key) int {
		return cmp.Or(cmp.Compare(a.Alg, b.Alg), b.CreatedAt.Compare(a.CreatedAt))
	})
	algs := make([]option, len(keys.Algs()))
	for i, a := range keys.Algs() {
		algs[i] = option{Value: string(a), Label: string(a), Selected: a == keys.ES256}
	}
	return q.show(http.StatusOK, "keys", "Signing keys of "+q.managed, "keys", struct {
		Keys         []admin.Key
		Algs         []option
		Rotate, JWKS string
	}{ks.Items, algs, q.realmURL("keys", "rotate"), q.c.cfg.Issuer(q.managed) + "/protocol/openid-connect/certs"})
}

// rotateKeys rotates one algorithm's keys now: the next key signs, the active one
// retires and stays published.
func (c *Console) rotateKeys(q *req) error {
	back := q.realmURL("keys")
	alg := q.form("alg")
	var ks rest.Page[admin.Key]
	if err := q.call("POST", q.apiRealm("keys", "rotate"), admin.KeyRotate{Alg: alg}, &ks); err != nil {
		return q.refused(back, err)
	}
	for _, k := range ks.Items {
		if k.Alg == alg && k.State == "active" {
			return q.done(back, alg+" keys rotated: key "+k.KID+" signs now. The previous key is retired and stays published, so tokens it signed keep verifying.")
		}
	}
	return q.done(back, alg+" keys rotated.")
}
