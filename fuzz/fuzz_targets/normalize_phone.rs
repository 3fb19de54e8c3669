//! Phone numbers to E.164, with and without a country hint (split at the first `|`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_normalize::identity::normalize_phone;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.split_once('|') {
        Some((hint, number)) => {
            let _ = normalize_phone(number, Some(hint));
        }
        None => {
            let _ = normalize_phone(text, None);
        }
    }
});
