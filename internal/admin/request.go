package admin

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
)

// page is one page of a listing; Next is the cursor of the following page.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// pageOf converts a store page.
func pageOf[S, T any](p store.Page[S], conv func(S) T) page[T] {
	out := page[T]{Items: make([]T, 0, len(p.Items)), Next: p.Next}
	for _, s := range p.Items {
		out.Items = append(out.Items, conv(s))
	}
	return out
}

// writeListing answers a listing: ?limit= and ?cursor= read, the store's page converted.
func writeListing[S, T any](w http.ResponseWriter, r *http.Request, what string, list func(store.ListOptions) (store.Page[S], error), conv func(S) T) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	p, err := list(opts)
	if err != nil {
		return storeError(err, what)
	}
	return writeJSON(w, http.StatusOK, pageOf(p, conv))
}

// listOptions reads ?limit= (1 to store.MaxPageSize; larger is clamped) and ?cursor=.
func listOptions(r *http.Request) (store.ListOptions, error) {
	q := r.URL.Query()
	opts := store.ListOptions{Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return opts, badRequest("limit must be a positive whole number")
		}
		opts.Limit = min(n, store.MaxPageSize)
	}
	return opts, nil
}

// etag is the entity tag of a record version: every update increases Version, so the
// tag changes exactly when the representation can.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch returns the check an update or delete applies to the stored record's version
// (RFC 9110 §13.1.1): a list of strong tags or "*". Without the header every version
// passes.
func ifMatch(r *http.Request) func(version int64) error {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return func(int64) error { return nil }
	}
	return func(version int64) error {
		want := etag(version)
		for tag := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(tag) == want {
				return nil
			}
		}
		return problemf(http.StatusPreconditionFailed, "the resource has changed (its ETag is now %s); read it again", want)
	}
}

// realm loads the realm named in the path; a missing one is 404.
func (a *API) realm(r *http.Request) (store.Realm, error) {
	name := r.PathValue("realm")
	realm, err := a.st.GetRealm(r.Context(), name)
	if err != nil {
		return store.Realm{}, storeError(err, fmt.Sprintf("realm %q", name))
	}
	return realm, nil
}

// inRealm loads the record named by the path parameter param in the realm of the path;
// a missing realm or record is 404.
func inRealm[T any](a *API, r *http.Request, param string, get func(ctx context.Context, realm, id string) (T, error), what func(realm, id string) string) (T, error) {
	realm, err := a.realm(r)
	if err != nil {
		return *new(T), err
	}
	id := r.PathValue(param)
	v, err := get(r.Context(), realm.Name, id)
	if err != nil {
		return *new(T), storeError(err, what(realm.Name, id))
	}
	return v, nil
}

// deleted answers a DELETE of what, whose stored version is version: If-Match is
// checked, then del runs.
func deleted(w http.ResponseWriter, r *http.Request, version int64, what string, del func(context.Context) error) error {
	if err := ifMatch(r)(version); err != nil {
		return err
	}
	if err := del(r.Context()); err != nil {
		return storeError(err, what)
	}
	return writeJSON(w, http.StatusNoContent, nil)
}

// Limits on free-text and attribute input.
const (
	maxTextLen        = 255
	maxURILen         = 2048
	maxAttributes     = 100
	maxAttributeKey   = 128
	maxAttributeValue = 4096
	maxListLen        = 100
)

// checkText refuses text that is too long or holds control characters.
func checkText(field, s string, maxLen int) error {
	switch {
	case !utf8.ValidString(s):
		return badRequest("%s must be valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxLen:
		return badRequest("%s must be at most %d characters", field, maxLen)
	case strings.ContainsFunc(s, unicode.IsControl):
		return badRequest("%s must not hold control characters", field)
	}
	return nil
}

// checkAttributes refuses attributes that are too many, too long, or in the reserved
// signet. namespace.
func checkAttributes(m map[string]string) error {
	if len(m) > maxAttributes {
		return badRequest("at most %d attributes are allowed", maxAttributes)
	}
	for k, v := range m {
		if k == "" || len(k) > maxAttributeKey || !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
			return badRequest("attribute name %q must be 1 to %d printable characters", k, maxAttributeKey)
		}
		if strings.HasPrefix(k, ReservedPrefix) {
			return badRequest("attribute names starting with %q are reserved for Signet", ReservedPrefix)
		}
		if len(v) > maxAttributeValue || !utf8.ValidString(v) {
			return badRequest("attribute %q must be valid UTF-8 of at most %d bytes", k, maxAttributeValue)
		}
	}
	return nil
}

// publicAttributes is what a representation shows: the reserved attributes hidden.
func publicAttributes(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, ReservedPrefix) {
			out[k] = v
		}
	}
	return out
}

// replaceAttributes returns stored with every non-reserved attribute replaced by given.
func replaceAttributes(stored, given map[string]string) map[string]string {
	out := maps.Clone(given)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range stored {
		if strings.HasPrefix(k, ReservedPrefix) {
			out[k] = v
		}
	}
	return out
}

// checkList refuses a list that is too long or has an entry check refuses.
func checkList(field string, items []string, check func(string) error) error {
	if len(items) > maxListLen {
		return badRequest("%s may hold at most %d entries", field, maxListLen)
	}
	for _, it := range items {
		if err := check(it); err != nil {
			return err
		}
	}
	return nil
}
