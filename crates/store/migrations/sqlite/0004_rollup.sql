-- Jinlin schema 0004 (SQLite): daily rollups of the cases for the statistics page.
--
-- Keep in step with migrations/postgres/0004_rollup.sql.
--
-- Each case counts once in every region on its path (the district, its street, community …
-- down to the case's own region), on the CST day it was reported (day = days since 1970-01-01,
-- China Standard Time). A region's figures for a period are then the sum of a few hundred
-- rows of that region, and its children's figures the rows one level deeper under its path,
-- whatever the number of cases. depth = the number of segments of region_path (a district
-- /1/ has depth 1). The store keeps the rows in step with cases in the transaction of every
-- case write and can rebuild them from cases (Store::rebuild_stats_rollup, jinlin stats
-- rebuild); applying this migration fills them from the cases present.
--
-- Per (region, day, stage): the sums of domain::stats::Counts and the response-time histogram
-- over domain::stats::RESPONSE_BUCKETS_MS (h0 … h14; responded cases only).
CREATE TABLE case_rollup (
    tenant TEXT NOT NULL,
    depth BIGINT NOT NULL,
    region_path TEXT NOT NULL,
    day BIGINT NOT NULL,
    stage TEXT NOT NULL,
    cases BIGINT NOT NULL,
    responded BIGINT NOT NULL,
    response_ms BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    on_time BIGINT NOT NULL,
    rework BIGINT NOT NULL,
    rated BIGINT NOT NULL,
    satisfied BIGINT NOT NULL,
    basic BIGINT NOT NULL,
    overdue BIGINT NOT NULL,
    h0 BIGINT NOT NULL,
    h1 BIGINT NOT NULL,
    h2 BIGINT NOT NULL,
    h3 BIGINT NOT NULL,
    h4 BIGINT NOT NULL,
    h5 BIGINT NOT NULL,
    h6 BIGINT NOT NULL,
    h7 BIGINT NOT NULL,
    h8 BIGINT NOT NULL,
    h9 BIGINT NOT NULL,
    h10 BIGINT NOT NULL,
    h11 BIGINT NOT NULL,
    h12 BIGINT NOT NULL,
    h13 BIGINT NOT NULL,
    h14 BIGINT NOT NULL,
    PRIMARY KEY (tenant, depth, region_path, day, stage)
) WITHOUT ROWID;

-- Per (region, day, category), merged duplicates left out.
CREATE TABLE case_rollup_categories (
    tenant TEXT NOT NULL,
    depth BIGINT NOT NULL,
    region_path TEXT NOT NULL,
    day BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    cases BIGINT NOT NULL,
    closed BIGINT NOT NULL,
    rated BIGINT NOT NULL,
    -- 满意 + 基本满意
    content BIGINT NOT NULL,
    PRIMARY KEY (tenant, depth, region_path, day, category_id)
) WITHOUT ROWID;

-- Per (region, day, channel), merged duplicates left out.
CREATE TABLE case_rollup_channels (
    tenant TEXT NOT NULL,
    depth BIGINT NOT NULL,
    region_path TEXT NOT NULL,
    day BIGINT NOT NULL,
    channel TEXT NOT NULL,
    cases BIGINT NOT NULL,
    PRIMARY KEY (tenant, depth, region_path, day, channel)
) WITHOUT ROWID;
