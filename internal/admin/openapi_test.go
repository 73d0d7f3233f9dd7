package admin

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/store"
)

// TestOpenAPIDocument: the served document lists exactly the mounted operations, only
// the document itself is open without a token, every reference resolves, and each
// schema names exactly the fields of the Go type behind it.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.call(t, 200, request{method: "GET", path: "/openapi.json", token: "-"})
	var doc map[string]any
	resp.json(t, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	if url := get(doc, "servers").([]any)[0].(map[string]any)["url"]; url != e.admin.URL+BasePath {
		t.Errorf("server URL %v", url)
	}
	token := e.public.URL + "/realms/master/protocol/openid-connect/token"
	if got := get(doc, "components", "securitySchemes", "signet", "flows", "clientCredentials", "tokenUrl"); got != token {
		t.Errorf("tokenUrl %v, want %s", got, token)
	}
	if got := get(doc, "components", "securitySchemes", "openid", "openIdConnectUrl"); got != e.public.URL+"/realms/master/.well-known/openid-configuration" {
		t.Errorf("openIdConnectUrl %v", got)
	}

	mounted := map[string]bool{}
	for _, rt := range e.api.routes() {
		key := rt.method + " " + rt.path
		mounted[key] = true
		op, ok := get(doc, "paths", rt.path, strings.ToLower(rt.method)).(map[string]any)
		if !ok {
			t.Errorf("mounted %s is not in the document", key)
			continue
		}
		sec, hasSec := op["security"].([]any)
		if open := hasSec && len(sec) == 0; open != rt.public {
			t.Errorf("%s: open in the document %t, open when mounted %t", key, open, rt.public)
		}
		if op["operationId"] == "" || op["summary"] == "" {
			t.Errorf("%s has no operationId or summary", key)
		}
	}
	for path, item := range get(doc, "paths").(map[string]any) {
		for method := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			if key := strings.ToUpper(method) + " " + path; !mounted[key] {
				t.Errorf("documented %s is not mounted", key)
			}
		}
	}

	checkRefs(t, doc, doc, "#")

	schemas := get(doc, "components", "schemas").(map[string]any)
	for name, typ := range map[string]reflect.Type{
		"Problem": reflect.TypeFor[problemBody](), "Realm": reflect.TypeFor[Realm](),
		"RealmCreate": reflect.TypeFor[RealmCreate](), "RealmPatch": reflect.TypeFor[RealmPatch](),
		"RealmSettings": reflect.TypeFor[RealmSettings](), "RealmSettingsPatch": reflect.TypeFor[RealmSettingsPatch](),
		"RegistrationToken": reflect.TypeFor[RegistrationToken](),
		"User":              reflect.TypeFor[User](), "UserCreate": reflect.TypeFor[UserCreate](), "UserPatch": reflect.TypeFor[UserPatch](),
		"Profile": reflect.TypeFor[store.Profile](), "Address": reflect.TypeFor[store.Address](),
		"PasswordSet": reflect.TypeFor[PasswordSet](), "Client": reflect.TypeFor[Client](),
		"ClientWithSecret": reflect.TypeFor[ClientWithSecret](), "ClientSettings": reflect.TypeFor[ClientSettings](),
		"ClientCreate": reflect.TypeFor[ClientCreate](), "ClientPatch": reflect.TypeFor[ClientPatch](),
		"Key": reflect.TypeFor[Key](), "KeyRotate": reflect.TypeFor[KeyRotate](), "Session": reflect.TypeFor[Session](),
		"RealmPage": reflect.TypeFor[page[Realm]](), "UserPage": reflect.TypeFor[page[User]](),
		"ClientPage": reflect.TypeFor[page[Client]](), "KeyPage": reflect.TypeFor[page[Key]](),
		"SessionPage": reflect.TypeFor[page[Session]](),
		"Receipt":     reflect.TypeFor[Receipt](),
		"Activation":  reflect.TypeFor[Activation](), "ActivationCreate": reflect.TypeFor[ActivationCreate](),
		"ActivationPage": reflect.TypeFor[page[Activation]](), "Device": reflect.TypeFor[Device](),
		"DevicePatch": reflect.TypeFor[DevicePatch](), "DevicePage": reflect.TypeFor[page[Device]](),
		"AuditEvent": reflect.TypeFor[AuditEvent](), "AuditPage": reflect.TypeFor[page[AuditEvent]](),
		"PushCredential": reflect.TypeFor[messaging.Credential](), "PushCredentialPage": reflect.TypeFor[page[messaging.Credential]](),
		"APNsSettings": reflect.TypeFor[messaging.APNs](), "FCMSettings": reflect.TypeFor[messaging.FCM](),
		"UnifiedPushSettings": reflect.TypeFor[messaging.UnifiedPush](), "APNsCredentialSet": reflect.TypeFor[APNsCredentialSet](),
		"FCMCredentialSet": reflect.TypeFor[FCMCredentialSet](), "UnifiedPushCredentialSet": reflect.TypeFor[UnifiedPushCredentialSet](),
		"PushStatus": reflect.TypeFor[messaging.Status](),
	} {
		schema, ok := schemas[name]
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		documented, want := properties(doc, schema), jsonFields(typ)
		slices.Sort(documented)
		slices.Sort(want)
		if !slices.Equal(documented, want) {
			t.Errorf("schema %s has properties %v; %s encodes %v", name, documented, typ, want)
		}
	}
}

// get walks nested objects of a decoded JSON document.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func resolve(doc any, ref string) any {
	return get(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
}

// checkRefs fails for every $ref in v that does not resolve in doc.
func checkRefs(t *testing.T, doc, v any, at string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && resolve(doc, ref) == nil {
			t.Errorf("%s: $ref %s does not resolve", at, ref)
		}
		for k, child := range v {
			checkRefs(t, doc, child, at+"/"+k)
		}
	case []any:
		for _, child := range v {
			checkRefs(t, doc, child, at+"/[]")
		}
	}
}

// properties lists the property names of a schema, following $ref and allOf.
func properties(doc, schema any) []string {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return properties(doc, resolve(doc, ref))
	}
	var out []string
	props, _ := get(s, "properties").(map[string]any)
	for name := range props {
		out = append(out, name)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, part := range all {
			out = append(out, properties(doc, part)...)
		}
	}
	return out
}

// jsonFields lists the JSON names encoding/json uses for a struct, embedded structs
// flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "":
			out = append(out, jsonFields(f.Type)...)
		case f.IsExported():
			if name == "" {
				name = f.Name
			}
			out = append(out, name)
		}
	}
	return out
}
