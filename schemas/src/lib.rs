//! The contracts all three services share: the Avro schemas of the Kafka topics, their Rust
//! types, the framing of a Kafka message value, and the ClickHouse migrations.
//!
//! Every Kafka value is Avro single-object encoded (`C3 01`, the writer schema's CRC-64-AVRO
//! fingerprint, the datum), so a reader always knows which schema wrote a message and resolves
//! it to the schema it was built with. A message may also be wrapped whole in a zstd
//! `Compressed` record (`encode_compressed`); `decode` reads both forms.

mod codec;
mod migrations;
mod source;
mod specific;
mod types;

pub use codec::{
    decode, decode_current_general, decode_with_writer, encode, encode_compressed, CodecError,
    Contract,
};
pub use migrations::{Migration, MIGRATIONS};

/// Queries the services run, kept beside the DDL so tests can run them on current ClickHouse.
pub mod queries {
    /// Lead/contact search: one page of matching records, newest first, duplicates collapsed,
    /// each row with the number of matches (`row_count`) and its position, from one reading.
    pub const SEARCH: &str = include_str!("../clickhouse/queries/search.sql");
}
pub use source::{Family, Source};
pub use types::{
    compress_body, decompress_body, BodyEncoding, DlqRecord, NormalizedBatch, NormalizedEvent,
    RawBatch, ZSTD_LEVEL,
};
