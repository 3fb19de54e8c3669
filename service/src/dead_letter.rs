//! The one dead-letter writer: what a consumer could not process goes to `events.dlq` as a
//! `DlqRecord` (stage, reason, detail, where it came from, the original bytes), keyed by
//! `topic/partition/offset`, counted and logged (reason and position, never the values).

use std::time::Duration;

use rdkafka::producer::FutureRecord;
use tributary_schemas::DlqRecord;

use crate::kafka::RenewingProducer;

/// One thing that could not be processed.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Low-cardinality reason code (`undecodable_envelope`, `invalid_currency`, ...).
    pub reason: String,
    /// What exactly was wrong, for a person reading the record.
    pub detail: String,
    /// Partition and offset of the consumed message; -1 when the letter is about rows
    /// buffered from several messages (the sink's rejected inserts).
    pub partition: i32,
    pub offset: i64,
    pub tenant: Option<String>,
    pub event_uid: Option<String>,
    /// The bytes as consumed (a whole message) or the event's source fields (one event).
    pub original: Vec<u8>,
}

/// A dead letter ready to produce: its Kafka key and Avro payload.
#[derive(Debug, Clone)]
pub struct EncodedLetter {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

/// Writes one stage's dead letters.
#[derive(Clone)]
pub struct DeadLetterWriter {
    /// `enricher` or `sink`: recorded in `DlqRecord.stage`.
    stage: &'static str,
    /// The topic the stage consumes (`DlqRecord.source_topic`).
    source_topic: String,
    dlq_topic: String,
    /// Counts one dead letter by reason (each stage's `tributary_<stage>_dlq_total`).
    count: fn(&str),
}

impl DeadLetterWriter {
    pub fn new(
        stage: &'static str,
        source_topic: impl Into<String>,
        dlq_topic: impl Into<String>,
        count: fn(&str),
    ) -> Self {
        DeadLetterWriter {
            stage,
            source_topic: source_topic.into(),
            dlq_topic: dlq_topic.into(),
            count,
        }
    }

    /// Count, log and encode `letter`, for a caller that produces it with its other outputs
    /// (the enricher commits a message only once all of them are acknowledged).
    pub fn encode(&self, letter: DeadLetter) -> EncodedLetter {
        (self.count)(&letter.reason);
        tracing::warn!(
            stage = self.stage,
            reason = %letter.reason,
            detail = %letter.detail,
            partition = letter.partition,
            offset = letter.offset,
            "dead-lettered"
        );
        let record = DlqRecord {
            stage: self.stage.into(),
            reason: letter.reason,
            detail: letter.detail,
            source_topic: self.source_topic.clone(),
            source_partition: letter.partition,
            source_offset: letter.offset,
            tenant: letter.tenant,
            event_uid: letter.event_uid,
            failed_at: crate::now_ms(),
            original: letter.original,
        };
        EncodedLetter {
            topic: self.dlq_topic.clone(),
            key: record.key(),
            payload: tributary_schemas::encode(&record).expect("DLQ records always encode"),
        }
    }

    /// Encode `letter` and produce it with `producer`, retrying (backoff up to 5 s) until the
    /// broker acknowledges: a dead letter is never dropped. A producer that keeps failing is
    /// replaced (`RenewingProducer`).
    pub async fn send(&self, producer: &RenewingProducer, letter: DeadLetter) {
        let encoded = self.encode(letter);
        let mut backoff = Duration::from_millis(100);
        loop {
            let record = FutureRecord::to(&encoded.topic)
                .key(&encoded.key)
                .payload(&encoded.payload);
            let client = producer.current();
            match client.send(record, Duration::from_secs(5)).await {
                Ok(_) => {
                    producer.succeeded();
                    return;
                }
                Err((error, _)) => {
                    producer.failed(&client, &error);
                    tracing::warn!(%error, "DLQ produce failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTED: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn a_letter_is_counted_keyed_by_its_position_and_decodes_back() {
        let writer = DeadLetterWriter::new("enricher", "events.raw", "events.dlq", |_| {
            COUNTED.fetch_add(1, Ordering::Relaxed);
        });
        let encoded = writer.encode(DeadLetter {
            reason: "invalid_currency".into(),
            detail: "ABC".into(),
            partition: 3,
            offset: 42,
            tenant: Some("acme".into()),
            event_uid: Some("u".into()),
            original: b"{}".to_vec(),
        });
        assert_eq!(COUNTED.load(Ordering::Relaxed), 1);
        assert_eq!(encoded.topic, "events.dlq");
        assert_eq!(encoded.key, "events.raw/3/42");
        let record: DlqRecord = tributary_schemas::decode(&encoded.payload).unwrap();
        assert_eq!(record.stage, "enricher");
        assert_eq!(record.reason, "invalid_currency");
        assert_eq!(record.tenant.as_deref(), Some("acme"));
        assert_eq!(record.original, b"{}");
    }
}
