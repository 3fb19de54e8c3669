-- One page of the lead/contact search of seed 001 (GET /api/v1/lead_analytics/search and
-- GET /api/v1/contact_analytics/search), newest first. gateway/src/search.rs runs it with
-- every value bound by the clickhouse crate (quoted and escaped into the text), in order:
--   1 table: lead_analytics or contact_analytics (an identifier)
--   2 customer_id, 3 user_id, 4 lead_id or contact_id, 5 the recording_id values (an array)
--   6 events kept per recording_id: 1 for latest=true, else 18446744073709551615 (all)
--   7 offset, 8 page size
-- FINAL keeps the newest copy of each event_uid before the filter, so a redelivered or
-- re-sent event shows once, as its newest copy, whether or not background merges have run.
-- The tables sort by (tenant, customer_id, entity_id, recording_id, event_uid) (migration 5),
-- all equal in every copy of an event, so the search reads only the lead's rows.
SELECT
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
FROM ? FINAL
WHERE customer_id = ? AND user_id = ? AND entity_id = ? AND has(?, recording_id)
ORDER BY created_at_ms DESC, event_uid DESC
LIMIT ? BY recording_id
LIMIT ?, ?
