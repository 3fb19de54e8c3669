//! One row of `events`: the normalized event with ClickHouse's column types (DateTime seconds
//! beside epoch milliseconds, Decimal(38, 9) as its mantissa). Field order and names are the
//! column list of the insert.

use serde::Serialize;
use tributary_schemas::NormalizedEvent;

/// Row columns whose name is not their `NormalizedEvent` field's, each with that field: the
/// times are stored as `DateTime` seconds beside the exact epoch milliseconds. Every other
/// column is the field of the same name (`tests/tests/columns.rs` holds the `.avsc`, this
/// type, the `events` table and `docs/field-mapping.md` to one column list).
pub const DERIVED_COLUMNS: &[(&str, &str)] = &[
    ("event_time_ms", "event_time"),
    ("sent_at_ms", "sent_at"),
    ("received_at_ms", "received_at"),
];

/// Scale of the `revenue_amount` Decimal(38, 9) column.
const REVENUE_SCALE: u32 = 9;

#[derive(Debug, Clone, PartialEq, Serialize, clickhouse::Row)]
pub struct EventRow {
    pub event_uid: String,
    pub tenant: String,
    pub source: String,
    pub batch_id: String,
    pub event_index: i32,
    pub event_id: Option<String>,
    pub event_name: String,
    pub event_category: Option<String>,
    pub event_time: u32,
    pub event_time_ms: i64,
    pub client_time_raw: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub received_at: u32,
    pub received_at_ms: i64,
    pub time_flags: Vec<String>,
    pub user_key: String,
    pub user_key_kind: String,
    pub user_id: Option<String>,
    pub identity: Option<String>,
    pub anonymous_id: Option<String>,
    pub session_id: Option<String>,
    pub instance_id: Option<String>,
    pub lvid: Option<String>,
    pub gaid: Option<String>,
    pub android_id: Option<String>,
    pub idfa: Option<String>,
    pub ios_vendor_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub phone_raw: Option<String>,
    pub name: Option<String>,
    pub hashed_fields: Vec<String>,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub country_raw: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub geo_source: Option<String>,
    pub user_agent: Option<String>,
    pub sender_ip: Option<String>,
    pub sender_user_agent: Option<String>,
    pub screen_name: Option<String>,
    pub duration_seconds: Option<i64>,
    pub app_id: Option<String>,
    pub platform: Option<String>,
    pub gender: Option<i32>,
    pub age: Option<i32>,
    pub connection_type: Option<i32>,
    pub bluetooth_enabled: Option<i32>,
    pub ad_tracking_enabled: Option<i32>,
    pub ad_blocker: Option<i32>,
    pub customer_id: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub tool_signature: Option<String>,
    pub recording_id: Option<String>,
    pub message: Option<String>,
    pub javascript_local_time: Option<String>,
    pub apex_local_time: Option<String>,
    pub event_environment_path: Option<String>,
    pub name_parser_event_id: Option<String>,
    pub recommendation_model_event_id: Option<String>,
    pub record_partition_key: Option<String>,
    pub transaction_id: Option<String>,
    /// Decimal(38, 9) mantissa.
    pub revenue_amount: Option<i128>,
    pub currency: Option<String>,
    pub properties: String,
    pub raw: String,
}

/// Why an event cannot become a row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    #[error("revenue_amount {0:?} is not a decimal with at most 9 fractional digits")]
    Amount(String),
}

/// An event that cannot become a row, handed back whole: its uid and tenant name the dead
/// letter, without copying them for every event that can.
#[derive(Debug)]
pub struct Unstorable {
    pub error: RowError,
    pub event: NormalizedEvent,
}

