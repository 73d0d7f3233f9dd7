-- Devices: enrolled phones, the activation codes that enroll them, the authentication
-- requests they answer, and the audit log of changes to devices and codes. Conventions
-- as in 0002: times are UTC unix nanoseconds, NULL when not set; byte fields are BLOBs;
-- the fields no query looks at are one JSON object in data.
CREATE TABLE devices (
	realm        TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id           TEXT    NOT NULL,
	user_id      TEXT    NOT NULL,
	public_key   BLOB    NOT NULL,
	state        TEXT    NOT NULL,
	data         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	last_seen_at INTEGER,
	version      INTEGER NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX devices_public_key ON devices (realm, public_key);
-- A device id is unique across realms: the channel handshake names a device by its id alone.
CREATE UNIQUE INDEX devices_id ON devices (id);
CREATE INDEX devices_created ON devices (realm, created_at, id);
-- Serves a user's listing and the count of their devices at enrollment.
CREATE INDEX devices_user ON devices (realm, user_id, created_at, id);

-- code_hash is unique across realms: a code is looked up by its hash alone.
-- device_id, in data, names the device a code enrolled, which may since be gone.
CREATE TABLE activation_codes (
	realm       TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id          TEXT    NOT NULL,
	code_hash   BLOB    NOT NULL,
	user_id     TEXT    NOT NULL,
	data        TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	redeemed_at INTEGER,
	version     INTEGER NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX activation_codes_hash ON activation_codes (code_hash);
CREATE INDEX activation_codes_created ON activation_codes (realm, created_at, id);
CREATE INDEX activation_codes_user ON activation_codes (realm, user_id, created_at, id);
CREATE INDEX activation_codes_expires ON activation_codes (expires_at);
CREATE INDEX activation_codes_redeemed ON activation_codes (redeemed_at);

-- The audit log names users and devices without referencing them: a row is the record
-- of what happened, and outlives what it names. It goes with the realm. AUTOINCREMENT
-- keeps seq from being reused after the newest rows are deleted with a realm.
CREATE TABLE audit_events (
	seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	realm     TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	at        INTEGER NOT NULL,
	user_id   TEXT    NOT NULL,
	device_id TEXT    NOT NULL,
	data      TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_events_realm ON audit_events (realm, seq);
CREATE INDEX audit_events_user ON audit_events (realm, user_id, seq);
CREATE INDEX audit_events_device ON audit_events (realm, device_id, seq);

CREATE TABLE authn_requests (
	realm                 TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id                    TEXT    NOT NULL,
	user_id               TEXT    NOT NULL,
	state                 TEXT    NOT NULL,
	authorization_details BLOB,
	signature             BLOB,
	data                  TEXT    NOT NULL,
	created_at            INTEGER NOT NULL,
	expires_at            INTEGER NOT NULL,
	answered_at           INTEGER,
	version               INTEGER NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
) STRICT;
-- A user's pending requests, what a device fetches when it connects.
CREATE INDEX authn_requests_pending ON authn_requests (realm, user_id, state, expires_at);
CREATE INDEX authn_requests_expires ON authn_requests (expires_at);
CREATE INDEX authn_requests_answered ON authn_requests (answered_at);

-- The device channel's static keys (not per realm: one channel serves every realm),
-- sealed under the key-encryption key. id is the key's fingerprint.
CREATE TABLE channel_keys (
	id         TEXT    NOT NULL PRIMARY KEY,
	sealed     BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER
) STRICT;
