package oidc

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/store"
)

// Error is an OAuth 2.0 error (RFC 6749 §5.2, OIDC Core §3.1.2.6): the code and
// description the client sees, the HTTP status of a direct response, and the internal
// cause, which is logged and never shown.
type Error struct {
	Code        string
	Description string
	Status      int
	Cause       error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Description + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e carrying an internal cause for the log.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Cause = err
	return &c
}

func oauthError(code string, status int) func(description string) *Error {
	return func(description string) *Error { return &Error{Code: code, Description: description, Status: status} }
}

// Error constructors, one per code Signet answers (RFC 6749, RFC 7009, RFC 7591, RFC 8628,
// OIDC Core, OpenID CIBA).
var (
	InvalidRequest          = oauthError("invalid_request", http.StatusBadRequest)
	InvalidClient           = oauthError("invalid_client", http.StatusUnauthorized)
	InvalidGrant            = oauthError("invalid_grant", http.StatusBadRequest)
	UnauthorizedClient      = oauthError("unauthorized_client", http.StatusBadRequest)
	UnsupportedGrantType    = oauthError("unsupported_grant_type", http.StatusBadRequest)
	UnsupportedResponseType = oauthError("unsupported_response_type", http.StatusBadRequest)
	UnsupportedTokenType    = oauthError("unsupported_token_type", http.StatusBadRequest)
	InvalidScope            = oauthError("invalid_scope", http.StatusBadRequest)
	AccessDenied            = oauthError("access_denied", http.StatusForbidden)
	// AccessDeniedToken is access_denied as the token endpoint answers it (RFC 6749 §5.2).
	AccessDeniedToken = oauthError("access_denied", http.StatusBadRequest)
	// TooManyRequests refuses a client that asks too often (RFC 6585).
	TooManyRequests        = oauthError("slow_down", http.StatusTooManyRequests)
	InvalidToken           = oauthError("invalid_token", http.StatusUnauthorized)
	InsufficientScope      = oauthError("insufficient_scope", http.StatusForbidden)
	LoginRequired          = oauthError("login_required", http.StatusBadRequest)
	ConsentRequired        = oauthError("consent_required", http.StatusBadRequest)
	InteractionRequired    = oauthError("interaction_required", http.StatusBadRequest)
	RequestNotSupported    = oauthError("request_not_supported", http.StatusBadRequest)
	RequestURINotSupported = oauthError("request_uri_not_supported", http.StatusBadRequest)
	InvalidRequestObject   = oauthError("invalid_request_object", http.StatusBadRequest)
	InvalidRequestURI      = oauthError("invalid_request_uri", http.StatusBadRequest)
	InvalidRedirectURI     = oauthError("invalid_redirect_uri", http.StatusBadRequest)
	InvalidClientMetadata  = oauthError("invalid_client_metadata", http.StatusBadRequest)
	AuthorizationPending   = oauthError("authorization_pending", http.StatusBadRequest)
	SlowDown               = oauthError("slow_down", http.StatusBadRequest)
	ExpiredToken           = oauthError("expired_token", http.StatusBadRequest)
	InvalidBindingMessage  = oauthError("invalid_binding_message", http.StatusBadRequest)
	InvalidDPoPProof       = oauthError("invalid_dpop_proof", http.StatusBadRequest)
	ServerError            = oauthError("server_error", http.StatusInternalServerError)
	TemporarilyUnavailable = oauthError("temporarily_unavailable", http.StatusServiceUnavailable)
)

// AsError turns any error into the OAuth error a client sees: an *Error as it is; a
// storage or ephemeral-store outage as temporarily_unavailable (503, so callers retry and
// nothing is reported as done that was not); anything else as server_error.
func AsError(err error) *Error {
	var oe *Error
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, ephemeral.ErrUnavailable):
		return TemporarilyUnavailable("the service is temporarily unavailable; try again").WithCause(err)
	default:
		return ServerError("internal error").WithCause(err)
	}
}

// HandlerFunc is an endpoint that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// JSONHandler adapts an endpoint whose errors are answered directly as JSON (token,
// introspection, revocation, registration, PAR, CIBA). Causes are logged, never sent.
func JSONHandler(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteJSONError(w, r, log, err)
		}
	})
}

// WriteJSONError writes err as an RFC 6749 §5.2 error response.
func WriteJSONError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	oe := AsError(err)
	logError(r, log, oe)
	h := w.Header()
	setNoStoreJSON(h)
	var bc errBearerChallenge
	switch {
	case errors.As(oe.Cause, &bc):
		// RFC 6750 §3: resource errors carry a Bearer challenge.
		v := `Bearer realm="signet"`
		if bc.code != "" {
			v += `, error="` + bc.code + `"`
		}
		h.Set("WWW-Authenticate", v)
	case oe.Status == http.StatusUnauthorized && oe.Code == "invalid_client":
		// RFC 6749 §5.2: a 401 for client authentication names the scheme.
		h.Set("WWW-Authenticate", `Basic realm="signet", charset="UTF-8"`)
	}
	w.WriteHeader(oe.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.Code, oe.Description})
}

func logError(r *http.Request, log *slog.Logger, oe *Error) {
	level := slog.LevelDebug
	if oe.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("error", oe.Code), slog.String("request_id", ops.RequestID(r.Context()))}
	if oe.Cause != nil {
		attrs = append(attrs, slog.String("cause", oe.Cause.Error()))
	}
	log.LogAttrs(r.Context(), level, "oauth error", attrs...)
}
