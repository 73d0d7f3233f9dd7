package admin

import (
	_ "embed"

	"github.com/signet-auth/signet/internal/rest"
)

// openAPIJSON is the hand-written OpenAPI 3.1 document of the API. A test checks that it
// lists exactly the mounted operations and that its schemas name exactly the fields of
// the Go types that encode and decode them.
//
//go:embed openapi.json
var openAPIJSON []byte

// openAPIDocument fills in the URLs the document cannot know in advance: the API's base
// URL and the master realm's OAuth endpoints, which clients (signet admin) read from it.
func openAPIDocument(apiURL, masterIssuer string) ([]byte, error) {
	return rest.Document(openAPIJSON, func(doc map[string]any) {
		doc["servers"] = []any{map[string]any{"url": apiURL}}
		schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
		flows := schemes["signet"].(map[string]any)["flows"].(map[string]any)
		token := masterIssuer + "/protocol/openid-connect/token"
		flows["clientCredentials"].(map[string]any)["tokenUrl"] = token
		code := flows["authorizationCode"].(map[string]any)
		code["tokenUrl"] = token
		code["authorizationUrl"] = masterIssuer + "/protocol/openid-connect/auth"
		schemes["openid"].(map[string]any)["openIdConnectUrl"] = masterIssuer + "/.well-known/openid-configuration"
	})
}
