-- Views for BI tools. Each one first collapses the copies of an event (same event_uid) to the
-- newest one (argMax by received time) and only then counts, so redelivered or re-sent events
-- count once whether or not background merges have run. Table names stay unqualified:
-- ClickHouse binds them to the view's own database when the view is created, so the views
-- answer from any current database. Migration 5 re-creates these views, collapsing by the uid
-- alone (this one grouped copies by source too).

-- Events per day (of event_time), tenant, source and event name, with the distinct users
-- among them (events without any identity, user_key_kind 'event', are no user).
CREATE VIEW IF NOT EXISTS events_per_day AS
SELECT
    toDate(last_event_time) AS day,
    tenant,
    source,
    last_event_name AS event_name,
    count() AS events,
    uniqExactIf(last_user_key, last_user_key_kind != 'event') AS users
FROM
(
    SELECT
        event_uid,
        tenant,
        source,
        argMax(event_name, received_at_ms) AS last_event_name,
        argMax(event_time, received_at_ms) AS last_event_time,
        argMax(user_key, received_at_ms) AS last_user_key,
        argMax(user_key_kind, received_at_ms) AS last_user_key_kind
    FROM events
    GROUP BY event_uid, tenant, source
)
GROUP BY day, tenant, source, event_name;

-- Daily active users per tenant: distinct user_key per day of event_time. Events without any
-- identity (user_key_kind 'event', a key per event) are counted apart, never as users.
CREATE VIEW IF NOT EXISTS daily_active_users AS
SELECT
    toDate(last_event_time) AS day,
    tenant,
    uniqExactIf(last_user_key, last_user_key_kind != 'event') AS active_users,
    count() AS events,
    countIf(last_user_key_kind = 'event') AS anonymous_events
FROM
(
    SELECT
        event_uid,
        tenant,
        argMax(user_key, received_at_ms) AS last_user_key,
        argMax(user_key_kind, received_at_ms) AS last_user_key_kind,
        argMax(event_time, received_at_ms) AS last_event_time
    FROM events
    GROUP BY event_uid, tenant
)
GROUP BY day, tenant;

-- Revenue per day (of event_time), tenant and currency: exact Decimal(38, 9) sums.
CREATE VIEW IF NOT EXISTS revenue_per_day AS
SELECT
    toDate(last_event_time) AS day,
    tenant,
    last_currency AS currency,
    sum(last_amount) AS revenue,
    count() AS payments,
    uniqExact(last_user_key) AS paying_users
FROM
(
    SELECT
        event_uid,
        tenant,
        argMax(currency, received_at_ms) AS last_currency,
        argMax(amount, received_at_ms) AS last_amount,
        argMax(event_time, received_at_ms) AS last_event_time,
        argMax(user_key, received_at_ms) AS last_user_key
    FROM revenue
    GROUP BY event_uid, tenant
)
GROUP BY day, tenant, currency;
