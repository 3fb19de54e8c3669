//! The one time reader of every family (`tributary_wire::time`): any text and any JSON number
//! either reads or is refused, never panics; what it reads as an instant, written back as
//! RFC 3339 with milliseconds, reads as the same instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_wire::time::{epoch_millis, read_text, ClientTime};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = epoch_millis(text);
    if let Ok(ClientTime::Instant(millis)) = read_text(text) {
        if let Some(at) = chrono::DateTime::from_timestamp_millis(millis) {
            if (0..=9999).contains(&chrono::Datelike::year(&at)) {
                let written = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                assert_eq!(read_text(&written), Ok(ClientTime::Instant(millis)), "{text:?}");
            }
        }
    }
});
