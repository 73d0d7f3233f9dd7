-- Identity: users, clients, signing keys, sessions, grants and consents, each keyed by
-- realm. Times are UTC unix nanoseconds, NULL when not set; byte fields are BLOBs, NULL
-- when empty. Columns that are looked up, unique or ordered on are real columns; the
-- other fields of a record are one JSON object in data. username_lower and email_lower
-- hold store.LowerKey of username and email: Go lowers them, as SQLite's lower() folds
-- ASCII only.
CREATE TABLE users (
	realm               TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id                  TEXT    NOT NULL,
	username            TEXT    NOT NULL,
	username_lower      TEXT    NOT NULL,
	email               TEXT    NOT NULL,
	email_lower         TEXT    NOT NULL,
	totp_secret         BLOB,
	locked_until        INTEGER,
	password_changed_at INTEGER,
	data                TEXT    NOT NULL,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL,
	version             INTEGER NOT NULL,
	PRIMARY KEY (realm, id)
) STRICT;
CREATE UNIQUE INDEX users_username ON users (realm, username_lower);
CREATE UNIQUE INDEX users_email ON users (realm, email_lower) WHERE email_lower <> '';

CREATE TABLE clients (
	realm                   TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	client_id               TEXT    NOT NULL,
	secret_hash             BLOB,
	registration_token_hash BLOB,
	jwks                    BLOB,
	data                    TEXT    NOT NULL,
	created_at              INTEGER NOT NULL,
	updated_at              INTEGER NOT NULL,
	version                 INTEGER NOT NULL,
	PRIMARY KEY (realm, client_id)
) STRICT;

CREATE TABLE signing_keys (
	realm        TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	kid          TEXT    NOT NULL,
	alg          TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	sealed       BLOB,
	public_jwk   BLOB,
	created_at   INTEGER NOT NULL,
	activated_at INTEGER,
	retired_at   INTEGER,
	PRIMARY KEY (realm, kid)
) STRICT;

CREATE TABLE sessions (
	realm        TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id           TEXT    NOT NULL,
	user_id      TEXT    NOT NULL,
	secret_hash  BLOB,
	auth_time    INTEGER,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER,
	expires_at   INTEGER,
	data         TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sessions_user ON sessions (realm, user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- user_id is NULL for client_credentials grants, which no user owns.
CREATE TABLE grants (
	realm             TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id                TEXT    NOT NULL,
	client_id         TEXT    NOT NULL,
	user_id           TEXT,
	session_id        TEXT    NOT NULL,
	claims            BLOB,
	refresh_hash      BLOB,
	prev_refresh_hash BLOB,
	auth_time         INTEGER,
	prev_valid_until  INTEGER,
	created_at        INTEGER NOT NULL,
	last_used_at      INTEGER,
	expires_at        INTEGER,
	revoked_at        INTEGER,
	revoked_reason    TEXT    NOT NULL,
	data              TEXT    NOT NULL,
	version           INTEGER NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, client_id) REFERENCES clients (realm, client_id) ON DELETE CASCADE,
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX grants_user ON grants (realm, user_id);
CREATE INDEX grants_client ON grants (realm, client_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE consents (
	realm      TEXT    NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	user_id    TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	data       TEXT    NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (realm, user_id, client_id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE,
	FOREIGN KEY (realm, client_id) REFERENCES clients (realm, client_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX consents_client ON consents (realm, client_id);
