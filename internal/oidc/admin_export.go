package oidc

// ForgetRealm drops this node's cached client-secret hasher of realm. The admin API
// calls it when a realm is deleted or created: a new realm of a former realm's name gets
// a pepper of its own, and secrets hashed under the old one must not be issued for it.
func (p *Provider) ForgetRealm(realm string) {
	p.peppers.mu.Lock()
	delete(p.peppers.byRealm, realm)
	p.peppers.mu.Unlock()
}
