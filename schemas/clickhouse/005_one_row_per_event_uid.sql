-- One event_uid is one row: in FINAL, in `LIMIT 1 BY event_uid`, in every view and in the
-- search. Copies of one event (Kafka redelivery, a client re-sending it) share event_uid but
-- may differ in everything else: event time (an S2S re-send with another eventTimestamp),
-- source (one idTransaction through customRevenue and customRevenueBatch), CRM fields (an
-- event_id re-sent with other values). Migrations 1 to 3 sorted and partitioned by such
-- attributes (event_time's day and month, event_name, the CRM ids, created_at's month), so
-- copies sat under different sorting keys, no merge ever replaced one by the other and FINAL
-- counted them twice. Here every table sorts by what all copies share, and has no partition
-- key (no attribute of an event is both time-like and the same in every copy); the newest copy
-- (the largest received time, as the views and the search always used) is kept:
--   events, revenue: (tenant, event_uid);
--   lead_analytics, contact_analytics: (tenant, customer_id, entity_id, recording_id,
--     event_uid). A CRM event's uid is derived from its tenant, source, customer, entity and
--     recording (enricher/src/sources/crm.rs: event ids are per-recording counters), so these
--     are equal in every copy, while user_id, message and times may differ. The search filters
--     on that prefix, so it reads a lead's few rows without an index of its own.
-- The views collapse with FINAL, by the uid alone, then filter; so does the search
-- (queries/search.sql), with `LIMIT 1 BY event_uid`.
--
-- Current ClickHouse (the 26.8 LTS of docker-compose.yml; the local stack runs 26.9) where it helps:
--   LowCardinality(String) for columns with few distinct values (tenant, source, event_name,
--     kinds, currency, country...): dictionary-encoded, smaller and faster to group by; the
--     same RowBinary as String, so the sink's rows are unchanged;
--   CODEC(ZSTD(3)) for the JSON text of properties and raw, the bulk of a row.
--
-- Existing data: each table is copied into its new shape, swapped in by name and the old one
-- dropped. Stop every sink first (the first sink of the new version applies this migration
-- when it starts; the copy takes as long as `INSERT ... SELECT` of the tables and needs their
-- size again in free disk). Copies of one uid already stored twice collapse in the new
-- tables like any redelivery.

DROP VIEW IF EXISTS lead_analytics_from_events;
DROP VIEW IF EXISTS contact_analytics_from_events;
DROP VIEW IF EXISTS revenue_from_events;
DROP VIEW IF EXISTS events_per_day;
DROP VIEW IF EXISTS daily_active_users;
DROP VIEW IF EXISTS revenue_per_day;

