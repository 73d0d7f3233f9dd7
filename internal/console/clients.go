package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/rest"
)

// grantCIBA is the CIBA grant type (OpenID CIBA Core §4).
const grantCIBA = "urn:openid:params:grant-type:ciba"

// grantLabels names the grant types the admin API lets a client use, in the order the
// forms offer them.
var grantLabels = []option{
	{Value: "authorization_code", Label: "Authorization code"},
	{Value: "refresh_token", Label: "Refresh token"},
	{Value: "client_credentials", Label: "Client credentials"},
	{Value: grantCIBA, Label: "CIBA"},
}

// authLabels names how a confidential client authenticates at the token endpoint.
var authLabels = []option{
	{Value: oidc.AuthClientSecretBasic, Label: "client secret, HTTP Basic"},
	{Value: oidc.AuthClientSecretPost, Label: "client secret in the form body"},
	{Value: oidc.AuthPrivateKeyJWT, Label: "signed JWT (private_key_jwt)"},
}

func label(options []option, value string) string {
	for _, o := range options {
		if o.Value == value {
			return o.Label
		}
	}
	return value
}

// clientType describes how a client authenticates, for the list and its page.
func clientType(c admin.Client) string {
	if c.Public {
		return "public"
	}
	return "confidential (" + label(authLabels, c.TokenEndpointAuthMethod) + ")"
}

