package oidc

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

// maxLocalResponse bounds what one in-process protocol call may answer (token responses
// and key sets are a few KiB).
const maxLocalResponse = 1 << 20

// LocalClient returns an HTTP client that calls this provider's protocol endpoints (token,
// certs, discovery, userinfo, revoke) in process: a request to the provider's public URL is
// served by its handlers without a network round trip, so Signet's own pages (the admin and
// account consoles) are relying parties of the provider through the standard client
// libraries on any node, also one that does not run the PUBLIC listener. Requests anywhere
// else fail.
func (p *Provider) LocalClient() *http.Client {
	p.localOnce.Do(func() {
		mux := http.NewServeMux()
		p.Routes(mux)
		p.local = &http.Client{
			Transport: &localTransport{base: p.publicURL, h: mux},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	})
	return p.local
}

type localTransport struct {
	base string // scheme://host[:port][/prefix]
	h    http.Handler
}

var errNotLocal = errors.New("oidc: the local client only calls the provider's own endpoints")

func (t *localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, err := url.Parse(t.base)
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme != base.Scheme || req.URL.Host != base.Host || !strings.HasPrefix(req.URL.Path, base.Path+"/") {
		return nil, fmt.Errorf("%w: %s", errNotLocal, req.URL.Redacted())
	}
	// The handlers see the request as the listener would give it: a server-side request
	// with the path relative to the listener (the prefix is part of the routes).
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	in.Host = req.URL.Host
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &localResponse{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	if req.Body != nil {
		_ = req.Body.Close()
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

// localResponse collects a handler's answer.
type localResponse struct {
	mu     sync.Mutex
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *localResponse) Header() http.Header { return w.header }

func (w *localResponse) WriteHeader(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = status
	}
}

func (w *localResponse) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.body.Len()+len(b) > maxLocalResponse {
		return 0, errors.New("oidc: local response too large")
	}
	return w.body.Write(b)
}