-- The newest copy (received_at_ms) wins.
CREATE TABLE IF NOT EXISTS events_by_uid
(
    event_uid String COMMENT 'Deterministic event id (UUIDv5): the idempotency key; one logical event has one event_uid',
    tenant LowCardinality(String) COMMENT 'Tenant that sent the event',
    source LowCardinality(String) COMMENT 'API variant that accepted it, e.g. mobile_batch, crm.lead_analytics, s2s.customEvent, activity.upload',
    batch_id String COMMENT 'Gateway id of the HTTP request that carried the event',
    event_index Int32 COMMENT 'Position of the event inside its request',
    event_id Nullable(String) COMMENT 'The client''s own event id, as sent',
    event_name LowCardinality(String) COMMENT 'Canonical event name (event_name, event_type, customEventName, activity_name or the S2S method)',
    event_category LowCardinality(Nullable(String)) COMMENT 'Client event category (mobile batch)',
    event_time DateTime('UTC') COMMENT 'When the event happened (UTC, seconds), after skew correction and clamping',
    event_time_ms Int64 COMMENT 'event_time in epoch milliseconds',
    client_time_raw Nullable(String) COMMENT 'The client timestamp exactly as sent',
    sent_at_ms Nullable(Int64) COMMENT 'When the client sent the request (epoch ms), where the source says',
    received_at DateTime('UTC') COMMENT 'When the gateway received the request (UTC)',
    received_at_ms Int64 COMMENT 'received_at in epoch milliseconds',
    time_flags Array(String) COMMENT 'future_clamped, older_than_24h, skew_corrected, time_defaulted, unparsed_time',
    user_key String COMMENT 'Canonical per-tenant identity chosen by the documented precedence',
    user_key_kind LowCardinality(String) COMMENT 'Which identifier fed user_key',
    user_id Nullable(String) COMMENT 'Explicit user id (mobile user_id, CRM user_id, S2S customUserId)',
    identity Nullable(String) COMMENT 'Activity identity (email, mobile or customer id)',
    anonymous_id Nullable(String) COMMENT 'Anonymous id (activity annonid)',
    session_id Nullable(String) COMMENT 'Client session id',
    instance_id Nullable(String) COMMENT 'S2S instanceId, lowercased',
    lvid Nullable(String) COMMENT 'S2S web lvid, lowercased',
    gaid Nullable(String) COMMENT 'Android advertising id, lowercased',
    android_id Nullable(String) COMMENT 'Android id, lowercased',
    idfa Nullable(String) COMMENT 'iOS advertising id, lowercased',
    ios_vendor_id Nullable(String) COMMENT 'iOS vendor id, lowercased',
    email Nullable(String) COMMENT 'E-mail, trimmed and lowercased (or salted SHA-256 when the tenant hashes it)',
    phone Nullable(String) COMMENT 'Phone number in E.164 (or salted SHA-256 when the tenant hashes it)',
    phone_raw Nullable(String) COMMENT 'Phone number as sent when it could not be parsed',
    name Nullable(String) COMMENT 'Person name (or salted SHA-256 when the tenant hashes it)',
    hashed_fields Array(String) COMMENT 'PII fields stored as salted SHA-256 for this tenant',
    ip Nullable(String) COMMENT 'Client IP address (v4 or v6)',
    country LowCardinality(Nullable(String)) COMMENT 'ISO 3166-1 alpha-2 country',
    country_raw Nullable(String) COMMENT 'Country as sent when it could not be mapped',
    region Nullable(String) COMMENT 'State or region',
    city Nullable(String) COMMENT 'City',
    zip Nullable(String) COMMENT 'Postal code',
    latitude Nullable(Float64) COMMENT 'Latitude, -90..90',
    longitude Nullable(Float64) COMMENT 'Longitude, -180..180',
    geo_source LowCardinality(Nullable(String)) COMMENT 'client when the client sent the location, ip when looked up',
    user_agent Nullable(String) COMMENT 'User-Agent of the event or request',
    screen_name Nullable(String) COMMENT 'Screen name (mobile batch)',
    duration_seconds Nullable(Int64) COMMENT 'Duration in seconds (mobile batch)',
    app_id Nullable(String) COMMENT 'idApp (S2S) or asset_id (activity)',
    platform LowCardinality(Nullable(String)) COMMENT 'web or app (activity_source)',
    gender Nullable(Int32) COMMENT 'S2S idGender: 0 unknown, 1 man, 2 woman',
    age Nullable(Int32) COMMENT 'S2S age',
    connection_type Nullable(Int32) COMMENT 'S2S connectionType: 0 unknown, 1 mobile, 2 wi-fi',
    bluetooth_enabled Nullable(Int32) COMMENT 'S2S bluetoothEnabled: 0 unknown, 1 on, 2 off',
    ad_tracking_enabled Nullable(Int32) COMMENT 'S2S adTrackingEnabled: 1 on, 0 off',
    ad_blocker Nullable(Int32) COMMENT 'S2S adBlocker: 1 on, 0 off',
    customer_id Nullable(String) COMMENT 'CRM customer id',
    entity_type LowCardinality(Nullable(String)) COMMENT 'CRM entity type: lead or contact',
    entity_id Nullable(String) COMMENT 'CRM entity id (lead_id, contact_id or entity_id)',
    tool_signature Nullable(String) COMMENT 'CRM tool signature',
    recording_id Nullable(String) COMMENT 'CRM recording id',
    message Nullable(String) COMMENT 'CRM message',
    javascript_local_time Nullable(String) COMMENT 'CRM javascript_local_time as sent',
    apex_local_time Nullable(String) COMMENT 'CRM apex_local_time as sent',
    event_environment_path Nullable(String) COMMENT 'CRM event_environment_path',
    name_parser_event_id Nullable(String) COMMENT 'CRM name_parser_event_id',
    recommendation_model_event_id Nullable(String) COMMENT 'CRM recommendation_model_event_id',
    record_partition_key Nullable(String) COMMENT 'CRM partitionKey returned to the client',
    transaction_id Nullable(String) COMMENT 'Revenue transaction id (idTransaction)',
    revenue_amount Nullable(Decimal(38, 9)) COMMENT 'Revenue amount, exact decimal',
    currency LowCardinality(Nullable(String)) COMMENT 'ISO 4217 currency code',
    properties String CODEC(ZSTD(3)) COMMENT 'JSON object of free-form parameters (payload, customEventParams, activity_params, version_info)',
    raw String CODEC(ZSTD(3)) COMMENT 'JSON object of the source fields exactly as sent',
    inserted_at DateTime('UTC') DEFAULT now() COMMENT 'When the sink inserted the row'
)
ENGINE = ReplacingMergeTree(received_at_ms)
ORDER BY (tenant, event_uid);

