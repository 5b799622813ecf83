-- Release control: approvals (a two-person rule per environment), promotion of a deployed
-- build to another environment, rollback to an earlier build, and releases of a branch's
-- head (the commit is recorded once SleakOps reports it).
ALTER TABLE releases DROP CONSTRAINT ck_releases_status;
ALTER TABLE releases
    MODIFY COLUMN status     VARCHAR(20) NOT NULL,
    MODIFY COLUMN commit_sha VARCHAR(40) NULL,
    ADD COLUMN promoted_from       BIGINT UNSIGNED NULL AFTER retry_of,
    ADD COLUMN rollback_of         BIGINT UNSIGNED NULL AFTER promoted_from,
    ADD COLUMN build_of            BIGINT UNSIGNED NULL AFTER rollback_of,
    ADD COLUMN approval_expires_at DATETIME(6)     NULL AFTER build_of,
    ADD COLUMN decided_by          BIGINT UNSIGNED NULL AFTER approval_expires_at,
    ADD COLUMN decided_at          DATETIME(6)     NULL AFTER decided_by,
    ADD COLUMN decision_reason     VARCHAR(500)    NULL AFTER decided_at,
    -- A release answers with the releases promoted from it.
    ADD KEY ix_releases_promoted_from (promoted_from),
    ADD CONSTRAINT fk_releases_promoted_from FOREIGN KEY (promoted_from) REFERENCES releases (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_releases_rollback_of FOREIGN KEY (rollback_of) REFERENCES releases (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_releases_build_of FOREIGN KEY (build_of) REFERENCES releases (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_releases_decided_by FOREIGN KEY (decided_by) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE releases ADD CONSTRAINT ck_releases_status CHECK (status IN
    ('awaiting_approval', 'queued', 'building', 'deploying', 'deployed', 'failed', 'cancelled',
     'needs_attention', 'rejected', 'expired'));

-- Production environments ask for a second person's approval unless an owner turns it off.
ALTER TABLE environments
    ADD COLUMN requires_approval BOOLEAN NOT NULL DEFAULT FALSE AFTER production;
UPDATE environments SET requires_approval = production;
