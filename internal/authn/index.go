package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
)

// Each user's pending requests are listed under one key: the devices read it to list
// what waits, and its length bounds how many requests wait at once (push bombing). An
// entry leaves the list when its request leaves Pending, or at its expiry at the latest,
// so a list that missed a removal (a node that died mid-change) heals by itself.

type listed struct {
	ID        string `json:"id"`
	ExpiresAt int64  `json:"exp"` // Unix nanoseconds
}

func indexKey(realm, user string) string { return "authn:u:" + realm + "\x00" + user }

// admit refuses a user in a cooldown or with as many requests waiting as r's policy
// allows, and lists r.
func (s *Service) admit(ctx context.Context, r *Request) error {
	if _, err := s.cfg.Store.Get(ctx, cooldownKey(r.Realm, r.UserID)); err == nil {
		return ErrCoolingDown
	} else if !errors.Is(err, ephemeral.ErrNotFound) {
		return fmt.Errorf("authn: read the cooldown: %w", err)
	}
	// Every creation counts, and a cancel gives nothing back.
	n, err := s.cfg.Store.Incr(ctx, "authn:n:"+r.Realm+"\x00"+r.UserID, s.cfg.CreatedWindow)
	if err != nil {
		return fmt.Errorf("authn: count the user's requests: %w", err)
	}
	if n > int64(s.cfg.MaxCreated) {
		return ErrTooManyCreated
	}
	return s.editList(ctx, r.Realm, r.UserID, func(list []listed) ([]listed, error) {
		if len(list) >= r.Policy.MaxPending {
			return nil, ErrTooManyPending
		}
		return append(list, listed{ID: r.ID, ExpiresAt: r.ExpiresAt.UnixNano()}), nil
	})
}

// unlist takes request id off the user's list; a failure only leaves the entry until
// the request's expiry.
func (s *Service) unlist(ctx context.Context, realm, user, id string) {
	err := s.editList(ctx, realm, user, func(list []listed) ([]listed, error) {
		out := list[:0]
		for _, e := range list {
			if e.ID != id {
				out = append(out, e)
			}
		}
		return out, nil
	})
	if err != nil {
		s.log.Warn("authn: take a request off its user's list", "request", id, "err", err)
	}
}

// listed returns the ids on the user's list that have not expired.
func (s *Service) listed(ctx context.Context, realm, user string) ([]string, error) {
	list, _, err := s.readList(ctx, realm, user)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.ID
	}
	return ids, nil
}

// readList reads the user's list without the expired entries, and its version (0 when
// there is none).
func (s *Service) readList(ctx context.Context, realm, user string) ([]listed, uint64, error) {
	e, err := s.cfg.Store.Get(ctx, indexKey(realm, user))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("authn: read the user's requests: %w", err)
	}
	var list []listed
	if err := json.Unmarshal(e.Value, &list); err != nil {
		return nil, 0, fmt.Errorf("authn: the user's request list: %w", err)
	}
	now := s.cfg.Now().UnixNano()
	live := list[:0]
	for _, l := range list {
		if l.ExpiresAt > now {
			live = append(live, l)
		}
	}
	return live, e.Version, nil
}

// editList applies fn to the user's list with a compare-and-swap, again on a conflict.
// The key lives until the last entry's expiry.
func (s *Service) editList(ctx context.Context, realm, user string, fn func([]listed) ([]listed, error)) error {
	key := indexKey(realm, user)
	for attempt := 0; ; attempt++ {
		list, version, err := s.readList(ctx, realm, user)
		if err != nil {
			return err
		}
		list, err = fn(list)
		if err != nil {
			return err
		}
		ttl, now := time.Second, s.cfg.Now()
		for _, l := range list {
			ttl = max(ttl, time.Unix(0, l.ExpiresAt).Sub(now)+time.Second)
		}
		b, err := json.Marshal(list)
		if err != nil {
			return err
		}
		if version == 0 {
			var ok bool
			if ok, err = s.cfg.Store.SetNX(ctx, key, b, ttl); err == nil && !ok {
				err = ephemeral.ErrConflict
			}
		} else {
			_, err = s.cfg.Store.CompareAndSwap(ctx, key, version, b, ttl)
		}
		switch {
		case err == nil:
			return nil
		case (errors.Is(err, ephemeral.ErrConflict) || errors.Is(err, ephemeral.ErrNotFound)) && attempt < 32:
			continue
		default:
			return fmt.Errorf("authn: write the user's requests: %w", err)
		}
	}
}
