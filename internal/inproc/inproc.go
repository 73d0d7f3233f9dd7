// Package inproc calls an http.Handler in process through a standard *http.Client: a
// request to the handler's base URL is served without a network round trip, so Signet's
// own pages are clients of its own protocol endpoints and APIs through the same
// libraries and code paths an outside client uses.
package inproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// MaxResponse bounds what one in-process call may answer.
const MaxResponse = 4 << 20

// ErrNotLocal is returned for a request to anywhere but the handler's base URL.
var ErrNotLocal = errors.New("inproc: the client only calls its own handler")

// Client returns an HTTP client whose requests to base (scheme://host[:port][/prefix])
// are served by h, as the listener at base would serve them. It follows no redirects
// and calls nothing else.
func Client(base string, h http.Handler) (*http.Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("inproc: base URL %q is not absolute", base)
	}
	return &http.Client{
		Transport: &transport{base: u, h: h},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

type transport struct {
	base *url.URL
	h    http.Handler
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.base.Scheme || req.URL.Host != t.base.Host || !strings.HasPrefix(req.URL.Path, t.base.Path+"/") {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s", ErrNotLocal, req.URL.Redacted())
	}
	// The handler sees the request as the listener would give it: a server-side request
	// with the path relative to the listener (the prefix is part of the routes).
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	in.Host = req.URL.Host
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &response{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if w.err != nil {
		return nil, w.err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// response collects a handler's answer.
type response struct {
	mu     sync.Mutex
	header http.Header
	status int
	body   bytes.Buffer
	err    error
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = status
	}
}

func (w *response) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len()+len(b) > MaxResponse {
		w.err = errors.New("inproc: response too large")
		return 0, w.err
	}
	return w.body.Write(b)
}
