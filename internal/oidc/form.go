package oidc

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxFormParams bounds the parameters of one form, as url.ParseQuery does by default.
const maxFormParams = 10000

// readPostForm reads an application/x-www-form-urlencoded body of at most maxFormBytes
// into r.PostForm, as r.ParseForm would, but in one pass and without its extra maps:
// r.Form is left nil for net/http to build on demand from r.PostForm and the query. The
// caller has checked the media type. A parameter that occurs more than once (RFC 6749
// §3.1, §3.2) in an otherwise valid form is a repeatedParamError.
func readPostForm(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); strings.IndexByte(ct, ';') >= 0 {
		// Parameters must parse, as r.ParseForm requires.
		if _, _, err := mime.ParseMediaType(ct); err != nil {
			return err
		}
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		// r.ParseForm refuses a malformed query string too.
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			return err
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	size := 512
	if r.ContentLength >= 0 && r.ContentLength < maxFormBytes {
		size = int(r.ContentLength) + 1 // room to read EOF without growing
	}
	b, err := readAll(r.Body, make([]byte, 0, size))
	if err != nil {
		return err
	}
	form, err := parseFormBody(string(b))
	if form != nil {
		r.PostForm = form
	}
	return err
}

// repeatedParamError names a parameter that occurs more than once.
type repeatedParamError struct{ name string }

func (e repeatedParamError) Error() string { return "parameter " + e.name + " is repeated" }

// readAll is io.ReadAll into buf.
func readAll(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// parseFormBody parses a form as url.ParseQuery does (same separators, same escapes;
// it stops at the first error, which refuses the whole form) into values of one element
// each; a repeated parameter is a repeatedParamError, returned with the form. Keys and
// values without escapes are substrings of body, and one array backs every value.
func parseFormBody(body string) (url.Values, error) {
	n := strings.Count(body, "&") + 1
	if n > maxFormParams {
		return nil, errors.New("number of form parameters exceeded limit")
	}
	n = min(n, 16) // a hint only: a hostile body must not size the allocation
	form := make(url.Values, n)
	values := make([]string, 0, n)
	var repeated error
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if strings.Contains(pair, ";") {
			return nil, errors.New("invalid semicolon separator in form")
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, err
		}
		if _, ok := form[k]; ok {
			if repeated == nil {
				repeated = repeatedParamError{k}
			}
			continue
		}
		values = append(values, v)
		form[k] = values[len(values)-1 : len(values) : len(values)]
	}
	return form, repeated
}
