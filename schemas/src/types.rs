//! Rust types of the Avro records; field names and order match the `.avsc` files.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One accepted HTTP request, as received, plus request metadata (`avro/raw_batch.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawBatch {
    pub batch_id: String,
    pub source: String,
    pub tenant: String,
    /// Epoch milliseconds, UTC.
    pub received_at: i64,
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: String,
    pub body_encoding: String,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    pub attributes: HashMap<String, String>,
}

impl RawBatch {
    /// The request body as the client sent it (undoing the gateway's own compression).
    pub fn body_bytes(&self) -> Result<Vec<u8>, std::io::Error> {
        match self.body_encoding.parse::<BodyEncoding>() {
            Ok(encoding) => decompress_body(encoding, &self.body),
            Err(()) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unknown body_encoding {:?}", self.body_encoding),
            )),
        }
    }
}

/// How the gateway stored `RawBatch.body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Identity,
    Zstd,
}

impl BodyEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyEncoding::Identity => "identity",
            BodyEncoding::Zstd => "zstd",
        }
    }
}

impl std::str::FromStr for BodyEncoding {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "identity" => Ok(BodyEncoding::Identity),
            "zstd" => Ok(BodyEncoding::Zstd),
            _ => Err(()),
        }
    }
}

/// Bodies below this size are stored as they are: compressing them saves nothing worth a frame.
const COMPRESS_FROM_BYTES: usize = 512;

/// Compress a request body for the envelope. The broker's cost follows the uncompressed bytes
/// of each record, so shrinking the body inside the envelope raises the pipeline's ceiling.
pub fn compress_body(body: &[u8]) -> (BodyEncoding, Vec<u8>) {
    if body.len() < COMPRESS_FROM_BYTES {
        return (BodyEncoding::Identity, body.to_vec());
    }
    match zstd_compress(body) {
        Ok(compressed) if compressed.len() < body.len() => (BodyEncoding::Zstd, compressed),
        _ => (BodyEncoding::Identity, body.to_vec()),
    }
}

/// zstd level of every body and normalized batch the pipeline writes. Level 1 makes the same
/// sizes as 3 on mobile batches (and about 3% more on the repository's fixtures), and its one
/// small hash table stays in cache on a machine the broker and ClickHouse share: the services'
/// CPU per event in bench phase (d) fell from 36.0-37.0 to 32.1-34.1 µs in interleaved runs
/// (bench/PROFILE.md, "zstd level 1").
pub const ZSTD_LEVEL: i32 = 1;

/// zstd at [`ZSTD_LEVEL`] with one reused context per thread: creating a context for every call
/// cost more than the compression itself for small requests (bench/PROFILE.md, finding 4).
pub(crate) fn zstd_compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
        }
        cell.as_mut().expect("set above").compress(data)
    })
}

/// Largest decompressed size of anything a stage unpacks. Request bodies are at most 5 MiB and
/// a normalized batch of one is a few times that; a zstd bomb in a forged envelope stops here
/// with an error instead of taking the process's memory.
pub const MAX_DECOMPRESSED_LEN: u64 = 256 * 1024 * 1024;

/// Decompress a zstd frame, refusing output beyond `MAX_DECOMPRESSED_LEN`.
///
/// One frame that states its size (what `zstd_compress` writes) is decompressed in one call
/// with a context reused per thread: creating a decompression context for every message was a
/// visible share of the sink's CPU (perf of bench phase (b)). Anything else (several frames, no
/// stated size) is streamed.
pub(crate) fn zstd_decompress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use zstd::zstd_safe;
    let stated = zstd_safe::get_frame_content_size(data).ok().flatten();
    let one_frame = zstd_safe::find_frame_compressed_size(data).is_ok_and(|n| n == data.len());
    match stated {
        Some(size) if one_frame && size <= MAX_DECOMPRESSED_LEN => {
            thread_local! {
                static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                    const { std::cell::RefCell::new(None) };
            }
            DECOMPRESSOR.with(|cell| {
                let mut cell = cell.borrow_mut();
                if cell.is_none() {
                    *cell = Some(zstd::bulk::Decompressor::new()?);
                }
                // A frame whose content outgrows its stated size fails here.
                cell.as_mut()
                    .expect("set above")
                    .decompress(data, size as usize)
            })
        }
        _ => zstd_decompress_streaming(data),
    }
}

