package oidc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// trickyStrings need escaping in JSON, or for HTML by encoding/json, or are not UTF-8.
var trickyStrings = []string{
	"", "plain", `"quoted"`, `back\slash`, "<script>&</script>", "tab\tnew\nline\r\x00\x1f",
	"Zürich", "\u2028\u2029", "\x7f", "bad \xff utf-8", "https://id.example.com/realms/demo?x=1",
}

// fillEvery sets every field of the struct v points to a distinct non-zero value, so a
// field the appenders forget shows as a difference from encoding/json.
func fillEvery(v any, s string) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(s + rv.Type().Field(i).Name)
		case reflect.Int64:
			f.SetInt(int64(1_700_000_000 + i))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{s + "a", s + "b"}))
		default:
			panic("fillEvery: add a case for " + f.Kind().String())
		}
	}
}

func TestAppendAccessClaimsMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := []accessClaims{{}, {Audience: []string{}}, {Issuer: "https://id.example.com/realms/demo", Audience: []string{"x"}, Expiry: -1}}
	for _, s := range trickyStrings {
		var c accessClaims
		fillEvery(&c, s)
		cases = append(cases, c)
	}
	for _, c := range cases {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAccessClaims([]byte("prefix"), &c); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("claims %+v:\n got %s\nwant prefix%s", c, got, want)
		}
	}
}

func TestAppendTokenResponseMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := []tokenResponse{{}, {AccessToken: "a.b.c", TokenType: "Bearer", ExpiresIn: 300}}
	for _, s := range trickyStrings {
		var r tokenResponse
		fillEvery(&r, s)
		cases = append(cases, r)
	}
	for _, r := range cases {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
		if got := appendTokenResponse(nil, &r); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("response %+v:\n got %s\nwant %s", r, got, want.Bytes())
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
