package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/rest"
)

// Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a POST with an
// Idempotency-Key runs once per realm, client and key. While it runs, the same key gets
// 409; once it has succeeded, the same key and body get its answer again (status, body,
// Location, ETag) and a different body 422. An answer other than 2xx is not kept: the
// call made nothing, and may be repeated with the same key.
const (
	idempotencyKeep    = 24 * time.Hour
	idempotencyRunning = time.Minute // how long a crashed node's claim blocks the key
	maxIdempotencyKey  = 255
)

// idempotencyRecord is what the ephemeral store keeps of a key.
type idempotencyRecord struct {
	// Fingerprint is the SHA-256 of the method, path and body.
	Fingerprint []byte      `json:"fingerprint"`
	Done        bool        `json:"done"`
	Status      int         `json:"status,omitempty"`
	Header      http.Header `json:"header,omitempty"`
	// Body is the answer, sealed under the key-encryption key with the record's key as
	// associated data: answers carry secrets shown once (webhook secrets, activation
	// codes), which the ephemeral store must not hold in the clear.
	Body []byte `json:"body,omitempty"`
}

// idempotencyAAD binds a sealed answer to its record.
func idempotencyAAD(storeKey string) []byte { return []byte("signet idempotent answer\x00" + storeKey) }

// replayedHeaders are the response headers kept with an answer.
var replayedHeaders = []string{"Content-Type", "Location", "ETag", "Cache-Control"}

// idempotent runs h, once per Idempotency-Key when the request is a POST with one.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, h rest.HandlerFunc) error {
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || key == "" {
		return h(w, r)
	}
	if len(key) > maxIdempotencyKey || !printableASCII(key) {
		return rest.BadRequest("Idempotency-Key must be 1 to %d printable ASCII characters", maxIdempotencyKey)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rest.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return rest.TooLarge()
	}
	if err != nil {
		return rest.BadRequest("the body cannot be read")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%s\x00", r.Method, r.URL.Path, r.URL.RawQuery)
	sum.Write(body)
	c := caller(r)
	rec := idempotencyRecord{Fingerprint: sum.Sum(nil)}
	storeKey := "api:idem:" + c.Realm + "\x00" + c.ClientID + "\x00" + key
	ctx := r.Context()
	claim, _ := json.Marshal(rec)
	for attempt := 0; ; attempt++ {
		ok, err := a.cfg.Ephemeral.SetNX(ctx, storeKey, claim, idempotencyRunning)
		if err != nil {
			return fmt.Errorf("api: claim the idempotency key: %w", err)
		}
		if ok {
			break
		}
		e, err := a.cfg.Ephemeral.Get(ctx, storeKey)
		if errors.Is(err, ephemeral.ErrNotFound) && attempt < 3 {
			continue // the first call failed and let the key go a moment ago
		}
		if err != nil {
			return fmt.Errorf("api: read the idempotency key: %w", err)
		}
		var prev idempotencyRecord
		if err := json.Unmarshal(e.Value, &prev); err != nil {
			return fmt.Errorf("api: idempotency record: %w", err)
		}
		switch {
		case !bytes.Equal(prev.Fingerprint, rec.Fingerprint):
			return rest.Problemf(http.StatusUnprocessableEntity, "this Idempotency-Key was used with another request; use a new key")
		case !prev.Done:
			return &rest.Problem{Status: http.StatusConflict, Detail: "a request with this Idempotency-Key is still being processed; try again shortly",
				Header: http.Header{"Retry-After": {"1"}}}
		}
		answer, err := a.openAnswer(storeKey, prev.Body)
		if err != nil {
			return err
		}
		for _, name := range replayedHeaders {
			if v := prev.Header.Get(name); v != "" {
				w.Header().Set(name, v)
			}
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(prev.Status)
		_, err = w.Write(answer)
		return err
	}

	rw := &recorder{header: http.Header{}, status: http.StatusOK}
	defer func() {
		if rec.Done {
			return
		}
		// Failed, refused or panicked: nothing was made, the key is free again.
		release, cancel := contextWithoutCancel(ctx)
		defer cancel()
		if err := a.cfg.Ephemeral.Delete(release, storeKey); err != nil {
			a.cfg.Log.Warn("api: release an idempotency key", "err", err)
		}
	}()
	herr := h(rw, r)
	if herr == nil && rw.status >= 200 && rw.status < 300 {
		a.keepAnswer(ctx, storeKey, &rec, rw)
	}
	for k, vs := range rw.header {
		w.Header()[k] = vs
	}
	if herr != nil {
		return herr
	}
	w.WriteHeader(rw.status)
	_, err = w.Write(rw.body.Bytes())
	return err
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// recorder holds an answer until it is kept.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// contextWithoutCancel bounds what must happen after a call even if its caller left.
func contextWithoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// keepAnswer keeps a successful answer under its key for idempotencyKeep, its body
// sealed. When it cannot be kept, the key is let go (rec.Done stays false) and a retry
// makes the call again; the log says so.
func (a *API) keepAnswer(ctx context.Context, storeKey string, rec *idempotencyRecord, rw *recorder) {
	sealed, err := a.sealAnswer(storeKey, rw.body.Bytes())
	if err != nil {
		a.cfg.Log.Error("api: seal an idempotent answer", "err", err)
		return
	}
	rec.Done, rec.Status, rec.Body, rec.Header = true, rw.status, sealed, http.Header{}
	for _, name := range replayedHeaders {
		if v := rw.header.Get(name); v != "" {
			rec.Header.Set(name, v)
		}
	}
	done, _ := json.Marshal(rec)
	keep, cancel := contextWithoutCancel(ctx)
	defer cancel()
	if _, err := a.cfg.Ephemeral.Set(keep, storeKey, done, idempotencyKeep); err != nil {
		// The call is made: the claim stays until it expires, and a retry after that
		// would make it again, so say so in the log.
		a.cfg.Log.Error("api: keep an idempotent answer", "err", err)
	}
}

// sealAnswer seals an answer's body for the ephemeral store. Without a keyring (a node
// configured without one, tests) answers are not kept: a repeat makes the call again.
func (a *API) sealAnswer(storeKey string, body []byte) ([]byte, error) {
	if a.cfg.Keyring == nil {
		return nil, errors.New("no key-encryption key to seal answers with")
	}
	return a.cfg.Keyring.Seal(body, idempotencyAAD(storeKey))
}

// openAnswer opens a kept answer's body.
func (a *API) openAnswer(storeKey string, sealed []byte) ([]byte, error) {
	if a.cfg.Keyring == nil {
		return nil, errors.New("api: no key-encryption key to open a kept answer with")
	}
	body, err := a.cfg.Keyring.Open(sealed, idempotencyAAD(storeKey))
	if err != nil {
		return nil, fmt.Errorf("api: open a kept answer: %w", err)
	}
	return body, nil
}
