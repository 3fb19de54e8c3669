-- Parts under 128 MiB of uncompressed data are written in ClickHouse's compact format: one
-- data file and one marks file for all columns, instead of two files per column (four for a
-- Nullable one) in the wide format. A sink insert of 10k events is a part of about 15 MB, above
-- ClickHouse's default threshold (10 MiB), so each insert created about 300 files for `events`
-- alone; a compact one cost the server a third of the CPU (bench/PROFILE.md, "Compact parts for
-- the sink's inserts, again"). Merges still make parts above 128 MiB wide.
ALTER TABLE events MODIFY SETTING min_bytes_for_wide_part = 134217728;
ALTER TABLE lead_analytics MODIFY SETTING min_bytes_for_wide_part = 134217728;
ALTER TABLE contact_analytics MODIFY SETTING min_bytes_for_wide_part = 134217728;
ALTER TABLE revenue MODIFY SETTING min_bytes_for_wide_part = 134217728;