func grantList(grants []string) string {
	names := make([]string, len(grants))
	for i, g := range grants {
		names[i] = label(grantLabels, g)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// usesSecret reports whether the client authenticates with a secret Signet made.
func usesSecret(c admin.Client) bool {
	return !c.Public && (c.TokenEndpointAuthMethod == oidc.AuthClientSecretBasic || c.TokenEndpointAuthMethod == oidc.AuthClientSecretPost)
}

// clientRow is a client in the list.
type clientRow struct {
	admin.Client
	URL, Type, Grants string
}

// clientsPage lists a realm's clients.
func (c *Console) clientsPage(q *req) error {
	v := url.Values{"limit": {"100"}}
	if cur := q.r.URL.Query().Get("cursor"); cur != "" {
		v.Set("cursor", cur)
	}
	var clients rest.Page[admin.Client]
	if err := q.call("GET", q.apiRealm("clients")+"?"+v.Encode(), nil, &clients); err != nil {
		return err
	}
	rows := make([]clientRow, len(clients.Items))
	for i, cl := range clients.Items {
		rows[i] = clientRow{Client: cl, URL: q.clientURL(cl.ClientID), Type: clientType(cl), Grants: grantList(cl.GrantTypes)}
	}
	next := ""
	if clients.Next != "" {
		next = q.realmURL("clients") + "?" + url.Values{"cursor": {clients.Next}}.Encode()
	}
	return q.show(http.StatusOK, "clients", "Clients of "+q.managed, "clients", struct {
		Rows      []clientRow
		New, Next string
	}{rows, q.realmURL("new-client"), next})
}

// clientFields are the values of the client form, as shown and as entered: lists are
// text (one URI per line, scopes separated by spaces), lifetimes the seconds as typed.
type clientFields struct {
	Name                                    string
	Public                                  bool
	AuthMethod                              string
	JWKSURI                                 string
	RedirectURIs, PostLogoutRedirectURIs    string
	Grants                                  map[string]bool
	Scopes                                  string
	CIBAMode, CIBAEndpoint                  string
	RequestTTL                              string
	AccessTTL, IDTokenTTL                   string
	RefreshIdleTTL, RefreshMaxTTL           string
	RefreshRotation, ConsentRequired        bool
	FirstFactors, SecondFactors             map[string]bool
	SubjectDN, ClientURI                    string
	Enabled                                 bool
	GrantOptions, AuthOptions, CIBAOptions  []option
	FirstFactorOptions, SecondFactorOptions []option
}

// withOptions fills in the form's choices, marking the current ones.
func (f clientFields) withOptions() clientFields {
	f.GrantOptions = checked(grantLabels, f.Grants)
	f.AuthOptions = options(f.AuthMethod, [][2]string{
		{oidc.AuthClientSecretBasic, "Client secret, HTTP Basic (client_secret_basic)"},
		{oidc.AuthClientSecretPost, "Client secret in the form body (client_secret_post)"},
		{oidc.AuthPrivateKeyJWT, "Signed JWT with the client's key (private_key_jwt)"},
	})
	f.CIBAOptions = options(f.CIBAMode, [][2]string{
		{"poll", "Poll: the client asks the token endpoint"},
		{"ping", "Ping: Signet calls the notification endpoint, the client then asks"},
		{"push", "Push: Signet sends the tokens to the notification endpoint"},
	})
	f.FirstFactorOptions = checked([]option{{Value: "phone", Label: "Phone"}, {Value: "password", Label: "Password"}}, f.FirstFactors)
	f.SecondFactorOptions = checked([]option{{Value: "phone", Label: "Phone approval"}, {Value: "totp", Label: "TOTP code"}}, f.SecondFactors)
	return f
}

func checked(choices []option, on map[string]bool) []option {
	out := slices.Clone(choices)
	for i := range out {
		out[i].Selected = on[out[i].Value]
	}
	return out
}

// newClientFields are the form's values for a new client: the API's defaults.
func newClientFields() clientFields {
	return clientFields{
		AuthMethod: oidc.AuthClientSecretBasic, Grants: set([]string{"authorization_code", "refresh_token"}),
		Scopes: "openid profile email", CIBAMode: "poll", Enabled: true,
	}.withOptions()
}

// fieldsOf are the form's values for a stored client.
func fieldsOf(c admin.Client) clientFields {
	mode := c.BackchannelTokenDeliveryMode
	if mode == "" {
		mode = "poll"
	}
	return clientFields{
		Name: c.Name, Public: c.Public, AuthMethod: c.TokenEndpointAuthMethod, JWKSURI: c.JWKSURI,
		RedirectURIs: strings.Join(c.RedirectURIs, "\n"), PostLogoutRedirectURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"),
		Grants: set(c.GrantTypes), Scopes: strings.Join(c.Scopes, " "),
		CIBAMode: mode, CIBAEndpoint: c.BackchannelClientNotificationEndpoint, RequestTTL: strconv.FormatInt(c.RequestTTL, 10),
		AccessTTL: strconv.FormatInt(c.AccessTokenTTL, 10), IDTokenTTL: strconv.FormatInt(c.IDTokenTTL, 10),
		RefreshIdleTTL: strconv.FormatInt(c.RefreshTokenIdleTTL, 10), RefreshMaxTTL: strconv.FormatInt(c.RefreshTokenMaxTTL, 10),
		RefreshRotation: c.RefreshRotation, ConsentRequired: c.ConsentRequired,
		FirstFactors: set(c.LoginFirstFactors), SecondFactors: set(c.LoginSecondFactors),
		SubjectDN: c.TLSClientAuthSubjectDN, ClientURI: c.ClientURI, Enabled: c.Enabled,
	}.withOptions()
}

// formFields reads the client form.
func formFields(form url.Values) clientFields {
	get := func(name string) string { return strings.TrimSpace(form.Get(name)) }
	return clientFields{
		Name: get("name"), Public: get("type") == "public", AuthMethod: get("token_endpoint_auth_method"), JWKSURI: get("jwks_uri"),
		RedirectURIs: form.Get("redirect_uris"), PostLogoutRedirectURIs: form.Get("post_logout_redirect_uris"),
		Grants: set(form["grant_type"]), Scopes: form.Get("scopes"),
		CIBAMode: get("backchannel_token_delivery_mode"), CIBAEndpoint: get("backchannel_client_notification_endpoint"),
		RequestTTL: get("request_ttl"), AccessTTL: get("access_token_ttl"), IDTokenTTL: get("id_token_ttl"),
		RefreshIdleTTL: get("refresh_token_idle_ttl"), RefreshMaxTTL: get("refresh_token_max_ttl"),
		RefreshRotation: form.Get("refresh_rotation") == "on", ConsentRequired: form.Get("consent_required") == "on",
		FirstFactors: set(form["first_factor"]), SecondFactors: set(form["second_factor"]),
		SubjectDN: get("tls_client_auth_subject_dn"), ClientURI: get("client_uri"), Enabled: form.Get("enabled") == "on",
	}.withOptions()
}

// lines are the non-empty lines of a text area.
func lines(s string) []string {
	out := []string{}
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// chosen are the values of choices that are on, in the choices' order.
func chosen(choices []option, on map[string]bool) []string {
	out := []string{}
	for _, o := range choices {
		if on[o.Value] {
			out = append(out, o.Value)
		}
	}
	return out
}

// settings is the admin API body of the form: every field it shows, so a save sets the
// client to what the form says. A lifetime left empty keeps its value (at creation, the
// realm's default).
func (f clientFields) settings() (admin.ClientSettings, error) {
	method := f.AuthMethod
	if f.Public {
		method = oidc.AuthNone
	}
	grants := chosen(grantLabels, f.Grants)
	responseTypes := []string{}
	if slices.Contains(grants, "authorization_code") {
		responseTypes = []string{"code"}
	}
	mode := f.CIBAMode
	if mode == "poll" && !slices.Contains(grants, grantCIBA) {
		mode = "" // poll is what CIBA does unless told otherwise; no CIBA, no mode
	}
	redirects, postLogout := lines(f.RedirectURIs), lines(f.PostLogoutRedirectURIs)
	scopes := strings.Fields(f.Scopes)
	first := chosen(f.FirstFactorOptions, f.FirstFactors)
	second := chosen(f.SecondFactorOptions, f.SecondFactors)
	s := admin.ClientSettings{
		Name: &f.Name, Public: &f.Public, TokenEndpointAuthMethod: &method, JWKSURI: &f.JWKSURI,
		RedirectURIs: &redirects, PostLogoutRedirectURIs: &postLogout, GrantTypes: &grants, ResponseTypes: &responseTypes,
		Scopes: &scopes, BackchannelTokenDeliveryMode: &mode, BackchannelClientNotificationEndpoint: &f.CIBAEndpoint,
		RefreshRotation: &f.RefreshRotation, ConsentRequired: &f.ConsentRequired,
		LoginFirstFactors: &first, LoginSecondFactors: &second,
		TLSClientAuthSubjectDN: &f.SubjectDN, ClientURI: &f.ClientURI, Enabled: &f.Enabled,
	}
	for _, ttl := range []struct {
		value, what string
		dst         **int64
	}{
		{f.RequestTTL, "The life of a phone request", &s.RequestTTL},
		{f.AccessTTL, "The access token lifetime", &s.AccessTokenTTL},
		{f.IDTokenTTL, "The ID token lifetime", &s.IDTokenTTL},
		{f.RefreshIdleTTL, "The refresh token idle timeout", &s.RefreshTokenIdleTTL},
		{f.RefreshMaxTTL, "The refresh token maximum lifetime", &s.RefreshTokenMaxTTL},
	} {
		if ttl.value == "" {
			continue
		}
		n, err := strconv.ParseInt(ttl.value, 10, 64)
		if err != nil {
			return admin.ClientSettings{}, errors.New(ttl.what + " must be a whole number of seconds.")
		}
		*ttl.dst = &n
	}
	return s, nil
}

// clientForm is the data of the page that creates a client.
type clientForm struct {
	ClientID     string
	Fields       clientFields
	Action, Back string
}

func (c *Console) newClientPage(q *req) error {
	return q.show(http.StatusOK, "client_new", "Create a client", "clients",
		clientForm{Fields: newClientFields(), Action: q.realmURL("clients"), Back: q.realmURL("clients")})
}

// createClient creates a client; a confidential client's secret is shown in this answer
// and never again, so it is not a redirect. A refused form comes back with its values.
func (c *Console) createClient(q *req) error {
	form := clientForm{ClientID: q.form("client_id"), Fields: formFields(q.r.PostForm), Action: q.realmURL("clients"), Back: q.realmURL("clients")}
	again := func(status int, reason string) error {
		return q.showRefused(status, "client_new", "Create a client", "clients", form, reason)
	}
	settings, err := form.Fields.settings()
	if err != nil {
		return again(http.StatusBadRequest, err.Error())
	}
	var created admin.ClientWithSecret
	if err := q.call("POST", q.apiRealm("clients"), admin.ClientCreate{ClientID: form.ClientID, ClientSettings: settings}, &created); err != nil {
		if ae, ok := refusal(err); ok {
			return again(ae.Status, ae.Detail)
		}
		return err
	}
	if created.ClientSecret != "" {
		return q.showSecret(created, "Client "+created.ClientID+" created.")
	}
	return q.done(q.clientURL(created.ClientID), "Client "+created.ClientID+" created.")
}

// refusal is the API's refusal of a form's content: not a missing permission or record,
// which the page shows as its answer.
func refusal(err error) (*apiError, bool) {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound {
		return nil, false
	}
	return ae, true
}

// clientURL is the console page of a client of the managed realm.
func (q *req) clientURL(id string, rest ...string) string {
	return q.realmURL(append([]string{"clients", url.PathEscape(id)}, rest...)...)
}

// showSecret shows a client secret once: the answer to the form that made it, never
// kept in the session or put in a URL.
func (q *req) showSecret(c admin.ClientWithSecret, what string) error {
	return q.show(http.StatusOK, "client_secret", "Secret of client "+c.ClientID, "clients", struct {
		What, ClientID, Secret string
		TokenURL, Back         string
	}{what, c.ClientID, c.ClientSecret, q.c.cfg.Issuer(q.managed) + "/protocol/openid-connect/token", q.clientURL(c.ClientID)})
}

// clientView is the data of a client's page.
type clientView struct {
	Client                 admin.Client
	Fields                 clientFields
	URL, Type              string
	Builtin, UsesSecret    bool
	Issuer, TokenURL, JWKS string
}

func (q *req) clientView(cl admin.Client, fields clientFields) clientView {
	issuer := q.c.cfg.Issuer(q.managed)
	return clientView{
		Client: cl, Fields: fields, URL: q.clientURL(cl.ClientID), Type: clientType(cl),
		Builtin: admin.BuiltinClient(cl.ClientID), UsesSecret: usesSecret(cl),
		Issuer: issuer, TokenURL: issuer + "/protocol/openid-connect/token", JWKS: issuer + "/protocol/openid-connect/certs",
	}
}

// clientPage shows a client: its settings to edit, its secret's rotation, its
// certificates for mutual TLS, and its deletion.
func (c *Console) clientPage(q *req) error {
	var cl admin.Client
	if err := q.call("GET", q.apiRealm("clients", q.r.PathValue("client")), nil, &cl); err != nil {
		return err
	}
	return q.show(http.StatusOK, "client", "Client "+cl.ClientID, "clients", q.clientView(cl, fieldsOf(cl)))
}

// updateClient saves the client form on the version the page showed. A client that
// comes to use a secret gets one, shown once.
func (c *Console) updateClient(q *req) error {
	id := q.r.PathValue("client")
	back := q.clientURL(id)
	version, err := strconv.ParseInt(q.form("version"), 10, 64)
	if err != nil {
		return q.flash(back, "The form has no version. Reload the page and try again.", true)
	}
	fields := formFields(q.r.PostForm)
	again := func(status int, reason string) error {
		var cl admin.Client
		if err := q.call("GET", q.apiRealm("clients", id), nil, &cl); err != nil {
			return err
		}
		cl.Version = version // what the form was made from
		return q.showRefused(status, "client", "Client "+cl.ClientID, "clients", q.clientView(cl, fields), reason)
	}
	settings, err := fields.settings()
	if err != nil {
		return again(http.StatusBadRequest, err.Error())
	}
	var updated admin.ClientWithSecret
	if err := q.callIf("PATCH", q.apiRealm("clients", id), version, settings, &updated); err != nil {
		ae, ok := refusal(err)
		switch {
		case !ok:
			return err
		case ae.Status == http.StatusPreconditionFailed:
			return q.flash(back, "The client was changed since the page was loaded; it shows the current settings now. Make your change again.", true)
		}
		return again(ae.Status, ae.Detail)
	}
	if updated.ClientSecret != "" {
		return q.showSecret(updated, "Client saved. It authenticates with a secret now.")
	}
	return q.done(back, "Client saved.")
}

// rotateSecret makes a new secret; the old one stops working at once.
func (c *Console) rotateSecret(q *req) error {
	id := q.r.PathValue("client")
	var updated admin.ClientWithSecret
	if err := q.call("POST", q.apiRealm("clients", id, "secret"), nil, &updated); err != nil {
		return q.refused(q.clientURL(id), err)
	}
	return q.showSecret(updated, "New secret made; the old one no longer works.")
}

func (c *Console) confirmDeleteClient(q *req) error {
	var cl admin.Client
	if err := q.call("GET", q.apiRealm("clients", q.r.PathValue("client")), nil, &cl); err != nil {
		return err
	}
	return q.show(http.StatusOK, "confirm", "Delete client "+cl.ClientID, "clients", confirmation{
		Question: "Delete the client " + cl.ClientID + "? Every token it holds stops working, and applications using it can no longer sign in. This cannot be undone.",
		Action:   q.clientURL(cl.ClientID, "delete"), Button: "Delete client", Back: q.clientURL(cl.ClientID),
	})
}

// deleteClient deletes a client; the built-in ones are refused by the API (409), which
// the client's page then shows.
func (c *Console) deleteClient(q *req) error {
	id := q.r.PathValue("client")
	if err := q.call("DELETE", q.apiRealm("clients", id), nil, nil); err != nil {
		return q.refused(q.clientURL(id), err)
	}
	return q.done(q.realmURL("clients"), "Client "+id+" deleted.")
}

// addCertificate registers one more certificate for the client (RFC 8705 §2.2): the
// stored fingerprints and the pasted PEM, on the version just read.
func (c *Console) addCertificate(q *req) error {
	id := q.r.PathValue("client")
	back := q.clientURL(id)
	var cl admin.Client
	if err := q.call("GET", q.apiRealm("clients", id), nil, &cl); err != nil {
		return err
	}
	before := slices.Clone(cl.TLSClientCertificates)
	if before == nil {
		before = []string{}
	}
	in := map[string]any{"tls_client_certificates": before, "tls_client_certificate_pems": []string{q.r.PostForm.Get("pem")}}
	var updated admin.Client
	if err := q.callIf("PATCH", q.apiRealm("clients", id), cl.Version, in, &updated); err != nil {
		return q.refusedChange(back, err)
	}
	for _, fp := range updated.TLSClientCertificates {
		if !slices.Contains(before, fp) {
			return q.done(back, "Certificate "+fp+" added.")
		}
	}
	return q.done(back, "This certificate was registered already.")
}

// removeCertificate unregisters one of the client's certificates.
func (c *Console) removeCertificate(q *req) error {
	id := q.r.PathValue("client")
	back := q.clientURL(id)
	fp := q.form("fingerprint")
	var cl admin.Client
	if err := q.call("GET", q.apiRealm("clients", id), nil, &cl); err != nil {
		return err
	}
	if !slices.Contains(cl.TLSClientCertificates, fp) {
		return q.flash(back, "That certificate is not registered for this client.", true)
	}
	kept := slices.DeleteFunc(slices.Clone(cl.TLSClientCertificates), func(s string) bool { return s == fp })
	in := map[string]any{"tls_client_certificates": kept}
	if err := q.callIf("PATCH", q.apiRealm("clients", id), cl.Version, in, nil); err != nil {
		return q.refusedChange(back, err)
	}
	return q.done(back, "Certificate "+fp+" removed.")
}

// refusedChange is refused, with a change made meanwhile (412) said plainly.
func (q *req) refusedChange(to string, err error) error {
	if ae, ok := refusal(err); ok && ae.Status == http.StatusPreconditionFailed {
		return q.flash(to, "The client was changed at the same time. Try again.", true)
	}
	return q.refused(to, err)
}