fn zstd_decompress_streaming(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4));
    zstd::stream::read::Decoder::with_buffer(data)?
        .take(MAX_DECOMPRESSED_LEN + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_DECOMPRESSED_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("decompresses to more than {MAX_DECOMPRESSED_LEN} bytes"),
        ));
    }
    Ok(out)
}

/// Undo `compress_body`.
pub fn decompress_body(encoding: BodyEncoding, body: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    match encoding {
        BodyEncoding::Identity => Ok(body.to_vec()),
        BodyEncoding::Zstd => zstd_decompress(body),
    }
}

/// One event of any source in canonical form (`avro/normalized_batch.avsc`, `NormalizedEvent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NormalizedEvent {
    pub event_uid: String,
    pub tenant: String,
    pub source: String,
    pub batch_id: String,
    pub event_index: i32,
    pub event_id: Option<String>,
    pub event_name: String,
    pub event_category: Option<String>,
    /// Epoch milliseconds, UTC.
    pub event_time: i64,
    pub client_time_raw: Option<String>,
    pub sent_at: Option<i64>,
    pub received_at: i64,
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
    /// The user's User-Agent (see the `.avsc`).
    pub user_agent: Option<String>,
    /// Request metadata: who sent the request (TCP peer or trusted-proxy client).
    pub sender_ip: Option<String>,
    /// Request metadata: the request's User-Agent header.
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
    pub revenue_amount: Option<String>,
    pub currency: Option<String>,
    /// JSON object of free-form parameters.
    pub properties: String,
    /// JSON object of the source fields exactly as sent.
    pub raw: String,
}

/// Several normalized events in one Kafka message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NormalizedBatch {
    pub events: Vec<NormalizedEvent>,
}

/// What a stage could not process (`avro/dlq_record.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqRecord {
    pub stage: String,
    pub reason: String,
    pub detail: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub tenant: Option<String>,
    pub event_uid: Option<String>,
    pub failed_at: i64,
    #[serde(with = "serde_bytes")]
    pub original: Vec<u8>,
}

impl DlqRecord {
    /// The record's Kafka key: where the original came from (`topic/partition/offset`).
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.source_topic, self.source_partition, self.source_offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_stay_identity_and_large_ones_round_trip_through_zstd() {
        let (enc, stored) = compress_body(b"{}");
        assert_eq!(enc, BodyEncoding::Identity);
        assert_eq!(stored, b"{}");

        let body = br#"{"event_name":"purchase","value":1}"#.repeat(100);
        let (enc, stored) = compress_body(&body);
        assert_eq!(enc, BodyEncoding::Zstd);
        assert!(stored.len() < body.len() / 5);
        assert_eq!(decompress_body(enc, &stored).unwrap(), body);
    }

    #[test]
    fn zstd_frames_with_and_without_a_stated_size_decompress_alike() {
        let body = br#"{"event_name":"purchase","value":1}"#.repeat(100);
        let stated = zstd_compress(&body).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&stated).ok(),
            Some(Some(body.len() as u64))
        );
        assert_eq!(zstd_decompress(&stated).unwrap(), body);
        // Twice in a row on one thread: the reused context starts clean.
        assert_eq!(zstd_decompress(&stated).unwrap(), body);
        // Two frames back to back (another writer may send them): both, in order.
        let mut two = stated.clone();
        two.extend(zstd::bulk::compress(b"tail", 1).unwrap());
        let mut expected = body.clone();
        expected.extend_from_slice(b"tail");
        assert_eq!(zstd_decompress(&two).unwrap(), expected);
        // No stated size: streamed.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut encoder, &body).unwrap();
        let unsized_frame = encoder.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&unsized_frame).ok(),
            Some(None)
        );
        assert_eq!(zstd_decompress(&unsized_frame).unwrap(), body);
        // A truncated frame is an error.
        assert!(zstd_decompress(&stated[..stated.len() - 3]).is_err());
    }

    #[test]
    fn unknown_body_encoding_is_an_error_not_garbage() {
        let batch = RawBatch {
            batch_id: "b".into(),
            source: "mobile_batch".into(),
            tenant: "t".into(),
            received_at: 0,
            request_id: "r".into(),
            client_ip: None,
            user_agent: None,
            content_type: "application/json".into(),
            body_encoding: "brotli".into(),
            body: vec![1, 2, 3],
            attributes: HashMap::new(),
        };
        assert!(batch.body_bytes().is_err());
    }
}