INSERT INTO events_by_uid SELECT * FROM events;

RENAME TABLE events TO events_before_005, events_by_uid TO events;

DROP TABLE events_before_005;

CREATE TABLE IF NOT EXISTS lead_analytics_by_uid
(
    event_uid String COMMENT 'Deterministic event id (tenant + source + event_id): copies of one event share it',
    tenant LowCardinality(String) COMMENT 'Tenant that sent the event (the gateway''s default tenant for the CRM API)',
    source LowCardinality(String) COMMENT 'CRM endpoint that accepted it: crm.lead_analytics or crm.analytics_events',
    customer_id String COMMENT 'CRM customer_id, as sent',
    entity_type LowCardinality(String) COMMENT 'Always lead in this table',
    entity_id String COMMENT 'The lead: lead_id, or entity_id (browser-extension variant, analytics_events)',
    lead_id String COMMENT 'The lead id; equal to entity_id',
    user_id String COMMENT 'CRM user_id (the current user), as sent',
    tool_signature LowCardinality(Nullable(String)) COMMENT 'CRM tool_signature (browser_extension for the browser-extension variant)',
    recording_id String COMMENT 'CRM recording_id (gpdb recording id)',
    event_type LowCardinality(String) COMMENT 'CRM event_type, e.g. view',
    event_id String COMMENT 'The client''s own event_id',
    message Nullable(String) COMMENT 'CRM message',
    javascript_local_time Nullable(String) COMMENT 'CRM javascript_local_time, as sent',
    apex_local_time Nullable(String) COMMENT 'CRM apex_local_time, as sent',
    event_environment_path Nullable(String) COMMENT 'CRM event_environment_path',
    name_parser_event_id Nullable(String) COMMENT 'CRM name_parser_event_id',
    recommendation_model_event_id Nullable(String) COMMENT 'CRM recommendation_model_event_id',
    version_info Nullable(String) COMMENT 'CRM version_info as JSON object text, e.g. {"key":"value"}; NULL when not sent',
    partition_key String COMMENT 'The partitionKey of the 201 response: Lead analytics event|<gateway batch id>',
    created_at DateTime('UTC') COMMENT 'When the gateway accepted the event (created_at of the 201 response), seconds',
    created_at_ms Int64 COMMENT 'created_at in epoch milliseconds',
    updated_at DateTime('UTC') COMMENT 'When the gateway accepted this copy (updated_at of the 201 response), seconds',
    updated_at_ms Int64 COMMENT 'updated_at in epoch milliseconds; the newest copy of an event_uid wins'
)
ENGINE = ReplacingMergeTree(updated_at_ms)
ORDER BY (tenant, customer_id, entity_id, recording_id, event_uid);

INSERT INTO lead_analytics_by_uid SELECT * FROM lead_analytics;

RENAME TABLE lead_analytics TO lead_analytics_before_005, lead_analytics_by_uid TO lead_analytics;

DROP TABLE lead_analytics_before_005;

