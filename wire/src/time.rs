//! The one time reader of every family: what clients send as an event time, read to the
//! millisecond, or refused with a reason the family puts beside the field's name.
//!
//! Accepted (after trimming):
//! - epoch numbers, as JSON numbers or numeric strings, with or without a fraction:
//!   `1659386157`, `1659386157.403862`, `1580213208123`; the unit is told by magnitude
//!   (below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
//!   nanoseconds), as [`epoch_millis`] documents;
//! - ISO 8601 / RFC 3339: `YYYY-MM-DD`, then `T`, `t` or a space, then `hh:mm`, `hh:mm:ss`
//!   or `hh:mm:ss` with a fraction of any precision (`.` or `,`), then a zone: `Z`/`z`,
//!   `±hh:mm`, `±hhmm` (what Python's `%z` and PHP's `DATE_ISO8601` write), `±hh`, ` UTC` or
//!   ` GMT` (a space before the zone is allowed), or nothing: a zoneless time is a wall-clock
//!   time that the enricher reads in the tenant's zone ([`ClientTime::Local`]);
//! - a leap second, `23:59:60` (valid RFC 3339), is read as `23:59:59.999`: the same minute,
//!   in order, and one millisecond short of the next.
//!
//! Everything else is refused. Precision is the millisecond: finer fractions are truncated.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value;

use crate::fields::shown;

/// Epoch numbers below this are seconds: 1e11 s is the year 5138, 1e11 ms only 1973-03-03.
pub const SECONDS_BELOW: u64 = 100_000_000_000;
/// Epoch numbers below this (and not seconds) are milliseconds.
pub const MILLIS_BELOW: u64 = 100_000_000_000_000;
/// Epoch numbers below this (and not milliseconds) are microseconds; larger are nanoseconds.
pub const MICROS_BELOW: u64 = 100_000_000_000_000_000;

/// The forms the reader takes, for error messages.
pub const TIME_FORMS: &str = "use epoch seconds, milliseconds or microseconds, or ISO 8601 \
     such as 2021-12-29T06:12:28Z, 2021-12-29T06:12:28.123+05:30 or 2021-12-29 06:12:28+0530";

/// A client's time, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTime {
    /// A definite instant, epoch milliseconds UTC: an epoch number, or a string with a zone.
    Instant(i64),
    /// A wall-clock time without a zone, to be read in the tenant's zone.
    Local(NaiveDateTime),
}

impl Default for ClientTime {
    /// The epoch, for a struct whose time is still to be read.
    fn default() -> Self {
        ClientTime::Instant(0)
    }
}

/// Why a time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("is empty")]
    Empty,
    #[error("must not be negative, got {0}")]
    Negative(String),
    #[error("is out of range, got {0}")]
    OutOfRange(String),
    #[error("is not a calendar date or time of day, got {0}")]
    NoSuchTime(String),
    #[error("has an offset beyond ±23:59, got {0}")]
    BadOffset(String),
    #[error("must be a time: {TIME_FORMS}, got {0}")]
    NotATime(String),
}

/// Read a time sent as text (a JSON string, an XML element, a form value).
pub fn read_text(raw: &str) -> Result<ClientTime, TimeError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(TimeError::Empty);
    }
    if text.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && text
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_digit() || b == b'.')
    {
        return epoch_millis(text).map(ClientTime::Instant);
    }
    read_iso(text).ok_or_else(|| TimeError::NotATime(shown(raw)))?
}

/// Read a time sent as a JSON value: a number (exactly as sent: the digits are never rounded
/// through a float) or a string; `None` for `null`. Other JSON types are refused.
pub fn read_json(value: &Value) -> Result<Option<ClientTime>, TimeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => read_text(text).map(Some),
        Value::Number(number) => epoch_millis(&number.to_string())
            .map(ClientTime::Instant)
            .map(Some),
        other => Err(TimeError::NotATime(other.to_string())),
    }
}

/// An epoch number written in decimal (`1659386157`, `1659386157.403862`, `-1`, or a JSON
/// number with an exponent, `1.659386157E9`) as epoch milliseconds. The unit is told by the
/// magnitude of its integer part ([`SECONDS_BELOW`], [`MILLIS_BELOW`], [`MICROS_BELOW`]);
/// the fraction is kept down to the millisecond and truncated below it.
pub fn epoch_millis(text: &str) -> Result<i64, TimeError> {
    if text.starts_with('-') {
        return Err(TimeError::Negative(shown(text)));
    }
    if text.contains(['e', 'E']) {
        return exponent_epoch_millis(text);
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
        return Err(TimeError::NotATime(shown(text)));
    }
    let whole: u64 = whole
        .parse()
        .map_err(|_| TimeError::OutOfRange(shown(text)))?;
    // Digits of the fraction that still count: 3 for seconds, none below milliseconds.
    let (millis, kept) = match whole {
        n if n < SECONDS_BELOW => (n * 1000, 3),
        n if n < MILLIS_BELOW => (n, 0),
        n if n < MICROS_BELOW => (n / 1000, 0),
        n => (n / 1_000_000, 0),
    };
    let extra: u64 = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(kept)
        .fold(0, |acc, d| acc * 10 + u64::from(d - b'0'));
    i64::try_from(millis + extra).map_err(|_| TimeError::OutOfRange(shown(text)))
}

