//! Seed 003 bodies: `activity::parse` must answer Ok or its error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_wire::activity::parse;

fuzz_target!(|body: &[u8]| {
    let _ = parse(body);
});
