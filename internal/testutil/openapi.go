package testutil

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The helpers below read a decoded OpenAPI document (map[string]any) for the tests that
// hold an API's hand-written document to its mounted routes and Go types.

// Get walks nested objects of a decoded JSON document.
func Get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Resolve follows a local $ref ("#/components/...") in doc.
func Resolve(doc any, ref string) any {
	return Get(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
}

// CheckRefs fails for every $ref in v that does not resolve in doc.
func CheckRefs(t testing.TB, doc, v any, at string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && Resolve(doc, ref) == nil {
			t.Errorf("%s: $ref %s does not resolve", at, ref)
		}
		for k, child := range v {
			CheckRefs(t, doc, child, at+"/"+k)
		}
	case []any:
		for _, child := range v {
			CheckRefs(t, doc, child, at+"/[]")
		}
	}
}

// Properties lists the property names of a schema, following $ref and allOf.
func Properties(doc, schema any) []string {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return Properties(doc, Resolve(doc, ref))
	}
	var out []string
	props, _ := Get(s, "properties").(map[string]any)
	for name := range props {
		out = append(out, name)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, part := range all {
			out = append(out, Properties(doc, part)...)
		}
	}
	return out
}

// JSONFields lists the JSON names encoding/json uses for a struct, embedded structs
// flattened.
func JSONFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "":
			out = append(out, JSONFields(f.Type)...)
		case f.IsExported():
			if name == "" {
				name = f.Name
			}
			out = append(out, name)
		}
	}
	return out
}

// Operation is a mounted operation of an API: its method, its path below the API, and
// the scopes of which a caller needs one (none: it is public).
type Operation struct {
	Method, Path string
	Scopes       []string
}

// CheckOperations fails unless doc documents exactly ops, each with an operationId and
// a summary and the scopes scopes reads from the documented operation.
func CheckOperations(t testing.TB, doc map[string]any, ops []Operation, scopes func(op map[string]any) []string) {
	t.Helper()
	mounted := map[string]bool{}
	for _, o := range ops {
		key := o.Method + " " + o.Path
		mounted[key] = true
		op, ok := Get(doc, "paths", o.Path, strings.ToLower(o.Method)).(map[string]any)
		if !ok {
			t.Errorf("mounted %s is not in the document", key)
			continue
		}
		if op["operationId"] == "" || op["summary"] == "" {
			t.Errorf("%s has no operationId or summary", key)
		}
		documented, want := slices.Sorted(slices.Values(scopes(op))), slices.Sorted(slices.Values(o.Scopes))
		if !slices.Equal(documented, want) {
			t.Errorf("%s: documented scopes %v, mounted %v", key, documented, want)
		}
	}
	for path, item := range Get(doc, "paths").(map[string]any) {
		for method := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			if key := strings.ToUpper(method) + " " + path; !mounted[key] {
				t.Errorf("documented %s is not mounted", key)
			}
		}
	}
}

// CheckSchemas fails unless each schema of doc named in types has exactly the
// properties encoding/json uses for its Go type.
func CheckSchemas(t testing.TB, doc map[string]any, types map[string]reflect.Type) {
	t.Helper()
	schemas := Get(doc, "components", "schemas").(map[string]any)
	for name, typ := range types {
		schema, ok := schemas[name]
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		documented, want := Properties(doc, schema), JSONFields(typ)
		slices.Sort(documented)
		slices.Sort(want)
		if !slices.Equal(documented, want) {
			t.Errorf("schema %s has properties %v; %s encodes %v", name, documented, typ, want)
		}
	}
}

// OpenAPIDocument decodes a served OpenAPI document and checks it is OpenAPI 3.1.0
// naming server as its one server URL.
func OpenAPIDocument(t testing.TB, body []byte, server string) map[string]any {
	t.Helper()
	var doc map[string]any
	DecodeJSON(t, 200, body, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	if servers, _ := doc["servers"].([]any); len(servers) != 1 || Get(servers[0], "url") != server {
		t.Errorf("servers %v, want %s", doc["servers"], server)
	}
	return doc
}

// WantStatus fails the test unless an answer to what has status want.
func WantStatus(t testing.TB, what string, status, want int, body []byte) {
	t.Helper()
	if status != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, status, want, body)
	}
}
