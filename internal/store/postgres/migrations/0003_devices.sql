-- Devices: enrolled phones, the activation codes that enroll them, the authentication
-- requests they answer, and the audit log of changes to devices and codes. Conventions
-- as in 0002: times are NULL when not set; key columns are COLLATE "C"; the fields no
-- query looks at are one JSON object in data.
CREATE TABLE devices (
	realm        TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id           TEXT COLLATE "C" NOT NULL,
	user_id      TEXT COLLATE "C" NOT NULL,
	public_key   BYTEA       NOT NULL,
	state        TEXT        NOT NULL,
	data         JSONB       NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	last_seen_at TIMESTAMPTZ,
	version      BIGINT      NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX devices_public_key ON devices (realm, public_key);
-- A device id is unique across realms: the channel handshake names a device by its id alone.
CREATE UNIQUE INDEX devices_id ON devices (id);
CREATE INDEX devices_created ON devices (realm, created_at, id);
-- Serves a user's listing and the count of their devices at enrollment.
CREATE INDEX devices_user ON devices (realm, user_id, created_at, id);

-- code_hash is unique across realms: a code is looked up by its hash alone.
-- device_id, in data, names the device a code enrolled, which may since be gone.
CREATE TABLE activation_codes (
	realm       TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id          TEXT COLLATE "C" NOT NULL,
	code_hash   BYTEA       NOT NULL,
	user_id     TEXT COLLATE "C" NOT NULL,
	data        JSONB       NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL,
	expires_at  TIMESTAMPTZ NOT NULL,
	redeemed_at TIMESTAMPTZ,
	version     BIGINT      NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX activation_codes_hash ON activation_codes (code_hash);
CREATE INDEX activation_codes_created ON activation_codes (realm, created_at, id);
CREATE INDEX activation_codes_user ON activation_codes (realm, user_id, created_at, id);
CREATE INDEX activation_codes_expires ON activation_codes (expires_at);
CREATE INDEX activation_codes_redeemed ON activation_codes (redeemed_at);

-- The audit log names users and devices without referencing them: a row is the record
-- of what happened, and outlives what it names. It goes with the realm.
CREATE TABLE audit_events (
	seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	realm     TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	at        TIMESTAMPTZ NOT NULL,
	user_id   TEXT COLLATE "C" NOT NULL,
	device_id TEXT COLLATE "C" NOT NULL,
	data      JSONB       NOT NULL
);
CREATE INDEX audit_events_realm ON audit_events (realm, seq);
CREATE INDEX audit_events_user ON audit_events (realm, user_id, seq);
CREATE INDEX audit_events_device ON audit_events (realm, device_id, seq);

CREATE TABLE authn_requests (
	realm                 TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id                    TEXT COLLATE "C" NOT NULL,
	user_id               TEXT COLLATE "C" NOT NULL,
	state                 TEXT        NOT NULL,
	authorization_details BYTEA,
	signature             BYTEA,
	data                  JSONB       NOT NULL,
	created_at            TIMESTAMPTZ NOT NULL,
	expires_at            TIMESTAMPTZ NOT NULL,
	answered_at           TIMESTAMPTZ,
	version               BIGINT      NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
-- A user's pending requests, what a device fetches when it connects.
CREATE INDEX authn_requests_pending ON authn_requests (realm, user_id, state, expires_at);
CREATE INDEX authn_requests_expires ON authn_requests (expires_at);
CREATE INDEX authn_requests_answered ON authn_requests (answered_at);

-- The device channel's static keys (not per realm: one channel serves every realm),
-- sealed under the key-encryption key. id is the key's fingerprint.
CREATE TABLE channel_keys (
	id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	sealed     BYTEA       NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	retired_at TIMESTAMPTZ
);
