package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/web"
)

// req is one console request of a signed-in administrator.
type req struct {
	w  http.ResponseWriter
	r  *http.Request
	c  *Console
	id string
	s  session
	// realm is the realm the administrator signed in to; managed the realm the page is
	// about ("" on pages about none).
	realm, managed string
	platform       bool
}

// pageFunc serves one page; an *apiError is shown as the page's answer.
type pageFunc func(q *req) error

type route struct {
	method, path string
	handler      pageFunc
}

// nav is what the layout shows around every page.
type nav struct {
	Realm, Base, Username, Managed, Section string
	Platform                                bool
	Dev                                     bool
}

// view is the data of every page: the layout's, the form token, a message from the
// last change, and the page's own.
type view struct {
	Nav      nav
	CSRF     string
	Flash    string
	FlashErr bool
	Page     any
}

func (c *Console) pages() []route {
	const (
		realm   = "/realms/{managed}"
		user    = realm + "/users/{user}"
		device  = realm + "/devices/{device}"
		client  = realm + "/clients/{client}"
		push    = realm + "/push/{provider}"
		webhook = realm + "/webhooks/{webhook}"
	)
	return []route{
		{"GET", "/{$}", c.home},
		{"GET", "/health", platformPage(c.health)},
		{"GET", "/dashboard", platformPage(c.dashboard)},
		{"POST", "/realms", platformPage(c.createRealm)},
		{"GET", realm + "/{$}", c.realmPage},
		{"POST", realm + "/settings", c.updateRealm},
		{"GET", realm + "/delete", platformPage(c.confirmDeleteRealm)},
		{"POST", realm + "/delete", platformPage(c.deleteRealm)},
		{"GET", realm + "/users", c.usersPage},
		{"POST", realm + "/users", c.createUser},
		{"GET", user, c.userPage},
		{"POST", user, c.updateUser},
		{"POST", user + "/unlock", c.unlockUser},
		{"POST", user + "/password", c.setPassword},
		{"POST", user + "/sessions/delete", c.endSessions},
		{"POST", user + "/sessions/{session}/delete", c.endSession},
		{"POST", user + "/activation", c.createActivation},
		{"POST", user + "/admin", c.setRealmAdmin},
		{"GET", realm + "/devices", c.devicesPage},
		{"POST", device + "/state", c.setDeviceState},
		{"GET", realm + "/clients", c.clientsPage},
		{"POST", realm + "/clients", c.createClient},
		{"GET", realm + "/new-client", c.newClientPage},
		{"GET", client, c.clientPage},
		{"POST", client, c.updateClient},
		{"POST", client + "/secret", c.rotateSecret},
		{"GET", client + "/delete", c.confirmDeleteClient},
		{"POST", client + "/delete", c.deleteClient},
		{"POST", client + "/certificates", c.addCertificate},
		{"POST", client + "/certificates/delete", c.removeCertificate},
		{"GET", realm + "/keys", c.keysPage},
		{"POST", realm + "/keys/rotate", c.rotateKeys},
		{"GET", realm + "/push", c.pushPage},
		{"POST", push, c.setPush},
		{"GET", push + "/delete", c.confirmDeletePush},
		{"POST", push + "/delete", c.deletePush},
		{"POST", realm + "/test-push", c.testPush},
		{"GET", realm + "/events", c.eventsPage},
		{"GET", realm + "/audit", c.auditPage},
		{"GET", realm + "/webhooks", c.webhooksPage},
		{"POST", realm + "/webhooks", c.createWebhook},
		{"POST", realm + "/webhooks/callback-secret", c.rotateCallbackSecret},
		{"GET", webhook, c.webhookPage},
		{"POST", webhook, c.updateWebhook},
		{"POST", webhook + "/rotate-secret", c.rotateWebhookSecret},
		{"POST", webhook + "/delete", c.deleteWebhook},
		{"GET", realm + "/webhook-deliveries", c.deliveriesPage},
		{"POST", realm + "/webhook-deliveries/{delivery}/redeliver", c.redeliver},
	}
}

// page authenticates the administrator, checks the form token of every POST, and runs
// h: without a session a GET starts a sign-in, a POST goes back to the console's start.
func (c *Console) page(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		realm := r.PathValue("realm")
		id, s, ok, err := c.current(r.Context(), r, realm)
		if err != nil {
			c.cfg.Log.Warn("console session", "err", err)
			c.fail(w, r, http.StatusServiceUnavailable, "The console cannot reach its session store right now. Try again shortly.")
			return
		}
		if !ok {
			if r.Method == http.MethodGet {
				if err := c.startLogin(w, r, realm); err != nil {
					c.fail(w, r, http.StatusServiceUnavailable, "The sign-in cannot start right now. Try again shortly.")
				}
				return
			}
			http.Redirect(w, r, c.base(realm), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if c.cfg.CSRF.Verify(r.PostForm.Get(web.CSRFFieldName), id, sessionTTL) != nil {
				c.fail(w, r, http.StatusForbidden, "The form has expired. Reload the page and try again.")
				return
			}
		}
		q := &req{w: w, r: r, c: c, id: id, s: s, realm: realm, managed: r.PathValue("managed"), platform: realm == admin.MasterRealm}
		err = h(q)
		var ae *apiError
		switch {
		case err == nil:
		case errors.As(err, &ae):
			c.fail(w, r, ae.Status, ae.Detail)
		case errors.Is(err, context.Canceled):
		default:
			c.cfg.Log.Error("console page", "path", r.URL.Path, "err", err)
			c.fail(w, r, http.StatusServiceUnavailable, "The page could not be completed. Try again shortly.")
		}
	})
}