CREATE TABLE IF NOT EXISTS contact_analytics_by_uid
(
    event_uid String COMMENT 'Deterministic event id (tenant + source + event_id): copies of one event share it',
    tenant LowCardinality(String) COMMENT 'Tenant that sent the event (the gateway''s default tenant for the CRM API)',
    source LowCardinality(String) COMMENT 'CRM endpoint that accepted it: crm.contact_analytics or crm.analytics_events',
    customer_id String COMMENT 'CRM customer_id, as sent',
    entity_type LowCardinality(String) COMMENT 'Always contact in this table',
    entity_id String COMMENT 'The contact: contact_id, or entity_id (analytics_events)',
    contact_id String COMMENT 'The contact id; equal to entity_id',
    user_id String COMMENT 'CRM user_id (the current user), as sent',
    tool_signature LowCardinality(Nullable(String)) COMMENT 'CRM tool_signature',
    recording_id String COMMENT 'CRM recording_id (gpdb recording id)',
    event_type LowCardinality(String) COMMENT 'CRM event_type, e.g. view',
    event_id String COMMENT 'The client''s own event_id',
    message Nullable(String) COMMENT 'CRM message',
    javascript_local_time Nullable(String) COMMENT 'CRM javascript_local_time, as sent',
    apex_local_time Nullable(String) COMMENT 'CRM apex_local_time, as sent',
    event_environment_path Nullable(String) COMMENT 'CRM event_environment_path',
    name_parser_event_id Nullable(String) COMMENT 'CRM name_parser_event_id',
    recommendation_model_event_id Nullable(String) COMMENT 'CRM recommendation_model_event_id',
    version_info Nullable(String) COMMENT 'CRM version_info as JSON object text, e.g. {"key":"value"}; NULL when not sent',
    partition_key String COMMENT 'The partitionKey of the 201 response: Contact analytics event|<gateway batch id>',
    created_at DateTime('UTC') COMMENT 'When the gateway accepted the event (created_at of the 201 response), seconds',
    created_at_ms Int64 COMMENT 'created_at in epoch milliseconds',
    updated_at DateTime('UTC') COMMENT 'When the gateway accepted this copy (updated_at of the 201 response), seconds',
    updated_at_ms Int64 COMMENT 'updated_at in epoch milliseconds; the newest copy of an event_uid wins'
)
ENGINE = ReplacingMergeTree(updated_at_ms)
ORDER BY (tenant, customer_id, entity_id, recording_id, event_uid);

INSERT INTO contact_analytics_by_uid SELECT * FROM contact_analytics;

RENAME TABLE contact_analytics TO contact_analytics_before_005, contact_analytics_by_uid TO contact_analytics;

DROP TABLE contact_analytics_before_005;

CREATE TABLE IF NOT EXISTS revenue_by_uid
(
    event_uid String COMMENT 'Deterministic event id: copies of one event share it',
    tenant LowCardinality(String) COMMENT 'Tenant that sent the event',
    source LowCardinality(String) COMMENT 'API variant that accepted it, e.g. s2s.customRevenue, s2s.customRevenueBatch',
    event_name LowCardinality(String) COMMENT 'Canonical event name (see events.event_name)',
    event_time DateTime('UTC') COMMENT 'When the payment happened (UTC, seconds), after skew correction and clamping',
    event_time_ms Int64 COMMENT 'event_time in epoch milliseconds',
    received_at_ms Int64 COMMENT 'When the gateway received this copy (epoch ms); the newest copy of an event_uid wins',
    user_key String COMMENT 'Canonical per-tenant identity of the payer (see events.user_key)',
    user_key_kind LowCardinality(String) COMMENT 'Which identifier fed user_key',
    app_id Nullable(String) COMMENT 'idApp (S2S) or asset_id (activity)',
    transaction_id Nullable(String) COMMENT 'Client transaction id (S2S idTransaction)',
    amount Decimal(38, 9) COMMENT 'Amount, exact decimal, in currency',
    currency LowCardinality(String) COMMENT 'ISO 4217 alphabetic code; empty when the client sent none'
)
ENGINE = ReplacingMergeTree(received_at_ms)
ORDER BY (tenant, event_uid);

INSERT INTO revenue_by_uid SELECT * FROM revenue;

RENAME TABLE revenue TO revenue_before_005, revenue_by_uid TO revenue;

DROP TABLE revenue_before_005;