impl EventRow {
    pub fn from_event(e: NormalizedEvent) -> Result<EventRow, Box<Unstorable>> {
        let revenue_amount = match e.revenue_amount.as_deref() {
            None => None,
            Some(text) => match decimal_mantissa(text) {
                Some(mantissa) => Some(mantissa),
                None => {
                    let error = RowError::Amount(text.to_string());
                    return Err(Box::new(Unstorable { error, event: e }));
                }
            },
        };
        Ok(EventRow {
            event_uid: e.event_uid,
            tenant: e.tenant,
            source: e.source,
            batch_id: e.batch_id,
            event_index: e.event_index,
            event_id: e.event_id,
            event_name: e.event_name,
            event_category: e.event_category,
            event_time: epoch_seconds(e.event_time),
            event_time_ms: e.event_time,
            client_time_raw: e.client_time_raw,
            sent_at_ms: e.sent_at,
            received_at: epoch_seconds(e.received_at),
            received_at_ms: e.received_at,
            time_flags: e.time_flags,
            user_key: e.user_key,
            user_key_kind: e.user_key_kind,
            user_id: e.user_id,
            identity: e.identity,
            anonymous_id: e.anonymous_id,
            session_id: e.session_id,
            instance_id: e.instance_id,
            lvid: e.lvid,
            gaid: e.gaid,
            android_id: e.android_id,
            idfa: e.idfa,
            ios_vendor_id: e.ios_vendor_id,
            email: e.email,
            phone: e.phone,
            phone_raw: e.phone_raw,
            name: e.name,
            hashed_fields: e.hashed_fields,
            ip: e.ip,
            country: e.country,
            country_raw: e.country_raw,
            region: e.region,
            city: e.city,
            zip: e.zip,
            latitude: e.latitude,
            longitude: e.longitude,
            geo_source: e.geo_source,
            user_agent: e.user_agent,
            sender_ip: e.sender_ip,
            sender_user_agent: e.sender_user_agent,
            screen_name: e.screen_name,
            duration_seconds: e.duration_seconds,
            app_id: e.app_id,
            platform: e.platform,
            gender: e.gender,
            age: e.age,
            connection_type: e.connection_type,
            bluetooth_enabled: e.bluetooth_enabled,
            ad_tracking_enabled: e.ad_tracking_enabled,
            ad_blocker: e.ad_blocker,
            customer_id: e.customer_id,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            tool_signature: e.tool_signature,
            recording_id: e.recording_id,
            message: e.message,
            javascript_local_time: e.javascript_local_time,
            apex_local_time: e.apex_local_time,
            event_environment_path: e.event_environment_path,
            name_parser_event_id: e.name_parser_event_id,
            recommendation_model_event_id: e.recommendation_model_event_id,
            record_partition_key: e.record_partition_key,
            transaction_id: e.transaction_id,
            revenue_amount,
            currency: e.currency,
            properties: e.properties,
            raw: e.raw,
        })
    }

    /// Approximate in-memory size, for the batch byte bound.
    pub fn approx_bytes(&self) -> usize {
        256 + self.properties.len() + self.raw.len() + self.user_key.len() + self.event_name.len()
    }
}

/// ClickHouse DateTime holds seconds in a UInt32: clamp to its range.
fn epoch_seconds(millis: i64) -> u32 {
    (millis.div_euclid(1000)).clamp(0, u32::MAX as i64) as u32
}

