-- Push credentials: one row per realm and provider (fcm, apns, unifiedpush). settings is
-- the JSON of what may be shown; sealed is the secret under the key-encryption key.
CREATE TABLE push_credentials (
	realm      TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	provider   TEXT    NOT NULL,
	settings   TEXT    NOT NULL,
	sealed     BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	PRIMARY KEY (realm, provider)
) STRICT;
