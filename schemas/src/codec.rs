//! Avro single-object framing of Kafka values, with schema resolution by writer fingerprint.

use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{zstd_compress, zstd_decompress, DlqRecord, NormalizedBatch, RawBatch};

const MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// Largest length prefix (bytes, string, array or map count) a message may declare. The
/// decoder reserves memory from that prefix before reading, so a 7-byte message claiming a
/// 500M-item array aborted the process (found by fuzz/avro_envelopes). Request bodies are at
/// most 5 MiB, so no genuine message comes near this.
const MAX_DECODE_LEN: usize = 16 * 1024 * 1024;

fn limit_allocations() {
    apache_avro::max_allocation_bytes(MAX_DECODE_LEN);
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not an Avro single-object message (missing C3 01 marker)")]
    NotSingleObject,
    #[error("written with an unknown schema (fingerprint {0})")]
    UnknownWriter(String),
    #[error("avro: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    #[error("compressed message: {0}")]
    Compressed(String),
}

impl From<apache_avro::Error> for CodecError {
    fn from(e: apache_avro::Error) -> Self {
        CodecError::Avro(Box::new(e))
    }
}

struct Known {
    schema: Schema,
    fingerprint: [u8; 8],
}

fn known(text: &str) -> Known {
    let schema = Schema::parse_str(text).expect("checked-in schema parses");
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let fingerprint = bytes.try_into().expect("CRC-64-AVRO is 8 bytes");
    Known {
        schema,
        fingerprint,
    }
}

static RAW_BATCH: LazyLock<Known> = LazyLock::new(|| known(include_str!("../avro/raw_batch.avsc")));
static NORMALIZED_BATCH: LazyLock<Known> =
    LazyLock::new(|| known(include_str!("../avro/normalized_batch.avsc")));
static DLQ_RECORD: LazyLock<Known> =
    LazyLock::new(|| known(include_str!("../avro/dlq_record.avsc")));
static COMPRESSED: LazyLock<Known> =
    LazyLock::new(|| known(include_str!("../avro/compressed.avsc")));

/// Earlier versions of the schemas that may still sit in a topic; add a file here whenever a
/// schema changes so that old messages keep decoding.
static HISTORY: LazyLock<Vec<Known>> = LazyLock::new(Vec::new);

/// A Rust type that travels through Kafka as an Avro record.
pub trait Contract: Serialize + DeserializeOwned {
    /// The current (reader and writer) schema.
    fn schema() -> &'static Schema;
    /// CRC-64-AVRO fingerprint of `schema()`.
    fn fingerprint() -> [u8; 8];
}

macro_rules! contract {
    ($ty:ty, $known:ident) => {
        impl Contract for $ty {
            fn schema() -> &'static Schema {
                &$known.schema
            }
            fn fingerprint() -> [u8; 8] {
                $known.fingerprint
            }
        }
    };
}

contract!(RawBatch, RAW_BATCH);
contract!(NormalizedBatch, NORMALIZED_BATCH);
contract!(DlqRecord, DLQ_RECORD);

fn writer_for(fingerprint: &[u8]) -> Option<&'static Schema> {
    [&*RAW_BATCH, &*NORMALIZED_BATCH, &*DLQ_RECORD]
        .into_iter()
        .chain(HISTORY.iter())
        .find(|k| k.fingerprint == fingerprint)
        .map(|k| &k.schema)
}

/// Encode `value` as an Avro single-object message with its current schema.
pub fn encode<T: Contract>(value: &T) -> Result<Vec<u8>, CodecError> {
    // Serialize straight into the buffer: going through `to_value` + `resolve` cost ~6x the
    // time and one allocation per field (bench/PROFILE.md, finding 1); the bytes are the same.
    let mut out = Vec::with_capacity(HEADER_LEN + 1024);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&T::fingerprint());
    apache_avro::write_avro_datum_ref(T::schema(), value, &mut out)?;
    Ok(out)
}

