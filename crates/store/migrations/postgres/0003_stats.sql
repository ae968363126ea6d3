-- Jinlin schema 0003 (PostgreSQL): an index for the statistics page.
--
-- Keep in step with migrations/sqlite/0003_stats.sql.
--
-- Statistics read every case of a district and period; the index carries each column they
-- read, so they can run as index-only scans. It leads with (tenant, created_at), so
-- cases_created is redundant.
CREATE INDEX cases_stats ON cases (tenant, created_at) INCLUDE (
    region_path, stage, category_id, channel, responded_at, resolution_due, resolved_at,
    rework_count, rating, overdue
);
DROP INDEX cases_created;
