package api

import (
	_ "embed"

	"github.com/signet-auth/signet/internal/rest"
)

// openAPIJSON is the hand-written OpenAPI 3.1 document of the API. Tests check that it
// lists exactly the mounted operations and scopes, and validate every request and
// answer of the test suite against it.
//
//go:embed openapi.json
var openAPIJSON []byte

// openAPIDocument fills in the URLs the document cannot know in advance: the API's base
// URL and the token endpoint of the realms (with {realm} for the realm's name).
func openAPIDocument(apiURL, issuerTemplate string) ([]byte, error) {
	return rest.Document(openAPIJSON, func(doc map[string]any) {
		doc["servers"] = []any{map[string]any{"url": apiURL}}
		schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
		flows := schemes["oauth2"].(map[string]any)["flows"].(map[string]any)
		flows["clientCredentials"].(map[string]any)["tokenUrl"] = issuerTemplate + "/protocol/openid-connect/token"
	})
}
