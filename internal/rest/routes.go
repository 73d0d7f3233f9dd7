package rest

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
)

// HandlerFunc is an operation: its error is answered as a problem.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler adapts an operation: its error is written as a problem, its cause logged.
func Handler(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteProblem(w, r, log, err)
		}
	})
}

// Route is one operation of an API; its OpenAPI document lists exactly these.
type Route struct {
	Method string
	// Path is relative to the API's base path, with ServeMux (and OpenAPI) wildcards.
	Path    string
	Handler HandlerFunc
	// Scopes are those of which a caller needs one; none: the operation is public.
	Scopes []string
}

// Guard runs h for a caller holding one of scopes, and refuses any other.
type Guard func(scopes []string, h HandlerFunc) HandlerFunc

// Mount mounts routes below base on mux, each operation under its own pattern so that
// metrics and logs name it, behind guard unless it is public. Other methods on a known
// path get a 405 problem with Allow, unknown paths below base a 404 problem saying that
// there is no resource of api there.
func Mount(mux *http.ServeMux, base string, routes []Route, guard Guard, log *slog.Logger, api string) {
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		h := rt.Handler
		if len(rt.Scopes) > 0 {
			h = guard(rt.Scopes, h)
		}
		mux.Handle(rt.Method+" "+base+rt.Path, Handler(log, h))
		if _, ok := allowed[rt.Path]; !ok {
			paths = append(paths, rt.Path)
		}
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		mux.Handle(base+p, Handler(log, func(w http.ResponseWriter, r *http.Request) error {
			return &Problem{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here; use " + allow,
				Header: http.Header{"Allow": {allow}}}
		}))
	}
	mux.Handle(base+"/", Handler(log, func(w http.ResponseWriter, r *http.Request) error {
		return Problemf(http.StatusNotFound, "no %s resource at this path", api)
	}))
}
