package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Event is one entry of the realm's event log.
type Event struct {
	Seq     int64           `json:"seq"`
	Type    string          `json:"type"`
	Subject string          `json:"subject,omitempty"`
	UserID  string          `json:"user_id,omitempty"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data"`
}

func eventJSON(e store.Event) Event {
	return Event{Seq: e.Seq, Type: e.Type, Subject: e.Subject, UserID: e.UserID, At: e.At.UTC(), Data: e.Data}
}

// listEvents answers GET .../events, newest first, narrowed by ?type=, ?subject= and
// ?user=.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	realm, err := rest.Realm(r, a.cfg.Store)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.EventFilter{Type: q.Get("type"), Subject: q.Get("subject"), UserID: q.Get("user")}
	return rest.WriteListing(w, r, "event listing", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return a.cfg.Store.ListEvents(r.Context(), realm.Name, f, opts)
	}, eventJSON)
}
