package api

import "github.com/signet-auth/signet/internal/rest"

// Event is one entry of the realm's event log.
type Event = rest.Event
