package admin

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// RealmSettings are the realm's policies as they apply: the values its reserved
// attributes set, the defaults where they set none. Durations are seconds.
type RealmSettings struct {
	SSOIdleTimeout   int64  `json:"sso_idle_timeout"`
	SSOMaxLifespan   int64  `json:"sso_max_lifespan"`
	LockoutThreshold int    `json:"lockout_threshold"`
	LockoutDuration  int64  `json:"lockout_duration"`
	Registration     string `json:"registration"`
	DeviceMaxPerUser int    `json:"device_max_per_user"`
	// LoginFirstFactors are the ways the login pages offer to sign in: "password", "phone".
	LoginFirstFactors []string `json:"login_first_factors"`
	// LoginSecondFactors are asked after a password when the user has them: "totp", "phone".
	LoginSecondFactors []string `json:"login_second_factors"`
	// DeviceNotMe is what a denial marked "this wasn't me" does besides its event.
	DeviceNotMe string `json:"device_not_me"`
	// NumberMatching is how the phone approval of a sign-in from the login pages is tied
	// to the page: "pick" (the user picks the number the page shows) or "off".
	NumberMatching string `json:"number_matching"`
	// MaxPendingPerUser, DenialsBeforeCooldown, DenialWindow and Cooldown bound the phone
	// requests of one user (push bombing): the node's limits where the realm sets none.
	MaxPendingPerUser     int   `json:"max_pending_per_user"`
	DenialsBeforeCooldown int   `json:"denials_before_cooldown"`
	DenialWindow          int64 `json:"denial_window"`
	Cooldown              int64 `json:"cooldown"`
}

// RealmSettingsPatch changes realm settings: a field left out (or null) keeps its value.
type RealmSettingsPatch struct {
	SSOIdleTimeout     *int64    `json:"sso_idle_timeout"`
	SSOMaxLifespan     *int64    `json:"sso_max_lifespan"`
	LockoutThreshold   *int      `json:"lockout_threshold"`
	LockoutDuration    *int64    `json:"lockout_duration"`
	Registration       *string   `json:"registration"`
	DeviceMaxPerUser   *int      `json:"device_max_per_user"`
	LoginFirstFactors  *[]string `json:"login_first_factors"`
	LoginSecondFactors *[]string `json:"login_second_factors"`
	DeviceNotMe        *string   `json:"device_not_me"`
	// NumberMatching "off" is a deliberate choice: it opens the door to MFA fatigue.
	NumberMatching        *string `json:"number_matching"`
	MaxPendingPerUser     *int    `json:"max_pending_per_user"`
	DenialsBeforeCooldown *int    `json:"denials_before_cooldown"`
	DenialWindow          *int64  `json:"denial_window"`
	Cooldown              *int64  `json:"cooldown"`
}

// Bounds of the realm settings.
const (
	minSSOTimeout      = time.Minute
	maxSSOLifespan     = 365 * 24 * time.Hour
	maxLockoutDuration = 24 * time.Hour
	maxLockoutAttempts = 1000
	maxDevicesPerUser  = 100
	maxPendingPerUser  = 20
	maxDenials         = 100
	minDenialWindow    = time.Minute
	maxDenialWindow    = 24 * time.Hour
	maxCooldown        = 24 * time.Hour
)

// WithRequestPolicy gives the node's policy for phone requests (authn.Config.Defaults):
// the realm settings show its limits where a realm sets none. Without it, authn's
// defaults.
func WithRequestPolicy(p authn.Policy) Option { return func(a *API) { a.requestPolicy = p } }

