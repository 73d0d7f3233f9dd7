package keys_test

import (
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/keys"
)

// A realm's key lifecycle end to end: plan, generate, seal for storage, publish, sign and
// verify.
func Example() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	plan := keys.Plan(now, keys.DefaultPolicy(), nil, keys.ES256)
	stored, err := keys.Apply(now, plan, nil, keys.Generate)
	if err != nil {
		panic(err)
	}

	// Sealed keys are what the store persists; a configured KEK opens them.
	b64, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(b64)
	ring, _ := keys.NewKeyring(kek)
	active, _ := keys.SigningKey(stored, keys.ES256)
	sealed, _ := ring.SealKey(active, "demo")
	opened, _ := ring.OpenKey(sealed, "demo", active.KID)

	token, _ := keys.Sign(opened, keys.TypeAccessToken, []byte(`{"sub":"alice"}`))
	jwks := keys.JWKS(keys.Published(stored))
	payload, header, err := keys.Verify(token, jwks, []keys.Alg{keys.ES256})
	fmt.Println(len(jwks.Keys), string(payload), keys.TypeIs(header, keys.TypeAccessToken), err)
	fmt.Println("next check in", plan.NextCheck.Sub(now))
	// Output:
	// 2 {"sub":"alice"} true <nil>
	// next check in 2160h0m0s
}