/// Encode `value` like `encode`, then wrap the whole message, zstd-compressed, in a
/// `Compressed` record (`avro/compressed.avsc`). `decode` reads both forms.
pub fn encode_compressed<T: Contract>(value: &T) -> Result<Vec<u8>, CodecError> {
    let inner = encode(value)?;
    let message = zstd_compress(&inner).map_err(|e| CodecError::Compressed(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + 16 + message.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&COMPRESSED.fingerprint);
    let wrapper = apache_avro::types::Value::Record(vec![
        (
            "encoding".into(),
            apache_avro::types::Value::String("zstd".into()),
        ),
        ("message".into(), apache_avro::types::Value::Bytes(message)),
    ]);
    out.extend_from_slice(&apache_avro::to_avro_datum(&COMPRESSED.schema, wrapper)?);
    Ok(out)
}

/// Decode a single-object message written with any known version of `T`'s schema, plain or
/// wrapped by `encode_compressed`.
pub fn decode<T: Contract>(bytes: &[u8]) -> Result<T, CodecError> {
    let (fingerprint, datum) = split_header(bytes)?;
    if fingerprint == COMPRESSED.fingerprint {
        let inner = unwrap_compressed(datum)?;
        let (fingerprint, datum) = split_header(&inner)?;
        if fingerprint == COMPRESSED.fingerprint {
            return Err(CodecError::Compressed("nested compression".into()));
        }
        return decode_datum(writer(fingerprint)?, datum);
    }
    decode_datum(writer(fingerprint)?, datum)
}

fn split_header(bytes: &[u8]) -> Result<(&[u8], &[u8]), CodecError> {
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
        return Err(CodecError::NotSingleObject);
    }
    Ok((&bytes[2..HEADER_LEN], &bytes[HEADER_LEN..]))
}

fn writer(fingerprint: &[u8]) -> Result<&'static Schema, CodecError> {
    writer_for(fingerprint).ok_or_else(|| {
        CodecError::UnknownWriter(fingerprint.iter().map(|b| format!("{b:02x}")).collect())
    })
}

/// The inner message of a `Compressed` datum, decompressed (bounded).
fn unwrap_compressed(mut datum: &[u8]) -> Result<Vec<u8>, CodecError> {
    use apache_avro::types::Value;
    limit_allocations();
    let fields = match apache_avro::from_avro_datum(&COMPRESSED.schema, &mut datum, None)? {
        Value::Record(fields) => fields,
        _ => return Err(CodecError::Compressed("not a record".into())),
    };
    let mut fields = fields.into_iter().map(|(_, value)| value);
    match (fields.next(), fields.next()) {
        (Some(Value::String(encoding)), Some(Value::Bytes(message))) if encoding == "zstd" => {
            zstd_decompress(&message).map_err(|e| CodecError::Compressed(e.to_string()))
        }
        (Some(Value::String(encoding)), _) => Err(CodecError::Compressed(format!(
            "unknown encoding {encoding:?}"
        ))),
        _ => Err(CodecError::Compressed("malformed wrapper".into())),
    }
}

/// Decode a bare datum written with `writer`, resolved to `T`'s current schema.
pub fn decode_with_writer<T: Contract>(writer: &Schema, datum: &[u8]) -> Result<T, CodecError> {
    decode_datum(writer, datum)
}

