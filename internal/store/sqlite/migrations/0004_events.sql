-- The event log: state changes business applications hear of, the outbox callbacks are
-- delivered from in seq order. A row names users and requests without referencing them;
-- it goes with the realm. data is the event's JSON exactly as written.
CREATE TABLE events (
	seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	realm   TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	type    TEXT    NOT NULL,
	subject TEXT    NOT NULL,
	user_id TEXT    NOT NULL,
	at      INTEGER NOT NULL,
	data    TEXT    NOT NULL
) STRICT;
CREATE INDEX events_realm ON events (realm, seq);
CREATE INDEX events_type ON events (realm, type, seq);
CREATE INDEX events_subject ON events (realm, subject, seq);
CREATE INDEX events_user ON events (realm, user_id, seq);
