-- Jinlin schema 0002 (SQLite): the case loop — categories, handling units, routing, cases and
-- their timeline, photos, whistles, the in-app inbox, outbound webhook deliveries, sign-up
-- codes and the working-day calendar.
--
-- Keep in step with migrations/postgres/0002_cases.sql (same tables, columns, nullability).

CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    parent_id BIGINT NULL REFERENCES categories (id),
    name TEXT NOT NULL,
    -- appeal | help | event | component
    kind TEXT NOT NULL,
    standard_code TEXT NULL,
    standard TEXT NULL,
    -- DeadlineSpec JSON, e.g. {"unit":"natural_minutes","amount":5}
    response TEXT NOT NULL,
    onsite TEXT NULL,
    resolution TEXT NOT NULL,
    -- normal | urgent | critical
    urgency TEXT NOT NULL,
    -- grid | community | street | department
    level TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of strings
    keywords TEXT NOT NULL DEFAULT '[]',
    active INTEGER NOT NULL DEFAULT 1,
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX categories_parent_id ON categories (parent_id);

-- Handling units: county departments (县直部门) and partner units (共建单位).
CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    -- department | partner
    kind TEXT NOT NULL,
    -- The region the unit serves (a district for departments).
    region_id BIGINT NOT NULL REFERENCES regions (id),
    phone TEXT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant, name)
);

-- Which unit handles a category in a region; a route applies to the region's whole subtree
-- unless a deeper route overrides it.
CREATE TABLE routes (
    id INTEGER PRIMARY KEY,
    category_id BIGINT NOT NULL REFERENCES categories (id),
    region_id BIGINT NOT NULL REFERENCES regions (id),
    unit_id BIGINT NOT NULL REFERENCES units (id),
    created_at BIGINT NOT NULL,
    UNIQUE (category_id, region_id)
);

-- Volunteer teams (服务队 / 帮帮团) a desk may dispatch to; the leader takes the case.
CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions (id),
    name TEXT NOT NULL,
    leader_id BIGINT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX teams_region_id ON teams (region_id);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    category_id BIGINT NOT NULL REFERENCES categories (id),
    -- resident | patrol | hotline | api | open311
    channel TEXT NOT NULL,
    description TEXT NOT NULL,
    address TEXT NULL,
    -- WGS-84
    lat DOUBLE PRECISION NULL,
    lng DOUBLE PRECISION NULL,
    -- The deepest region the location resolved to (building, grid or community) and its path.
    region_id BIGINT NOT NULL REFERENCES regions (id),
    region_path TEXT NOT NULL,
    grid_id BIGINT NULL REFERENCES regions (id),
    community_id BIGINT NULL REFERENCES regions (id),
    reporter_id BIGINT NULL REFERENCES users (id),
    reporter_name TEXT NULL,
    reporter_phone TEXT NULL,
    stage TEXT NOT NULL,
    -- 1 while the stage is not terminal (worklist indexes).
    is_open INTEGER NOT NULL DEFAULT 1,
    -- CaseState JSON (domain::cases), the source of truth for the state machine.
    state TEXT NOT NULL,
    urgency TEXT NOT NULL,
    -- The tier handling it now (grid | community | street | department), after escalations.
    level TEXT NOT NULL,
    assignee_kind TEXT NULL,
    assignee_id BIGINT NULL,
    -- The user who took it (签收).
    handler_id BIGINT NULL REFERENCES users (id),
    unit_id BIGINT NULL REFERENCES units (id),
    rework_count BIGINT NOT NULL DEFAULT 0,
    urge_count BIGINT NOT NULL DEFAULT 0,
    rating TEXT NULL,
    overdue INTEGER NOT NULL DEFAULT 0,
    supervised INTEGER NOT NULL DEFAULT 0,
    suspended INTEGER NOT NULL DEFAULT 0,
    -- 1 while an extension or suspension request awaits approval.
    pending INTEGER NOT NULL DEFAULT 0,
    merged_into BIGINT NULL,
    response_due BIGINT NOT NULL,
    responded_at BIGINT NULL,
    onsite_due BIGINT NULL,
    onsite_at BIGINT NULL,
    resolution_due BIGINT NOT NULL,
    resolved_at BIGINT NULL,
    closed_at BIGINT NULL,
    -- When the sweeper must look at the case next; NULL when nothing is pending.
    next_check_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Optimistic lock: every update checks and bumps it, so of two concurrent actions one wins.
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cases_assignee ON cases (assignee_kind, assignee_id, is_open, resolution_due);
CREATE INDEX cases_handler ON cases (handler_id, is_open, resolution_due);
CREATE INDEX cases_open_path ON cases (is_open, region_path);
CREATE INDEX cases_grid ON cases (grid_id, is_open, stage);
CREATE INDEX cases_path_created ON cases (region_path, created_at);
CREATE INDEX cases_created ON cases (tenant, created_at);
CREATE INDEX cases_reporter ON cases (reporter_id, created_at);
CREATE INDEX cases_next_check ON cases (next_check_at);

-- The timeline: one row per transition, written in the same transaction as the case.
CREATE TABLE case_events (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    at BIGINT NOT NULL,
    actor_id BIGINT NULL,
    actor_name TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    from_stage TEXT NULL,
    to_stage TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    -- JSON array of case_photos ids
    attachments TEXT NOT NULL DEFAULT '[]',
    -- 0 for internal notes residents and Open311 clients must not see.
    public INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX case_events_case_id ON case_events (case_id, id);
CREATE INDEX case_events_at ON case_events (at);

-- Photo files live content-addressed under the data directory (photos/ab/abcdef….ext).
CREATE TABLE case_photos (
    id INTEGER PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    event_id BIGINT NULL REFERENCES case_events (id),
    sha256 TEXT NOT NULL,
    mime TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    uploaded_by BIGINT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX case_photos_case_id ON case_photos (case_id);
CREATE INDEX case_photos_sha256 ON case_photos (sha256);

-- 吹哨报到: units called in on a case and when they reported in.
CREATE TABLE case_whistles (
    id INTEGER PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    unit_id BIGINT NOT NULL REFERENCES units (id),
    called_at BIGINT NOT NULL,
    called_by BIGINT NULL,
    reported_in_at BIGINT NULL,
    reported_in_by BIGINT NULL,
    UNIQUE (case_id, unit_id)
);
CREATE INDEX case_whistles_unit ON case_whistles (unit_id, reported_in_at);

-- The in-app inbox.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    case_id BIGINT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    read_at BIGINT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, read_at, id);

-- Outbound webhook deliveries (HMAC-signed JSON), retried with backoff; `dead` after the last try.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    event TEXT NOT NULL,
    case_id BIGINT NULL,
    payload TEXT NOT NULL,
    -- pending | delivered | dead
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- Verification codes sent by SMS at resident sign-up (only a hash is kept).
CREATE TABLE sms_codes (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NULL
);
CREATE INDEX sms_codes_phone ON sms_codes (phone, created_at);

-- The editable working-day calendar: holidays (节假日) and make-up workdays (调休上班).
CREATE TABLE calendar_days (
    day TEXT NOT NULL PRIMARY KEY,
    -- holiday | workday
    kind TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- Department handlers belong to a unit.
ALTER TABLE users ADD COLUMN unit_id BIGINT NULL REFERENCES units (id);
