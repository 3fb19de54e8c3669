-- rowCount of the lead/contact search: how many events match in all, over all pages. Bound
-- values 1 to 7 as in search.sql (table, tenant, customer_id, lead_id or contact_id, the
-- recording_id values, user_id, events kept per recording_id); the collapse and the filters are the same
-- as there, so rowCount counts exactly the rows the pages show.
SELECT count()
FROM
(
    SELECT recording_id
    FROM
    (
        SELECT event_uid, user_id, recording_id, created_at_ms
        FROM ?
        WHERE tenant = ? AND customer_id = ? AND entity_id = ? AND has(?, recording_id)
        ORDER BY updated_at_ms DESC
        LIMIT 1 BY event_uid
    )
    WHERE user_id = ?
    ORDER BY created_at_ms DESC, event_uid DESC
    LIMIT ? BY recording_id
)
