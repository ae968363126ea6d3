-- People search keeps to the searcher's jurisdiction inside the name and pinyin indexes: each
-- key is stored with the person's building, so a community desk's search tests its buildings
-- in the index instead of reading every matching person's row. The third-character name key
-- is only kept for names longer than two characters (a shorter name has nothing there). The
-- person's id rides along (INCLUDE), so a search reads no table row until its page.
DROP INDEX persons_name;
DROP INDEX persons_name_2;
DROP INDEX persons_name_3;
DROP INDEX persons_py_full;
DROP INDEX persons_py_initials;
CREATE INDEX persons_name ON persons (name, region_id) INCLUDE (id);
CREATE INDEX persons_name_2 ON persons (substr(name, 2), region_id) INCLUDE (id);
CREATE INDEX persons_name_3 ON persons (substr(name, 3), region_id) INCLUDE (id) WHERE length(name) > 2;
CREATE INDEX persons_py_full ON persons (name_py_full, region_id) INCLUDE (id);
CREATE INDEX persons_py_initials ON persons (name_py_initials, region_id) INCLUDE (id);
