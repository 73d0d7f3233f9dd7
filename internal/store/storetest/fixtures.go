package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// errRefused is what update functions in the suite return to abort; a store must hand
// it back unchanged.
var errRefused = errors.New("refused by caller")

// instant is a time with nanoseconds and a zone, to check that the store keeps times as
// store.Timestamp has them: UTC, truncated to the microsecond.
func instant(offset time.Duration) time.Time {
	return time.Date(2031, 2, 3, 4, 5, 6, 789123456, time.FixedZone("UTC+2", 2*3600)).Add(offset)
}

// checkEqual fails the test unless got and want, records or slices of records, agree on
// every field: times by Equal with store.Timestamp(want) and in UTC, everything else by
// reflect.DeepEqual, so that a nil slice and an empty one differ.
func checkEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if diffs := diff(reflect.ValueOf(got), reflect.ValueOf(want), ""); len(diffs) > 0 {
		t.Errorf("%s:\n%s", what, strings.Join(diffs, "\n"))
	}
}

var timeType = reflect.TypeFor[time.Time]()

func diff(got, want reflect.Value, path string) []string {
	switch {
	case got.Type() == timeType:
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(store.Timestamp(w)) || g.Location() != time.UTC {
			return []string{fmt.Sprintf("  %s: got %v, want %v in UTC", path, g, store.Timestamp(w))}
		}
		return nil
	case got.Kind() == reflect.Struct:
		var out []string
		for i := range got.NumField() {
			out = append(out, diff(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name)...)
		}
		return out
	case got.Kind() == reflect.Slice && got.Type().Elem().Kind() == reflect.Struct:
		if got.IsNil() != want.IsNil() || got.Len() != want.Len() {
			return []string{fmt.Sprintf("  %s: got %d items (nil %t), want %d (nil %t)", path, got.Len(), got.IsNil(), want.Len(), want.IsNil())}
		}
		var out []string
		for i := range got.Len() {
			out = append(out, diff(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case !reflect.DeepEqual(got.Interface(), want.Interface()):
		return []string{fmt.Sprintf("  %s: got %#v, want %#v", path, got.Interface(), want.Interface())}
	}
	return nil
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// ok fails the test now if err is not nil.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// must returns what create made of v, or fails the test now: must(t, s.CreateUser, u).
func must[T any](t *testing.T, create func(context.Context, T) (T, error), v T) T {
	t.Helper()
	got, err := create(t.Context(), v)
	ok(t, fmt.Sprintf("create %+v", v), err)
	return got
}

func putConsent(t *testing.T, s store.Store, c store.Consent) {
	t.Helper()
	ok(t, fmt.Sprintf("PutConsent(%q, %q)", c.UserID, c.ClientID), s.PutConsent(t.Context(), c))
}

// checkStored reads a record with get (GetUser, GetClient...) and fails the test unless
// it is want; it returns what it read.
func checkStored[T any](t *testing.T, what string, get func(context.Context, string, string) (T, error), realm, id string, want T) T {
	t.Helper()
	got, err := get(t.Context(), realm, id)
	ok(t, what, err)
	checkEqual(t, what, got, want)
	return got
}

// checkUpdateMissing checks that update (UpdateUser, UpdateClient...) of a missing record
// is ErrNotFound without calling fn.
func checkUpdateMissing[T any](t *testing.T, what string, update func(context.Context, string, string, func(T) (T, error)) (T, error), realm, id string) {
	t.Helper()
	called := false
	_, err := update(t.Context(), realm, id, func(v T) (T, error) {
		called = true
		return v, nil
	})
	wantErr(t, what+" of a missing record", err, store.ErrNotFound)
	if called {
		t.Errorf("%s called fn for a missing record", what)
	}
}

// refusal is an update function that the store must refuse with an error wrapping
// target; errRefused, fn's own error, must come back unchanged.
type refusal[T any] struct {
	what   string
	fn     func(T) (T, error)
	target error
}

// checkRefusals fails the test unless update (UpdateUser, UpdateDevice...) refuses each
// of refusals as it must.
func checkRefusals[T any](t *testing.T, what string, update func(fn func(T) (T, error)) (T, error), refusals []refusal[T]) {
	t.Helper()
	for _, r := range refusals {
		_, err := update(r.fn)
		wantErr(t, what+" with "+r.what, err, r.target)
		if r.target == errRefused && err != errRefused {
			t.Errorf("%s error = %v, want fn's error unchanged", what, err)
		}
	}
}

// checkNow fails the test unless at, a time the store took from its clock, lies between
// before and now.
func checkNow(t *testing.T, what string, at, before time.Time) {
	t.Helper()
	if at.Before(before) || at.After(time.Now()) {
		t.Errorf("%s = %v, want the current time, after %v", what, at, before)
	}
}

// ids lists the IDs of records, as id reads them.
func ids[T any](records []T, id func(T) string) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = id(r)
	}
	return out
}

// newUser is a user with only what a user needs: ID, username and email from id.
func newUser(realm, id string) store.User {
	return store.User{Realm: realm, ID: id, Username: id, Email: id + "@example.com"}
}

func newClient(realm, id string) store.Client {
	return store.Client{Realm: realm, ID: id}
}

func newSession(realm, id, userID string) store.Session {
	return store.Session{Realm: realm, ID: id, UserID: userID}
}

func newGrant(realm, id, clientID, userID string) store.Grant {
	return store.Grant{Realm: realm, ID: id, ClientID: clientID, UserID: userID}
}

// world is a realm with users u1 and u2 and clients c1 and c2.
func world(t *testing.T, s store.Store, realm string) {
	t.Helper()
	mustCreate(t, s, store.Realm{Name: realm})
	for _, id := range []string{"u1", "u2"} {
		u := newUser(realm, id)
		u.Enabled = true // enrollment needs an active user
		must(t, s.CreateUser, u)
	}
	for _, id := range []string{"c1", "c2"} {
		must(t, s.CreateClient, newClient(realm, id))
	}
}

// fullUser sets every field of a user that the caller owns.
func fullUser(realm, id string) store.User {
	return store.User{
		Realm: realm, ID: id, Username: "Ünïcode-" + id, Email: id + "@Example.COM", EmailVerified: true, Enabled: true,
		LockedUntil: instant(time.Hour),
		Profile: store.Profile{
			Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell", MiddleName: "Pleasance",
			Nickname: "al", Picture: "https://example.com/a.png", Website: "https://example.com",
			Gender: "female", Birthdate: "1852-05-04", Zoneinfo: "Europe/London", Locale: "en-GB",
			PhoneNumber: "+44 20 7946 0000", PhoneNumberVerified: true,
			Address: store.Address{
				Formatted: "1 Rabbit Hole\nOxford", StreetAddress: "1 Rabbit Hole", Locality: "Oxford",
				Region: "Oxfordshire", PostalCode: "OX1 1AA", Country: "GB",
			},
		},
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
		PasswordChangedAt: instant(-time.Hour),
		TOTPSecret:        []byte{0, 1, 2, 0xfe, 0xff},
		FailedLogins:      3,
		Attributes:        map[string]string{"department": "R&D", "note": "ß✓ \"quoted\""},
	}
}

// fullClient sets every field of a client that the caller owns.
func fullClient(realm, id string) store.Client {
	return store.Client{
		Realm: realm, ID: id, Name: "Full Client", Public: true,
		SecretHash:                  []byte{0xde, 0xad, 0, 0xbe, 0xef},
		AuthMethod:                  "private_key_jwt",
		TokenEndpointAuthSigningAlg: "ES256",
		RedirectURIs:                []string{"https://app.example.com/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:      []string{"https://app.example.com/bye"},
		GrantTypes:                  []string{"authorization_code", "refresh_token"},
		ResponseTypes:               []string{"code"},
		Scopes:                      []string{"openid", "profile", "offline_access"},
		JWKS:                        []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]}`),
		JWKSURI:                     "https://app.example.com/jwks.json",
		IDTokenSignedResponseAlg:    "ES256",
		UserinfoSignedResponseAlg:   "RS256",
		RequestObjectSigningAlg:     "PS256",
		AccessTokenTTL:              5 * time.Minute,
		IDTokenTTL:                  time.Hour + time.Nanosecond,
		RefreshTokenIdleTTL:         24 * time.Hour,
		RefreshTokenMaxTTL:          90 * 24 * time.Hour,
		RefreshRotation:             true,
		ConsentRequired:             true,
		LogoURI:                     "https://app.example.com/logo.png",
		PolicyURI:                   "https://app.example.com/policy",
		TOSURI:                      "https://app.example.com/tos",
		ClientURI:                   "https://app.example.com",
		Contacts:                    []string{"ops@example.com"},
		SubjectType:                 "pairwise",
		SectorIdentifierURI:         "https://app.example.com/sector.json",
		Dynamic:                     true,
		RegistrationTokenHash:       []byte{1, 2, 3},
		TLSClientCertificates:       []string{strings.Repeat("0a", 32)},
		TLSClientAuthSubjectDN:      "CN=billing,O=Example Bank,C=DE",
		Enabled:                     true,
		Attributes:                  map[string]string{"team": "payments"},
	}
}

// fullSession sets every field of a session that the caller owns.
func fullSession(realm, id, userID string) store.Session {
	return store.Session{
		Realm: realm, ID: id, UserID: userID,
		SecretHash: []byte{9, 8, 7, 0},
		AuthTime:   instant(-time.Minute),
		AMR:        []string{"pwd", "otp"},
		ACR:        "urn:signet:acr:mfa",
		IP:         "2001:db8::1",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64)",
		CreatedAt:  instant(0),
		LastSeenAt: instant(time.Minute),
		ExpiresAt:  instant(12 * time.Hour),
	}
}

// fullGrant sets every field of a grant that the caller owns.
func fullGrant(realm, id, clientID, userID, sessionID string) store.Grant {
	return store.Grant{
		Realm: realm, ID: id, ClientID: clientID, UserID: userID, SessionID: sessionID,
		Scopes:            []string{"openid", "email", "offline_access"},
		Claims:            []byte(`{"userinfo":{"email":{"essential":true}}}`),
		AuthTime:          instant(-time.Minute),
		AMR:               []string{"pwd"},
		ACR:               "1",
		RefreshHash:       []byte{1, 1, 1},
		PrevRefreshHash:   []byte{0, 0, 0},
		PrevValidUntil:    instant(30 * time.Second),
		RefreshGeneration: 7,
		CreatedAt:         instant(0),
		LastUsedAt:        instant(time.Second),
		ExpiresAt:         instant(30 * 24 * time.Hour),
		RevokedAt:         instant(2 * time.Second),
		RevokedReason:     "logout",
	}
}

// checkDeleteExpired creates, through create, records of user u1 in two realms that
// expired before a cutoff, at it, after it and never; deleteExpired at the cutoff must
// remove the first in each realm and no other, as left lists them.
func checkDeleteExpired(t *testing.T, s store.Store, what string, create func(realm, id string, expires time.Time),
	deleteExpired func(context.Context, time.Time) (int, error), left func(realm string) []string,
) {
	t.Helper()
	cutoff := instant(0)
	for _, realm := range []string{"r", "r2"} {
		world(t, s, realm)
		create(realm, "expired", cutoff.Add(-time.Microsecond))
		create(realm, "at", cutoff)
		create(realm, "later", cutoff.Add(time.Hour))
		create(realm, "never", time.Time{})
	}
	n, err := deleteExpired(t.Context(), cutoff)
	ok(t, what, err)
	if n != 2 {
		t.Errorf("%s = %d, want 2 (one per realm)", what, n)
	}
	for _, realm := range []string{"r", "r2"} {
		got := left(realm)
		slices.Sort(got)
		if want := []string{"at", "later", "never"}; !slices.Equal(got, want) {
			t.Errorf("after %s, %s holds %v, want %v", what, realm, got, want)
		}
	}
	if n, err := deleteExpired(t.Context(), time.Time{}); err != nil || n != 0 {
		t.Errorf("%s(zero time) = %d, %v; want 0, nil", what, n, err)
	}
}
