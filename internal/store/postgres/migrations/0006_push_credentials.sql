-- Push credentials: one row per realm and provider (fcm, apns, unifiedpush). settings is
-- the JSON of what may be shown; sealed is the secret under the key-encryption key.
CREATE TABLE push_credentials (
	realm      TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	provider   TEXT COLLATE "C" NOT NULL,
	settings   TEXT        NOT NULL,
	sealed     BYTEA       NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	version    BIGINT      NOT NULL,
	PRIMARY KEY (realm, provider)
);
