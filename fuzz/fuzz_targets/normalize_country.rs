//! Country names and codes to ISO 3166-1 alpha-2.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_normalize::geo::country_to_alpha2;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(code) = country_to_alpha2(text) {
            assert_eq!(code.len(), 2, "{text:?} -> {code:?}");
        }
    }
});
