//! Revenue amounts as text: parse, and what parses must print and parse back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_normalize::revenue::{amount_text, parse_amount};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(amount) = parse_amount(text) {
            let printed = amount_text(amount);
            assert_eq!(
                parse_amount(&printed).ok(),
                Some(amount),
                "{text:?} -> {printed:?}"
            );
        }
    }
});
