package h1

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
)

type headState int

const (
	headIncomplete headState = iota
	headComplete
	headNotSimple
)

// scanHead finds the end of a request head: lines ending in CRLF up to an empty one.
// A bare LF, or an empty line before the request line, makes it not simple.
func scanHead(b []byte) (int, headState) {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, headIncomplete
		}
		end := i + j
		if end == i || b[end-1] != '\r' {
			return 0, headNotSimple
		}
		if end-1 == i {
			if i == 0 {
				return 0, headNotSimple
			}
			return end + 1, headComplete
		}
		i = end + 1
	}
}

// head is a parsed simple request head.
type head struct {
	method, target, path, query, host string
	header                            http.Header
	contentLength                     int64
	close                             bool
}

// parseHead parses a complete head (as scanHead found it). It reports false for
// anything it does not plainly accept, leaving the request to net/http: another
// method or version, an unclean or escaped path, a route simple does not take, a
// header name or value net/http might read differently, a missing or repeated Host,
// a body framed other than by one Content-Length within maxBody, Expect, Upgrade and
// any Connection option other than close and keep-alive.
func parseHead(b []byte, simple func(method, path string) bool) (head, bool) {
	var h head
	// One string backs the method, target and every header name and value.
	s := string(b[:len(b)-2])
	line, rest, _ := strings.Cut(s, "\r\n")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || method != http.MethodGet && method != http.MethodPost {
		return h, false
	}
	path, query, _ := strings.Cut(target, "?")
	if !cleanPath(path) || !validQuery(query) || !simple(method, path) {
		return h, false
	}
	h.method, h.target, h.path, h.query = method, target, path, query

	n := strings.Count(rest, "\r\n") + 1
	values := make([]string, 0, n)
	h.header = make(http.Header, n)
	hasHost, hasLength := false, false
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validFieldName(name) {
			return h, false
		}
		value = strings.Trim(value, " \t")
		if !validFieldValue(value) {
			return h, false
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		switch name {
		case "Host":
			if hasHost || !validHost(value) {
				return h, false
			}
			hasHost, h.host = true, value
			continue // net/http keeps Host in r.Host only
		case "Content-Length":
			if hasLength {
				return h, false
			}
			hasLength = true
			cl, ok := parseLength(value)
			if !ok {
				return h, false
			}
			h.contentLength = cl
		case "Connection":
			for opts := value; opts != ""; {
				var opt string
				opt, opts, _ = strings.Cut(opts, ",")
				switch opt = strings.TrimSpace(opt); {
				case strings.EqualFold(opt, "close"):
					h.close = true
				case strings.EqualFold(opt, "keep-alive"):
				default:
					return h, false
				}
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer", "Http2-Settings", "Pragma":
			// Pragma: net/http adds Cache-Control: no-cache to a request with Pragma: no-cache.
			return h, false
		}
		values = append(values, value)
		if vs, seen := h.header[name]; seen {
			h.header[name] = append(vs, value)
		} else {
			h.header[name] = values[len(values)-1 : len(values) : len(values)]
		}
	}
	if !hasHost || method == http.MethodGet && h.contentLength != 0 {
		return h, false
	}
	return h, true
}

// parseLength accepts 1*DIGIT up to maxBody.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 6 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, n <= maxBody
}

// byteSet is a set of ASCII bytes: alphanumerics plus the given others.
type byteSet [256]bool

func alnumAnd(others string) *byteSet {
	var set byteSet
	for ch := range 256 {
		set[ch] = 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
	}
	for i := 0; i < len(others); i++ {
		set[others[i]] = true
	}
	return &set
}

// each reports whether s is not empty and every byte of it is in the set.
func (set *byteSet) each(s string) bool {
	for i := 0; i < len(s); i++ {
		if !set[s[i]] {
			return false
		}
	}
	return s != ""
}

var (
	// pathBytes are RFC 3986 pchars without '%' (an escaped path goes to net/http),
	// and '/'.
	pathBytes = alnumAnd("-._~!$&'()*+,;=:@/")
	// tokenBytes are RFC 9110 tchars.
	tokenBytes = alnumAnd("!#$%&'*+-.^_`|~")
	// hostBytes are what a host name, an IPv4 or bracketed IPv6 address and a port use.
	hostBytes = alnumAnd(".-:[]")
)

// cleanPath accepts an absolute path of unescaped pchars with no empty, "." or ".."
// segment: what ServeMux routes without redirecting and what needs no unescaping.
func cleanPath(p string) bool {
	return strings.HasPrefix(p, "/") && pathBytes.each(p) && !strings.Contains(p, "//") &&
		!strings.Contains(p, "/./") && !strings.Contains(p, "/../") &&
		!strings.HasSuffix(p, "/.") && !strings.HasSuffix(p, "/..")
}

// validQuery accepts printable ASCII without space or '#'.
func validQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if q[i] <= ' ' || q[i] >= 0x7f || q[i] == '#' {
			return false
		}
	}
	return true
}

// validFieldName accepts an RFC 9110 token.
func validFieldName(name string) bool { return tokenBytes.each(name) }

// validFieldValue accepts visible ASCII, spaces and tabs, and obs-text.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if ch := v[i]; ch < ' ' && ch != '\t' || ch == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts a reg-name or IP literal with an optional port, in the characters
// a host name or address uses.
func validHost(h string) bool { return hostBytes.each(h) }

// hasToken reports whether a comma-separated header value holds token, ignoring case.
func hasToken(v, token string) bool {
	for v != "" {
		var opt string
		opt, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(opt), token) {
			return true
		}
	}
	return false
}
