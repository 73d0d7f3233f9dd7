-- Identity: users, clients, signing keys, sessions, grants and consents, each keyed by
-- realm. Times are NULL when not set; byte fields are NULL when empty. Columns that are
-- looked up, unique or ordered on are real columns, text ones COLLATE "C" so that they
-- order bytewise as on SQLite; the other fields of a record are one JSON object in data.
-- username_lower and email_lower hold store.LowerKey of username and email, lowered by
-- Go so that both back ends fold case alike.
CREATE TABLE users (
	realm               TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id                  TEXT COLLATE "C" NOT NULL,
	username            TEXT        NOT NULL,
	username_lower      TEXT COLLATE "C" NOT NULL,
	email               TEXT        NOT NULL,
	email_lower         TEXT COLLATE "C" NOT NULL,
	totp_secret         BYTEA,
	locked_until        TIMESTAMPTZ,
	password_changed_at TIMESTAMPTZ,
	data                JSONB       NOT NULL,
	created_at          TIMESTAMPTZ NOT NULL,
	updated_at          TIMESTAMPTZ NOT NULL,
	version             BIGINT      NOT NULL,
	PRIMARY KEY (realm, id)
);
CREATE UNIQUE INDEX users_username ON users (realm, username_lower);
CREATE UNIQUE INDEX users_email ON users (realm, email_lower) WHERE email_lower <> '';

CREATE TABLE clients (
	realm                   TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	client_id               TEXT COLLATE "C" NOT NULL,
	secret_hash             BYTEA,
	registration_token_hash BYTEA,
	jwks                    BYTEA,
	data                    JSONB       NOT NULL,
	created_at              TIMESTAMPTZ NOT NULL,
	updated_at              TIMESTAMPTZ NOT NULL,
	version                 BIGINT      NOT NULL,
	PRIMARY KEY (realm, client_id)
);

CREATE TABLE signing_keys (
	realm        TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	kid          TEXT COLLATE "C" NOT NULL,
	alg          TEXT        NOT NULL,
	state        TEXT        NOT NULL,
	sealed       BYTEA,
	public_jwk   BYTEA,
	created_at   TIMESTAMPTZ NOT NULL,
	activated_at TIMESTAMPTZ,
	retired_at   TIMESTAMPTZ,
	PRIMARY KEY (realm, kid)
);

CREATE TABLE sessions (
	realm        TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id           TEXT COLLATE "C" NOT NULL,
	user_id      TEXT COLLATE "C" NOT NULL,
	secret_hash  BYTEA,
	auth_time    TIMESTAMPTZ,
	created_at   TIMESTAMPTZ NOT NULL,
	last_seen_at TIMESTAMPTZ,
	expires_at   TIMESTAMPTZ,
	data         JSONB       NOT NULL,
	version      BIGINT      NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (realm, user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- user_id is NULL for client_credentials grants, which no user owns.
CREATE TABLE grants (
	realm             TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	id                TEXT COLLATE "C" NOT NULL,
	client_id         TEXT COLLATE "C" NOT NULL,
	user_id           TEXT COLLATE "C",
	session_id        TEXT COLLATE "C" NOT NULL,
	claims            BYTEA,
	refresh_hash      BYTEA,
	prev_refresh_hash BYTEA,
	auth_time         TIMESTAMPTZ,
	prev_valid_until  TIMESTAMPTZ,
	created_at        TIMESTAMPTZ NOT NULL,
	last_used_at      TIMESTAMPTZ,
	expires_at        TIMESTAMPTZ,
	revoked_at        TIMESTAMPTZ,
	revoked_reason    TEXT        NOT NULL,
	data              JSONB       NOT NULL,
	version           BIGINT      NOT NULL,
	PRIMARY KEY (realm, id),
	FOREIGN KEY (realm, client_id) REFERENCES clients (realm, client_id) ON DELETE CASCADE,
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE
);
CREATE INDEX grants_user ON grants (realm, user_id);
CREATE INDEX grants_client ON grants (realm, client_id);
CREATE INDEX grants_expires ON grants (expires_at);

CREATE TABLE consents (
	realm      TEXT COLLATE "C" NOT NULL REFERENCES realms (name) ON DELETE CASCADE,
	user_id    TEXT COLLATE "C" NOT NULL,
	client_id  TEXT COLLATE "C" NOT NULL,
	data       JSONB       NOT NULL,
	granted_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (realm, user_id, client_id),
	FOREIGN KEY (realm, user_id) REFERENCES users (realm, id) ON DELETE CASCADE,
	FOREIGN KEY (realm, client_id) REFERENCES clients (realm, client_id) ON DELETE CASCADE
);
CREATE INDEX consents_client ON consents (realm, client_id);
