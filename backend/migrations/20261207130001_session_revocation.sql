-- Signing out everywhere and changing a password end a user's other sessions. Sessions live in
-- DynamoDB under the hash of their token, with no index by user, so they are not deleted one by
-- one: a session issued before this instant is over (NULL: none was ever ended this way).
-- Resolving a session reads the user's row anyway, so checking it costs no round trip.
ALTER TABLE users ADD COLUMN sessions_valid_from DATETIME(6) NULL;
