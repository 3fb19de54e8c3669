//! Seed 001 bodies on each of its three endpoints (chosen by the first byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_wire::crm::{parse, Resource};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let resource = Resource::ALL[pick as usize % Resource::ALL.len()];
    let _ = parse(resource, body);
});