/// Exact decimal text ("1.99", "-0.5", "10") to a Decimal(38, 9) mantissa; no float on the way.
pub fn decimal_mantissa(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > REVENUE_SCALE as usize
        || whole.len() > 29
    {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let padded = format!("{fraction:0<9}");
    let fraction: i128 = padded.parse().ok()?;
    let mantissa = whole
        .checked_mul(10i128.pow(REVENUE_SCALE))?
        .checked_add(fraction)?;
    Some(if negative { -mantissa } else { mantissa })
}

/// An event with every optional field set: numbers at their extremes, text in several
/// scripts (quotes and backslashes too), the largest decimal the column holds; `i` varies the
/// text and numbers. Test data for the sink's encodings (the unit tests here and
/// `tests/tests/columns.rs`), public so both build it the same way.
pub fn every_field_set(i: usize) -> NormalizedEvent {
    let mut fields = match serde_json::to_value(NormalizedEvent::default()).unwrap() {
        serde_json::Value::Object(fields) => fields,
        other => panic!("{other:?}"),
    };
    for (name, value) in fields.iter_mut() {
        *value = match (name.as_str(), &*value) {
            ("latitude", _) => serde_json::json!(-89.999_999),
            ("longitude", _) => serde_json::json!(f64::MAX),
            ("sent_at" | "duration_seconds", _) => serde_json::json!(i64::MIN + i as i64),
            (
                "gender"
                | "age"
                | "connection_type"
                | "bluetooth_enabled"
                | "ad_tracking_enabled"
                | "ad_blocker",
                _,
            ) => serde_json::json!(i32::MAX),
            ("revenue_amount", _) => {
                serde_json::json!("-99999999999999999999999999999.999999999")
            }
            (_, serde_json::Value::Null | serde_json::Value::String(_)) => {
                serde_json::json!(format!("{name} Ωμέγα 日本語 🦀 \" \\ {i}"))
            }
            (_, serde_json::Value::Array(_)) => serde_json::json!(["a", "ß", ""]),
            (_, serde_json::Value::Number(_)) => serde_json::json!(i64::MAX - i as i64),
            (_, other) => other.clone(),
        };
    }
    fields.insert("event_index".into(), serde_json::json!(i32::MIN));
    serde_json::from_value(serde_json::Value::Object(fields)).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_to_mantissa_is_exact() {
        let cases = [
            ("1.99", Some(1_990_000_000)),
            ("0", Some(0)),
            ("10.990", Some(10_990_000_000)),
            (".5", Some(500_000_000)),
            ("-0.000000001", Some(-1)),
            ("1.0000000001", None),
            ("1e3", None),
            ("", None),
            ("abc", None),
            ("1.2.3", None),
        ];
        for (text, want) in cases {
            assert_eq!(decimal_mantissa(text), want, "{text}");
        }
    }

    #[test]
    fn times_become_seconds_and_keep_milliseconds() {
        let event = NormalizedEvent {
            event_time: 1_580_213_208_123,
            received_at: 1_580_213_209_000,
            revenue_amount: Some("1.99".into()),
            ..Default::default()
        };
        let row = EventRow::from_event(event).unwrap();
        assert_eq!(row.event_time, 1_580_213_208);
        assert_eq!(row.event_time_ms, 1_580_213_208_123);
        assert_eq!(row.revenue_amount, Some(1_990_000_000));
        let bad = NormalizedEvent {
            event_uid: "u-1".into(),
            tenant: "t".into(),
            revenue_amount: Some("NaN".into()),
            ..Default::default()
        };
        let unstorable = EventRow::from_event(bad.clone()).unwrap_err();
        assert_eq!(unstorable.error, RowError::Amount("NaN".into()));
        assert_eq!(
            unstorable.event, bad,
            "handed back whole for its dead letter"
        );
    }

    #[test]
    fn rows_are_the_same_through_the_fast_reader_and_the_value_path() {
        use tributary_schemas::{Contract, NormalizedBatch};
        // Every field set, none set, empty arrays, decimals of every shape, a large batch.
        let mut events = vec![every_field_set(0), NormalizedEvent::default()];
        for (i, amount) in ["0", "1.99", "-0.000000001", ".5", "10.990", "+7"]
            .into_iter()
            .enumerate()
        {
            events.push(NormalizedEvent {
                event_uid: format!("u-{i}"),
                revenue_amount: Some(amount.into()),
                time_flags: vec![],
                event_time: -1,
                received_at: i64::MAX,
                ..every_field_set(i + 1)
            });
        }
        events.extend((0..500).map(every_field_set));
        let batches = [NormalizedBatch { events }, NormalizedBatch::default()];
        let writer = NormalizedBatch::schema().clone();
        for batch in batches {
            let rows = |batch: NormalizedBatch| -> Vec<EventRow> {
                batch
                    .events
                    .into_iter()
                    .map(|e| EventRow::from_event(e).unwrap())
                    .collect()
            };
            for message in [
                tributary_schemas::encode(&batch).unwrap(),
                tributary_schemas::encode_compressed(&batch).unwrap(),
            ] {
                let fast: NormalizedBatch = tributary_schemas::decode(&message).unwrap();
                assert_eq!(fast, batch);
                let plain = tributary_schemas::encode(&batch).unwrap();
                // A copy of the current schema is another writer to `decode_with_writer`: it
                // takes apache-avro's resolving `Value` path, the sink's decoder until now.
                let value_path: NormalizedBatch =
                    tributary_schemas::decode_with_writer(&writer, &plain[10..]).unwrap();
                assert_eq!(rows(fast), rows(value_path));
            }
        }
    }
}
