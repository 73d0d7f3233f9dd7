package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestOpenAPIDocument: the served document is valid OpenAPI 3.1 (newEnv loads and
// validates it), lists exactly the mounted operations with the scopes each needs, only
// the document itself is open, every reference resolves, the scopes are the API's, and
// each schema names exactly the fields of the Go type behind it.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.call(t, 200, request{method: "GET", path: "/openapi.json", token: "-"})
	doc := testutil.OpenAPIDocument(t, resp.body, e.srv.URL+BasePath)
	flow := testutil.Get(doc, "components", "securitySchemes", "oauth2", "flows", "clientCredentials")
	if got := testutil.Get(flow, "tokenUrl"); got != e.public.URL+"/realms/{realm}/protocol/openid-connect/token" {
		t.Errorf("tokenUrl %v", got)
	}
	documentedScopes := testutil.Get(flow, "scopes").(map[string]any)
	if len(documentedScopes) != len(Scopes) {
		t.Errorf("the document has %d scopes, the API %d", len(documentedScopes), len(Scopes))
	}
	for s := range Scopes {
		if _, ok := documentedScopes[s]; !ok {
			t.Errorf("scope %s is not documented", s)
		}
	}

	var ops []testutil.Operation
	for _, rt := range e.api.routes() {
		ops = append(ops, testutil.Operation{Method: rt.Method, Path: rt.Path, Scopes: rt.Scopes})
	}
	testutil.CheckOperations(t, doc, ops, func(op map[string]any) []string {
		var scopes []string
		mtls := false
		for _, req := range op["security"].([]any) {
			if _, ok := testutil.Get(req, "mutualTLS").([]any); ok {
				mtls = true
			}
			oauth, _ := testutil.Get(req, "oauth2").([]any)
			for _, s := range oauth {
				scopes = append(scopes, s.(string))
			}
		}
		if mtls != (len(scopes) > 0) {
			t.Errorf("%v: client certificates documented %t, scopes %v", op["operationId"], mtls, scopes)
		}
		return scopes
	})
	testutil.CheckRefs(t, doc, doc, "#")

	testutil.CheckSchemas(t, doc, map[string]reflect.Type{
		"Problem": reflect.TypeFor[rest.ProblemBody](), "User": reflect.TypeFor[rest.User](),
		"UserCreate": reflect.TypeFor[rest.UserCreate](), "UserPatch": reflect.TypeFor[rest.UserPatch](),
		"UserLock": reflect.TypeFor[rest.UserLock](), "Profile": reflect.TypeFor[store.Profile](),
		"Address": reflect.TypeFor[store.Address](), "UserPage": reflect.TypeFor[rest.Page[rest.User]](),
		"Device": reflect.TypeFor[rest.Device](), "DevicePatch": reflect.TypeFor[rest.DevicePatch](),
		"DevicePage": reflect.TypeFor[rest.Page[rest.Device]](), "Activation": reflect.TypeFor[rest.Activation](),
		"ActivationCreate": reflect.TypeFor[rest.ActivationCreate](), "ActivationPage": reflect.TypeFor[rest.Page[rest.Activation]](),
		"AuthenticationCreate": reflect.TypeFor[AuthenticationCreate](), "Authentication": reflect.TypeFor[Authentication](),
		"TransactionCreate": reflect.TypeFor[TransactionCreate](), "Transaction": reflect.TypeFor[Transaction](),
		"Event": reflect.TypeFor[Event](), "EventPage": reflect.TypeFor[rest.Page[Event]](),
		"Webhook": reflect.TypeFor[Webhook](), "WebhookCreate": reflect.TypeFor[WebhookCreate](),
		"WebhookPatch": reflect.TypeFor[WebhookPatch](), "WebhookPage": reflect.TypeFor[rest.Page[Webhook]](),
		"SecretRotate": reflect.TypeFor[SecretRotate](), "SecretRotation": reflect.TypeFor[SecretRotation](),
		"WebhookDelivery": reflect.TypeFor[WebhookDelivery](), "WebhookDeliveryPage": reflect.TypeFor[rest.Page[WebhookDelivery]](),
	})
	if !json.Valid(openAPIJSON) {
		t.Error("the embedded document is not JSON")
	}
}
