package testutil

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a cookie-keeping HTTP client that fills Signet's HTML forms the way a user
// would, for end-to-end tests of the login pages. With StopOffHost set it follows
// redirects only within that host and stops at the first redirect anywhere else (a
// relying party), so the test reads the authorization response from the Location.
type Browser struct {
	t testing.TB
	// Client keeps the cookies.
	Client *http.Client
}

// NewBrowser returns a browser over transport. stopOffHost ("host:port", or "" to follow
// every redirect) is where redirects stop being followed.
func NewBrowser(t testing.TB, transport http.RoundTripper, stopOffHost string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{t: t}
	b.Client = &http.Client{Transport: transport, Jar: jar}
	if stopOffHost != "" {
		b.Client.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != stopOffHost {
				return http.ErrUseLastResponse
			}
			return nil
		}
	}
	return b
}

// Page is a response read in full.
type Page struct {
	Status int
	Header http.Header
	Body   string
	// URL is where the page came from, after redirects.
	URL *url.URL
}

// Do sends req and reads the whole answer; a transport error fails the test.
func (b *Browser) Do(req *http.Request) Page {
	b.t.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: resp.Request.URL}
}

// Get loads u.
func (b *Browser) Get(u string) Page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.Do(req)
}

// Post submits form to u.
func (b *Browser) Post(u string, form url.Values) Page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

var (
	formRE  = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// Submit fills the page's form whose hidden "step" field is step (or, for step "", the
// first form) with its hidden fields plus fields, and posts it.
func (b *Browser) Submit(p Page, step string, fields url.Values) Page {
	b.t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(p.Body, -1) {
		form := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
			form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		if step != "" && form.Get("step") != step {
			continue
		}
		for k, v := range fields {
			form[k] = v
		}
		action, err := p.URL.Parse(html.UnescapeString(m[1]))
		if err != nil {
			b.t.Fatal(err)
		}
		return b.Post(action.String(), form)
	}
	b.t.Fatalf("no form for step %q on page %s (%d):\n%s", step, p.URL, p.Status, p.Body)
	return Page{}
}

// Login fills the username page and then the password page.
func (b *Browser) Login(p Page, username, password string) Page {
	b.t.Helper()
	p = b.Submit(p, "username", url.Values{"username": {username}})
	return b.Submit(p, "password", url.Values{"password": {password}})
}
