//! The contracts all three services share: the Avro schemas of the Kafka topics, their Rust
//! types, the framing of a Kafka message value, and the ClickHouse migrations.
//!
//! Every Kafka value is Avro single-object encoded (`C3 01`, the writer schema's CRC-64-AVRO
//! fingerprint, the datum), so a reader always knows which schema wrote a message and resolves
//! it to the schema it was built with.

mod codec;
mod migrations;
mod source;
mod types;

pub use codec::{decode, decode_with_writer, encode, CodecError, Contract};
pub use migrations::{Migration, MIGRATIONS};
pub use source::{Family, Source};
pub use types::{
    compress_body, decompress_body, BodyEncoding, DlqRecord, NormalizedBatch, NormalizedEvent,
    RawBatch,
};
