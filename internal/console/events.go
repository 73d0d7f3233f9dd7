package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/rest"
)

// listing reads one page of an admin API listing below the managed realm: the query's
// filters (those of names that are set) and its cursor are passed on. next is the
// query of the following page with the same filters, "" on the last.
func listing[T any](q *req, path string, filters url.Values) (items []T, next string, err error) {
	v := url.Values{"limit": {"100"}}
	for name, values := range filters {
		if len(values) > 0 && values[0] != "" {
			v.Set(name, values[0])
		}
	}
	if cur := q.r.URL.Query().Get("cursor"); cur != "" {
		v.Set("cursor", cur)
	}
	var page rest.Page[T]
	if err := q.call("GET", path+"?"+v.Encode(), nil, &page); err != nil {
		return nil, "", err
	}
	if page.Next != "" {
		nv := url.Values{"cursor": {page.Next}}
		for name, values := range filters {
			if len(values) > 0 && values[0] != "" {
				nv.Set(name, values[0])
			}
		}
		next = "?" + nv.Encode()
	}
	return page.Items, next, nil
}

// eventTypes are the event types the filter suggests, patterns first.
var eventTypes = []string{
	"authn.*", "device.*", "login.*", "user.*",
	"authn.created", "authn.claimed", "authn.approved", "authn.denied", "authn.reported", "authn.expired", "authn.cancelled",
	"authn.consumed", "device.enrolled", "device.locked", "device.unlocked", "device.revoked", "device.removed",
	"login.succeeded", "login.failed", "user.locked",
}

// eventFilter is the events page's filter as the administrator typed it. Times are
// read as UTC, in the form a datetime-local field sends them.
type eventFilter struct {
	Type, User, Subject, Since, Until string
}

const localTime = "2006-01-02T15:04"

// apiTime turns a datetime-local value (or an RFC 3339 time) into the API's RFC 3339;
// ok is false for anything else.
func apiTime(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	for _, layout := range []string{localTime, "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC().Format(time.RFC3339), true
		}
	}
	return "", false
}

// eventRow is one event as the page shows it.
type eventRow struct {
	rest.Event
	UserURL, DataText string
}

// eventsPage shows the realm's event log, newest first, filtered by type (or pattern),
// user, subject and time.
func (c *Console) eventsPage(q *req) error {
	qs := q.r.URL.Query()
	f := eventFilter{Type: strings.TrimSpace(qs.Get("type")), User: strings.TrimSpace(qs.Get("user")),
		Subject: strings.TrimSpace(qs.Get("subject")), Since: qs.Get("since"), Until: qs.Get("until")}
	since, ok1 := apiTime(f.Since)
	until, ok2 := apiTime(f.Until)
	if !ok1 || !ok2 {
		return &apiError{Status: http.StatusBadRequest, Detail: "From and To must be dates and times, such as 2026-01-02T15:04."}
	}
	events, next, err := listing[rest.Event](q, q.apiRealm("events"), url.Values{
		"type": {f.Type}, "user": {f.User}, "subject": {f.Subject}, "since": {since}, "until": {until}})
	if err != nil {
		return err
	}
	if next != "" { // the page's own filter values, not the API's
		nv, _ := url.ParseQuery(next[1:])
		next = "?" + url.Values{"cursor": {nv.Get("cursor")}, "type": {f.Type}, "user": {f.User}, "subject": {f.Subject},
			"since": {f.Since}, "until": {f.Until}}.Encode()
	}
	rows := make([]eventRow, len(events))
	for i, e := range events {
		rows[i] = eventRow{Event: e, DataText: string(e.Data)}
		if e.UserID != "" {
			rows[i].UserURL = q.realmURL("users", url.PathEscape(e.UserID))
		}
	}
	return q.show(http.StatusOK, "events", "Events of "+q.managed, "events", struct {
		Filter eventFilter
		Types  []string
		Rows   []eventRow
		Next   string
	}{f, eventTypes, rows, next})
}

// auditPage shows the realm's device audit log: who enrolled, renamed, locked or removed
// which device, and every activation code, newest first, of one user or device.
func (c *Console) auditPage(q *req) error {
	qs := q.r.URL.Query()
	user, device := strings.TrimSpace(qs.Get("user")), strings.TrimSpace(qs.Get("device"))
	entries, next, err := listing[admin.AuditEvent](q, q.apiRealm("audit"), url.Values{"user": {user}, "device": {device}})
	if err != nil {
		return err
	}
	return q.show(http.StatusOK, "audit", "Audit log of "+q.managed, "audit", struct {
		User, Device string
		Entries      []admin.AuditEvent
		Next         string
		UsersURL     string
	}{user, device, entries, next, q.realmURL("users")})
}
