-- The release cockpit's relational core. Kept to the SQL that both MySQL 8 (RDS) and
-- MariaDB 10.11 (local and CI) understand: utf8mb4_unicode_ci exists in both, DATETIME(6)
-- holds UTC instants with microseconds, CHECK constraints are enforced by both.

CREATE TABLE users (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    email         VARCHAR(254)    NOT NULL,
    display_name  VARCHAR(100)    NOT NULL,
    password_hash VARCHAR(255)    NOT NULL,
    created_at    DATETIME(6)     NOT NULL,
    updated_at    DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE projects (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    slug             VARCHAR(64)     NOT NULL,
    name             VARCHAR(100)    NOT NULL,
    sleakops_project VARCHAR(100)    NOT NULL,
    repository_url   VARCHAR(500)    NOT NULL,
    default_branch   VARCHAR(255)    NOT NULL,
    created_by       BIGINT UNSIGNED NOT NULL,
    created_at       DATETIME(6)     NOT NULL,
    updated_at       DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_projects_slug (slug),
    CONSTRAINT fk_projects_created_by FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE environments (
    id                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    project_id           BIGINT UNSIGNED NOT NULL,
    name                 VARCHAR(64)     NOT NULL,
    sleakops_environment VARCHAR(100)    NOT NULL,
    production           BOOLEAN         NOT NULL DEFAULT FALSE,
    created_at           DATETIME(6)     NOT NULL,
    updated_at           DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_environments_project_name (project_id, name),
    CONSTRAINT fk_environments_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE memberships (
    project_id BIGINT UNSIGNED NOT NULL,
    user_id    BIGINT UNSIGNED NOT NULL,
    role       VARCHAR(16)     NOT NULL,
    created_at DATETIME(6)     NOT NULL,
    PRIMARY KEY (project_id, user_id),
    -- "my projects" lists start from the user.
    KEY ix_memberships_user (user_id, project_id),
    CONSTRAINT ck_memberships_role CHECK (role IN ('owner', 'maintainer', 'viewer')),
    CONSTRAINT fk_memberships_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT fk_memberships_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE releases (
    id                     BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    project_id             BIGINT UNSIGNED NOT NULL,
    environment_id         BIGINT UNSIGNED NOT NULL,
    branch                 VARCHAR(255)    NOT NULL,
    commit_sha             VARCHAR(40)     NOT NULL,
    tag                    VARCHAR(128)    NULL,
    commit_time            DATETIME(6)     NULL,
    status                 VARCHAR(16)     NOT NULL,
    sleakops_build_id      VARCHAR(64)     NULL,
    sleakops_deployment_id VARCHAR(64)     NULL,
    requested_by           BIGINT UNSIGNED NOT NULL,
    requested_at           DATETIME(6)     NOT NULL,
    started_at             DATETIME(6)     NULL,
    deployed_at            DATETIME(6)     NULL,
    finished_at            DATETIME(6)     NULL,
    failure_reason         TEXT            NULL,
    notes                  TEXT            NULL,
    retry_of               BIGINT UNSIGNED NULL,
    -- The last timeline sequence number handed out; incremented in the transaction that
    -- changes the release, so events of one release are numbered without gaps or races.
    event_seq              INT UNSIGNED    NOT NULL DEFAULT 0,
    updated_at             DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    -- Keyset pagination, newest first, per project and per environment, and with the
    -- list's status and branch filters.
    KEY ix_releases_project (project_id, id),
    KEY ix_releases_environment (environment_id, id),
    KEY ix_releases_project_status (project_id, status, id),
    KEY ix_releases_project_branch (project_id, branch, id),
    -- Delivery metrics scan an environment's finished releases in time order, and look up
    -- the next successful deployment after a failed one (time to restore).
    KEY ix_releases_env_finished (environment_id, finished_at),
    KEY ix_releases_env_deployed (environment_id, status, deployed_at),
    CONSTRAINT ck_releases_status CHECK (status IN
        ('queued', 'building', 'deploying', 'deployed', 'failed', 'cancelled')),
    CONSTRAINT fk_releases_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT fk_releases_environment FOREIGN KEY (environment_id) REFERENCES environments (id) ON DELETE CASCADE,
    CONSTRAINT fk_releases_requested_by FOREIGN KEY (requested_by) REFERENCES users (id),
    CONSTRAINT fk_releases_retry_of FOREIGN KEY (retry_of) REFERENCES releases (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Work for the external services, written in the same transaction as the release it belongs
-- to, so a crash between "recorded" and "sent" loses nothing. Workers claim due rows with
-- SELECT ... FOR UPDATE SKIP LOCKED (MySQL 8 and MariaDB 10.6+).
CREATE TABLE outbox (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    kind            VARCHAR(32)     NOT NULL,
    release_id      BIGINT UNSIGNED NULL,
    payload         TEXT            NOT NULL,
    attempts        INT UNSIGNED    NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)     NOT NULL,
    last_error      TEXT            NULL,
    done            BOOLEAN         NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6)     NOT NULL,
    updated_at      DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    -- The claim query: due, not done, oldest first.
    KEY ix_outbox_due (done, next_attempt_at, id),
    KEY ix_outbox_release (release_id),
    CONSTRAINT fk_outbox_release FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
