//! Seed 002 bodies for every method, single and batch (chosen by the first byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_wire::s2s::{parse, Method};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let method = Method::ALL[(pick & 0x7f) as usize % Method::ALL.len()];
    let _ = parse(method, pick & 0x80 != 0, body);
});
