package testutil

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// JSONBody is a request body for the tests of a JSON API: nil for none, []byte and
// string as they are (to send what no encoder would), anything else encoded as JSON.
func JSONBody(t testing.TB, v any) io.Reader {
	t.Helper()
	switch b := v.(type) {
	case nil:
		return nil
	case []byte:
		return bytes.NewReader(b)
	case string:
		return strings.NewReader(b)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}

// Exchange sends req with client and reads the whole answer.
func Exchange(t testing.TB, client *http.Client, req *http.Request) (status int, header http.Header, body []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// DecodeJSON decodes an answer's body into v, failing the test if it is not JSON.
func DecodeJSON(t testing.TB, status int, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", status, err, body)
	}
}
