package login

import (
	"bufio"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// AMRPhone is the authentication method of an approval on the user's phone: proof of
// possession of a hardware-secured key (RFC 8176 "hwk").
const AMRPhone = "hwk"

// AttrFirstFactors is the realm (or client) attribute listing the first factors the
// login pages offer, comma-separated: "password", "phone". Absent, both are offered. A
// client's own attribute overrides its realm's.
const AttrFirstFactors = "signet.login.first_factors"

// AttrSecondFactors is the realm (or client) attribute listing the second factors asked
// after a password when the user has them, comma-separated: "totp", "phone". Absent,
// "totp". A client that asks for two factors (acr_values=2) gets one of these, or the
// password after a phone.
const AttrSecondFactors = "signet.login.second_factors"

// Factors a realm may offer.
const (
	FactorPassword = "password"
	FactorPhone    = "phone"
	FactorTOTP     = "totp"
)

// FirstFactors is what realm's login pages offer first.
func FirstFactors(realm store.Realm) []string {
	return factors(realm.Attributes[AttrFirstFactors], []string{FactorPassword, FactorPhone}, FactorPassword, FactorPhone)
}

// SecondFactors is what realm's login pages ask after a password.
func SecondFactors(realm store.Realm) []string {
	return factors(realm.Attributes[AttrSecondFactors], []string{FactorTOTP}, FactorTOTP, FactorPhone)
}

// factors parses a factor list, keeping the known ones; def when it is absent or names
// none of them (a list that would lock everyone out is no policy).
func factors(v string, def []string, known ...string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); slices.Contains(known, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// offers reports whether the login allows factor first.
func offers(q *request, factor string) bool {
	return slices.Contains(FirstFactorsFor(q.realm, q.ix.Client), factor)
}

// FirstFactorsFor is what a login for client c offers first: the client's list when it
// has one, else the realm's. Every way in (the login pages, CIBA) follows it.
func FirstFactorsFor(realm store.Realm, c store.Client) []string {
	if _, ok := c.Attributes[AttrFirstFactors]; ok {
		return FirstFactors(store.Realm{Attributes: c.Attributes})
	}
	return FirstFactors(realm)
}

// asksSecond reports whether factor may serve as the second factor of this login.
func asksSecond(q *request, factor string) bool {
	attrs := q.realm.Attributes
	if _, ok := q.ix.Client.Attributes[AttrSecondFactors]; ok {
		attrs = q.ix.Client.Attributes
	}
	return slices.Contains(SecondFactors(store.Realm{Attributes: attrs}), factor)
}

// binding binds a phone request to the pending login, which is itself bound to the
// browser that started it.
func binding(q *request) []byte { return []byte("login:" + q.realm.Name + ":" + q.ix.ID) }

// phoneStart sends a sign-in request to every active device of the named user and shows
// the number to match (none when the realm turned number matching off). A name that is
// no user, or one who is disabled, locked or has no device, gets a request that nobody
// can answer, made through the same steps: the page and its timing are the same, and it
// expires as an unanswered one does.
func (p *Pages) phoneStart(w http.ResponseWriter, r *http.Request, q *request, name string) {
	ctx := r.Context()
	if !offers(q, FactorPhone) || p.requests == nil {
		p.fail(w, r, q.locale, http.StatusBadRequest, "error.bad_request", nil)
		return
	}
	userID := p.decoyID(q.realm.Name, name)
	u, err := p.findUser(ctx, q.realm.Name, name)
	switch {
	case err == nil && u.Enabled && !p.now().Before(u.LockedUntil):
		userID = u.ID
	case err != nil && !errors.Is(err, store.ErrNotFound):
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	p.askPhone(w, r, q, name, userID, state{Username: name})
}

// phoneSecond asks the phone as the second factor of a user whose password was right.
func (p *Pages) phoneSecond(w http.ResponseWriter, r *http.Request, q *request, s state) {
	s.Second = true
	p.askPhone(w, r, q, s.Username, s.UserID, s)
}

// askPhone makes a sign-in request of userID's active devices, keeps it in the login's
// state s and sends the browser to the page that waits for it.
func (p *Pages) askPhone(w http.ResponseWriter, r *http.Request, q *request, name, userID string, s state) {
	ctx := r.Context()
	page, err := p.st.ListDevices(ctx, q.realm.Name, store.DeviceFilter{UserID: userID, State: store.DeviceActive},
		store.ListOptions{Limit: authn.MaxDevices})
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	devices := make([]string, 0, len(page.Items))
	for _, d := range page.Items {
		devices = append(devices, d.ID)
	}
	// A new request replaces this login's earlier one, which must not stay answerable.
	p.phoneCancel(ctx, q)
	client := newClientView(q.ix.Client).Name
	n := authn.NewRequest{
		Realm: q.realm.Name, Kind: authn.KindPushLogin, ClientID: q.ix.Client.ID, ClientName: client,
		UserID: userID, Devices: devices, Text: p.render.Catalog().T(q.locale, "phone.request_text", "client", client),
		RequesterIP: session.ClientIP(r), UserAgent: r.UserAgent(), Binding: binding(q), TTL: authn.ClientTTL(q.ix.Client.Attributes),
		Policy: authn.RealmPolicy(q.realm), // number matching and the per-user limits
	}
	req, err := p.requests.Create(ctx, n)
	if errors.Is(err, authn.ErrCoolingDown) {
		// Only a user who denied can cool down: saying so would tell that the name
		// exists. Nothing reaches the phones; the page waits as for anyone else.
		n.UserID, n.Devices = p.decoyID(q.realm.Name, name), nil
		req, err = p.requests.Create(ctx, n)
	}
	switch {
	case errors.Is(err, authn.ErrTooManyPending), errors.Is(err, authn.ErrTooManyCreated):
		p.show(w, q, http.StatusTooManyRequests, "login_username", "login.title",
			view{Username: name, Error: "phone.error.too_many", Phone: true})
		return
	case err != nil:
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	s.PhoneRequest = req.ID
	if !p.saveState(w, r, q, s) {
		return
	}
	http.Redirect(w, r, p.phonePath(q), http.StatusSeeOther)
}

// hasPhone reports whether the user has an active device to ask.
func (p *Pages) hasPhone(ctx context.Context, q *request, userID string) (bool, error) {
	page, err := p.st.ListDevices(ctx, q.realm.Name, store.DeviceFilter{UserID: userID, State: store.DeviceActive},
		store.ListOptions{Limit: 1})
	return len(page.Items) > 0, err
}

// qrTTL is how long a QR login's code lasts before the page shows a new one, unless the
// client sets the life of its requests.
const qrTTL = 90 * time.Second

// qrStart shows a QR code of a new sign-in request that names no user: the enrolled
// phone that scans it claims it for its user, and the login continues as that user.
func (p *Pages) qrStart(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	if !offers(q, FactorPhone) || p.requests == nil || p.deviceURL == nil {
		p.fail(w, r, q.locale, http.StatusBadRequest, "error.bad_request", nil)
		return
	}
	p.phoneCancel(ctx, q)
	client := newClientView(q.ix.Client).Name
	req, err := p.requests.Create(ctx, authn.NewRequest{
		Realm: q.realm.Name, Kind: authn.KindQRLogin, ClientID: q.ix.Client.ID, ClientName: client,
		Text:        p.render.Catalog().T(q.locale, "phone.request_text", "client", client),
		RequesterIP: session.ClientIP(r), UserAgent: r.UserAgent(), Binding: binding(q), TTL: cmp.Or(authn.ClientTTL(q.ix.Client.Attributes), qrTTL),
		Policy: authn.RealmPolicy(q.realm),
	})
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if !p.saveState(w, r, q, state{PhoneRequest: req.ID, QR: true}) {
		return
	}
	http.Redirect(w, r, p.phonePath(q), http.StatusSeeOther)
}

// decoyID is the user id a request for a name that is no usable user is made for: the
// same for the same name, so the per-user limits treat it as they treat a user.
func (p *Pages) decoyID(realm, name string) string {
	m := hmac.New(sha256.New, p.decoyKey)
	m.Write([]byte(realm + "\x00" + strings.ToLower(name)))
	return "nobody-" + hex.EncodeToString(m.Sum(nil)[:12])
}

func (p *Pages) phonePath(q *request) string {
	return p.prefix + "/realms/" + q.realm.Name + "/login-actions/phone?authz=" + url.QueryEscape(q.ix.ID)
}

// phonePage shows where a phone sign-in stands: the number to match while it waits,
// the message of its outcome with a retry, and on approval it completes the login.
func (p *Pages) phonePage(w http.ResponseWriter, r *http.Request) {
	q, ok := p.begin(w, r, "authenticate")
	if !ok {
		return
	}
	ctx := r.Context()
	s, ok := p.loadState(ctx, q)
	if !ok || s.PhoneRequest == "" || p.requests == nil {
		p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again", Phone: offers(q, FactorPhone)})
		return
	}
	req, err := p.requests.Get(ctx, q.realm.Name, s.PhoneRequest)
	if errors.Is(err, authn.ErrNotFound) {
		req.State = authn.Expired
	} else if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if s.QR && req.State == authn.Expired {
		// An unused QR code is replaced as it expires: the page shows a fresh one.
		p.qrStart(w, r, q)
		return
	}
	v := view{Username: s.Username, Phone: true, QR: s.QR, Number: req.MatchNumber, Next: p.phonePath(q),
		Status: p.prefix + "/realms/" + q.realm.Name + "/login-actions/phone/status?authz=" + url.QueryEscape(q.ix.ID)}
	switch req.State {
	case authn.Pending:
		v.Waiting = true
		if s.QR && req.UserID == "" {
			// Only the page showing the code waits for the claim; the page showing the
			// number waits for the answer (or it would reload at once, again and again).
			v.Status += "&until=claimed"
		}
		if s.QR && req.UserID != "" {
			// Claimed: the number shows only now, so whoever photographed the code before
			// cannot claim it and answer with the number (signing this browser in as them).
			v.QRClaimed = true
		} else if s.QR {
			v.Number = ""
			v.Payload = device.LoginURL(p.deviceURL(), q.realm.Name, req.ID)
			png, err := device.QRPNG(v.Payload, 256)
			if err != nil {
				p.fail(w, r, q.locale, http.StatusInternalServerError, "error.unavailable", err)
				return
			}
			v.QRImage = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
		p.show(w, q, http.StatusOK, "login_phone", "phone.title", v)
	case authn.Approved:
		out, err := p.requests.Consume(ctx, q.realm.Name, req.ID, binding(q))
		if err != nil || out.State != authn.Approved || out.UserID == "" {
			v.Error = "phone.error.expired"
			p.show(w, q, http.StatusOK, "login_phone", "phone.title", v)
			return
		}
		// The user may have been disabled or locked since the phone approved.
		u, err := p.st.GetUser(ctx, q.realm.Name, out.UserID)
		if err != nil || !u.Enabled || p.now().Before(u.LockedUntil) {
			p.show(w, q, http.StatusForbidden, "login_username", "login.title", view{Error: "login.error.start_again"})
			return
		}
		switch {
		case s.Second && s.PasswordOK && s.UserID == u.ID:
			// The password came first: two factors.
			p.loggedIn(w, r, q, session.Auth{UserID: u.ID, AMR: []string{AMRPassword, AMRPhone}, ACR: ACRMulti})
		case q.ix.ACR == ACRMulti:
			// The client asks for two factors: the password follows the phone.
			if u.PasswordHash == "" {
				p.show(w, q, http.StatusForbidden, "login_username", "login.title", view{Error: "login.error.second_factor_missing"})
				return
			}
			if !p.saveState(w, r, q, state{Username: u.Username, UserID: u.ID, PhoneDone: true}) {
				return
			}
			q.action = p.prefix + "/realms/" + q.realm.Name + "/login-actions/authenticate?authz=" + url.QueryEscape(q.ix.ID)
			p.show(w, q, http.StatusOK, "login_password", "login.title", view{Username: u.Username})
		default:
			p.loggedIn(w, r, q, session.Auth{UserID: u.ID, AMR: []string{AMRPhone}, ACR: ACRSingle})
		}
	default:
		v.QR = s.QR
		v.Error = map[authn.State]string{authn.Denied: "phone.error.denied", authn.Cancelled: "phone.error.cancelled"}[req.State]
		if v.Error == "" {
			v.Error = "phone.error.expired"
		}
		p.show(w, q, http.StatusOK, "login_phone", "phone.title", v)
	}
}

// phoneCancel ends the pending phone request of this login, if any.
func (p *Pages) phoneCancel(ctx context.Context, q *request) {
	if s, ok := p.loadState(ctx, q); ok && s.PhoneRequest != "" && p.requests != nil {
		_, _ = p.requests.Cancel(ctx, q.realm.Name, s.PhoneRequest, binding(q))
	}
}

// Bounds of the status channels: how long one lasts (the page opens another if it is
// still open), how many one login may hold at once, and how many a node holds.
const (
	maxStatusWait         = 10 * time.Minute
	maxStatusPerLogin     = 2
	maxStatusChannels     = 10000
	statusPoll            = 5 * time.Second
	statusOverloadRetryIn = "5"
)

// statusChannels counts the open status channels, per login and in all.
type statusChannels struct {
	mu      sync.Mutex
	total   int
	byLogin map[string]int
}

// open takes a place for login's channel; false when none is free.
func (c *statusChannels) open(login string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= maxStatusChannels || c.byLogin[login] >= maxStatusPerLogin {
		return false
	}
	if c.byLogin == nil {
		c.byLogin = map[string]int{}
	}
	c.total++
	c.byLogin[login]++
	return true
}

func (c *statusChannels) close(login string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byLogin[login]--; c.byLogin[login] <= 0 {
		delete(c.byLogin, login)
	}
}

// Shutdown ends the status channels: they wait no longer once the server stops.
func (p *Pages) Shutdown() { p.stop() }

// phoneStatus is the page's status channel: it answers once the phone request has left
// "pending" with its state, over a WebSocket when the browser asks for one, else as
// server-sent events.
func (p *Pages) phoneStatus(w http.ResponseWriter, r *http.Request) {
	q, ok := p.begin(w, r, "authenticate")
	if !ok {
		return
	}
	s, ok := p.loadState(r.Context(), q)
	if !ok || s.PhoneRequest == "" || p.requests == nil {
		http.Error(w, "no phone sign-in in progress", http.StatusNotFound)
		return
	}
	// An unclaimed QR code's page also wants to know when a phone has claimed it.
	untilClaimed := s.QR && r.URL.Query().Get("until") == "claimed"
	claimed := func(r authn.Request) bool { return untilClaimed && r.UserID != "" }
	login := q.realm.Name + "\x00" + q.ix.ID
	if !p.status.open(login) {
		w.Header().Set("Retry-After", statusOverloadRetryIn)
		http.Error(w, "too many status channels", http.StatusServiceUnavailable)
		return
	}
	defer p.status.close(login)
	ctx, cancel := context.WithTimeout(r.Context(), maxStatusWait)
	defer cancel()
	defer context.AfterFunc(p.stopping, cancel)()
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		p.statusSocket(ctx, w, r, q, s.PhoneRequest, claimed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": waiting\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	state := p.waitState(ctx, q, s.PhoneRequest, claimed)
	_, _ = fmt.Fprintf(w, "event: state\ndata: %s\n\n", state)
	_ = rc.Flush()
}

// statusSocket answers the status over a WebSocket: one text message, then a close.
func (p *Pages) statusSocket(ctx context.Context, w http.ResponseWriter, r *http.Request, q *request, id string, claimed func(authn.Request) bool) {
	conn, _, _, err := ws.HTTPUpgrader{}.Upgrade(r, hijacker{w})
	if err != nil {
		return // the upgrader answered the browser
	}
	defer conn.Close()
	// The browser sends nothing but a close: reading it ends the wait early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer cancel()
		for {
			// Nothing is written from here, so the answer below is never interleaved.
			h, err := ws.ReadHeader(conn)
			if err != nil || h.Length > 125 || h.OpCode == ws.OpClose {
				return
			}
			if _, err := io.CopyN(io.Discard, conn, h.Length); err != nil {
				return
			}
		}
	}()
	state := p.waitState(ctx, q, id, claimed)
	if state == "" {
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteServerText(conn, []byte(state)); err == nil {
		_ = wsutil.WriteServerMessage(conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	}
}

// waitState waits for the request to leave pending, or to be claimed: the state, or
// "claimed"; "" when ctx ended first.
func (p *Pages) waitState(ctx context.Context, q *request, id string, claimed func(authn.Request) bool) string {
	req, err := p.requests.WaitFor(ctx, q.realm.Name, id, statusPoll, claimed)
	switch {
	case errors.Is(err, authn.ErrNotFound):
		return string(authn.Expired)
	case err != nil:
		return ""
	case req.State == authn.Pending:
		return "claimed"
	}
	return string(req.State)
}

// hijacker reaches the connection under the instrumented ResponseWriter, which gobwas'
// HTTP upgrader asks for as an http.Hijacker.
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}
