package rest

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Event is one entry of a realm's event log.
type Event struct {
	Seq     int64           `json:"seq"`
	Type    string          `json:"type"`
	Subject string          `json:"subject,omitempty"`
	UserID  string          `json:"user_id,omitempty"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data"`
}

// EventJSON is the representation of e.
func EventJSON(e store.Event) Event {
	return Event{Seq: e.Seq, Type: e.Type, Subject: e.Subject, UserID: e.UserID, At: e.At.UTC(), Data: e.Data}
}

// EventFilterOf reads an event listing's filter from the query: ?type= (an exact type,
// or "authn.*" for every type starting "authn."), ?subject=, ?user=, and ?since= and
// ?until= (RFC 3339 times; since included, until excluded).
func EventFilterOf(r *http.Request) (store.EventFilter, error) {
	q := r.URL.Query()
	f := store.EventFilter{Type: q.Get("type"), Subject: q.Get("subject"), UserID: q.Get("user")}
	for _, bound := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		raw := q.Get(bound.name)
		if raw == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil || t.Year() < 1 || t.Year() > 9999 {
			return store.EventFilter{}, BadRequest("%s must be an RFC 3339 time, such as 2026-01-02T15:04:05Z", bound.name)
		}
		*bound.to = t
	}
	return f, nil
}

// ListEvents answers GET .../events for the realm of the path, newest first, narrowed
// as EventFilterOf reads the query.
func ListEvents(st store.Store) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		realm, err := Realm(r, st)
		if err != nil {
			return err
		}
		f, err := EventFilterOf(r)
		if err != nil {
			return err
		}
		return WriteListing(w, r, "event listing", func(opts store.ListOptions) (store.Page[store.Event], error) {
			return st.ListEvents(r.Context(), realm.Name, f, opts)
		}, EventJSON)
	}
}
