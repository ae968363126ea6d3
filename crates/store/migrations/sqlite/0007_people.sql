-- Jinlin schema 0007 (SQLite): people, households and dwellings (一户一档), care tags and the
-- log of who looked at whose personal data.
--
-- Keep in step with migrations/postgres/0007_people.sql (same tables, columns, nullability).
--
-- Jurisdiction: dwellings, households and persons carry `region_path`, the path of the building
-- they are in (a person not yet placed in a dwelling: the region they were registered at), so
-- every list is one index range inside the caller's scope. `tenant` is the district code.
--
-- Sensitive values arrive encrypted: `*_cipher` is AEAD ciphertext, `*_bidx` a keyed blind index
-- for exact search, `*_tail` the last four characters for masked display. The keys never reach
-- the database.

-- 重点人群标签: 独居老人, 残疾, 低保 … `sensitive` tags are shown only to those allowed.
CREATE TABLE care_tags (
    code TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    sensitive INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    sort BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- 房屋: one unit in a building (a region of level `building`).
CREATE TABLE dwellings (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    building_id BIGINT NOT NULL REFERENCES regions (id),
    region_path TEXT NOT NULL,
    -- 单元 ('' when the building has none), floor (negative below ground), 门牌/室号.
    unit TEXT NOT NULL DEFAULT '',
    floor BIGINT NULL,
    number TEXT NOT NULL,
    use_type TEXT NOT NULL CHECK (use_type IN ('residential', 'commercial', 'office', 'other')),
    occupancy TEXT NOT NULL CHECK (occupancy IN ('owner_occupied', 'rented', 'vacant', 'other')),
    area_m2 DOUBLE PRECISION NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (building_id, unit, number)
);
CREATE INDEX dwellings_path ON dwellings (region_path);

-- 实有人口.
CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    -- The building of the person's dwelling (or the region they were registered at).
    region_id BIGINT NOT NULL REFERENCES regions (id),
    region_path TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Pinyin computed by the caller, lowercase ASCII: 张三 → zhangsan, zs.
    name_py_full TEXT NOT NULL DEFAULT '',
    name_py_initials TEXT NOT NULL DEFAULT '',
    -- male | female | unknown
    gender TEXT NOT NULL,
    -- YYYY-MM-DD
    birth_date TEXT NULL,
    id_cipher TEXT NULL,
    id_bidx TEXT NULL,
    id_tail TEXT NULL,
    phone_cipher TEXT NULL,
    phone_bidx TEXT NULL,
    phone_tail TEXT NULL,
    ethnic_group TEXT NULL,
    registered_address TEXT NULL,
    actual_address TEXT NULL,
    -- A code of the people domain (户籍 / 流动 / 人户分离 / 境外 …).
    residence_status TEXT NOT NULL,
    party_member INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Scope scans, in the order search results are listed.
CREATE INDEX persons_path ON persons (region_path, id);
-- Name search: a part of a Chinese name found where it starts at the first, second or third
-- character (every place it can start in a name of up to three characters), from these indexes.
CREATE INDEX persons_name ON persons (name);
CREATE INDEX persons_name_2 ON persons (substr(name, 2));
CREATE INDEX persons_name_3 ON persons (substr(name, 3));
CREATE INDEX persons_py_full ON persons (name_py_full);
CREATE INDEX persons_py_initials ON persons (name_py_initials);
-- One person per ID number and district; leading with the index, it also serves exact search.
CREATE UNIQUE INDEX persons_id_bidx ON persons (id_bidx, tenant) WHERE id_bidx IS NOT NULL;
CREATE INDEX persons_phone_bidx ON persons (phone_bidx) WHERE phone_bidx IS NOT NULL;

-- 户: the people at one dwelling. The head is kept in step with the current member whose
-- relation is `head`.
CREATE TABLE households (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    dwelling_id BIGINT NOT NULL REFERENCES dwellings (id),
    head_person_id BIGINT NULL REFERENCES persons (id),
    -- 户号 (from the household register), if known.
    household_no TEXT NULL,
    notes TEXT NOT NULL DEFAULT '',
    region_path TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX households_dwelling ON households (dwelling_id);
CREATE INDEX households_path ON households (region_path);

-- Who belongs to which household, and since when. Moves close a row (left_at) and open a new
-- one; rows are never overwritten, so the history of moves in and out stays.
CREATE TABLE household_members (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    household_id BIGINT NOT NULL REFERENCES households (id),
    person_id BIGINT NOT NULL REFERENCES persons (id),
    -- Relation to the head: head | spouse | child | parent | … (a code of the people domain).
    relation TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    joined_reason TEXT NOT NULL DEFAULT '',
    left_at BIGINT NULL,
    left_reason TEXT NOT NULL DEFAULT '',
    CHECK (left_at IS NULL OR left_at >= joined_at)
);
-- A person is a current member of one household at most …
CREATE UNIQUE INDEX household_members_current ON household_members (person_id) WHERE left_at IS NULL;
-- … and a household has one current head at most.
CREATE UNIQUE INDEX household_members_head ON household_members (household_id)
WHERE left_at IS NULL AND relation = 'head';
CREATE INDEX household_members_household ON household_members (household_id, left_at);
CREATE INDEX household_members_person ON household_members (person_id, joined_at);

-- Care tags on a person; `until` is set when the tag no longer applies (the row stays).
CREATE TABLE person_tags (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    tag_code TEXT NOT NULL REFERENCES care_tags (code),
    since BIGINT NOT NULL,
    until BIGINT NULL,
    noted_by BIGINT NULL
);
CREATE UNIQUE INDEX person_tags_current ON person_tags (person_id, tag_code) WHERE until IS NULL;
CREATE INDEX person_tags_code ON person_tags (tag_code, person_id);

-- Who viewed, revealed, exported or imported personal data (PIPL, 等保 安全审计).
-- Append-only, like audit_log.
CREATE TABLE person_access_log (
    id INTEGER PRIMARY KEY,
    tenant TEXT NULL,
    at BIGINT NOT NULL,
    user_id BIGINT NULL,
    user_name TEXT NOT NULL,
    person_id BIGINT NULL,
    action TEXT NOT NULL CHECK (action IN ('view', 'reveal', 'export', 'import')),
    -- The field revealed (id_number, phone), or what an export held.
    field TEXT NULL,
    reason TEXT NOT NULL DEFAULT '',
    row_count BIGINT NULL,
    ip TEXT NULL
);
CREATE INDEX person_access_log_at ON person_access_log (at);
CREATE INDEX person_access_log_person ON person_access_log (person_id, at);
CREATE INDEX person_access_log_user ON person_access_log (user_id, at);

CREATE TRIGGER person_access_log_no_update BEFORE UPDATE ON person_access_log
BEGIN
    SELECT RAISE(ABORT, 'person_access_log is append-only');
END;
CREATE TRIGGER person_access_log_no_delete BEFORE DELETE ON person_access_log
BEGIN
    SELECT RAISE(ABORT, 'person_access_log is append-only');
END;
