-- Organizations: every project belongs to one; people join one only by accepting an
-- invitation (or by creating it). Each organization brings its own SleakOps API key,
-- stored sealed under a key-encryption key that lives outside the database.
--
-- Existing data: every account gets an organization of its own; each project moves into the
-- organization of its earliest owner, and the project's other members join that
-- organization as members, so nobody's access changes. Those joins are recorded for the
-- audit log (DynamoDB) through audit_outbox, which the backend drains when it starts.

CREATE TABLE organizations (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    slug       VARCHAR(64)     NOT NULL,
    name       VARCHAR(100)    NOT NULL,
    created_by BIGINT UNSIGNED NULL,
    created_at DATETIME(6)     NOT NULL,
    updated_at DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_organizations_slug (slug),
    KEY ix_organizations_created_by (created_by),
    CONSTRAINT fk_organizations_created_by FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE org_members (
    org_id     BIGINT UNSIGNED NOT NULL,
    user_id    BIGINT UNSIGNED NOT NULL,
    role       VARCHAR(16)     NOT NULL,
    created_at DATETIME(6)     NOT NULL,
    PRIMARY KEY (org_id, user_id),
    -- "my organizations" and every project lookup start from the user.
    KEY ix_org_members_user (user_id, org_id),
    CONSTRAINT ck_org_members_role CHECK (role IN ('owner', 'admin', 'member')),
    CONSTRAINT fk_org_members_org FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_org_members_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- An organization's SleakOps API key, sealed with AES-256-GCM under the key-encryption key
-- `key_id` names (a fresh nonce per write, the organization id as associated data). Only the
-- last four characters are kept in the clear, to tell keys apart in the UI.
CREATE TABLE sleakops_keys (
    org_id     BIGINT UNSIGNED            NOT NULL,
    key_id     CHAR(16) CHARACTER SET ascii NOT NULL,
    nonce      BINARY(12)                 NOT NULL,
    ciphertext VARBINARY(1024)            NOT NULL,
    last4      VARCHAR(4)                 NOT NULL,
    set_by     BIGINT UNSIGNED            NULL,
    set_at     DATETIME(6)                NOT NULL,
    PRIMARY KEY (org_id),
    KEY ix_sleakops_keys_key (key_id),
    CONSTRAINT fk_sleakops_keys_org FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_sleakops_keys_set_by FOREIGN KEY (set_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every key-encryption key that sealed something, with a value sealed under it: start-up
-- opens it to tell the right key from a wrong one before reading any credential.
CREATE TABLE encryption_keys (
    key_id      CHAR(16) CHARACTER SET ascii NOT NULL,
    check_value VARBINARY(128)               NOT NULL,
    created_at  DATETIME(6)                  NOT NULL,
    PRIMARY KEY (key_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A single-use invitation: only the SHA-256 of its token is stored.
CREATE TABLE invitations (
    id          BIGINT UNSIGNED            NOT NULL AUTO_INCREMENT,
    org_id      BIGINT UNSIGNED            NOT NULL,
    email       VARCHAR(254)               NOT NULL,
    role        VARCHAR(16)                NOT NULL,
    token_hash  CHAR(64) CHARACTER SET ascii NOT NULL,
    invited_by  BIGINT UNSIGNED            NULL,
    created_at  DATETIME(6)                NOT NULL,
    expires_at  DATETIME(6)                NOT NULL,
    accepted_at DATETIME(6)                NULL,
    accepted_by BIGINT UNSIGNED            NULL,
    revoked_at  DATETIME(6)                NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_invitations_token (token_hash),
    KEY ix_invitations_org (org_id, id),
    CONSTRAINT ck_invitations_role CHECK (role IN ('owner', 'admin', 'member')),
    CONSTRAINT fk_invitations_org FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT fk_invitations_invited_by FOREIGN KEY (invited_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT fk_invitations_accepted_by FOREIGN KEY (accepted_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Audit entries made by a migration (which cannot reach DynamoDB): the backend moves them
-- into the audit log when it starts, then deletes them.
CREATE TABLE audit_outbox (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    scope       VARCHAR(64)     NOT NULL,
    action      VARCHAR(64)     NOT NULL,
    target      VARCHAR(255)    NOT NULL,
    details     TEXT            NULL,
    created_at  DATETIME(6)     NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every account's own organization. The slug is the name's letters and digits, dashed,
-- starting with a letter, with the account id to keep it unique; created_by ties the
-- organization to its account below.
INSERT INTO organizations (slug, name, created_by, created_at, updated_at)
SELECT CASE
           WHEN u.base REGEXP '^[a-z]' THEN CONCAT(u.base, '-', u.id)
           WHEN u.base = '' THEN CONCAT('org-', u.id)
           ELSE CONCAT('org-', u.base, '-', u.id)
       END,
       LEFT(CONCAT(u.display_name, '''s organization'), 100),
       u.id, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
FROM (SELECT id, display_name,
             TRIM(BOTH '-' FROM LEFT(LOWER(REGEXP_REPLACE(display_name, '[^A-Za-z0-9]+', '-')), 36)) AS base
      FROM users) u;

INSERT INTO org_members (org_id, user_id, role, created_at)
SELECT id, created_by, 'owner', created_at FROM organizations;

ALTER TABLE projects ADD COLUMN org_id BIGINT UNSIGNED NULL AFTER id;

-- Each project goes to the organization of its earliest owner (its creator when, against
-- the rules, it has none).
UPDATE projects p
SET p.org_id = COALESCE(
    (SELECT o.id FROM memberships m JOIN organizations o ON o.created_by = m.user_id
     WHERE m.project_id = p.id AND m.role = 'owner'
     ORDER BY m.created_at, m.user_id LIMIT 1),
    (SELECT o.id FROM organizations o WHERE o.created_by = p.created_by));

INSERT INTO audit_outbox (scope, action, target, details, created_at)
SELECT CONCAT('AUDIT#ORG#', p.org_id), 'org.member.migrate', CONCAT('user:', m.user_id),
       CONCAT('{"role":"member","reason":"a member of ', COUNT(*),
              ' of its projects before organizations existed"}'),
       UTC_TIMESTAMP(6)
FROM memberships m JOIN projects p ON p.id = m.project_id
WHERE NOT EXISTS (SELECT 1 FROM org_members om WHERE om.org_id = p.org_id AND om.user_id = m.user_id)
GROUP BY p.org_id, m.user_id;

INSERT IGNORE INTO org_members (org_id, user_id, role, created_at)
SELECT p.org_id, m.user_id, 'member', UTC_TIMESTAMP(6)
FROM memberships m JOIN projects p ON p.id = m.project_id;

INSERT INTO audit_outbox (scope, action, target, details, created_at)
SELECT CONCAT('AUDIT#', p.id), 'project.organization', CONCAT('project:', p.slug),
       CONCAT('{"organization":"', o.slug, '"}'), UTC_TIMESTAMP(6)
FROM projects p JOIN organizations o ON o.id = p.org_id;

ALTER TABLE projects
    MODIFY COLUMN org_id BIGINT UNSIGNED NOT NULL,
    ADD KEY ix_projects_org (org_id, slug),
    ADD CONSTRAINT fk_projects_org FOREIGN KEY (org_id) REFERENCES organizations (id);
