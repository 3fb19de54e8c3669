//! Seed 000's xml bodies: `mobile_batch::parse` must answer Ok or a failure list, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_wire::mobile_batch::{parse, Format};

fuzz_target!(|body: &[u8]| {
    let _ = parse(Format::Xml, body);
});
