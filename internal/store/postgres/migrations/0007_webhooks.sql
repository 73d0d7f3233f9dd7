-- Webhooks: the realms' subscriptions to their event log, and the deliveries of events
-- to them and to per-request callbacks. The event log (0004) is the outbox: the
-- transaction that appends an event inserts its deliveries. Conventions as in 0003.
CREATE TABLE webhook_subscriptions (
	realm      TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id         TEXT COLLATE "C" NOT NULL,
	url        TEXT        NOT NULL,
	enabled    BOOLEAN     NOT NULL,
	-- The signing secrets, sealed under the key-encryption key.
	secrets    BYTEA       NOT NULL,
	data       JSONB       NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	version    BIGINT      NOT NULL,
	PRIMARY KEY (realm, id)
);
CREATE INDEX webhook_subscriptions_created ON webhook_subscriptions (realm, created_at, id);

-- What each subscription hears, one row per pattern, so that an append matches its
-- events in SQL: pattern is a type, or with prefix set the start of every type it
-- matches ('' for every type).
CREATE TABLE webhook_subscription_types (
	realm           TEXT COLLATE "C" NOT NULL,
	subscription_id TEXT COLLATE "C" NOT NULL,
	pattern         TEXT COLLATE "C" NOT NULL,
	prefix          BOOLEAN NOT NULL,
	PRIMARY KEY (realm, subscription_id, pattern, prefix),
	FOREIGN KEY (realm, subscription_id) REFERENCES webhook_subscriptions (realm, id) ON DELETE CASCADE
);

-- One event on its way to one subscription (subscription_id) or callback (url and its
-- sealed headers). The body is the event's row. A leased row's next_attempt_at is the
-- end of its lease, so an abandoned claim falls due again by itself.
CREATE TABLE webhook_deliveries (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	realm           TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	subscription_id TEXT COLLATE "C",
	url             TEXT,
	headers         BYTEA,
	event_seq       BIGINT      NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
	state           TEXT        NOT NULL,
	attempts        INTEGER     NOT NULL,
	next_attempt_at TIMESTAMPTZ NOT NULL,
	scheduled_at    TIMESTAMPTZ NOT NULL,
	lease_until     TIMESTAMPTZ,
	lease_token     TEXT,
	last_status     INTEGER     NOT NULL DEFAULT 0,
	last_error      TEXT        NOT NULL DEFAULT '',
	created_at      TIMESTAMPTZ NOT NULL,
	delivered_at    TIMESTAMPTZ,
	FOREIGN KEY (realm, subscription_id) REFERENCES webhook_subscriptions (realm, id) ON DELETE CASCADE
);
-- Listings, newest first, of a realm and of a subscription (which also serves the
-- cascade from a subscription), and of an event's deliveries (also the cascade from
-- the event log).
CREATE INDEX webhook_deliveries_realm ON webhook_deliveries (realm, id);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (realm, subscription_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);
-- Claims: the due deliveries in order; a subscription's due ones, which hold its later
-- deliveries back and which a worker that delivered its claim of them continues with;
-- and the leased ones of a subscription, which hold its later deliveries back too.
-- They hold only pending rows (the last only leased ones), so they stay small however
-- long the history.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id, realm, subscription_id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (realm, subscription_id, next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (realm, subscription_id, lease_until)
	WHERE state = 'pending' AND lease_until IS NOT NULL;
