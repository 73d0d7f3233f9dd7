package oidc

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// formBodies are seeds for the comparison with url.ParseQuery.
var formBodies = []string{
	"", "grant_type=client_credentials", "grant_type=client_credentials&scope=a+b%20c",
	"a=1&a=2", "a=1&b=2&a=3&b=4", "a&b=&=c", "&&a=1&&", "a=%zz", "%zz=1", "a=1;b=2", "a=%3B",
	"k%C3%BC=v%E2%9C%93", "a==b", "+=+", strings.Repeat("x&", 20) + "y=1",
}

// FuzzParseFormBody: the form parser accepts exactly what url.ParseQuery accepts, keeps
// each parameter's first value, and names a repeated parameter if there is one.
func FuzzParseFormBody(f *testing.F) {
	for _, s := range formBodies {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		want, wantErr := url.ParseQuery(body)
		got, err := parseFormBody(body)
		rep, repeated := errors.AsType[repeatedParamError](err)
		if !repeated && (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, url.ParseQuery's %v", body, err, wantErr)
		}
		if wantErr != nil {
			return
		}
		first := url.Values{}
		var repeats []string
		for k, vs := range want {
			first[k] = vs[:1]
			if len(vs) > 1 {
				repeats = append(repeats, k)
			}
		}
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("%q: got %v, want %v", body, got, first)
		}
		if repeated != (len(repeats) > 0) || repeated && len(want[rep.name]) < 2 {
			t.Fatalf("%q: repeated %v %q, url.ParseQuery repeats %q", body, repeated, rep.name, repeats)
		}
	})
}

func TestReadPostForm(t *testing.T) {
	t.Parallel()
	const form = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, target, contentType, body string
		wantErr                         bool
		repeated                        string // the error names it
	}{
		{name: "plain", target: "/t", contentType: form, body: "a=1&b=x+y"},
		{name: "charset parameter", target: "/t", contentType: form + "; charset=utf-8", body: "a=1"},
		{name: "malformed media type parameter", target: "/t", contentType: form + "; charset", body: "a=1", wantErr: true},
		{name: "query string is not read into PostForm", target: "/t?q=1", contentType: form, body: "a=1"},
		{name: "malformed query string", target: "/t?q=%zz", contentType: form, body: "a=1", wantErr: true},
		{name: "repeated", target: "/t", contentType: form, body: "a=1&b=2&a=1", wantErr: true, repeated: "a"},
		{name: "repeated without a name", target: "/t", contentType: form, body: "=&=", wantErr: true, repeated: ""},
		{name: "malformed after a repeat", target: "/t", contentType: form, body: "a=1&a=2&b=%zz", wantErr: true},
		{name: "at the size limit", target: "/t", contentType: form, body: "a=" + strings.Repeat("x", maxFormBytes-2)},
		{name: "over the size limit", target: "/t", contentType: form, body: "a=" + strings.Repeat("x", maxFormBytes-1), wantErr: true},
		{name: "too many parameters", target: "/t", contentType: form, body: strings.Repeat("&", maxFormParams), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, unknownLength := range []bool{false, true} {
				r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
				if unknownLength {
					r.ContentLength = -1 // chunked: the limit must hold without a length
				}
				r.Header.Set("Content-Type", tc.contentType)
				err := readPostForm(httptest.NewRecorder(), r)
				if (err != nil) != tc.wantErr {
					t.Fatalf("error %v, want one: %v", err, tc.wantErr)
				}
				if rep, ok := errors.AsType[repeatedParamError](err); ok != strings.HasPrefix(tc.name, "repeated") || ok && rep.name != tc.repeated {
					t.Fatalf("error %v, want one naming the repeated parameter %q", err, tc.repeated)
				}
				if err != nil {
					var tooLarge *http.MaxBytesError
					if strings.Contains(tc.name, "size limit") && !errors.As(err, &tooLarge) {
						t.Fatalf("oversized body: %v, want *http.MaxBytesError", err)
					}
					continue
				}
				want, _ := url.ParseQuery(tc.body)
				if !reflect.DeepEqual(r.PostForm, want) {
					t.Fatalf("PostForm %v, want %v", r.PostForm, want)
				}
				// r.Form is still built on demand, from the body and the query.
				q := r.URL.Query().Get("q")
				if r.FormValue("a") != want.Get("a") || r.FormValue("q") != q {
					t.Fatalf("FormValue: a=%q q=%q", r.FormValue("a"), r.FormValue("q"))
				}
			}
		})
	}
}
