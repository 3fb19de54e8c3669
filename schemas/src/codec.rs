//! Avro single-object framing of Kafka values, with schema resolution by writer fingerprint.

use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::specific::{self, Specific};
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
    /// The same schema for `serde_avro_fast`, which reads a datum written with exactly this
    /// schema straight into the Rust type (no `Value` tree, one allocation per string).
    fast: serde_avro_fast::Schema,
}

fn known(text: &str) -> Known {
    let schema = Schema::parse_str(text).expect("checked-in schema parses");
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let fingerprint = bytes.try_into().expect("CRC-64-AVRO is 8 bytes");
    // Not compared by fingerprint: apache-avro 0.20 keeps `{"type":"long"}` for a logical type in
    // the canonical form, so the two fingerprints differ; the tests compare what they decode.
    let fast = text.parse().expect("checked-in schema parses");
    Known {
        schema,
        fingerprint,
        fast,
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
    /// `schema()` as `serde_avro_fast` reads it: the decoder of datums written with `schema()`.
    fn fast_schema() -> &'static serde_avro_fast::Schema;
    /// Append the datum by code written for `schema()` (`specific.rs`) and say `true`, or say
    /// `false` for a type without such code.
    #[doc(hidden)]
    fn write_specific(&self, _out: &mut Vec<u8>) -> bool {
        false
    }
    /// Read a datum written with `schema()` by code written for it (`specific.rs`); `None`
    /// for a type without such code or a datum that code does not read exactly.
    #[doc(hidden)]
    fn read_specific(_datum: &[u8]) -> Option<Self> {
        None
    }
}

macro_rules! contract {
    ($ty:ty, $known:ident $(, $specific:ident)?) => {
        impl Contract for $ty {
            fn schema() -> &'static Schema {
                &$known.schema
            }
            fn fingerprint() -> [u8; 8] {
                $known.fingerprint
            }
            fn fast_schema() -> &'static serde_avro_fast::Schema {
                &$known.fast
            }
            $(
                fn write_specific(&self, out: &mut Vec<u8>) -> bool {
                    $specific::write(self, out);
                    true
                }
                fn read_specific(datum: &[u8]) -> Option<Self> {
                    specific::read_datum(datum)
                }
            )?
        }
    };
}

contract!(RawBatch, RAW_BATCH);
contract!(NormalizedBatch, NORMALIZED_BATCH, Specific);
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
    let mut out = Vec::with_capacity(HEADER_LEN + 1024);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Largest buffer `encode_compressed` keeps per thread between messages, in bytes.
const PLAIN_KEPT_CAPACITY: usize = 4 * 1024 * 1024;

/// `encode`, appended to `out`.
fn encode_into<T: Contract>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&T::fingerprint());
    if value.write_specific(out) {
        return Ok(());
    }
    // `serde_avro_fast` writes the fields in schema order with no lookups: apache-avro's
    // schema-aware writer found each field by name in a `BTreeMap`, a quarter of
    // `enricher.process` (bench/PROFILE.md, "Encoding without field lookups"). The bytes are
    // apache-avro's (tests below); a value the fast writer refuses goes to apache-avro, which
    // decides and words the error.
    let mut config = serde_avro_fast::ser::SerializerConfig::new(T::fast_schema());
    if serde_avro_fast::to_datum(value, &mut *out, &mut config).is_err() {
        out.truncate(start);
        out.extend_from_slice(&encode_apache(value)?);
    }
    Ok(())
}

/// `encode` by apache-avro's schema-aware writer (the path `encode` replaced).
fn encode_apache<T: Contract>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 1024);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&T::fingerprint());
    apache_avro::write_avro_datum_ref(T::schema(), value, &mut out)?;
    Ok(out)
}