-- The materialized views of migrations 2 and 3 again, on the new tables. version_info is now
-- read with a real JSON parser (JSONExtractRaw), which only sees the top-level key.
CREATE MATERIALIZED VIEW IF NOT EXISTS lead_analytics_from_events TO lead_analytics AS
SELECT
    event_uid,
    tenant,
    source,
    ifNull(customer_id, '') AS customer_id,
    ifNull(entity_type, '') AS entity_type,
    ifNull(entity_id, '') AS entity_id,
    ifNull(entity_id, '') AS lead_id,
    ifNull(user_id, '') AS user_id,
    tool_signature,
    ifNull(recording_id, '') AS recording_id,
    event_name AS event_type,
    ifNull(event_id, '') AS event_id,
    message,
    javascript_local_time,
    apex_local_time,
    event_environment_path,
    name_parser_event_id,
    recommendation_model_event_id,
    if(JSONHas(properties, 'version_info'), JSONExtractRaw(properties, 'version_info'), NULL) AS version_info,
    ifNull(record_partition_key, '') AS partition_key,
    received_at AS created_at,
    received_at_ms AS created_at_ms,
    received_at AS updated_at,
    received_at_ms AS updated_at_ms
FROM events
WHERE source LIKE 'crm.%' AND entity_type = 'lead';

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_analytics_from_events TO contact_analytics AS
SELECT
    event_uid,
    tenant,
    source,
    ifNull(customer_id, '') AS customer_id,
    ifNull(entity_type, '') AS entity_type,
    ifNull(entity_id, '') AS entity_id,
    ifNull(entity_id, '') AS contact_id,
    ifNull(user_id, '') AS user_id,
    tool_signature,
    ifNull(recording_id, '') AS recording_id,
    event_name AS event_type,
    ifNull(event_id, '') AS event_id,
    message,
    javascript_local_time,
    apex_local_time,
    event_environment_path,
    name_parser_event_id,
    recommendation_model_event_id,
    if(JSONHas(properties, 'version_info'), JSONExtractRaw(properties, 'version_info'), NULL) AS version_info,
    ifNull(record_partition_key, '') AS partition_key,
    received_at AS created_at,
    received_at_ms AS created_at_ms,
    received_at AS updated_at,
    received_at_ms AS updated_at_ms
FROM events
WHERE source LIKE 'crm.%' AND entity_type = 'contact';

CREATE MATERIALIZED VIEW IF NOT EXISTS revenue_from_events TO revenue AS
SELECT
    event_uid,
    tenant,
    source,
    event_name,
    event_time,
    event_time_ms,
    received_at_ms,
    user_key,
    user_key_kind,
    app_id,
    transaction_id,
    assumeNotNull(revenue_amount) AS amount,
    ifNull(currency, '') AS currency
FROM events
WHERE revenue_amount IS NOT NULL;

-- The BI views of migration 4, collapsed by the uid alone: FINAL keeps each event's newest
-- copy (on these sorting keys, copies always merge), and only then are events counted, so a
-- uid stored under two days or two sources counts once, under its newest copy's day and
-- source, whether or not background merges have run.

-- Events per day (of event_time), tenant, source and event name, with the distinct users
-- among them (events without any identity, user_key_kind 'event', are no user).
CREATE VIEW IF NOT EXISTS events_per_day AS
SELECT
    toDate(event_time) AS day,
    tenant,
    source,
    event_name,
    count() AS events,
    uniqExactIf(user_key, user_key_kind != 'event') AS users
FROM events FINAL
GROUP BY day, tenant, source, event_name;

-- Daily active users per tenant: distinct user_key per day of event_time. Events without any
-- identity (user_key_kind 'event', a key per event) are counted apart, never as users.
CREATE VIEW IF NOT EXISTS daily_active_users AS
SELECT
    toDate(event_time) AS day,
    tenant,
    uniqExactIf(user_key, user_key_kind != 'event') AS active_users,
    count() AS events,
    countIf(user_key_kind = 'event') AS anonymous_events
FROM events FINAL
GROUP BY day, tenant;

-- Revenue per day (of event_time), tenant and currency: exact Decimal(38, 9) sums.
CREATE VIEW IF NOT EXISTS revenue_per_day AS
SELECT
    toDate(event_time) AS day,
    tenant,
    currency,
    sum(amount) AS revenue,
    count() AS payments,
    uniqExact(user_key) AS paying_users
FROM revenue FINAL
GROUP BY day, tenant, currency;
