package authn

import (
	"strconv"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// How the approval of a push login from the login pages is tied to the page that asked
// (a realm's AttrNumberMatching).
const (
	// NumberMatchingPick, the default: the page shows a two-digit number, the phone offers
	// it among three (message.Request.NumberChoices) and the user picks the one the page
	// shows; another number is a denial.
	NumberMatchingPick = "pick"
	// NumberMatchingOff: no number; the phone asks to approve or deny only. A user used to
	// approving may approve an attacker's request (MFA fatigue): only the per-user limits
	// and the cooldown stand in the way.
	NumberMatchingOff = "off"
)

// The reserved realm attributes of a realm's Policy (the admin API's realm settings
// number_matching, max_pending_per_user, denials_before_cooldown, denial_window and
// cooldown). Durations are Go durations.
const (
	AttrNumberMatching        = "signet.authn.number_matching"
	AttrMaxPending            = "signet.authn.max_pending_per_user"
	AttrDenialsBeforeCooldown = "signet.authn.denials_before_cooldown"
	AttrDenialWindow          = "signet.authn.denial_window"
	AttrCooldown              = "signet.authn.cooldown"
)

// Policy is a realm's policy for the requests made for its users: number matching and the
// push-bombing limits (see Config). A limit that is zero takes the node's.
type Policy struct {
	// NumberMatching applies to push logins (KindPushLogin) that carry a number: an empty
	// value or any other than NumberMatchingOff is NumberMatchingPick. A QR login keeps
	// its number whatever the policy: its code can be shown to someone other than the one
	// at the page (a relayed code), and only the number ties the approval to the page.
	NumberMatching        string        `json:"number_matching,omitempty"`
	MaxPending            int           `json:"max_pending,omitempty"`
	DenialsBeforeCooldown int           `json:"denials_before_cooldown,omitempty"`
	DenialWindow          time.Duration `json:"denial_window,omitempty"`
	Cooldown              time.Duration `json:"cooldown,omitempty"`
}

// RealmPolicy is the policy realm's attributes set; a limit they leave out, or set to
// something other than a positive value, is zero (the node's applies).
func RealmPolicy(realm store.Realm) Policy {
	a := realm.Attributes
	p := Policy{NumberMatching: NumberMatchingPick}
	if a[AttrNumberMatching] == NumberMatchingOff {
		p.NumberMatching = NumberMatchingOff
	}
	positive := func(attr string) int {
		if n, err := strconv.Atoi(a[attr]); err == nil && n > 0 {
			return n
		}
		return 0
	}
	duration := func(attr string) time.Duration {
		if d, err := time.ParseDuration(a[attr]); err == nil && d > 0 {
			return d
		}
		return 0
	}
	p.MaxPending = positive(AttrMaxPending)
	p.DenialsBeforeCooldown = positive(AttrDenialsBeforeCooldown)
	p.DenialWindow = duration(AttrDenialWindow)
	p.Cooldown = duration(AttrCooldown)
	return p
}

// Or is p with def's values where p has none.
func (p Policy) Or(def Policy) Policy {
	p.NumberMatching = orDefault(p.NumberMatching, def.NumberMatching)
	if p.NumberMatching != NumberMatchingOff {
		p.NumberMatching = NumberMatchingPick
	}
	p.MaxPending = orDefault(p.MaxPending, def.MaxPending)
	p.DenialsBeforeCooldown = orDefault(p.DenialsBeforeCooldown, def.DenialsBeforeCooldown)
	p.DenialWindow = orDefault(p.DenialWindow, def.DenialWindow)
	p.Cooldown = orDefault(p.Cooldown, def.Cooldown)
	return p
}

// Defaults is the policy that applies where a realm sets none: c's limits, the
// package's defaults where c sets none, and number matching.
func (c Config) Defaults() Policy {
	c = c.withDefaults()
	return Policy{NumberMatching: NumberMatchingPick, MaxPending: c.MaxPending,
		DenialsBeforeCooldown: c.DenialsBeforeCooldown, DenialWindow: c.DenialWindow, Cooldown: c.Cooldown}
}

// withDefaults is c with the package's defaults where c sets none.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxPending = orDefault(c.MaxPending, 3)
	c.MaxCreated = orDefault(c.MaxCreated, 10)
	c.CreatedWindow = orDefault(c.CreatedWindow, 10*time.Minute)
	c.DenialsBeforeCooldown = orDefault(c.DenialsBeforeCooldown, 3)
	c.DenialWindow = orDefault(c.DenialWindow, 10*time.Minute)
	c.Cooldown = orDefault(c.Cooldown, 2*time.Minute)
	c.Retention = orDefault(c.Retention, 10*time.Minute)
	return c
}