// realmSettings reads the settings the way the packages that enforce them do, so the
// representation shows what applies; node is the node's request policy, which applies
// where the realm sets none.
func realmSettings(r store.Realm, node authn.Policy) RealmSettings {
	idle, absolute := session.Timeouts(r)
	threshold, lock := login.LockoutPolicy(r)
	requests := authn.RealmPolicy(r).Or(node.Or(authn.Config{}.Defaults()))
	return RealmSettings{
		SSOIdleTimeout: seconds(idle), SSOMaxLifespan: seconds(absolute),
		LockoutThreshold: threshold, LockoutDuration: seconds(lock),
		Registration: oidc.RegistrationPolicy(r), DeviceMaxPerUser: device.MaxDevices(r),
		LoginFirstFactors: login.FirstFactors(r), LoginSecondFactors: login.SecondFactors(r), DeviceNotMe: device.NotMePolicy(r),
		NumberMatching: requests.NumberMatching, MaxPendingPerUser: requests.MaxPending,
		DenialsBeforeCooldown: requests.DenialsBeforeCooldown, DenialWindow: seconds(requests.DenialWindow),
		Cooldown: seconds(requests.Cooldown),
	}
}

// check refuses values out of range, each problem naming its field. The rule that
// binds two fields (idle timeout within the lifespan) needs the stored realm: see
// apply.
func (s *RealmSettingsPatch) check() error {
	if s == nil {
		return nil
	}
	if err := checkSeconds("settings.sso_idle_timeout", s.SSOIdleTimeout, minSSOTimeout, maxSSOLifespan); err != nil {
		return err
	}
	if err := checkSeconds("settings.sso_max_lifespan", s.SSOMaxLifespan, minSSOTimeout, maxSSOLifespan); err != nil {
		return err
	}
	if n := s.LockoutThreshold; n != nil && (*n < 1 || *n > maxLockoutAttempts) {
		return rest.BadRequest("settings.lockout_threshold must be between 1 and %d", maxLockoutAttempts)
	}
	if err := checkSeconds("settings.lockout_duration", s.LockoutDuration, time.Second, maxLockoutDuration); err != nil {
		return err
	}
	if n := s.DeviceMaxPerUser; n != nil && (*n < 1 || *n > maxDevicesPerUser) {
		return rest.BadRequest("settings.device_max_per_user must be between 1 and %d", maxDevicesPerUser)
	}
	if err := checkFactors("settings.login_first_factors", s.LoginFirstFactors, login.FactorPassword, login.FactorPhone); err != nil {
		return err
	}
	if err := checkFactors("settings.login_second_factors", s.LoginSecondFactors, login.FactorTOTP, login.FactorPhone); err != nil {
		return err
	}
	if p := s.DeviceNotMe; p != nil && *p != device.NotMeLockDevice && *p != device.NotMeLockUser && *p != device.NotMeReport {
		return rest.BadRequest("settings.device_not_me must be %q, %q or %q", device.NotMeLockDevice, device.NotMeLockUser, device.NotMeReport)
	}
	if p := s.NumberMatching; p != nil && *p != authn.NumberMatchingPick && *p != authn.NumberMatchingOff {
		return rest.BadRequest("settings.number_matching must be %q or %q", authn.NumberMatchingPick, authn.NumberMatchingOff)
	}
	if n := s.MaxPendingPerUser; n != nil && (*n < 1 || *n > maxPendingPerUser) {
		return rest.BadRequest("settings.max_pending_per_user must be between 1 and %d", maxPendingPerUser)
	}
	if n := s.DenialsBeforeCooldown; n != nil && (*n < 1 || *n > maxDenials) {
		return rest.BadRequest("settings.denials_before_cooldown must be between 1 and %d", maxDenials)
	}
	if err := checkSeconds("settings.denial_window", s.DenialWindow, minDenialWindow, maxDenialWindow); err != nil {
		return err
	}
	if err := checkSeconds("settings.cooldown", s.Cooldown, time.Second, maxCooldown); err != nil {
		return err
	}
	if p := s.Registration; p != nil {
		switch *p {
		case oidc.RegistrationOff, oidc.RegistrationToken, oidc.RegistrationOpen:
		default:
			return rest.BadRequest("settings.registration must be %q, %q or %q", oidc.RegistrationOff, oidc.RegistrationToken, oidc.RegistrationOpen)
		}
	}
	return nil
}

