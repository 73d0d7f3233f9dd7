-- The first outcome of each authentication request, claimed in the transaction that
-- writes the outcome's events (store.WriteOutbox): of two outcomes made at once, on one
-- node or two, the one that claims first is the request's. Keyed by the request's
-- creation time first, so that claims are appended at the right edge of the index
-- rather than each taking a random leaf page (request ids are random; see 0005). Claims
-- are kept while a request can still change (its life and retention) and purged after,
-- a range at the start of the key.
CREATE TABLE authn_outcomes (
	created_at TIMESTAMPTZ NOT NULL,
	realm      TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id         TEXT COLLATE "C" NOT NULL,
	state      TEXT        NOT NULL,
	-- Random, from the writer of the claim: a writer that cannot tell whether its
	-- commit landed (the connection closed) and writes again knows its own claim.
	token      TEXT        NOT NULL,
	PRIMARY KEY (created_at, realm, id)
);
-- No index on realm: deleting a realm, rare, scans the claims (a day's at most) rather
-- than every claim paying for one more index.
