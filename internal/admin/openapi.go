package admin

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
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
	var doc map[string]any
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		return nil, fmt.Errorf("admin OpenAPI document: %w", err)
	}
	doc["servers"] = []any{map[string]any{"url": apiURL}}
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	flows := schemes["signet"].(map[string]any)["flows"].(map[string]any)
	token := masterIssuer + "/protocol/openid-connect/token"
	flows["clientCredentials"].(map[string]any)["tokenUrl"] = token
	code := flows["authorizationCode"].(map[string]any)
	code["tokenUrl"] = token
	code["authorizationUrl"] = masterIssuer + "/protocol/openid-connect/auth"
	schemes["openid"].(map[string]any)["openIdConnectUrl"] = masterIssuer + "/.well-known/openid-configuration"
	return json.MarshalIndent(doc, "", "  ")
}

func (a *API) serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(a.openAPI)
	return err
}
