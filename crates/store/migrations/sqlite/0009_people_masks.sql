-- Lists show ID and phone numbers masked with their first three characters as well
-- (350***********1234, 138****5678), so the column keeps the whole masked form instead of the
-- last four characters. Rows masked before keep their four characters behind stars until the
-- number is next written (`jinlin keys rotate` rewrites every row).
ALTER TABLE persons RENAME COLUMN id_tail TO id_masked;
ALTER TABLE persons RENAME COLUMN phone_tail TO phone_masked;
UPDATE persons SET id_masked = '**************' || id_masked WHERE id_masked IS NOT NULL;
UPDATE persons SET phone_masked = '1******' || phone_masked WHERE phone_masked IS NOT NULL;
