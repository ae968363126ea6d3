-- Jinlin schema 0003 (SQLite): an index for the statistics page.
--
-- Keep in step with migrations/postgres/0003_stats.sql.
--
-- Statistics read every case of a district and period; the index holds each column they read,
-- so they scan the index alone instead of the wide rows (state JSON, description). It leads
-- with (tenant, created_at), so cases_created is redundant.
CREATE INDEX cases_stats ON cases (
    tenant, created_at, region_path, stage, category_id, channel, responded_at, resolution_due,
    resolved_at, rework_count, rating, overdue
);
DROP INDEX cases_created;
