package store

import "fmt"

// Validate reports whether c may be stored: it names a user and a client. The error
// wraps ErrInvalid.
func (c Consent) Validate() error {
	switch {
	case c.UserID == "":
		return invalid(c.key(), "user ID is empty")
	case c.ClientID == "":
		return invalid(c.key(), "client ID is empty")
	}
	return checkTimes(c.key(), c.GrantedAt)
}

func (c *Consent) key() string {
	return fmt.Sprintf("consent of user %q to client %q in realm %q", c.UserID, c.ClientID, c.Realm)
}

func (c *Consent) normalize() {
	c.Scopes = cloneStrings(c.Scopes)
	timestamps(&c.GrantedAt)
}

// A consent is only ever put whole: GrantedAt is the caller's, or the store's clock.
func (c *Consent) stamps() stamps {
	return stamps{created: &c.GrantedAt, callerCreated: true}
}

func (c *Consent) document() any {
	return &struct {
		Scopes *[]string `json:"scopes"`
	}{&c.Scopes}
}
