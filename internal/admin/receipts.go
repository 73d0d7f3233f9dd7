package admin

import (
	"fmt"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Receipt is the receipt of an answered transaction: the JWS the realm signed, which
// embeds the device's signature (`signet receipt verify` checks it offline).
type Receipt struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	ClientID   string    `json:"client_id"`
	DeviceID   string    `json:"device_id"`
	Outcome    string    `json:"outcome"`
	AnsweredAt time.Time `json:"answered_at"`
	Receipt    string    `json:"receipt"`
}

func receiptWhat(realm, id string) string {
	return fmt.Sprintf("receipt of request %q in realm %q", id, realm)
}

// getReceipt returns the receipt of an answered transaction request.
func (a *API) getReceipt(w http.ResponseWriter, r *http.Request) error {
	q, err := rest.InRealm(r, a.st, "receipt", a.st.GetAuthnRequest, receiptWhat)
	if err != nil {
		return err
	}
	if q.Receipt == "" {
		return rest.StoreError(store.ErrNotFound, receiptWhat(q.Realm, q.ID))
	}
	return rest.WriteJSON(w, http.StatusOK, Receipt{ID: q.ID, UserID: q.UserID, ClientID: q.ClientID, DeviceID: q.DeviceID,
		Outcome: string(q.State), AnsweredAt: q.AnsweredAt.UTC(), Receipt: q.Receipt})
}