fn decode_datum<T: Contract>(writer: &Schema, mut datum: &[u8]) -> Result<T, CodecError> {
    limit_allocations();
    let reader = T::schema();
    let value = if std::ptr::eq(writer, reader) {
        apache_avro::from_avro_datum(writer, &mut datum, None)?
    } else {
        apache_avro::from_avro_datum(writer, &mut datum, Some(reader))?
    };
    Ok(apache_avro::from_value::<T>(&value)?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::types::NormalizedEvent;

    fn raw_batch() -> RawBatch {
        RawBatch {
            batch_id: "0192f2a0-0000-7000-8000-000000000001".into(),
            source: "mobile_batch".into(),
            tenant: "default".into(),
            received_at: 1_700_000_000_123,
            request_id: "req-1".into(),
            client_ip: Some("203.0.113.9".into()),
            user_agent: None,
            content_type: "application/json".into(),
            body_encoding: "identity".into(),
            body: br#"{"events":[]}"#.to_vec(),
            attributes: HashMap::from([("idApp".to_string(), "666".to_string())]),
        }
    }

    #[test]
    fn a_huge_declared_array_is_an_error_not_an_abort() {
        // fuzz/avro_envelopes crash input: a NormalizedBatch whose array claims ~10^9 items.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&NormalizedBatch::fingerprint());
        bytes.extend_from_slice(&[0xfb, 0xff, 0xff, 0xff, 0x03, 0x2c, 0x81]);
        assert!(decode::<NormalizedBatch>(&bytes).is_err());
        // The same bomb behind ten zero bytes of a RawBatch (empty strings, received_at 0).
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&RawBatch::fingerprint());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(&[0xfb, 0xff, 0xff, 0xff, 0x03, 0x2c, 0x81]);
        assert!(decode::<RawBatch>(&bytes).is_err());
    }

    #[test]
    fn raw_batch_round_trips() {
        let batch = raw_batch();
        let bytes = encode(&batch).unwrap();
        assert_eq!(&bytes[..2], &MAGIC);
        assert_eq!(decode::<RawBatch>(&bytes).unwrap(), batch);
    }

    #[test]
    fn normalized_batch_round_trips_with_every_optional_set_and_unset() {
        let full = NormalizedEvent {
            event_uid: "u".into(),
            event_id: Some("e".into()),
            latitude: Some(12.5),
            age: Some(38),
            duration_seconds: Some(-1),
            time_flags: vec!["older_than_24h".into()],
            revenue_amount: Some("1.99".into()),
            properties: r#"{"a":1}"#.into(),
            raw: "{}".into(),
            ..Default::default()
        };
        let batch = NormalizedBatch {
            events: vec![full, NormalizedEvent::default()],
        };
        let bytes = encode(&batch).unwrap();
        assert_eq!(decode::<NormalizedBatch>(&bytes).unwrap(), batch);
    }

    #[test]
    fn compressed_messages_decode_like_plain_ones_and_are_smaller() {
        let event = NormalizedEvent {
            event_uid: "u".into(),
            raw: r#"{"event_name":"app_open","payload":{"screen":"home"}}"#.into(),
            ..Default::default()
        };
        let batch = NormalizedBatch {
            events: vec![event; 100],
        };
        let plain = encode(&batch).unwrap();
        let compressed = encode_compressed(&batch).unwrap();
        assert_eq!(&compressed[2..HEADER_LEN], &COMPRESSED.fingerprint);
        assert!(
            compressed.len() * 10 < plain.len(),
            "{} vs {}",
            compressed.len(),
            plain.len()
        );
        assert_eq!(decode::<NormalizedBatch>(&compressed).unwrap(), batch);
        assert_eq!(decode::<NormalizedBatch>(&plain).unwrap(), batch);
        // The wrapper does not change what the inner message is: a RawBatch reader refuses it.
        assert!(decode::<RawBatch>(&compressed).is_err());
    }

    #[test]
    fn a_zstd_bomb_or_a_forged_wrapper_is_an_error_not_an_abort() {
        let wrap = |encoding: &str, message: Vec<u8>| {
            let mut out = MAGIC.to_vec();
            out.extend_from_slice(&COMPRESSED.fingerprint);
            let value = apache_avro::types::Value::Record(vec![
                (
                    "encoding".into(),
                    apache_avro::types::Value::String(encoding.into()),
                ),
                ("message".into(), apache_avro::types::Value::Bytes(message)),
            ]);
            out.extend(apache_avro::to_avro_datum(&COMPRESSED.schema, value).unwrap());
            out
        };
        // 260 MiB of zeros behind a valid header, compressed to a few KB.
        let mut bomb = MAGIC.to_vec();
        bomb.extend_from_slice(&NormalizedBatch::fingerprint());
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        std::io::Write::write_all(&mut encoder, &bomb).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..260 {
            std::io::Write::write_all(&mut encoder, &zeros).unwrap();
        }
        let message = encoder.finish().unwrap();
        let err = decode::<NormalizedBatch>(&wrap("zstd", message)).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");

        let err = decode::<NormalizedBatch>(&wrap("brotli", vec![1, 2])).unwrap_err();
        assert!(err.to_string().contains("brotli"), "{err}");
        assert!(decode::<NormalizedBatch>(&wrap("zstd", b"not zstd".to_vec())).is_err());
        let nested = wrap(
            "zstd",
            zstd::bulk::compress(&wrap("zstd", vec![]), 3).unwrap(),
        );
        assert!(decode::<NormalizedBatch>(&nested).is_err());
    }

    #[test]
    fn dlq_record_round_trips() {
        let record = DlqRecord {
            stage: "enricher".into(),
            reason: "undecodable_envelope".into(),
            detail: "not avro".into(),
            source_topic: "events.raw".into(),
            source_partition: 2,
            source_offset: 41,
            tenant: None,
            event_uid: None,
            failed_at: 1,
            original: vec![0xff, 0x00],
        };
        assert_eq!(
            decode::<DlqRecord>(&encode(&record).unwrap()).unwrap(),
            record
        );
    }

    #[test]
    fn garbage_and_unknown_writers_are_errors() {
        assert!(matches!(
            decode::<RawBatch>(b"{\"json\":1}"),
            Err(CodecError::NotSingleObject)
        ));
        let mut bytes = encode(&raw_batch()).unwrap();
        bytes[2] ^= 0xff;
        assert!(matches!(
            decode::<RawBatch>(&bytes),
            Err(CodecError::UnknownWriter(_))
        ));
        let bytes = encode(&raw_batch()).unwrap();
        assert!(decode::<RawBatch>(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn an_older_writer_without_attributes_resolves_to_the_current_reader() {
        // RawBatch as first drafted: no attributes map. Readers fill the declared default.
        let v0 = Schema::parse_str(
            r#"{"type":"record","name":"RawBatch","namespace":"io.tributary.v1","fields":[
              {"name":"batch_id","type":"string"},{"name":"source","type":"string"},
              {"name":"tenant","type":"string"},
              {"name":"received_at","type":{"type":"long","logicalType":"timestamp-millis"}},
              {"name":"request_id","type":"string"},
              {"name":"client_ip","type":["null","string"],"default":null},
              {"name":"user_agent","type":["null","string"],"default":null},
              {"name":"content_type","type":"string"},{"name":"body_encoding","type":"string"},
              {"name":"body","type":"bytes"}]}"#,
        )
        .unwrap();
        let mut old = raw_batch();
        old.attributes.clear();
        let mut fields = match apache_avro::to_value(&old).unwrap() {
            apache_avro::types::Value::Record(fields) => fields,
            other => panic!("{other:?}"),
        };
        fields.retain(|(name, _)| name != "attributes");
        let value = apache_avro::types::Value::Record(fields)
            .resolve(&v0)
            .unwrap();
        let datum = apache_avro::to_avro_datum(&v0, value).unwrap();
        let decoded: RawBatch = decode_with_writer(&v0, &datum).unwrap();
        assert_eq!(decoded, old);
    }

    #[test]
    fn a_newer_reader_field_without_default_is_rejected_not_invented() {
        let writer = Schema::parse_str(
            r#"{"type":"record","name":"DlqRecord","namespace":"io.tributary.v1","fields":[
              {"name":"stage","type":"string"}]}"#,
        )
        .unwrap();
        let datum = apache_avro::to_avro_datum(
            &writer,
            apache_avro::types::Value::Record(vec![(
                "stage".into(),
                apache_avro::types::Value::String("sink".into()),
            )]),
        )
        .unwrap();
        assert!(decode_with_writer::<DlqRecord>(&writer, &datum).is_err());
    }
}
