-- The first outcome of each authentication request, claimed in the transaction that
-- writes the outcome's events (store.WriteOutbox): of two outcomes made at once, on one
-- node or two, the one that claims first is the request's. Keyed by the request's
-- creation time first, so that claims are appended at the right edge of the table
-- rather than each taking a random leaf page (request ids are random; see 0005). Claims
-- are kept while a request can still change (its life and retention) and purged after.
CREATE TABLE authn_outcomes (
	realm      TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	id         TEXT    NOT NULL,
	state      TEXT    NOT NULL,
	PRIMARY KEY (realm, created_at, id)
) STRICT, WITHOUT ROWID;
