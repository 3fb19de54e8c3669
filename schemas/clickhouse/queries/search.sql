-- One page of the lead/contact search of seed 001 (GET /api/v1/lead_analytics/search and
-- GET /api/v1/contact_analytics/search), newest first, and its rowCount, in one query, so both
-- come from one reading of the table: a page read while the sink inserts never disagrees with
-- its rowCount (two queries did, in about one search in five at that moment).
-- gateway/src/search.rs runs it with every value bound by the clickhouse crate (quoted and
-- escaped into the text), in order:
--   1 table: lead_analytics or contact_analytics (an identifier)
--   2 tenant (the one the request's key names: a search reads no other tenant's rows)
--   3 customer_id, 4 lead_id or contact_id, 5 the recording_id values (an array), 6 user_id
--   7 events kept per recording_id: 1 for latest=true, else 18446744073709551615 (all)
--   8 offset (rows before the page), 9 offset + page size
-- One event_uid, one row, as its newest copy: customer, entity and recording are part of a
-- CRM event's uid, so every copy of a matching event matches them; those filters select the
-- lead's rows by the tables' sorting key (migration 5), the copies collapse to the newest
-- (`LIMIT 1 BY event_uid`), and only then is user_id, which may differ between copies,
-- compared. A redelivered or re-sent event shows once whether or not merges have run.
-- (FINAL on the table instead of the subquery gives the same rows, 2-3x slower at 10M events.)
-- Each row: the recording's fields in the order of the innermost SELECT but event_uid, then
-- row_count (all matches, over all pages) and position (1-based, in the newest-first order).
-- The first match (position 1) always comes back, also when the page is further on or past
-- the end, so the count is known from the same reading; the caller drops it from the page
-- when its position is not on the page. No rows: no matches at all.
SELECT * EXCEPT (event_uid)
FROM
(
    SELECT
        *,
        count() OVER () AS row_count,
        row_number() OVER (ORDER BY created_at_ms DESC, event_uid DESC) AS position
    FROM
    (
        SELECT *
        FROM
        (
            SELECT
                event_uid,
                customer_id,
                entity_type,
                entity_id,
                user_id,
                tool_signature,
                recording_id,
                event_type,
                event_id,
                message,
                created_at_ms,
                updated_at_ms
            FROM ?
            WHERE tenant = ? AND customer_id = ? AND entity_id = ? AND has(?, recording_id)
            ORDER BY updated_at_ms DESC
            LIMIT 1 BY event_uid
        )
        WHERE user_id = ?
        ORDER BY created_at_ms DESC, event_uid DESC
        LIMIT ? BY recording_id
    )
)
WHERE position = 1 OR (position > ? AND position <= ?)
ORDER BY position
