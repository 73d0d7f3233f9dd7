package rest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/signet-auth/signet/internal/store"
)

// Page is one page of a listing; Next is the opaque cursor of the following page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// PageOf converts a store page.
func PageOf[S, T any](p store.Page[S], conv func(S) T) Page[T] {
	out := Page[T]{Items: make([]T, 0, len(p.Items)), Next: p.Next}
	for _, s := range p.Items {
		out.Items = append(out.Items, conv(s))
	}
	return out
}

// WriteListing answers a listing: ?limit= and ?cursor= read, the store's page converted.
// A cursor of another listing is refused with 400 (the store's cursors are typed).
func WriteListing[S, T any](w http.ResponseWriter, r *http.Request, what string, list func(store.ListOptions) (store.Page[S], error), conv func(S) T) error {
	opts, err := ListOptions(r)
	if err != nil {
		return err
	}
	p, err := list(opts)
	if err != nil {
		return StoreError(err, what)
	}
	return WriteJSON(w, http.StatusOK, PageOf(p, conv))
}

// ListOptions reads ?limit= (1 to store.MaxPageSize; larger is clamped) and ?cursor=.
func ListOptions(r *http.Request) (store.ListOptions, error) {
	q := r.URL.Query()
	opts := store.ListOptions{Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return opts, BadRequest("limit must be a positive whole number")
		}
		opts.Limit = min(n, store.MaxPageSize)
	}
	return opts, nil
}

// ETag is the entity tag of a record version: every update increases Version, so the
// tag changes exactly when the representation can.
func ETag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// IfMatch returns the check an update or delete applies to the stored record's version
// (RFC 9110 §13.1.1): a list of strong tags or "*". Without the header every version
// passes; a mismatch is a 412 problem.
func IfMatch(r *http.Request) func(version int64) error {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return func(int64) error { return nil }
	}
	return func(version int64) error {
		want := ETag(version)
		for tag := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(tag) == want {
				return nil
			}
		}
		return Problemf(http.StatusPreconditionFailed, "the resource has changed (its ETag is now %s); read it again", want)
	}
}

// Deleted answers a DELETE of what, whose stored version is version: If-Match is
// checked, then del runs.
func Deleted(w http.ResponseWriter, r *http.Request, version int64, what string, del func(context.Context) error) error {
	if err := IfMatch(r)(version); err != nil {
		return err
	}
	if err := del(r.Context()); err != nil {
		return StoreError(err, what)
	}
	return WriteJSON(w, http.StatusNoContent, nil)
}

// Realm loads the realm named in the path; a missing one is 404.
func Realm(r *http.Request, st store.Realms) (store.Realm, error) {
	name := r.PathValue("realm")
	realm, err := st.GetRealm(r.Context(), name)
	if err != nil {
		return store.Realm{}, StoreError(err, fmt.Sprintf("realm %q", name))
	}
	return realm, nil
}

// InRealm loads the record named by the path parameter param in the realm of the path;
// a missing realm or record is 404.
func InRealm[T any](r *http.Request, st store.Realms, param string, get func(ctx context.Context, realm, id string) (T, error), what func(realm, id string) string) (T, error) {
	realm, err := Realm(r, st)
	if err != nil {
		return *new(T), err
	}
	id := r.PathValue(param)
	v, err := get(r.Context(), realm.Name, id)
	if err != nil {
		return *new(T), StoreError(err, what(realm.Name, id))
	}
	return v, nil
}