/// Encode `value` like `encode`, then wrap the whole message, zstd-compressed, in a
/// `Compressed` record (`avro/compressed.avsc`). `decode` reads both forms.
///
/// The plain message is written into a buffer kept per thread, so its size is reached once per
/// thread, not by doubling from 1 KiB for every message (a normalized batch of 100 mobile events
/// is about 100 KB; the growth and the copies were 1% of `enricher.process`).
pub fn encode_compressed<T: Contract>(value: &T) -> Result<Vec<u8>, CodecError> {
    thread_local! {
        static PLAIN: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let message = PLAIN.with(|cell| -> Result<Vec<u8>, CodecError> {
        // A `Serialize` of a caller's type that encodes again on this thread gets a buffer
        // of its own instead of a borrow panic.
        let mut own = Vec::new();
        let mut kept = cell.try_borrow_mut();
        let plain = match kept {
            Ok(ref mut kept) => &mut **kept,
            Err(_) => &mut own,
        };
        plain.clear();
        let message = encode_into(value, plain)
            .and_then(|()| zstd_compress(plain).map_err(|e| CodecError::Compressed(e.to_string())));
        // An outsized message (a normalized batch can be a few times its 5 MiB request) does
        // not stay held per thread, whether it was encoded or not.
        if plain.capacity() > PLAIN_KEPT_CAPACITY {
            *plain = Vec::new();
        }
        message
    })?;
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

fn decode_datum<T: Contract>(writer: &Schema, datum: &[u8]) -> Result<T, CodecError> {
    if std::ptr::eq(writer, T::schema()) {
        decode_current(datum)
    } else {
        decode_value(writer, Some(T::schema()), datum)
    }
}

/// A datum written with `T`'s current schema, read straight into `T`: first by the code
/// written for the schema where a type has it (`specific.rs`, the normalized batch), then by
/// `decode_current_general`. Both reserve at most 1 MiB from a declared length.
fn decode_current<T: Contract>(datum: &[u8]) -> Result<T, CodecError> {
    match T::read_specific(datum) {
        Some(value) => Ok(value),
        None => decode_current_general(datum),
    }
}

/// `decode_current` without the specific reader (`specific.rs`): the fuzz target
/// `avro_envelopes` holds that reader to this one's answers.
///
/// `serde_avro_fast` reads the datum straight into `T`. Going through apache-avro's `Value`
/// tree cost ~240 allocations and ~110k instructions per normalized event (bench/PROFILE.md,
/// "Sink decode without `Value`"); this reads the same fields with one allocation per string.
/// A datum it refuses is handed to the `Value` path, which decides and words the error, so
/// exactly the datums that path accepted are accepted (it reads a few that no writer produces,
/// such as a varint past 64 bits). Array lengths need no cap here: every item of our schemas
/// reads at least one byte, so a forged count runs out of input instead of reserving memory
/// (serde reserves at most 1 MiB from a length hint).
#[doc(hidden)]
pub fn decode_current_general<T: Contract>(datum: &[u8]) -> Result<T, CodecError> {
    match serde_avro_fast::from_datum_slice(datum, T::fast_schema()) {
        Ok(value) => Ok(value),
        Err(_) => decode_value(T::schema(), None, datum),
    }
}

/// Bytes -> apache-avro `Value` (resolved from `writer` to `reader` when they differ) -> `T`.
/// The path of older writers' datums and of datums the fast reader refuses.
fn decode_value<T: Contract>(
    writer: &Schema,
    reader: Option<&Schema>,
    mut datum: &[u8],
) -> Result<T, CodecError> {
    limit_allocations();
    let value = apache_avro::from_avro_datum(writer, &mut datum, reader)?;
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
        // The same bomb stating its size in the frame header.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        let size = bomb.len() as u64 + 260 * zeros.len() as u64;
        encoder.set_pledged_src_size(Some(size)).unwrap();
        std::io::Write::write_all(&mut encoder, &bomb).unwrap();
        for _ in 0..260 {
            std::io::Write::write_all(&mut encoder, &zeros).unwrap();
        }
        let message = encoder.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&message).ok(),
            Some(Some(size))
        );
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

    /// Compatibility of the two decoders: `decode_current` (serde_avro_fast, straight into the
    /// type) must read every datum exactly as the `Value` path it replaced did.
    mod fast_path {
        use apache_avro::types::Value;

        use super::*;

        /// The decoder `decode_current` replaced, as it was: bytes -> `Value` -> `from_value`.
        fn value_path<T: Contract>(datum: &[u8]) -> Result<T, CodecError> {
            decode_value(T::schema(), None, datum)
        }

        /// How two decoded values are compared: `Debug` where there are floats (so -0.0 and
        /// NaN count), `==` where there are maps (whose `Debug` order varies).
        trait Same {
            fn same(&self, other: &Self) -> bool;
        }

        impl Same for NormalizedBatch {
            fn same(&self, other: &Self) -> bool {
                format!("{self:?}") == format!("{other:?}")
            }
        }

        impl Same for RawBatch {
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }

        impl Same for DlqRecord {
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }

        /// What the fast reader alone made of `datum`, against the `Value` path: whatever it
        /// reads, the `Value` path reads the same; what it refuses, `decode` hands to the `Value`
        /// path. `decode_current` answers as the `Value` path in both cases.
        #[derive(Debug, PartialEq)]
        enum Verdict {
            BothRead,
            BothRefused,
            OnlyValuePathReads,
        }

        fn agree<T: Contract + Same + std::fmt::Debug>(datum: &[u8]) -> Verdict {
            let fast = serde_avro_fast::from_datum_slice::<T>(datum, T::fast_schema());
            let slow = value_path::<T>(datum);
            let verdict = match (&fast, &slow) {
                (Ok(fast), Ok(slow)) => {
                    assert!(
                        fast.same(slow),
                        "{datum:02x?}:\nfast: {fast:?}\nvalue: {slow:?}"
                    );
                    Verdict::BothRead
                }
                (Err(_), Err(_)) => Verdict::BothRefused,
                (Err(_), Ok(_)) => Verdict::OnlyValuePathReads,
                (Ok(fast), Err(slow)) => {
                    panic!("only the fast reader reads {datum:02x?}: {fast:?}\nvalue path: {slow}")
                }
            };
            // The specific reader (`specific.rs`, the normalized batch's) reads only what the
            // `Value` path reads, and the same.
            if let Some(specific) = T::read_specific(datum) {
                match &slow {
                    Ok(slow) => assert!(
                        specific.same(slow),
                        "{datum:02x?}:\nspecific: {specific:?}\nvalue: {slow:?}"
                    ),
                    Err(slow) => panic!(
                        "only the specific reader reads {datum:02x?}: {specific:?}\nvalue path: {slow}"
                    ),
                }
            }
            match (decode_current::<T>(datum), slow) {
                (Ok(decoded), Ok(slow)) => assert!(decoded.same(&slow)),
                (Err(decoded), Err(slow)) => assert_eq!(decoded.to_string(), slow.to_string()),
                (decoded, slow) => panic!("decode_current {decoded:?}, value path {slow:?}"),
            }
            verdict
        }

        /// xorshift64*: the same cases every run, no dependency.
        struct Rng(u64);

        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
            }
            fn below(&mut self, n: usize) -> usize {
                (self.next() % n as u64) as usize
            }
            fn pick<T: Clone>(&mut self, items: &[T]) -> T {
                items[self.below(items.len())].clone()
            }
        }

        const STRINGS: &[&str] = &[
            "",
            "a",
            "0192f2a0-0000-7000-8000-000000000001",
            "Ωμέγα Łódź 日本語 🦀\u{200d}👩\u{0301}",
            "quote \" backslash \\ nul \u{0} newline \n tab \t",
            "1.99",
            "-0.000000001",
            "99999999999999999999999999999.999999999",
            "1e3",
            r#"{"a":1,"b":[true,null],"c":{"d":"é"}}"#,
            "+33 6 12 34 56 78",
        ];

        const LONGS: &[i64] = &[
            0,
            1,
            -1,
            63,
            64,
            -65,
            i32::MAX as i64 + 1,
            i64::MIN,
            i64::MAX,
        ];
        const INTS: &[i32] = &[0, 1, -1, 127, -128, i32::MIN, i32::MAX];
        const DOUBLES: &[f64] = &[
            0.0,
            -0.0,
            12.5,
            -179.999_999,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ];

        /// What `random_value` makes: which arm of each `["null", T]` union it takes, and
        /// whether strings, arrays and bytes may be long.
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Shape {
            Random,
            AllSet,
            AllNull,
            /// Random arms, at most two items and no long string: datums of a few hundred bytes.
            Short,
        }

        /// A random datum of `schema`: every union arm, empty and long arrays and maps.
        fn random_value(schema: &Schema, rng: &mut Rng, shape: Shape) -> Value {
            match schema {
                Schema::Null => Value::Null,
                Schema::Boolean => Value::Boolean(rng.below(2) == 1),
                Schema::Int => Value::Int(rng.pick(INTS)),
                Schema::Long => Value::Long(rng.pick(LONGS)),
                Schema::TimestampMillis => Value::TimestampMillis(rng.pick(LONGS)),
                Schema::Double => Value::Double(rng.pick(DOUBLES)),
                Schema::String => Value::String(match rng.below(12) {
                    0 if shape != Shape::Short => "ж".repeat(rng.below(3000)),
                    _ => rng.pick(STRINGS).to_string(),
                }),
                Schema::Bytes => {
                    let len = rng.below(if shape == Shape::Short { 20 } else { 300 });
                    Value::Bytes((0..len).map(|_| rng.next() as u8).collect())
                }
                Schema::Array(array) => Value::Array(
                    (0..match shape {
                        Shape::Short => rng.pick(&[0, 1, 2]),
                        _ => rng.pick(&[0, 0, 1, 3, 40]),
                    })
                        .map(|_| random_value(&array.items, rng, shape))
                        .collect(),
                ),
                Schema::Map(map) => Value::Map(
                    (0..rng.pick(&[0, 1, 3]))
                        .map(|i| {
                            (
                                format!("{}{i}", rng.pick(STRINGS)),
                                random_value(&map.types, rng, shape),
                            )
                        })
                        .collect(),
                ),
                Schema::Union(union) => {
                    let arms = union.variants().len();
                    let arm = match shape {
                        Shape::Random | Shape::Short => rng.below(arms),
                        Shape::AllSet => arms - 1,
                        Shape::AllNull => 0,
                    };
                    let value = random_value(&union.variants()[arm], rng, shape);
                    Value::Union(arm as u32, Box::new(value))
                }
                Schema::Record(record) => Value::Record(
                    record
                        .fields
                        .iter()
                        .map(|field| (field.name.clone(), random_value(&field.schema, rng, shape)))
                        .collect(),
                ),
                other => panic!("no generator for {other:?}: extend random_value"),
            }
        }

        /// `count` random datums of `T`'s schema, each read the same by both decoders.
        fn random_datums<T: Contract + Same + std::fmt::Debug>(
            seed: u64,
            count: usize,
            shape: Shape,
        ) -> Vec<Vec<u8>> {
            let mut rng = Rng(seed);
            (0..count)
                .map(|_| {
                    let value = random_value(T::schema(), &mut rng, shape);
                    let datum = apache_avro::to_avro_datum(T::schema(), value).unwrap();
                    assert_eq!(agree::<T>(&datum), Verdict::BothRead);
                    datum
                })
                .collect()
        }

        /// The fast writer (`encode`) writes exactly apache-avro's bytes for every datum
        /// `random_datums` makes, read back into the type.
        fn writes_alike<T: Contract + Same + std::fmt::Debug>(datums: &[Vec<u8>]) {
            for datum in datums {
                let value: T = value_path(datum).unwrap();
                // The fast writer itself, not `encode`, which would fall back on a refusal.
                let mut config = serde_avro_fast::ser::SerializerConfig::new(T::fast_schema());
                let fast = serde_avro_fast::to_datum(&value, Vec::new(), &mut config)
                    .expect("the fast writer writes every valid value");
                assert_eq!(
                    fast,
                    encode_apache(&value).unwrap()[HEADER_LEN..],
                    "{value:?}"
                );
                assert_eq!(encode(&value).unwrap()[HEADER_LEN..], fast);
                let mut specific = Vec::new();
                if value.write_specific(&mut specific) {
                    assert_eq!(specific, fast, "{value:?}");
                    let read = T::read_specific(&specific).expect("reads what it wrote");
                    assert!(read.same(&value));
                }
            }
        }

        #[test]
        fn the_specific_records_have_the_schemas_fields_in_order() {
            fn names(schema: &Schema) -> Vec<&str> {
                match schema {
                    Schema::Record(record) => {
                        record.fields.iter().map(|f| f.name.as_str()).collect()
                    }
                    other => panic!("not a record: {other:?}"),
                }
            }
            let batch = NormalizedBatch::schema();
            assert_eq!(names(batch), NormalizedBatch::SPECIFIC_FIELDS);
            let Schema::Record(record) = batch else {
                unreachable!()
            };
            let Schema::Array(events) = &record.fields[0].schema else {
                panic!("events is not an array")
            };
            assert_eq!(names(&events.items), NormalizedEvent::SPECIFIC_FIELDS);
            // The types are held by the tests above: every field set, with values drawn at
            // random, and unset, written to apache-avro's bytes and read back the same.
        }

        #[test]
        fn the_fast_writer_writes_every_contract_exactly_as_apache_avro() {
            writes_alike::<NormalizedBatch>(&random_datums::<NormalizedBatch>(
                5,
                300,
                Shape::Random,
            ));
            writes_alike::<RawBatch>(&random_datums::<RawBatch>(6, 300, Shape::Random));
            writes_alike::<DlqRecord>(&random_datums::<DlqRecord>(7, 300, Shape::Random));
            for shape in [Shape::AllSet, Shape::AllNull] {
                writes_alike::<NormalizedBatch>(&random_datums::<NormalizedBatch>(8, 50, shape));
            }
            writes_alike::<NormalizedBatch>(&[encode_apache(&NormalizedBatch::default()).unwrap()
                [HEADER_LEN..]
                .to_vec()]);
        }

        #[test]
        fn the_fast_path_reads_every_contract_exactly_as_the_value_path() {
            random_datums::<NormalizedBatch>(1, 300, Shape::Random);
            random_datums::<RawBatch>(2, 300, Shape::Random);
            random_datums::<DlqRecord>(3, 300, Shape::Random);
        }

        #[test]
        fn the_fast_path_reads_batches_with_every_field_set_and_with_none() {
            for shape in [Shape::AllSet, Shape::AllNull] {
                random_datums::<NormalizedBatch>(4, 50, shape);
            }
            let empty = encode(&NormalizedBatch::default()).unwrap();
            assert_eq!(
                agree::<NormalizedBatch>(&empty[HEADER_LEN..]),
                Verdict::BothRead
            );
        }

        #[test]
        fn damaged_datums_are_refused_or_read_alike_by_both_decoders() {
            // Every byte of some valid datums flipped in a few ways, and every truncation: what
            // the fast reader reads, the value path reads the same; `decode` answers as the value
            // path did in every case.
            let mut verdicts = std::collections::BTreeMap::<String, usize>::new();
            let mut check = |datum: &[u8], agree: fn(&[u8]) -> Verdict| {
                let mut count = |verdict: Verdict| {
                    *verdicts.entry(format!("{verdict:?}")).or_default() += 1;
                };
                for end in 0..datum.len() {
                    count(agree(&datum[..end]));
                }
                for at in 0..datum.len() {
                    for mask in [0x01, 0x80, 0xff, 0x7f] {
                        let mut damaged = datum.to_vec();
                        damaged[at] ^= mask;
                        count(agree(&damaged));
                    }
                }
            };
            for datum in random_datums::<NormalizedBatch>(5, 8, Shape::Short) {
                check(&datum, agree::<NormalizedBatch>);
            }
            for datum in random_datums::<RawBatch>(6, 8, Shape::Short) {
                check(&datum, agree::<RawBatch>);
            }
            for datum in random_datums::<DlqRecord>(7, 8, Shape::Short) {
                check(&datum, agree::<DlqRecord>);
            }
            eprintln!("{verdicts:?}");
            assert!(verdicts.len() >= 2, "{verdicts:?}");
        }

        #[test]
        fn an_older_writer_takes_the_resolving_path() {
            // A writer schema that is not the current one (an older NormalizedEvent without
            // `currency`) goes through apache-avro's resolution and gets the field's default.
            let current = include_str!("../avro/normalized_batch.avsc");
            let field = current.find(r#""name": "currency""#).unwrap();
            let open = current[..field].rfind('{').unwrap();
            let close = field + current[field..].find("},").unwrap() + 2;
            let older = format!("{}{}", &current[..open], &current[close..]);
            let v0 = Schema::parse_str(&older).unwrap();
            assert_ne!(
                v0.fingerprint::<Rabin>().bytes,
                NormalizedBatch::fingerprint().to_vec()
            );
            let event = NormalizedEvent {
                event_uid: "u".into(),
                currency: Some("EUR".into()),
                revenue_amount: Some("1.99".into()),
                ..Default::default()
            };
            let mut value = apache_avro::to_value(NormalizedBatch {
                events: vec![event.clone()],
            })
            .unwrap();
            if let Value::Record(fields) = &mut value {
                if let Value::Array(events) = &mut fields[0].1 {
                    for event in events {
                        if let Value::Record(fields) = event {
                            fields.retain(|(name, _)| name != "currency");
                        }
                    }
                }
            }
            let datum = apache_avro::to_avro_datum(&v0, value.resolve(&v0).unwrap()).unwrap();
            let decoded: NormalizedBatch = decode_with_writer(&v0, &datum).unwrap();
            let want = NormalizedEvent {
                currency: None,
                ..event
            };
            assert_eq!(decoded.events, vec![want]);
        }
    }
}
