//! What the enricher and sink read off Kafka: any bytes as an Avro single-object message,
//! and any datum behind a valid header of each schema (so the Avro decoder itself is
//! reached, lengths and all), the compressed wrapper included. The normalized batch's
//! specific reader reads only what the general decoders read, and the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_schemas::{
    decode, decode_current_general, encode_compressed, Contract, DlqRecord, NormalizedBatch,
    RawBatch,
};

fn framed<T: Contract>(datum: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&T::fingerprint());
    bytes.extend_from_slice(datum);
    bytes
}

fuzz_target!(|data: &[u8]| {
    let _ = decode::<RawBatch>(data);
    let _ = decode::<RawBatch>(&framed::<RawBatch>(data));
    let _ = decode::<NormalizedBatch>(&framed::<NormalizedBatch>(data));
    if let Some(specific) = NormalizedBatch::read_specific(data) {
        match decode_current_general::<NormalizedBatch>(data) {
            // Debug, not ==: a NaN coordinate is read alike but is not equal to itself.
            Ok(general) => assert_eq!(format!("{specific:?}"), format!("{general:?}")),
            Err(e) => panic!("only the specific reader reads {data:02x?}: {e}"),
        }
    }
    let _ = decode::<DlqRecord>(&framed::<DlqRecord>(data));
    // Behind the header of the zstd `Compressed` wrapper the enricher publishes.
    let mut compressed = encode_compressed(&NormalizedBatch::default()).unwrap();
    compressed.truncate(10);
    compressed.extend_from_slice(data);
    let _ = decode::<NormalizedBatch>(&compressed);
});
