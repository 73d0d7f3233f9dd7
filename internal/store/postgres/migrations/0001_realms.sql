-- Realms: one row per tenant. Names compare bytewise (COLLATE "C") so listings page in
-- the same order as on SQLite, whatever the database locale.
CREATE TABLE realms (
	name         TEXT COLLATE "C" PRIMARY KEY,
	display_name TEXT        NOT NULL DEFAULT '',
	enabled      BOOLEAN     NOT NULL DEFAULT TRUE,
	attributes   JSONB       NOT NULL DEFAULT '{}',
	created_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	version      BIGINT      NOT NULL
);
