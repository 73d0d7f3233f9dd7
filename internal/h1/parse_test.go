package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"testing"
)

// FuzzParseHead checks the fast parser against net/http's: whatever it accepts,
// http.ReadRequest reads the same way.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"POST /fast/token HTTP/1.1\r\nHost: localhost:8443\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n",
		"GET /fast/certs?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nAccept-Encoding: gzip\r\nuser-agent: Go\r\n\r\n",
		"GET /fast/x HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"GET /fast/x HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
		"GET /fast/x HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
		"GET /fast//x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /fast/x HTTP/1.1\r\nHost: a\r\nX-High: \xff\xfe\r\n\r\n",
		"POST /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: 065536\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, st := scanHead(b)
		if st != headComplete {
			return
		}
		h, ok := parseHead(b[:n], simple)
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:n])))
		if err != nil {
			t.Fatalf("fast path accepted what net/http refuses (%v):\n%q", err, b[:n])
		}
		if req.Method != h.method || req.RequestURI != h.target || req.URL.Path != h.path ||
			req.URL.RawQuery != h.query || req.Host != h.host || req.ContentLength != h.contentLength || req.Close != h.close {
			t.Fatalf("read differently:\nnet/http %s %q %q %q host %q len %d close %v\nfast     %s %q %q %q host %q len %d close %v",
				req.Method, req.RequestURI, req.URL.Path, req.URL.RawQuery, req.Host, req.ContentLength, req.Close,
				h.method, h.target, h.path, h.query, h.host, h.contentLength, h.close)
		}
		if len(req.Header) != len(h.header) {
			t.Fatalf("headers differ:\nnet/http %q\nfast     %q", req.Header, h.header)
		}
		for k, v := range req.Header {
			if !slices.Equal(v, h.header[k]) {
				t.Fatalf("header %s: net/http %q, fast %q", k, v, h.header[k])
			}
		}
	})
}

func TestScanHead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want headState
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 27, headComplete},
		{"GET / HTTP/1.1\r\nHost: a\r\n", 0, headIncomplete},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", 0, headIncomplete},
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", 0, headNotSimple},
		{"\r\nGET / HTTP/1.1\r\n\r\n", 0, headNotSimple},
		{"", 0, headIncomplete},
	} {
		n, st := scanHead([]byte(tc.in))
		if n != tc.n || st != tc.want {
			t.Errorf("scanHead(%q) = %d, %v; want %d, %v", tc.in, n, st, tc.n, tc.want)
		}
	}
}
