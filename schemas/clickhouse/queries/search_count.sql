-- rowCount of the lead/contact search: how many events match in all, over all pages. Bound
-- values 1 to 6 as in search.sql (table, customer_id, user_id, lead_id or contact_id, the
-- recording_id values, events kept per recording_id); the collapse (FINAL) and the filter are
-- the same as there, so rowCount counts exactly the rows the pages show.
SELECT count()
FROM
(
    SELECT recording_id
    FROM ? FINAL
    WHERE customer_id = ? AND user_id = ? AND entity_id = ? AND has(?, recording_id)
    ORDER BY created_at_ms DESC, event_uid DESC
    LIMIT ? BY recording_id
)
