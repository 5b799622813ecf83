-- The release worker's bookkeeping (MySQL 8 and MariaDB 10.11 alike).
--
-- outbox.claimed_by: the claim token of the worker driving the row. A claim is a lease: the
-- worker moves next_attempt_at forward while it works, so a row whose worker died becomes due
-- again, and every write of the worker is guarded by its token.
ALTER TABLE outbox
    ADD COLUMN claimed_by VARCHAR(64) NULL AFTER done;

-- Marks written just before each SleakOps trigger, so a worker that resumes a release knows a
-- trigger may already have been sent (and never sends it twice), and when the build ended.
ALTER TABLE releases
    ADD COLUMN build_requested_at      DATETIME(6) NULL AFTER sleakops_deployment_id,
    ADD COLUMN built_at                DATETIME(6) NULL AFTER build_requested_at,
    ADD COLUMN deployment_requested_at DATETIME(6) NULL AFTER built_at;
