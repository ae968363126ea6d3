-- Jinlin schema 0006 (SQLite): Open311 GeoReport v2 — client keys bound to a district, what a
-- request brought beyond the case itself, and answers to a category's extra questions (from any
-- channel).
--
-- Keep in step with migrations/postgres/0006_open311.sql (same tables, columns, nullability).

CREATE TABLE open311_keys (
    id INTEGER PRIMARY KEY,
    -- The district (its code) the key files requests in.
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '',
    -- SHA-256 of the key; the key itself is shown once, when it is made.
    key_hash TEXT NOT NULL UNIQUE,
    -- The first characters, so people can tell keys apart.
    key_prefix TEXT NOT NULL,
    -- Requests per minute the key may file.
    per_minute BIGINT NOT NULL,
    -- id | token: whether POST requests answers with the case number or a token to poll.
    receipt TEXT NOT NULL DEFAULT 'id',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    revoked_at BIGINT NULL
);

-- One row per case filed through Open311. The reporter's contact fields stay here and in the
-- case; no GET endpoint returns them.
CREATE TABLE open311_requests (
    case_id BIGINT NOT NULL PRIMARY KEY REFERENCES cases (id),
    key_id BIGINT NOT NULL REFERENCES open311_keys (id),
    token TEXT NOT NULL UNIQUE,
    email TEXT NULL,
    device_id TEXT NULL,
    account_id TEXT NULL,
    first_name TEXT NULL,
    last_name TEXT NULL,
    media_url TEXT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX open311_requests_key ON open311_requests (key_id, created_at);

-- Answers to a category's extra questions (domain::questions), one row per question.
CREATE TABLE case_answers (
    case_id BIGINT NOT NULL REFERENCES cases (id),
    code TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (case_id, code)
);
