package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Push is what the push endpoints need: the realms' credentials, a hook told after one
// changes, and the test wake-up of the messaging role.
type Push struct {
	Credentials messaging.Credentials
	// Changed, when set, is told after a credential is set or deleted, so this node
	// drops the sender it built from the old one at once (other nodes read it again
	// within their recheck interval).
	Changed func(realm, provider string)
	// Test sends one wake-up to a device now; nil on a node without the messaging role.
	Test func(ctx context.Context, realm, deviceID string) (messaging.Status, error)
}

// WithPush turns on the push credential and test-push endpoints (the server always sets
// it); without it they answer 503.
func WithPush(p Push) Option { return func(a *API) { a.push = &p } }

// APNsCredentialSet is the body of PUT /realms/{realm}/push/apns.
type APNsCredentialSet struct {
	// Key is the .p8 file's PEM; stored sealed, never shown again.
	Key         string `json:"key"`
	KeyID       string `json:"key_id"`
	TeamID      string `json:"team_id"`
	Topic       string `json:"topic"`
	Environment string `json:"environment"`
	Port        int    `json:"port"`
}

// FCMCredentialSet is the body of PUT /realms/{realm}/push/fcm.
type FCMCredentialSet struct {
	// ServiceAccount is the service account's JSON key file, as a JSON object or as a
	// string holding it; stored sealed, never shown again.
	ServiceAccount json.RawMessage `json:"service_account"`
	ProjectID      string          `json:"project_id"`
}

// UnifiedPushCredentialSet is the body of PUT /realms/{realm}/push/unifiedpush.
type UnifiedPushCredentialSet struct {
	Subject string `json:"subject"`
	// VAPIDPrivateKey is the raw P-256 scalar, base64url; empty makes a new key pair.
	VAPIDPrivateKey string `json:"vapid_private_key"`
}

// pushSupport returns the push endpoints' dependencies, or the 503 of a node without
// them.
func (a *API) pushSupport() (*Push, error) {
	if a.push == nil {
		return nil, rest.Problemf(http.StatusServiceUnavailable, "this node serves no push credential endpoints")
	}
	return a.push, nil
}

func pushWhat(realm, provider string) string {
	return fmt.Sprintf("%s push credential of realm %q", provider, realm)
}

// pushProvider reads the provider of the path; an unknown one is 404.
func pushProvider(r *http.Request) (string, error) {
	p := r.PathValue("provider")
	if !messaging.ValidProvider(p) {
		return "", rest.Problemf(http.StatusNotFound, "no push provider %q: use %s, %s or %s", p, push.ProviderAPNs, push.ProviderFCM, push.ProviderUnifiedPush)
	}
	return p, nil
}

func (a *API) listPushCredentials(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.pushSupport()
	if err != nil {
		return err
	}
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	cs, err := ps.Credentials.List(r.Context(), realm.Name)
	if err != nil {
		return rest.StoreError(err, realmWhat(realm.Name))
	}
	out := rest.Page[messaging.Credential]{Items: cs}
	if out.Items == nil {
		out.Items = []messaging.Credential{}
	}
	return rest.WriteJSON(w, http.StatusOK, out)
}

// pushCredential loads the credential the path names: the realm, then the provider.
func (a *API) pushCredential(r *http.Request) (*Push, messaging.Credential, error) {
	ps, err := a.pushSupport()
	if err != nil {
		return nil, messaging.Credential{}, err
	}
	realm, err := a.realm(r)
	if err != nil {
		return nil, messaging.Credential{}, err
	}
	provider, err := pushProvider(r)
	if err != nil {
		return nil, messaging.Credential{}, err
	}
	c, err := ps.Credentials.Get(r.Context(), realm.Name, provider)
	if err != nil {
		return nil, messaging.Credential{}, rest.StoreError(err, pushWhat(realm.Name, provider))
	}
	return ps, c, nil
}

func (a *API) getPushCredential(w http.ResponseWriter, r *http.Request) error {
	_, c, err := a.pushCredential(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rest.ETag(c.Version))
	return rest.WriteJSON(w, http.StatusOK, c)
}

// setPushCredential checks the provider's credential by building a sender from it,
// then stores it with its secret sealed. The answer shows the settings, never the
// secret.
func (a *API) setPushCredential(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.pushSupport()
	if err != nil {
		return err
	}
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	provider, err := pushProvider(r)
	if err != nil {
		return err
	}
	put, err := pushPut(w, r, ps.Credentials, provider)
	if err != nil {
		return err
	}
	if err := a.pushIfMatch(r, ps, realm.Name, provider); err != nil {
		return err
	}
	c, err := put(r.Context(), realm.Name)
	if errors.Is(err, messaging.ErrInvalidCredential) {
		return &rest.Problem{Status: http.StatusBadRequest, Detail: credentialProblem(err), Cause: err}
	}
	if err != nil {
		return rest.StoreError(err, pushWhat(realm.Name, provider))
	}
	if ps.Changed != nil {
		ps.Changed(realm.Name, provider)
	}
	w.Header().Set("ETag", rest.ETag(c.Version))
	return rest.WriteJSON(w, http.StatusOK, c)
}

