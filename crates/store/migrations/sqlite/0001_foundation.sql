-- Jinlin schema 0001 (SQLite): region tree, accounts, sessions, API tokens, posts, audit log.
--
-- Keep in step with migrations/postgres/0001_foundation.sql: same tables, same columns, same
-- nullability (the behaviour test `schemas_of_both_databases_match` compares them).
--
-- Statement separation (see split_statements in src/lib.rs): a statement ends at a line that
-- starts in column 0, is not a comment, and ends with `;`. Lines inside trigger bodies are
-- indented, so their `;` do not end the statement.
--
-- Conventions: times are BIGINT epoch milliseconds (UTC), flags INTEGER 0/1, JSON and GeoJSON
-- TEXT. Large tables carry `tenant` (the district code) for later partitioning.

CREATE TABLE regions (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    parent_id BIGINT NULL REFERENCES regions (id),
    level TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Materialised path of ids, "/1/5/23/"; a subtree is every row whose path starts with the
    -- root's path (queried as the range [path, path with the last '/' replaced by '0')).
    path TEXT NOT NULL,
    depth BIGINT NOT NULL,
    -- GeoJSON geometry (Polygon or MultiPolygon), WGS-84.
    boundary TEXT NULL,
    centroid_lng DOUBLE PRECISION NULL,
    centroid_lat DOUBLE PRECISION NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX regions_parent_id ON regions (parent_id);
CREATE INDEX regions_path ON regions (path);
CREATE INDEX regions_level ON regions (level);
CREATE INDEX regions_name ON regions (name);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions (id),
    work_phone TEXT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_region_id ON users (region_id);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    user_agent TEXT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    revoked_at BIGINT NULL
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions (id),
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- grid_head | grid_worker | building_head | police
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (region_id, user_id, kind)
);
CREATE INDEX posts_user_id ON posts (user_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    tenant TEXT NULL,
    at BIGINT NOT NULL,
    actor_id BIGINT NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail TEXT NOT NULL DEFAULT '',
    request_id TEXT NULL,
    ip TEXT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor_name ON audit_log (actor_name);
CREATE INDEX audit_log_action ON audit_log (action);

-- The audit log is append-only: rows can be inserted, never changed or removed.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
