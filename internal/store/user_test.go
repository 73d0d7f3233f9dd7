package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestUserValidate(t *testing.T) {
	t.Parallel()
	valid := User{Realm: "r", ID: "u1", Username: "alice", Email: "alice@example.com"}
	for _, tc := range []struct {
		name   string
		change func(*User)
		ok     bool
	}{
		{"valid", func(*User) {}, true},
		{"no email", func(u *User) { u.Email = "" }, true},
		{"longest ID", func(u *User) { u.ID = strings.Repeat("x", MaxUserIDLen) }, true},
		{"longest username in characters", func(u *User) { u.Username = strings.Repeat("ü", MaxUsernameLen) }, true},
		{"inner space", func(u *User) { u.Username = "alice liddell" }, true},
		{"non-ASCII email", func(u *User) { u.Email = "ålice@exämple.org" }, true},
		{"empty ID", func(u *User) { u.ID = "" }, false},
		{"long ID", func(u *User) { u.ID = strings.Repeat("x", MaxUserIDLen+1) }, false},
		{"empty username", func(u *User) { u.Username = "" }, false},
		{"long username", func(u *User) { u.Username = strings.Repeat("ü", MaxUsernameLen+1) }, false},
		{"leading space", func(u *User) { u.Username = " alice" }, false},
		{"trailing newline", func(u *User) { u.Username = "alice\n" }, false},
		{"control character", func(u *User) { u.Username = "al\x07ice" }, false},
		{"C1 control character", func(u *User) { u.Username = "al\u0085ice" }, false},
		{"invalid UTF-8", func(u *User) { u.Username = "al\xc3ice" }, false},
		{"email without @", func(u *User) { u.Email = "alice" }, false},
		{"email with two @", func(u *User) { u.Email = "a@b@c" }, false},
		{"email with space", func(u *User) { u.Email = "alice @example.com" }, false},
		{"email with NUL", func(u *User) { u.Email = "alice\x00@example.com" }, false},
		{"email without local part", func(u *User) { u.Email = "@example.com" }, false},
		{"email without domain", func(u *User) { u.Email = "alice@" }, false},
		{"time before 1678", func(u *User) { u.PasswordChangedAt = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"time after 2262", func(u *User) { u.LockedUntil = time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
	} {
		u := valid
		tc.change(&u)
		err := u.Validate()
		if tc.ok && err != nil {
			t.Errorf("%s: Validate = %v, want nil", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestLikePrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Alice":    "alice%",
		"100%":     `100\%%`,
		"a_b":      `a\_b%`,
		`back\`:    `back\\%`,
		"ÄÖ":       "äö%",
		"":         "%",
		`%_\Mixed`: `\%\_\\mixed%`,
	} {
		if got := LikePrefix(in); got != want {
			t.Errorf("LikePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrepareUser(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	in := User{Realm: "r", ID: "u1", Username: "alice", TOTPSecret: []byte{}, Version: 7,
		LockedUntil: time.Date(2030, 1, 1, 0, 0, 0, 999, time.FixedZone("Y", -3600))}
	u, data, err := PrepareCreate(in, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.TOTPSecret != nil || u.Attributes == nil || u.Version != 1 || u.CreatedAt != Timestamp(now) || u.UpdatedAt != u.CreatedAt {
		t.Errorf("PrepareCreate = %+v; want nil TOTP secret, non-nil attributes, version 1, times now", u)
	}
	if u.LockedUntil != Timestamp(in.LockedUntil) || u.LockedUntil.Location() != time.UTC {
		t.Errorf("LockedUntil = %v, want %v in UTC", u.LockedUntil, Timestamp(in.LockedUntil))
	}
	back, err := Scanned(User{Realm: "r", ID: "u1", Username: "alice"}, data)
	if err != nil || back.Attributes == nil || back.Profile != u.Profile {
		t.Errorf("Scanned(%s) = %+v, %v", data, back, err)
	}

	later := now.Add(time.Hour)
	next, _, err := PrepareUpdate(u, func(u User) (User, error) {
		u.FailedLogins++
		u.CreatedAt, u.Version = time.Time{}, 100
		return u, nil
	}, later)
	if err != nil || next.Version != 2 || next.CreatedAt != u.CreatedAt || next.UpdatedAt != Timestamp(later) || next.FailedLogins != 1 {
		t.Errorf("PrepareUpdate = %+v, %v; want version 2, CreatedAt kept, UpdatedAt later", next, err)
	}
	for name, fn := range map[string]func(User) (User, error){
		"new ID":    func(u User) (User, error) { u.ID = "u2"; return u, nil },
		"new realm": func(u User) (User, error) { u.Realm = "r2"; return u, nil },
		"invalid":   func(u User) (User, error) { u.Username = ""; return u, nil },
	} {
		if _, _, err := PrepareUpdate(u, fn, later); !errors.Is(err, ErrInvalid) {
			t.Errorf("PrepareUpdate with a %s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestPrepareCallerTimes(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	set := now.Add(-time.Hour)
	for _, tc := range []struct {
		name      string
		created   func(time.Time) (time.Time, error)
		wantEmpty time.Time
	}{
		{"session", func(at time.Time) (time.Time, error) {
			s, _, err := PrepareCreate(Session{Realm: "r", ID: "s", UserID: "u", CreatedAt: at}, now)
			return s.CreatedAt, err
		}, now},
		{"grant", func(at time.Time) (time.Time, error) {
			g, _, err := PrepareCreate(Grant{Realm: "r", ID: "g", ClientID: "c", CreatedAt: at}, now)
			return g.CreatedAt, err
		}, now},
		{"consent", func(at time.Time) (time.Time, error) {
			c, _, err := PrepareCreate(Consent{Realm: "r", UserID: "u", ClientID: "c", GrantedAt: at}, now)
			return c.GrantedAt, err
		}, now},
	} {
		if got, err := tc.created(time.Time{}); err != nil || got != tc.wantEmpty {
			t.Errorf("%s without a time: %v, %v; want %v", tc.name, got, err, tc.wantEmpty)
		}
		if got, err := tc.created(set); err != nil || got != set {
			t.Errorf("%s with a time: %v, %v; want %v kept", tc.name, got, err, set)
		}
	}
}
