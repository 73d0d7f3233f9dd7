package admin

import (
	"reflect"
	"testing"

	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestOpenAPIDocument: the served document lists exactly the mounted operations, only
// the document itself is open without a token, every reference resolves, and each
// schema names exactly the fields of the Go type behind it.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.call(t, 200, request{method: "GET", path: "/openapi.json", token: "-"})
	doc := testutil.OpenAPIDocument(t, resp.body, e.admin.URL+BasePath)
	token := e.public.URL + "/realms/master/protocol/openid-connect/token"
	if got := testutil.Get(doc, "components", "securitySchemes", "signet", "flows", "clientCredentials", "tokenUrl"); got != token {
		t.Errorf("tokenUrl %v, want %s", got, token)
	}
	if got := testutil.Get(doc, "components", "securitySchemes", "openid", "openIdConnectUrl"); got != e.public.URL+"/realms/master/.well-known/openid-configuration" {
		t.Errorf("openIdConnectUrl %v", got)
	}

	var ops []testutil.Operation
	for _, rt := range e.api.routes() {
		ops = append(ops, testutil.Operation{Method: rt.Method, Path: rt.Path, Scopes: rt.Scopes})
	}
	testutil.CheckOperations(t, doc, ops, func(op map[string]any) []string {
		if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
			return nil // open
		}
		return []string{Scope}
	})

	testutil.CheckRefs(t, doc, doc, "#")

	testutil.CheckSchemas(t, doc, map[string]reflect.Type{
		"Problem": reflect.TypeFor[rest.ProblemBody](), "Realm": reflect.TypeFor[Realm](),
		"RealmCreate": reflect.TypeFor[RealmCreate](), "RealmPatch": reflect.TypeFor[RealmPatch](),
		"RealmSettings": reflect.TypeFor[RealmSettings](), "RealmSettingsPatch": reflect.TypeFor[RealmSettingsPatch](),
		"RegistrationToken": reflect.TypeFor[RegistrationToken](),
		"User":              reflect.TypeFor[User](), "UserCreate": reflect.TypeFor[UserCreate](), "UserPatch": reflect.TypeFor[UserPatch](),
		"Profile": reflect.TypeFor[store.Profile](), "Address": reflect.TypeFor[store.Address](),
		"PasswordSet": reflect.TypeFor[PasswordSet](), "Client": reflect.TypeFor[Client](),
		"ClientWithSecret": reflect.TypeFor[ClientWithSecret](), "ClientSettings": reflect.TypeFor[ClientSettings](),
		"ClientCreate": reflect.TypeFor[ClientCreate](), "ClientPatch": reflect.TypeFor[ClientPatch](),
		"Key": reflect.TypeFor[Key](), "KeyRotate": reflect.TypeFor[KeyRotate](), "Session": reflect.TypeFor[Session](),
		"RealmPage": reflect.TypeFor[rest.Page[Realm]](), "UserPage": reflect.TypeFor[rest.Page[User]](),
		"ClientPage": reflect.TypeFor[rest.Page[Client]](), "KeyPage": reflect.TypeFor[rest.Page[Key]](),
		"SessionPage": reflect.TypeFor[rest.Page[Session]](),
		"Receipt":     reflect.TypeFor[Receipt](),
		"Activation":  reflect.TypeFor[Activation](), "ActivationCreate": reflect.TypeFor[ActivationCreate](),
		"ActivationPage": reflect.TypeFor[rest.Page[Activation]](), "Device": reflect.TypeFor[Device](),
		"DevicePatch": reflect.TypeFor[DevicePatch](), "DevicePage": reflect.TypeFor[rest.Page[Device]](),
		"AuditEvent": reflect.TypeFor[AuditEvent](), "AuditPage": reflect.TypeFor[rest.Page[AuditEvent]](),
		"PushCredential": reflect.TypeFor[messaging.Credential](), "PushCredentialPage": reflect.TypeFor[rest.Page[messaging.Credential]](),
		"APNsSettings": reflect.TypeFor[messaging.APNs](), "FCMSettings": reflect.TypeFor[messaging.FCM](),
		"UnifiedPushSettings": reflect.TypeFor[messaging.UnifiedPush](), "APNsCredentialSet": reflect.TypeFor[APNsCredentialSet](),
		"FCMCredentialSet": reflect.TypeFor[FCMCredentialSet](), "UnifiedPushCredentialSet": reflect.TypeFor[UnifiedPushCredentialSet](),
		"PushStatus": reflect.TypeFor[messaging.Status](),
		"Event":      reflect.TypeFor[rest.Event](), "EventPage": reflect.TypeFor[rest.Page[rest.Event]](),
		"Webhook": reflect.TypeFor[rest.Webhook](), "WebhookCreate": reflect.TypeFor[rest.WebhookCreate](),
		"WebhookPatch": reflect.TypeFor[rest.WebhookPatch](), "WebhookPage": reflect.TypeFor[rest.Page[rest.Webhook]](),
		"SecretRotate": reflect.TypeFor[rest.SecretRotate](), "SecretRotation": reflect.TypeFor[rest.SecretRotation](),
		"WebhookDelivery": reflect.TypeFor[rest.WebhookDelivery](), "WebhookDeliveryPage": reflect.TypeFor[rest.Page[rest.WebhookDelivery]](),
	})
}
