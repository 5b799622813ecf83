-- A release whose build or deployment outlived the worker's follow deadline is marked
-- `needs_attention`: Faro stopped following it and a person checks SleakOps. Expand only:
-- older tasks never write the new status.
ALTER TABLE releases DROP CONSTRAINT ck_releases_status;
ALTER TABLE releases ADD CONSTRAINT ck_releases_status CHECK (status IN
    ('queued', 'building', 'deploying', 'deployed', 'failed', 'cancelled', 'needs_attention'));
