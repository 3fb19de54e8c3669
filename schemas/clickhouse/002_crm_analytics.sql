-- Lead and contact analytics (seed 001): every CRM event in the CRM's own shape, one table per
-- entity, sorted for the search endpoints (GET /api/v1/lead_analytics/search and
-- /api/v1/contact_analytics/search; their query is schemas/clickhouse/queries/search.sql).
-- Materialized views copy each CRM event from every insert into `events`, so the sink keeps
-- writing one table. Copies of one event (Kafka redelivery, a client re-sending an event_id)
-- share event_uid: queries keep the newest copy (`ORDER BY updated_at_ms DESC LIMIT 1 BY
-- event_uid`); background merges drop older copies with the same sorting key eventually.
CREATE TABLE IF NOT EXISTS lead_analytics
(
    event_uid String COMMENT 'Deterministic event id (tenant + source + event_id): copies of one event share it',
    tenant String COMMENT 'Tenant that sent the event (the gateway''s default tenant for the CRM API)',
    source String COMMENT 'CRM endpoint that accepted it: crm.lead_analytics or crm.analytics_events',
    customer_id String COMMENT 'CRM customer_id, as sent',
    entity_type String COMMENT 'Always lead in this table',
    entity_id String COMMENT 'The lead: lead_id, or entity_id (browser-extension variant, analytics_events)',
    lead_id String COMMENT 'The lead id; equal to entity_id',
    user_id String COMMENT 'CRM user_id (the current user), as sent',
    tool_signature Nullable(String) COMMENT 'CRM tool_signature (browser_extension for the browser-extension variant)',
    recording_id String COMMENT 'CRM recording_id (gpdb recording id)',
    event_type String COMMENT 'CRM event_type, e.g. view',
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
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant, customer_id, user_id, entity_id, recording_id, event_uid);

CREATE TABLE IF NOT EXISTS contact_analytics
(
    event_uid String COMMENT 'Deterministic event id (tenant + source + event_id): copies of one event share it',
    tenant String COMMENT 'Tenant that sent the event (the gateway''s default tenant for the CRM API)',
    source String COMMENT 'CRM endpoint that accepted it: crm.contact_analytics or crm.analytics_events',
    customer_id String COMMENT 'CRM customer_id, as sent',
    entity_type String COMMENT 'Always contact in this table',
    entity_id String COMMENT 'The contact: contact_id, or entity_id (analytics_events)',
    contact_id String COMMENT 'The contact id; equal to entity_id',
    user_id String COMMENT 'CRM user_id (the current user), as sent',
    tool_signature Nullable(String) COMMENT 'CRM tool_signature',
    recording_id String COMMENT 'CRM recording_id (gpdb recording id)',
    event_type String COMMENT 'CRM event_type, e.g. view',
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
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant, customer_id, user_id, entity_id, recording_id, event_uid);

-- Aliases that reuse a column's name (`ifNull(x, '') AS x`) are seen by WHERE too, so the
-- filters below only use columns whose alias keeps their meaning. `properties` is the
-- enricher's compact JSON ({"version_info":{...}}), which visitParamExtractRaw reads
-- (migration 5 re-creates these views with JSONExtractRaw, on tables sorted by event_uid).
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
    if(visitParamHas(properties, 'version_info'), visitParamExtractRaw(properties, 'version_info'), NULL) AS version_info,
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
    if(visitParamHas(properties, 'version_info'), visitParamExtractRaw(properties, 'version_info'), NULL) AS version_info,
    ifNull(record_partition_key, '') AS partition_key,
    received_at AS created_at,
    received_at_ms AS created_at_ms,
    received_at AS updated_at,
    received_at_ms AS updated_at_ms
FROM events
WHERE source LIKE 'crm.%' AND entity_type = 'contact';
