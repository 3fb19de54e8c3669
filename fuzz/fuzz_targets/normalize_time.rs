//! Client timestamps in any zone (the first byte picks the tenant's default zone).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_normalize::time::parse_timestamp;

const ZONES: [chrono_tz::Tz; 5] = [
    chrono_tz::UTC,
    chrono_tz::Asia::Kolkata,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Kiritimati,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(text) {
        let _ = parse_timestamp(text, ZONES[pick as usize % ZONES.len()]);
    }
});