/// A JSON number with an exponent: read through `f64`, which still holds milliseconds of
/// any epoch this pipeline sees exactly enough (15 significant digits).
fn exponent_epoch_millis(text: &str) -> Result<i64, TimeError> {
    let value: f64 = text.parse().map_err(|_| TimeError::NotATime(shown(text)))?;
    if !value.is_finite() || value >= 9.0e18 {
        return Err(TimeError::OutOfRange(shown(text)));
    }
    let whole = value.trunc() as u64;
    let millis = match whole {
        n if n < SECONDS_BELOW => (value * 1000.0).trunc(),
        n if n < MILLIS_BELOW => value.trunc(),
        n if n < MICROS_BELOW => (value / 1000.0).trunc(),
        _ => (value / 1_000_000.0).trunc(),
    };
    Ok(millis as i64)
}

/// ISO 8601 / RFC 3339 as in the module doc; `None` when the text is not of that shape,
/// `Some(Err)` when it is but names no real time.
fn read_iso(text: &str) -> Option<Result<ClientTime, TimeError>> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let year = number(0..4)?;
    let (month, day) = (number(5..7)?, number(8..10)?);
    let (hour, minute) = (number(11..13)?, number(14..16)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let mut rest = &text[16..];
    let mut second = 0;
    let mut nanos = 0;
    if let Some(after) = rest.strip_prefix(':') {
        let ss = after
            .get(..2)
            .filter(|s| s.bytes().all(|d| d.is_ascii_digit()))?;
        second = ss.parse().ok()?;
        rest = &after[2..];
        if let Some(after) = rest.strip_prefix(['.', ',']) {
            let count = after.bytes().take_while(u8::is_ascii_digit).count();
            if count == 0 {
                return None;
            }
            let millis: u32 = after[..count]
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(3)
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'));
            nanos = millis * 1_000_000;
            rest = &after[count..];
        }
    }
    let offset = match read_zone(rest.trim_start()) {
        Some(Ok(offset)) => offset,
        Some(Err(())) => return Some(Err(TimeError::BadOffset(shown(text)))),
        None => return None,
    };
    // A leap second is the last millisecond of its minute.
    if second == 60 {
        (second, nanos) = (59, 999_000_000);
    }
    let no_such = || TimeError::NoSuchTime(shown(text));
    let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else {
        return Some(Err(no_such()));
    };
    let Some(clock) = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos) else {
        return Some(Err(no_such()));
    };
    let local = NaiveDateTime::new(date, clock);
    Some(Ok(match offset {
        None => ClientTime::Local(local),
        Some(seconds) => {
            ClientTime::Instant(local.and_utc().timestamp_millis() - i64::from(seconds) * 1000)
        }
    }))
}

