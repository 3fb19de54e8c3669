-- Erasure records (GDPR art. 17, CCPA): one row per person erased on request. Only hashes of
-- the identifiers are kept. The sink loads them and drops every row of an erased person that
-- Kafka redelivers later (a replay of events.raw or events.normalized), so erased data never
-- comes back. Written by `tributary-sink erase`.
CREATE TABLE IF NOT EXISTS erasures
(
    tenant String COMMENT 'Tenant the person belongs to',
    identity_kind LowCardinality(String) COMMENT 'What the request named the person by: user_key, email, phone or identity',
    identity_hash String COMMENT 'Lowercase hex SHA-256 of the identifier as named in the request: tenant, 0x00, normalized value',
    value_hashes Array(String) COMMENT 'SHA-256 (tenant, 0x00, value) of every stored form of the identifier (clear and, where the tenant hashes that field, salted): a row holding any of them in user_key, user_id, identity, email or phone is the person''s',
    requested_at DateTime64(3, 'UTC') COMMENT 'When the erasure was requested',
    requested_by String COMMENT 'Who asked: the command line user or the admin endpoint',
    report String COMMENT 'JSON: rows removed per table'
)
ENGINE = MergeTree
ORDER BY (tenant, identity_kind, identity_hash, requested_at);
