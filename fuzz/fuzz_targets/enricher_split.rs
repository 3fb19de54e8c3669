//! The whole enricher split on an arbitrary request body: any source (first byte), stored
//! as is or zstd-compressed (second byte), tenant zone UTC.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use tributary_normalize::sources::{split, NormalizeContext};
use tributary_schemas::{RawBatch, Source};

fuzz_target!(|data: &[u8]| {
    let [pick, encoding, body @ ..] = data else {
        return;
    };
    let source = Source::ALL[*pick as usize % Source::ALL.len()];
    let (body_encoding, body) = match encoding % 3 {
        0 => ("identity", body.to_vec()),
        1 => ("zstd", body.to_vec()),
        _ => {
            let (encoding, stored) = tributary_schemas::compress_body(body);
            (encoding.as_str(), stored)
        }
    };
    let batch = RawBatch {
        batch_id: "0192f2a0-0000-7000-8000-000000000001".into(),
        source: source.as_str().into(),
        tenant: "default".into(),
        received_at: 1_700_000_000_000,
        request_id: "fuzz".into(),
        client_ip: Some("198.51.100.7".into()),
        user_agent: Some("fuzz".into()),
        content_type: match source {
            Source::MobileBatch => [
                "application/json",
                "application/xml",
                "application/x-www-form-urlencoded",
            ][*encoding as usize / 3 % 3]
                .into(),
            _ => "application/json".into(),
        },
        body_encoding: body_encoding.into(),
        body,
        attributes: HashMap::from([("idApp".to_string(), "666".to_string())]),
    };
    let _ = split(&batch, &NormalizeContext::default());
});
