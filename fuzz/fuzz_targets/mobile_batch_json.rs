//! Seed 000's json bodies: `mobile_batch::parse` must answer Ok or a failure list, never panic,
//! and the gateway's fast check must never accept a body `parse` (the enricher's reading)
//! refuses or counts differently, and the enricher's fast parse must read every body it takes
//! exactly as `parse` does (the same events, the same `raw` and `payload` texts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_wire::mobile_batch::{fast, parse, Format};

fuzz_target!(|body: &[u8]| {
    let parsed = parse(Format::Json, body);
    if let Some(events) = fast::count(body) {
        assert_eq!(parsed.map(|e| e.len()).ok(), Some(events));
    }
    if let Some(difference) = fast::disagreement(body) {
        panic!("{difference}");
    }
});
