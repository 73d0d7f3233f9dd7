package admin

import (
	"fmt"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Session is the JSON representation of a browser session; the hash of its cookie
// secret is never shown.
type Session struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	AuthTime   time.Time `json:"auth_time,omitzero"`
	AMR        []string  `json:"amr"`
	ACR        string    `json:"acr,omitempty"`
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
}

func sessionJSON(s store.Session) Session {
	return Session{
		ID: s.ID, UserID: s.UserID, AuthTime: s.AuthTime, AMR: s.AMR, ACR: s.ACR, IP: s.IP, UserAgent: s.UserAgent,
		CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
	}
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	ss, err := a.st.ListUserSessions(r.Context(), u.Realm, u.ID)
	if err != nil {
		return rest.StoreError(err, rest.UserWhat(u.Realm, u.ID))
	}
	out := rest.Page[Session]{Items: make([]Session, 0, len(ss))}
	for _, s := range ss {
		out.Items = append(out.Items, sessionJSON(s))
	}
	return rest.WriteJSON(w, http.StatusOK, out)
}

// revokeSessions signs the user out everywhere: every session ends and every grant,
// offline ones included, is revoked.
func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	if err := a.users().SignOut(r.Context(), u, "sessions revoked by an administrator"); err != nil {
		return err
	}
	return rest.WriteJSON(w, http.StatusNoContent, nil)
}

// revokeSession ends one session and revokes the grants made in it.
func (a *API) revokeSession(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	id := r.PathValue("session")
	// Another user's session is not below this user: not found.
	if err := a.provider.Sessions().EndSession(r.Context(), u.Realm, u.ID, id, "session revoked by an administrator"); err != nil {
		return rest.StoreError(err, fmt.Sprintf("session %q of user %q in realm %q", id, u.ID, u.Realm))
	}
	return rest.WriteJSON(w, http.StatusNoContent, nil)
}