/// The zone after the time: `Ok(None)` for none, `Ok(Some(seconds east))`, `Err` for an
/// offset out of range; `None` when the text is not a zone at all.
fn read_zone(zone: &str) -> Option<Result<Option<i32>, ()>> {
    if zone.is_empty() {
        return Some(Ok(None));
    }
    if ["Z", "UTC", "GMT"]
        .iter()
        .any(|z| zone.eq_ignore_ascii_case(z))
    {
        return Some(Ok(Some(0)));
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &zone[1..].replacen(':', "", 1);
    if !matches!(digits.len(), 2 | 4)
        || !digits.bytes().all(|d| d.is_ascii_digit())
        || (zone.contains(':') && zone.len() != 6)
    {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = match &digits[2..] {
        "" => 0,
        m => m.parse().ok()?,
    };
    if hours > 23 || minutes > 59 {
        return Some(Err(()));
    }
    Some(Ok(Some(sign * (hours * 3600 + minutes * 60))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn instant(iso: &str) -> ClientTime {
        let at = chrono::DateTime::parse_from_rfc3339(iso).expect("a test instant");
        ClientTime::Instant(at.timestamp_millis())
    }

    fn local(text: &str) -> ClientTime {
        ClientTime::Local(
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").expect("a local time"),
        )
    }

    #[test]
    fn every_common_form_is_read_to_the_millisecond() {
        let cases: &[(&str, ClientTime)] = &[
            ("2021-12-29T06:12:28Z", instant("2021-12-29T06:12:28Z")),
            ("2021-12-29t06:12:28z", instant("2021-12-29T06:12:28Z")),
            ("2021-12-29T06:12:28+05:30", instant("2021-12-29T00:42:28Z")),
            ("2021-12-29T06:12:28+0530", instant("2021-12-29T00:42:28Z")),
            ("2021-12-29T06:12:28+05", instant("2021-12-29T01:12:28Z")),
            ("2021-12-29T06:12:28-0800", instant("2021-12-29T14:12:28Z")),
            (
                "2021-12-29 06:12:28 +05:30",
                instant("2021-12-29T00:42:28Z"),
            ),
            ("2021-12-29 06:12:28 UTC", instant("2021-12-29T06:12:28Z")),
            (
                "2021-12-29T06:12:28.1Z",
                instant("2021-12-29T06:12:28.100Z"),
            ),
            (
                "2021-12-29T06:12:28.123456789Z",
                instant("2021-12-29T06:12:28.123Z"),
            ),
            (
                "2021-12-29T06:12:28,5Z",
                instant("2021-12-29T06:12:28.500Z"),
            ),
            ("2021-12-29T06:12Z", instant("2021-12-29T06:12:00Z")),
            ("2016-12-31T23:59:60Z", instant("2016-12-31T23:59:59.999Z")),
            (
                "2016-12-31T23:59:60.5Z",
                instant("2016-12-31T23:59:59.999Z"),
            ),
            ("2020-04-28T16:47:37", local("2020-04-28T16:47:37")),
            ("2020-04-28 16:47:37.25", local("2020-04-28T16:47:37.25")),
            (" 1659386157 ", ClientTime::Instant(1_659_386_157_000)),
            ("1659386157.403862", ClientTime::Instant(1_659_386_157_403)),
            ("1580213208123", ClientTime::Instant(1_580_213_208_123)),
            ("1580213208123.9", ClientTime::Instant(1_580_213_208_123)),
            ("1580213208123456", ClientTime::Instant(1_580_213_208_123)),
            ("0", ClientTime::Instant(0)),
        ];
        for (text, want) in cases {
            assert_eq!(read_text(text), Ok(*want), "{text:?}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        type Refusal = fn(String) -> TimeError;
        let cases: &[(&str, Refusal)] = &[
            ("-5", TimeError::Negative),
            ("2021-12-29T06:12:28+24:00", TimeError::BadOffset),
            ("2021-02-30T06:12:28Z", TimeError::NoSuchTime),
            ("2021-12-29T25:12:28Z", TimeError::NoSuchTime),
            ("2021-12-29T06:12:61Z", TimeError::NoSuchTime),
            ("99999999999999999999999", TimeError::OutOfRange),
            ("2021-12-29", TimeError::NotATime),
            ("2021-12-29T06:12:28 +5", TimeError::NotATime),
            ("2021-12-29T06:12:28+05:3", TimeError::NotATime),
            ("2021-12-29T06:12:28Zjunk", TimeError::NotATime),
            ("2021-12-29T06:12:28.Z", TimeError::NotATime),
            ("29/12/2021 06:12", TimeError::NotATime),
            ("1.2.3", TimeError::NotATime),
            ("local_time", TimeError::NotATime),
        ];
        for (text, reason) in cases {
            assert_eq!(read_text(text), Err(reason(shown(text))), "{text:?}");
        }
        assert_eq!(read_text("  "), Err(TimeError::Empty));
    }

    #[test]
    fn json_numbers_are_read_from_their_exact_digits() {
        let number: Value = serde_json::from_str("1659386157.403862").unwrap();
        assert_eq!(
            read_json(&number),
            Ok(Some(ClientTime::Instant(1_659_386_157_403)))
        );
        let exponent: Value = serde_json::from_str("1.659386157E9").unwrap();
        assert_eq!(
            read_json(&exponent),
            Ok(Some(ClientTime::Instant(1_659_386_157_000)))
        );
        assert_eq!(read_json(&json!(null)), Ok(None));
        assert_eq!(
            read_json(&json!("2021-12-29T06:12:28Z")),
            Ok(Some(instant("2021-12-29T06:12:28Z")))
        );
        assert!(matches!(
            read_json(&json!(true)),
            Err(TimeError::NotATime(_))
        ));
        assert!(matches!(read_json(&json!(-1)), Err(TimeError::Negative(_))));
    }
}
