package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Document fills in what a hand-written OpenAPI document cannot know in advance (the
// server URL, the token endpoints): fill edits the decoded document, which is then
// encoded again.
func Document(raw []byte, fill func(doc map[string]any)) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("OpenAPI document: %w", err)
	}
	fill(doc)
	return json.MarshalIndent(doc, "", "  ")
}

// ServeDocument answers with an OpenAPI document, which clients may cache a while.
func ServeDocument(doc []byte) HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, err := w.Write(doc)
		return err
	}
}