// pushPut decodes the body of the provider's PUT and returns the call that stores it.
func pushPut(w http.ResponseWriter, r *http.Request, cs messaging.Credentials, provider string) (func(ctx context.Context, realm string) (messaging.Credential, error), error) {
	switch provider {
	case push.ProviderAPNs:
		var in APNsCredentialSet
		if err := rest.Decode(w, r, &in, false); err != nil {
			return nil, err
		}
		return func(ctx context.Context, realm string) (messaging.Credential, error) {
			return cs.PutAPNs(ctx, realm, messaging.APNs{Key: []byte(in.Key), KeyID: in.KeyID, TeamID: in.TeamID,
				Topic: in.Topic, Environment: in.Environment, Port: in.Port})
		}, nil
	case push.ProviderFCM:
		var in FCMCredentialSet
		if err := rest.Decode(w, r, &in, false); err != nil {
			return nil, err
		}
		file, err := serviceAccountFile(in.ServiceAccount)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, realm string) (messaging.Credential, error) {
			return cs.PutFCM(ctx, realm, messaging.FCM{ServiceAccount: file, ProjectID: in.ProjectID})
		}, nil
	default:
		var in UnifiedPushCredentialSet
		if err := rest.Decode(w, r, &in, false); err != nil {
			return nil, err
		}
		return func(ctx context.Context, realm string) (messaging.Credential, error) {
			return cs.PutUnifiedPush(ctx, realm, messaging.UnifiedPush{Subject: in.Subject, VAPIDPrivateKey: in.VAPIDPrivateKey})
		}, nil
	}
}

// serviceAccountFile accepts the key file as a JSON object (pasted into the body) or as
// a string holding it (read from the file as it is); absent leaves it to the check.
func serviceAccountFile(raw json.RawMessage) ([]byte, error) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '{':
		return raw, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, rest.BadRequest("service_account must be the key file as a JSON object or a string")
		}
		return []byte(s), nil
	}
	return nil, rest.BadRequest("service_account must be the key file as a JSON object or a string")
}

// pushIfMatch applies If-Match to the stored credential before it is replaced
// (RFC 9110 §13.1.1: with no current credential, any If-Match fails). The store has no
// conditional put, so a change made between this check and the put is not caught.
func (a *API) pushIfMatch(r *http.Request, ps *Push, realm, provider string) error {
	if strings.TrimSpace(r.Header.Get("If-Match")) == "" {
		return nil
	}
	cur, err := ps.Credentials.Get(r.Context(), realm, provider)
	if errors.Is(err, store.ErrNotFound) {
		return rest.Problemf(http.StatusPreconditionFailed, "the realm has no %s push credential to replace", provider)
	}
	if err != nil {
		return rest.StoreError(err, pushWhat(realm, provider))
	}
	return rest.IfMatch(r)(cur.Version)
}

// credentialProblem is the public reason a credential was refused: the checks' own
// messages, which name fields and never quote a secret, one per problem.
func credentialProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), messaging.ErrInvalidCredential.Error()+": ")
	return "the push credential is not valid: " + strings.Join(strings.Split(msg, "\n"), "; ")
}

func (a *API) deletePushCredential(w http.ResponseWriter, r *http.Request) error {
	ps, c, err := a.pushCredential(r)
	if err != nil {
		return err
	}
	err = rest.Deleted(w, r, c.Version, pushWhat(c.Realm, c.Provider), func(ctx context.Context) error {
		return ps.Credentials.Delete(ctx, c.Realm, c.Provider)
	})
	if err == nil && ps.Changed != nil {
		ps.Changed(c.Realm, c.Provider)
	}
	return err
}

// testPush sends one wake-up to a device now, connected or not, so an administrator can
// check the realm's credential and the device's registration. The answer says what
// became of it; a provider's refusal is a 200 with route "failed", not an error.
func (a *API) testPush(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.pushSupport()
	if err != nil {
		return err
	}
	if ps.Test == nil {
		return rest.Problemf(http.StatusServiceUnavailable, "this node does not run the messaging role")
	}
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	if err := rest.Decode(w, r, &struct{}{}, true); err != nil {
		return err
	}
	id := r.PathValue("device")
	st, err := ps.Test(r.Context(), realm.Name, id)
	if err != nil {
		return rest.StoreError(err, rest.DeviceWhat(realm.Name, id))
	}
	return rest.WriteJSON(w, http.StatusOK, st)
}
