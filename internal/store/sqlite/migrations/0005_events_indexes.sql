-- The event log is written at every state change of every authentication request, so
-- each index costs on the hot path. The indexes on subject and user_id took a random
-- leaf page per event (request and user ids are random), which doubled the cost of an
-- append; filtered listings now scan the realm's events newest first (events_realm),
-- as Keycloak's event store does.
DROP INDEX events_subject;
DROP INDEX events_user;
