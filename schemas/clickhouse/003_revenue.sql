-- Revenue: one row per event that carries an amount (`events.revenue_amount`; today the S2S
-- customRevenue events), filled from every insert into `events` by a materialized view.
-- Copies of one event share event_uid: queries keep the newest copy (see the revenue_per_day
-- view); background merges drop older copies with the same sorting key.
CREATE TABLE IF NOT EXISTS revenue
(
    event_uid String COMMENT 'Deterministic event id: copies of one event share it',
    tenant String COMMENT 'Tenant that sent the event',
    source String COMMENT 'API variant that accepted it, e.g. s2s.customRevenue, s2s.customRevenueBatch',
    event_name String COMMENT 'Canonical event name (see events.event_name)',
    event_time DateTime('UTC') COMMENT 'When the payment happened (UTC, seconds), after skew correction and clamping',
    event_time_ms Int64 COMMENT 'event_time in epoch milliseconds',
    received_at_ms Int64 COMMENT 'When the gateway received this copy (epoch ms); the newest copy of an event_uid wins',
    user_key String COMMENT 'Canonical per-tenant identity of the payer (see events.user_key)',
    user_key_kind String COMMENT 'Which identifier fed user_key',
    app_id Nullable(String) COMMENT 'idApp (S2S) or asset_id (activity)',
    transaction_id Nullable(String) COMMENT 'Client transaction id (S2S idTransaction)',
    amount Decimal(38, 9) COMMENT 'Amount, exact decimal, in currency',
    currency String COMMENT 'ISO 4217 alphabetic code; empty when the client sent none'
)
ENGINE = ReplacingMergeTree(received_at_ms)
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant, toDate(event_time), event_uid);

-- `amount` and `currency` are new names (or keep their meaning), so WHERE still sees the
-- Nullable source column `revenue_amount`.
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
