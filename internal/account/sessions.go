package account

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

type sessionsView struct {
	common
	Sessions []sessionView
	// Others: there are sessions besides this one.
	Others bool
}

type sessionView struct {
	ID                string
	Current           bool
	Started, LastSeen timeView
	IP, Browser       string
	Methods           []string // catalog keys
	SignedIn          timeView
}

// methodKeys name the authentication methods (RFC 8176) a session's sign-in used.
var methodKeys = map[string]string{
	"pwd": "account.method.pwd", "otp": "account.method.otp", "hwk": "account.method.hwk",
	"swk": "account.method.hwk", "mfa": "account.method.mfa",
}

func (c *Console) listSessions(w http.ResponseWriter, r *http.Request, q *request) {
	ss, err := c.st.ListUserSessions(r.Context(), q.realm.Name, q.user.ID)
	if err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	now := c.now()
	idle, _ := session.Timeouts(q.realm)
	v := sessionsView{common: c.common(q, "sessions")}
	for _, s := range ss {
		// Sessions past their timeouts are over, if not yet deleted.
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(idle)) {
			continue
		}
		sv := sessionView{ID: s.ID, Current: s.ID == q.sess.SID, Started: timeOf(s.CreatedAt), LastSeen: timeOf(s.LastSeenAt),
			SignedIn: timeOf(s.AuthTime), IP: s.IP, Browser: oneLine(s.UserAgent, 120)}
		for _, m := range s.AMR {
			if k, ok := methodKeys[m]; ok {
				sv.Methods = append(sv.Methods, k)
			}
		}
		if !sv.Current {
			v.Others = true
		}
		v.Sessions = append(v.Sessions, sv)
	}
	c.show(w, q, http.StatusOK, "sessions", "account.sessions.title", v)
}

// endSession signs one of the user's sessions out (SessionManager.EndSession, as the admin
// API does): its cookie signs in no more and the tokens issued in it are revoked.
// Another user's session is not found.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, q *request) {
	id := r.PostForm.Get("session")
	if id == "" || len(id) > store.MaxIDLen {
		c.fail(w, r, q, http.StatusNotFound, "account.error.session_not_found", nil)
		return
	}
	if err := c.sessions.EndSession(r.Context(), q.realm.Name, q.user.ID, id, "signed out in the account console"); err != nil {
		c.storeFailure(w, r, q, "account.error.session_not_found", err)
		return
	}
	if id == q.sess.SID {
		// This very session: the console session ends with it.
		c.endLocal(r.Context(), w, q.realm.Name, q.id)
		http.Redirect(w, r, q.base+"/", http.StatusSeeOther)
		return
	}
	c.redirect(w, r, q, "sessions", "session_ended")
}

// endOtherSessions signs the user out everywhere but here.
func (c *Console) endOtherSessions(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.endOthers(r, q, "signed out in the account console"); err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	c.redirect(w, r, q, "sessions", "others_ended")
}

// endOthers ends every session of the user but the console's own.
func (c *Console) endOthers(r *http.Request, q *request, reason string) error {
	ss, err := c.st.ListUserSessions(r.Context(), q.realm.Name, q.user.ID)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if s.ID == q.sess.SID {
			continue
		}
		if err := c.sessions.EndSession(r.Context(), q.realm.Name, q.user.ID, s.ID, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

type activityView struct {
	common
	Events []eventView
}

type eventView struct {
	At                  timeView
	KindKey, OutcomeKey string
	Client, Device      string
	Bad                 bool
}

// Activity lists the user's recent sign-ins with a password (and refused passwords and
// codes) and the outcomes of the requests sent to the user's phones (push and QR logins,
// CIBA, transactions) from the event log, newest first.
const (
	activityShown = 25
	activityPages = 3 // pages of the log read at most
	activityPage  = 100
)

var outcomeKeys = map[string]string{
	"authn.approved": "account.outcome.approved", "authn.denied": "account.outcome.denied",
	"authn.expired": "account.outcome.expired", "authn.cancelled": "account.outcome.cancelled",
	"authn.reported":     "account.outcome.reported",
	login.EventSucceeded: "account.outcome.signed_in", login.EventFailed: "account.outcome.refused",
}

// good are the event types that tell of something the user did as expected.
var good = map[string]bool{"authn.approved": true, login.EventSucceeded: true}

var kindKeys = map[authn.Kind]string{
	authn.KindPushLogin: "account.kind.push_login", authn.KindQRLogin: "account.kind.qr_login",
	authn.KindCIBA: "account.kind.ciba", authn.KindTransaction: "account.kind.transaction",
}

// methodKindKeys name the sign-ins at the login pages by the credential that decided
// them (login.Attempt's Method).
var methodKindKeys = map[string]string{
	login.MethodPassword: "account.kind.password", login.MethodTOTP: "account.kind.totp",
}

func (c *Console) activity(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	names := map[string]string{}
	if page, err := c.st.ListDevices(ctx, q.realm.Name, store.DeviceFilter{UserID: q.user.ID}, store.ListOptions{Limit: maxListed}); err == nil {
		for _, d := range page.Items {
			names[d.ID] = d.DisplayName
		}
	}
	clients := map[string]string{}
	clientName := func(id string) string {
		if n, ok := clients[id]; ok {
			return n
		}
		n := id
		if cl, err := c.st.GetClient(ctx, q.realm.Name, id); err == nil && cl.Name != "" {
			n = cl.Name
		}
		clients[id] = n
		return n
	}
	v := activityView{common: c.common(q, "activity")}
	opts := store.ListOptions{Limit: activityPage}
	for range activityPages {
		page, err := c.st.ListEvents(ctx, q.realm.Name, store.EventFilter{UserID: q.user.ID}, opts)
		if err != nil {
			c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
			return
		}
		for _, e := range page.Items {
			outcome, ok := outcomeKeys[e.Type]
			if !ok || len(v.Events) == activityShown {
				continue
			}
			ev := eventView{At: timeOf(e.At), OutcomeKey: outcome, Bad: !good[e.Type]}
			if e.Type == login.EventSucceeded || e.Type == login.EventFailed {
				var a login.Attempt
				if json.Unmarshal(e.Data, &a) != nil {
					continue
				}
				ev.KindKey, ev.Client = methodKindKeys[a.Method], clientName(a.ClientID)
				if ev.KindKey == "" {
					ev.KindKey = "account.kind.other"
				}
				v.Events = append(v.Events, ev)
				continue
			}
			var data authn.Event
			if json.Unmarshal(e.Data, &data) != nil {
				continue
			}
			ev.KindKey, ev.Client = kindKeys[data.Kind], clientName(data.ClientID)
			if ev.KindKey == "" {
				ev.KindKey = "account.kind.other"
			}
			if data.DeviceID != "" {
				ev.Device = names[data.DeviceID]
				if ev.Device == "" {
					ev.Device = strings.TrimSpace(data.DeviceID)
				}
			}
			v.Events = append(v.Events, ev)
		}
		if page.Next == "" || len(v.Events) == activityShown {
			break
		}
		opts.Cursor = page.Next
	}
	c.show(w, q, http.StatusOK, "activity", "account.activity.title", v)
}
