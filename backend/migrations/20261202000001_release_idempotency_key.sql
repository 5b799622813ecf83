-- The idempotency key that created a release (hex SHA-256 of the Idempotency-Key header),
-- unique per requesting user: MySQL, which decides whether a release exists, also decides
-- that one key creates at most one release, even when a slow request and the request that
-- took its key over both reach their commit. DynamoDB keeps the key's claim and request hash.
ALTER TABLE releases
    ADD COLUMN idempotency_key CHAR(64) CHARACTER SET ascii NULL AFTER retry_of,
    ADD UNIQUE KEY uq_releases_idempotency (requested_by, idempotency_key);
