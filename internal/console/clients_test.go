package console

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/messaging"
)

// TestClientFormSettings: the client form becomes the admin API's body: lists from
// lines and spaces, the authentication method from the client type, response types
// from the grants, CIBA's mode only with the CIBA grant, lifetimes as typed.
func TestClientFormSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
		want map[string]any // fields of the JSON body
		err  string
	}{
		{
			name: "confidential with code and two redirect URIs",
			form: url.Values{"name": {" Billing "}, "type": {"confidential"}, "token_endpoint_auth_method": {"client_secret_post"},
				"redirect_uris": {"https://a.example/cb\r\n\r\n  https://b.example/cb  \n"}, "grant_type": {"refresh_token", "authorization_code"},
				"scopes": {" openid  profile\temail "}, "backchannel_token_delivery_mode": {"poll"}, "enabled": {"on"}},
			want: map[string]any{"name": "Billing", "public": false, "token_endpoint_auth_method": "client_secret_post",
				"redirect_uris": []any{"https://a.example/cb", "https://b.example/cb"}, "post_logout_redirect_uris": []any{},
				"grant_types": []any{"authorization_code", "refresh_token"}, "response_types": []any{"code"},
				"scopes": []any{"openid", "profile", "email"}, "backchannel_token_delivery_mode": "", "enabled": true,
				"access_token_ttl": nil, "login_first_factors": []any{}},
		},
		{
			name: "public ignores the method",
			form: url.Values{"type": {"public"}, "token_endpoint_auth_method": {"client_secret_basic"}, "grant_type": {"client_credentials"}},
			want: map[string]any{"public": true, "token_endpoint_auth_method": "none", "response_types": []any{}, "enabled": false},
		},
		{
			name: "CIBA ping with lifetimes",
			form: url.Values{"type": {"confidential"}, "token_endpoint_auth_method": {"client_secret_basic"}, "grant_type": {"urn:openid:params:grant-type:ciba"},
				"backchannel_token_delivery_mode": {"ping"}, "backchannel_client_notification_endpoint": {"https://rp.example/notify"},
				"access_token_ttl": {"300"}, "request_ttl": {"0"}, "first_factor": {"password"}, "second_factor": {"totp", "phone"}},
			want: map[string]any{"grant_types": []any{"urn:openid:params:grant-type:ciba"}, "backchannel_token_delivery_mode": "ping",
				"backchannel_client_notification_endpoint": "https://rp.example/notify", "access_token_ttl": float64(300), "request_ttl": float64(0),
				"login_first_factors": []any{"password"}, "login_second_factors": []any{"phone", "totp"}},
		},
		{
			name: "a lifetime that is no number",
			form: url.Values{"refresh_token_max_ttl": {"a day"}},
			err:  "The refresh token maximum lifetime must be a whole number of seconds.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := formFields(tc.form).settings()
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(s)
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			// The form never touches the certificates or attributes: they keep their value.
			for _, k := range []string{"tls_client_certificates", "tls_client_certificate_pems", "attributes", "jwks"} {
				if got[k] != nil {
					t.Errorf("%s = %v, want it left out", k, got[k])
				}
			}
		})
	}
}

// TestClientFieldsRoundTrip: a stored client shown in the form and saved unchanged
// gives back what it has.
func TestClientFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	c := admin.Client{ClientID: "app", Name: "App", TokenEndpointAuthMethod: "client_secret_basic",
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/"},
		GrantTypes: []string{"authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"}, Scopes: []string{"openid", "email"},
		BackchannelTokenDeliveryMode: "push", BackchannelClientNotificationEndpoint: "https://app.example/ciba",
		AccessTokenTTL: 600, RefreshTokenMaxTTL: 86400, RefreshRotation: true, LoginSecondFactors: []string{"totp"},
		TLSClientAuthSubjectDN: "CN=app", ClientURI: "https://app.example", Enabled: true}
	f := fieldsOf(c)
	form := url.Values{"name": {f.Name}, "type": {"confidential"}, "token_endpoint_auth_method": {f.AuthMethod},
		"redirect_uris": {f.RedirectURIs}, "post_logout_redirect_uris": {f.PostLogoutRedirectURIs}, "scopes": {f.Scopes},
		"backchannel_token_delivery_mode": {f.CIBAMode}, "backchannel_client_notification_endpoint": {f.CIBAEndpoint},
		"access_token_ttl": {f.AccessTTL}, "refresh_token_max_ttl": {f.RefreshMaxTTL}, "refresh_rotation": {"on"},
		"tls_client_auth_subject_dn": {f.SubjectDN}, "client_uri": {f.ClientURI}, "enabled": {"on"}}
	for _, o := range f.GrantOptions {
		if o.Selected {
			form.Add("grant_type", o.Value)
		}
	}
	for _, o := range f.SecondFactorOptions {
		if o.Selected {
			form.Add("second_factor", o.Value)
		}
	}
	s, err := formFields(form).settings()
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]any{
		"redirect_uris": {*s.RedirectURIs, c.RedirectURIs}, "post_logout_redirect_uris": {*s.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs},
		"grant_types": {*s.GrantTypes, c.GrantTypes}, "scopes": {*s.Scopes, c.Scopes},
		"mode": {*s.BackchannelTokenDeliveryMode, c.BackchannelTokenDeliveryMode}, "access_token_ttl": {*s.AccessTokenTTL, c.AccessTokenTTL},
		"refresh_token_max_ttl": {*s.RefreshTokenMaxTTL, c.RefreshTokenMaxTTL}, "second factors": {*s.LoginSecondFactors, c.LoginSecondFactors},
		"subject": {*s.TLSClientAuthSubjectDN, c.TLSClientAuthSubjectDN}, "rotation": {*s.RefreshRotation, c.RefreshRotation},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s: saved %#v, stored %#v", name, pair[0], pair[1])
		}
	}
}

// TestTestPushResult: every route of a test push is told in words, failures as errors.
func TestTestPushResult(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		st     messaging.Status
		want   string
		failed bool
	}{
		{messaging.Status{Route: messaging.RoutePush, Provider: "apns"}, "delivered: APNs (Apple) accepted it", false},
		{messaging.Status{Route: messaging.RouteNoRegistration}, "no push registration", true},
		{messaging.Status{Route: messaging.RouteNoCredential, Provider: "fcm"}, "no FCM (Firebase Cloud Messaging) credential", true},
		{messaging.Status{Route: messaging.RouteFailed, Provider: "apns", Error: "apns: 403 InvalidProviderToken"}, "failed (APNs (Apple)): apns: 403 InvalidProviderToken", true},
		{messaging.Status{Route: messaging.RouteFailed, Error: "device not found or not active"}, "failed: device not found", true},
	} {
		msg, failed := testPushResult("Carol's phone", tc.st)
		if !strings.Contains(msg, tc.want) || failed != tc.failed || !strings.Contains(msg, "Carol's phone") {
			t.Errorf("%+v: %q (failed %v), want %q (failed %v)", tc.st, msg, failed, tc.want, tc.failed)
		}
	}
}
