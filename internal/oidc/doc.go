// Package oidc is Signet's OpenID Connect and OAuth 2.0 protocol layer: one file per
// endpoint, one per grant type, and the rules every endpoint shares (redirect URI
// matching, PKCE, OAuth error responses).
package oidc