// platformPage lets only platform administrators (signed in to the master realm) in.
func platformPage(h pageFunc) pageFunc {
	return func(q *req) error {
		if !q.platform {
			return &apiError{Status: http.StatusForbidden, Detail: "Only platform administrators may open this page."}
		}
		return h(q)
	}
}

// show renders page name with the layout; the flash message of the last change is
// shown once.
func (q *req) show(status int, name, title, section string, data any) error {
	v := q.view(section, data)
	v.Flash, v.FlashErr = q.s.Flash, q.s.FlashErr
	if q.s.Flash != "" {
		q.s.Flash, q.s.FlashErr = "", false
		if err := q.c.saveSession(q.r.Context(), q.id, q.s); err != nil {
			return err
		}
	}
	return q.renderView(status, name, title, v)
}

// showRefused renders a form's page again, with what was entered and the API's reason
// for refusing it in place of the flash message, so a long form is not typed twice.
func (q *req) showRefused(status int, name, title, section string, data any, reason string) error {
	v := q.view(section, data)
	v.Flash, v.FlashErr = reason, true
	return q.renderView(status, name, title, v)
}

func (q *req) view(section string, data any) view {
	return view{
		Nav: nav{Realm: q.realm, Base: q.c.base(q.realm), Username: q.s.Username, Managed: q.managed, Section: section,
			Platform: q.platform, Dev: q.c.cfg.Dev},
		CSRF: q.c.cfg.CSRF.Token(q.id), Page: data,
	}
}

func (q *req) renderView(status int, name, title string, v view) error {
	return q.c.render.RenderView(q.w, status, web.View{Name: name, Locale: web.DefaultLocale, Title: title, Data: v,
		FormActions: q.c.formActions()})
}

// done answers a change: a message for the next page, and a redirect there (so a
// reload does not repeat the change).
func (q *req) done(to, message string) error {
	return q.flash(to, message, false)
}

// refused answers a change the API refused with its reason, on the page the form was on.
func (q *req) refused(to string, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound {
		return err
	}
	return q.flash(to, ae.Detail, true)
}

func (q *req) flash(to, message string, isErr bool) error {
	q.s.Flash, q.s.FlashErr = message, isErr
	if err := q.c.saveSession(q.r.Context(), q.id, q.s); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, to, http.StatusSeeOther)
	return nil
}

// call runs an admin API operation as the administrator.
func (q *req) call(method, path string, in, out any) error {
	return q.c.call(q.r.Context(), q.s, method, path, in, out)
}

// callIf runs an admin API operation on the record's version read before (If-Match).
func (q *req) callIf(method, path string, version int64, in, out any) error {
	return q.c.callIf(q.r.Context(), q.s, method, path, rest.ETag(version), in, out)
}

// realmURL is the console URL of a page about the managed realm.
func (q *req) realmURL(rest ...string) string {
	return q.c.base(q.realm) + "realms/" + url.PathEscape(q.managed) + "/" + strings.Join(rest, "/")
}

// apiRealm is the admin API path of the managed realm.
func (q *req) apiRealm(rest ...string) string {
	p := "/realms/" + url.PathEscape(q.managed)
	for _, s := range rest {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// formActions are the origins the console's forms may end at besides its own: the
// provider's, where signing out goes on to.
func (c *Console) formActions() []string {
	u, err := url.Parse(c.cfg.Issuer(admin.MasterRealm))
	if err != nil {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// fail renders the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, message string) {
	data := view{Nav: nav{Realm: r.PathValue("realm"), Base: c.base(r.PathValue("realm")), Dev: c.cfg.Dev},
		Page: struct {
			Status  int
			Title   string
			Message string
		}{status, http.StatusText(status), message}}
	if err := c.render.RenderView(w, status, web.View{Name: "error", Locale: web.DefaultLocale, Title: http.StatusText(status), Data: data}); err != nil {
		c.cfg.Log.Error("render console error page", "err", err)
	}
}

// form returns a trimmed form value.
func (q *req) form(name string) string { return strings.TrimSpace(q.r.PostForm.Get(name)) }
