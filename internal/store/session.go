package store

// Validate reports whether s may be stored: it has an ID and a user, and times every back
// end can store. The error wraps ErrInvalid.
func (s Session) Validate() error {
	key := s.key()
	switch {
	case s.ID == "":
		return invalid(key, "ID is empty")
	case s.UserID == "":
		return invalid(key, "user ID is empty")
	}
	return checkTimes(key, s.AuthTime, s.CreatedAt, s.LastSeenAt, s.ExpiresAt)
}

func (s *Session) key() string { return recordKey("session", s.Realm, s.ID) }

func (s *Session) normalize() {
	s.SecretHash = cloneBytes(s.SecretHash)
	s.AMR = cloneStrings(s.AMR)
	timestamps(&s.AuthTime, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt)
}

func (s *Session) stamps() stamps {
	return stamps{created: &s.CreatedAt, callerCreated: true, version: &s.Version}
}

func (s *Session) document() any {
	return &struct {
		AMR       *[]string `json:"amr"`
		ACR       *string   `json:"acr"`
		IP        *string   `json:"ip"`
		UserAgent *string   `json:"user_agent"`
	}{&s.AMR, &s.ACR, &s.IP, &s.UserAgent}
}
