-- Realms: one row per tenant. Times are UTC unix nanoseconds; attributes a JSON object.
CREATE TABLE realms (
	name         TEXT    NOT NULL PRIMARY KEY,
	display_name TEXT    NOT NULL DEFAULT '',
	enabled      INTEGER NOT NULL DEFAULT 1,
	attributes   TEXT    NOT NULL DEFAULT '{}',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL
) STRICT;
