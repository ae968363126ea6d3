-- Jinlin schema 0005 (PostgreSQL): an index that answers worklists ("我的任务") by itself.
--
-- Keep in step with migrations/sqlite/0005_worklists.sql.
--
-- Every condition of a task list and its order are in the index, so counting a desk's open
-- cases and picking a page of ids never reads the wide case rows.
CREATE INDEX cases_open_work ON cases (
    is_open, region_path, stage, overdue, pending, assignee_kind, assignee_id, handler_id,
    grid_id, resolution_due
);
-- It leads with what cases_open_path held, so that one goes: one index less on every write.
DROP INDEX cases_open_path;
-- Statistics read the rollups (0004); the wide cases_stats index only served the direct queries
-- and the rebuild, which need no more than the district and the report time. Every index is
-- written on every intake, so the narrow one replaces it.
DROP INDEX cases_stats;
CREATE INDEX cases_created ON cases (tenant, created_at);
-- Worker queues find "resolved in my grids" through cases_open_work inside their grid's path.
DROP INDEX cases_grid;