// checkFactors refuses a factor list that is empty, names an unknown factor or one twice.
func checkFactors(field string, f *[]string, known ...string) error {
	if f == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, v := range *f {
		if !slices.Contains(known, v) || seen[v] {
			return rest.BadRequest("%s must list %s, each at most once", field, strings.Join(known, " and "))
		}
		seen[v] = true
	}
	if len(seen) == 0 {
		return rest.BadRequest("%s must name at least one factor", field)
	}
	return nil
}

// checkSeconds refuses a number of seconds outside [lo, hi].
func checkSeconds(field string, v *int64, lo, hi time.Duration) error {
	if v != nil && (*v < seconds(lo) || *v > seconds(hi)) {
		return rest.BadRequest("%s must be between %d and %d seconds", field, seconds(lo), seconds(hi))
	}
	return nil
}

// apply stores the given settings in the realm's reserved attributes, in the forms the
// enforcing packages parse: Go durations and a decimal threshold. s must have passed
// check.
func (s *RealmSettingsPatch) apply(r *store.Realm) error {
	if s == nil {
		return nil
	}
	attrs := maps.Clone(r.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	duration := func(attr string, v *int64) {
		if v != nil {
			attrs[attr] = (time.Duration(*v) * time.Second).String()
		}
	}
	duration(session.AttrIdleTimeout, s.SSOIdleTimeout)
	duration(session.AttrAbsoluteTimeout, s.SSOMaxLifespan)
	duration(login.AttrLockoutDuration, s.LockoutDuration)
	duration(authn.AttrDenialWindow, s.DenialWindow)
	duration(authn.AttrCooldown, s.Cooldown)
	if s.LockoutThreshold != nil {
		attrs[login.AttrLockoutThreshold] = strconv.Itoa(*s.LockoutThreshold)
	}
	if s.Registration != nil {
		attrs[oidc.RegistrationPolicyAttribute] = *s.Registration
	}
	if s.DeviceMaxPerUser != nil {
		attrs[device.AttrMaxDevices] = strconv.Itoa(*s.DeviceMaxPerUser)
	}
	if s.LoginFirstFactors != nil {
		attrs[login.AttrFirstFactors] = strings.Join(*s.LoginFirstFactors, ",")
	}
	if s.LoginSecondFactors != nil {
		attrs[login.AttrSecondFactors] = strings.Join(*s.LoginSecondFactors, ",")
	}
	if s.DeviceNotMe != nil {
		attrs[device.AttrNotMePolicy] = *s.DeviceNotMe
	}
	if s.NumberMatching != nil {
		attrs[authn.AttrNumberMatching] = *s.NumberMatching
	}
	if s.MaxPendingPerUser != nil {
		attrs[authn.AttrMaxPending] = strconv.Itoa(*s.MaxPendingPerUser)
	}
	if s.DenialsBeforeCooldown != nil {
		attrs[authn.AttrDenialsBeforeCooldown] = strconv.Itoa(*s.DenialsBeforeCooldown)
	}
	if s.SSOIdleTimeout != nil || s.SSOMaxLifespan != nil {
		// Checked on the result, so a change of either one cannot break the rule.
		idle, absolute := session.Timeouts(store.Realm{Attributes: attrs})
		if idle > absolute {
			return rest.BadRequest("settings.sso_idle_timeout (%d seconds) must not exceed settings.sso_max_lifespan (%d seconds)",
				seconds(idle), seconds(absolute))
		}
	}
	r.Attributes = attrs
	return nil
}

// RegistrationToken is the answer to POST /realms/{realm}/registration-token: shown
// once; only its hash is stored.
type RegistrationToken struct {
	InitialAccessToken string `json:"initial_access_token"`
}

// newRegistrationToken gives the realm a new initial access token for dynamic client
// registration (RFC 7591 §3); the previous one stops working.
func (a *API) newRegistrationToken(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	token, err := a.provider.GenerateInitialAccessToken(r.Context(), realm.Name)
	if err != nil {
		return rest.StoreError(err, realmWhat(realm.Name))
	}
	a.log.Info("admin change", "what", "registration token generated", "realm", realm.Name)
	return rest.WriteJSON(w, http.StatusCreated, RegistrationToken{InitialAccessToken: token})
}
