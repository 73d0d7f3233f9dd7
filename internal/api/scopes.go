package api

// Scopes an API client holds: a client identified by its certificate has the scopes
// it is registered with, a bearer token those it was issued with (client credentials).
const (
	ScopeUsersRead             = "signet:users:read"
	ScopeUsersWrite            = "signet:users:write"
	ScopeDevicesRead           = "signet:devices:read"
	ScopeDevicesWrite          = "signet:devices:write"
	ScopeActivationsWrite      = "signet:activations:write"
	ScopeAuthenticationsCreate = "signet:authentications:create"
	ScopeTransactionsCreate    = "signet:transactions:create"
	ScopeEventsRead            = "signet:events:read"
	ScopeWebhooksManage        = "signet:webhooks:manage"
)

// Scopes describes every scope of the API; the OpenAPI document's security schemes
// list exactly these.
var Scopes = map[string]string{
	ScopeUsersRead:             "Read users (a write scope implies it).",
	ScopeUsersWrite:            "Create, update, lock, unlock and delete users.",
	ScopeDevicesRead:           "Read devices and activation codes (a write scope implies it).",
	ScopeDevicesWrite:          "Rename, lock, unlock and remove devices.",
	ScopeActivationsWrite:      "Create, list and revoke activation codes.",
	ScopeAuthenticationsCreate: "Start, read and cancel the client's own authentication requests.",
	ScopeTransactionsCreate:    "Start, read and cancel the client's own transaction requests and read their receipts.",
	ScopeEventsRead:            "Read the realm's event log.",
	ScopeWebhooksManage:        "Manage the realm's webhook subscriptions.",
}
