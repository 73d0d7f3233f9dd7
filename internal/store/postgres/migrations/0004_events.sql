-- The event log: state changes business applications hear of, the outbox callbacks are
-- delivered from in seq order. A row names users and requests without referencing them;
-- it goes with the realm. data is TEXT, not JSONB, so it reads back byte for byte.
CREATE TABLE events (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	realm   TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	type    TEXT COLLATE "C" NOT NULL,
	subject TEXT COLLATE "C" NOT NULL,
	user_id TEXT COLLATE "C" NOT NULL,
	at      TIMESTAMPTZ NOT NULL,
	data    TEXT        NOT NULL
);
CREATE INDEX events_realm ON events (realm, seq);
CREATE INDEX events_type ON events (realm, type, seq);
CREATE INDEX events_subject ON events (realm, subject, seq);
CREATE INDEX events_user ON events (realm, user_id, seq);
