-- Jinlin schema 0005 (SQLite): an index that answers worklists ("我的任务") by itself.
--
-- Keep in step with migrations/postgres/0005_worklists.sql.
--
-- Every condition of a task list and its order are in the index, so counting a desk's open
-- cases and picking a page of ids never reads the wide case rows.
CREATE INDEX cases_open_work ON cases (
    is_open, region_path, stage, overdue, pending, assignee_kind, assignee_id, handler_id,
    grid_id, resolution_due
);
-- It leads with what cases_open_path held, so that one goes: one index less on every write.
DROP INDEX cases_open_path;
