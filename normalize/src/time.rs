//! When an event happened: epoch numbers of unknown unit, timestamp strings (ISO 8601 /
//! RFC 3339 with or without offset, RFC 2822, JavaScript and Apex local-time strings), and
//! the event time derived from client time, send time and receive time.
//!
//! All results are epoch milliseconds, UTC. Nothing here reads the clock: the receive time is
//! always passed in.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use tributary_wire::time::{self as wire_time, ClientTime};

/// Epoch numbers below this are seconds: 1e11 s is the year 5138, while 1e11 ms is only
/// 1973-03-03, before any event this pipeline will see.
pub const SECONDS_BELOW: i64 = 100_000_000_000;
/// Epoch numbers below this (and not seconds) are milliseconds (1e14 ms is the year 5138).
pub const MILLIS_BELOW: i64 = 100_000_000_000_000;
/// Epoch numbers below this (and not milliseconds) are microseconds; larger ones are
/// nanoseconds, which an `i64` holds up to the year 2262.
pub const MICROS_BELOW: i64 = 100_000_000_000_000_000;

/// How far a client clock may be ahead of the receive time before the event is clamped.
pub const FUTURE_TOLERANCE_MS: i64 = 24 * 60 * 60 * 1000;
/// Events older than this at receipt are flagged: Netcore does not trigger journeys for
/// activities whose timestamp is more than 24 hours old.
pub const STALE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// A skew correction smaller than this is network transit time rather than a wrong device
/// clock: it is applied, but not flagged.
pub const SKEW_FLAG_MIN_MS: i64 = 5_000;
/// Event times before 2000-01-01T00:00:00Z come from unset clocks or placeholder values (the
/// mobile batch sample sends `timestamp_utc: 4`): kept, but flagged.
pub const PLAUSIBLE_FROM_MS: i64 = 946_684_800_000;

/// Event time corrected by `sent_at` against `received_at`.
pub const FLAG_SKEW_CORRECTED: &str = "skew_corrected";
/// Event time more than 24 h ahead of the receive time, replaced by the receive time.
pub const FLAG_FUTURE_CLAMPED: &str = "future_clamped";
/// Event time more than 24 h before the receive time.
pub const FLAG_OLDER_THAN_24H: &str = "older_than_24h";
/// No client time: the receive time was used.
pub const FLAG_TIME_DEFAULTED: &str = "time_defaulted";
/// Event time before the year 2000.
pub const FLAG_IMPLAUSIBLE_PAST: &str = "implausible_past";

/// Why a time value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("timestamp is empty")]
    Empty,
    #[error("negative epoch timestamp")]
    Negative,
    #[error("epoch timestamp out of range")]
    OutOfRange,
    #[error("local time does not exist in the time zone (daylight-saving gap)")]
    NonexistentLocalTime,
    #[error("not a recognized timestamp: {0:?}")]
    Unrecognized(String),
}

/// An epoch number in seconds, milliseconds, microseconds or nanoseconds, told apart by
/// magnitude ([`SECONDS_BELOW`], [`MILLIS_BELOW`], [`MICROS_BELOW`]), as milliseconds.
/// Sub-millisecond parts are truncated. Small values are seconds and not an error (`4` is
/// 1970-01-01T00:00:04Z; [`derive_event_time`] flags it); negative values are.
pub fn epoch_to_millis(n: i64) -> Result<i64, TimeError> {
    match n {
        n if n < 0 => Err(TimeError::Negative),
        n if n < SECONDS_BELOW => Ok(n * 1000),
        n if n < MILLIS_BELOW => Ok(n),
        n if n < MICROS_BELOW => Ok(n / 1000),
        n => Ok(n / 1_000_000),
    }
}

/// A parsed timestamp string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    /// Epoch milliseconds, UTC.
    pub millis: i64,
    /// The string said which instant it meant (an offset, `Z`, `GMT`, or an epoch number);
    /// false when it was read as local time in the default zone.
    pub had_zone: bool,
    /// The string was a date without a time of day (read as local midnight).
    pub date_only: bool,
}

/// Parse a timestamp string as clients send it, where the API takes free text (the CRM
/// family's local-time strings): every form of the one time reader, `tributary_wire::time`
/// (epoch numbers of any unit and fraction; ISO 8601 / RFC 3339 with `Z`, `±hh:mm`, `±hhmm`,
/// `±hh`, ` UTC`, any fraction, `T` or a space, a leap second; zoneless is local time in
/// `default_zone`, as Apex's `String.valueOf(Datetime)` form `2018-09-03 17:06:05`), and,
/// for free text only:
/// - a date alone (`2020-04-28`): local midnight in `default_zone`, `date_only` set;
/// - RFC 2822 (`Mon, 03 Sep 2018 17:06:05 +0530`, JavaScript's `toUTCString()`);
/// - JavaScript `Date.toString()`: `Mon Sep 03 2018 17:06:05 GMT+0530 (India Standard Time)`;
/// - numeric local dates as `toLocaleString()` and Apex `Datetime.format()` print them:
///   `9/3/2018, 5:06:05 PM`, `03/09/2018, 17:06:05`, `3.9.2018 17:06`, `2018/09/03 17:06:05`.
///   A day above 12 settles the order; otherwise a 12-hour clock (AM/PM) means month first
///   (en-US, the locale that prints it that way) and a 24-hour clock means day first
///   (en-GB and continental Europe). Dotted dates are always day first.
///
/// Local times that fall in a daylight-saving overlap take the earlier instant; times in a
/// gap are moved forward by the gap (`02:30` on a spring-forward night reads as `03:30`).
/// Anything else — including the CRM sample's literal `"local_time"` — is an error.
pub fn parse_timestamp(raw: &str, default_zone: Tz) -> Result<ParsedTime, TimeError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(TimeError::Empty);
    }
    let unrecognized = || TimeError::Unrecognized(s.chars().take(64).collect());
    match wire_time::read_text(s) {
        Ok(time) => {
            return resolve(time, default_zone).map(|(millis, had_zone)| ParsedTime {
                millis,
                had_zone,
                date_only: false,
            })
        }
        Err(wire_time::TimeError::Negative(_)) => return Err(TimeError::Negative),
        Err(wire_time::TimeError::OutOfRange(_)) => return Err(TimeError::OutOfRange),
        Err(wire_time::TimeError::NotATime(_)) => {}
        Err(_) => return Err(unrecognized()),
    }
    if let Some(date) = s.get(..10).filter(|_| s.len() == 10) {
        if let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
            return local_to_utc(midnight, default_zone).map(|millis| ParsedTime {
                millis,
                had_zone: false,
                date_only: true,
            });
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Ok(zoned(dt.timestamp_millis()));
    }
    if let Some(parsed) = parse_js_date_string(s) {
        return Ok(parsed);
    }
    if let Some(naive) = parse_numeric_local(s) {
        return local_to_utc(naive, default_zone).map(|millis| ParsedTime {
            millis,
            had_zone: false,
            date_only: false,
        });
    }
    Err(unrecognized())
}

/// A client time read by the wire reader, as epoch milliseconds: a zoneless one is read in
/// `zone`. The flag says whether the client named the instant itself.
pub fn resolve(time: ClientTime, zone: Tz) -> Result<(i64, bool), TimeError> {
    match time {
        ClientTime::Instant(millis) => Ok((millis, true)),
        ClientTime::Local(naive) => local_to_utc(naive, zone).map(|millis| (millis, false)),
    }
}

fn zoned(millis: i64) -> ParsedTime {
    ParsedTime {
        millis,
        had_zone: true,
        date_only: false,
    }
}

/// JavaScript `Date.prototype.toString()`:
/// `Mon Sep 03 2018 17:06:05 GMT+0530 (India Standard Time)`. The parenthesized zone name is
/// informational only; the `GMT±hhmm` offset is what counts.
fn parse_js_date_string(s: &str) -> Option<ParsedTime> {
    let without_name = match s.find(" (") {
        Some(i) if s.ends_with(')') => &s[..i],
        _ => s,
    };
    let dt = DateTime::parse_from_str(without_name, "%a %b %d %Y %H:%M:%S GMT%z").ok()?;
    Some(zoned(dt.timestamp_millis()))
}

/// Numeric local date-times without a zone: `9/3/2018, 5:06:05 PM`, `03/09/2018 17:06`,
/// `3.9.2018 17:06:05`, `2018/09/03 17:06:05`.
fn parse_numeric_local(s: &str) -> Option<NaiveDateTime> {
    let (date_part, time_part) = s.split_once([' ', ','])?;
    let time_part = time_part.trim_start_matches([',', ' ']);
    let time = parse_clock(time_part)?;

    let dotted = date_part.contains('.');
    let fields: Vec<&str> = date_part.split(['/', '.', '-']).collect();
    let [a, b, c] = fields.as_slice() else {
        return None;
    };
    let num = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.len() <= 4 && t.bytes().all(|x| x.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (a_len, c_len) = (a.len(), c.len());
    let (a, b, c) = (num(a)?, num(b)?, num(c)?);
    let (year, month, day) = if a_len == 4 {
        (a, b, c)
    } else if c_len == 4 {
        let day_first = if a > 12 {
            true
        } else if b > 12 {
            false
        } else {
            dotted || !time.twelve_hour
        };
        if day_first {
            (c, b, a)
        } else {
            (c, a, b)
        }
    } else {
        return None;
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    date.and_hms_milli_opt(time.hour, time.minute, time.second, time.milli)
}

struct Clock {
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
    twelve_hour: bool,
}

/// `17:06`, `17:06:05`, `17:06:05.123`, `5:06:05 PM`, `5:06 pm`, `5:06:05 p.m.`.
fn parse_clock(s: &str) -> Option<Clock> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let (clock, pm) = if let Some(rest) = strip_meridiem(&lower, "am") {
        (rest, Some(false))
    } else if let Some(rest) = strip_meridiem(&lower, "pm") {
        (rest, Some(true))
    } else {
        (lower.as_str(), None)
    };
    let mut parts = clock.trim().split(':');
    let digits = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let hour = digits(parts.next()?)?;
    let minute = digits(parts.next()?)?;
    let (second, milli) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let milli = if frac.is_empty() {
                0
            } else if frac.bytes().all(|b| b.is_ascii_digit()) {
                let first3: String = frac.chars().chain("000".chars()).take(3).collect();
                first3.parse().ok()?
            } else {
                return None;
            };
            (digits(whole)?, milli)
        }
    };
    if parts.next().is_some() || minute > 59 || second > 59 {
        return None;
    }
    let hour = match pm {
        None if hour <= 23 => hour,
        Some(is_pm) if (1..=12).contains(&hour) => (hour % 12) + if is_pm { 12 } else { 0 },
        _ => return None,
    };
    Some(Clock {
        hour,
        minute,
        second,
        milli,
        twelve_hour: pm.is_some(),
    })
}

/// `"5:06:05 pm"` -> `"5:06:05 "`, also for `p.m.` and `PM` without a space.
fn strip_meridiem<'a>(s: &'a str, which: &str) -> Option<&'a str> {
    let dotted = format!("{}.{}.", &which[..1], &which[1..]);
    s.strip_suffix(which).or_else(|| s.strip_suffix(&dotted))
}

/// A wall-clock time in `zone` as epoch milliseconds (earlier instant in an overlap, moved
/// forward across a gap).
fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> Result<i64, TimeError> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(dt) => Ok(dt.timestamp_millis()),
        LocalResult::Ambiguous(earlier, _) => Ok(earlier.timestamp_millis()),
        LocalResult::None => {
            // Read the wall time with the offset in force just before the gap, which is the
            // same as moving it forward by the gap's length. Gaps are an hour almost
            // everywhere; a few zones have had 30-minute or 2-hour ones.
            for minutes in [30, 60, 120, 180] {
                let before = naive - chrono::Duration::minutes(minutes);
                if let Some(dt) = zone.from_local_datetime(&before).latest() {
                    let offset_secs = i64::from(dt.offset().fix().local_minus_utc());
                    return Ok(naive.and_utc().timestamp_millis() - offset_secs * 1000);
                }
            }
            Err(TimeError::NonexistentLocalTime)
        }
    }
}

/// The event time decided from what the client said and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedTime {
    /// Epoch milliseconds, UTC.
    pub event_time: i64,
    /// Any of the `FLAG_*` constants, in the order the rules applied.
    pub flags: Vec<&'static str>,
}

/// Decide the event time (all arguments epoch milliseconds, UTC).
///
/// - No client time: the receive time, flag `time_defaulted`.
/// - With a send time (the client's clock when it sent the batch), the client's clock error
///   is removed: `event_time = client + (received_at - sent_at)`, the same correction
///   analytics SDK backends apply. It is always applied; flag `skew_corrected` when it moved
///   the time by [`SKEW_FLAG_MIN_MS`] or more.
/// - More than 24 h ahead of the receive time: clamped to the receive time, flag
///   `future_clamped`.
/// - More than 24 h before the receive time: kept, flag `older_than_24h` (Netcore: such
///   activities are stored but trigger no journey).
/// - Before the year 2000: kept, flag `implausible_past` as well.
pub fn derive_event_time(
    client: Option<i64>,
    sent_at: Option<i64>,
    received_at: i64,
) -> DerivedTime {
    let mut flags = Vec::new();
    let Some(client) = client else {
        flags.push(FLAG_TIME_DEFAULTED);
        return DerivedTime {
            event_time: received_at,
            flags,
        };
    };
    let mut event_time = client;
    if let Some(sent_at) = sent_at {
        let skew = received_at.saturating_sub(sent_at);
        event_time = client.saturating_add(skew);
        if skew.unsigned_abs() >= SKEW_FLAG_MIN_MS.unsigned_abs() {
            flags.push(FLAG_SKEW_CORRECTED);
        }
    }
    if event_time > received_at.saturating_add(FUTURE_TOLERANCE_MS) {
        event_time = received_at;
        flags.push(FLAG_FUTURE_CLAMPED);
    } else if event_time < received_at.saturating_sub(STALE_AFTER_MS) {
        flags.push(FLAG_OLDER_THAN_24H);
    }
    if event_time < PLAUSIBLE_FROM_MS {
        flags.push(FLAG_IMPLAUSIBLE_PAST);
    }
    DerivedTime { event_time, flags }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Asia::Kolkata, Europe::Berlin, UTC};

    /// 2018-09-03T11:36:05Z, i.e. 17:06:05 in India.
    const SEP3: i64 = 1_535_974_565_000;

    #[test]
    fn epoch_units_by_magnitude() {
        let cases: &[(i64, Result<i64, TimeError>)] = &[
            (1_580_213_208, Ok(1_580_213_208_000)),
            (1_580_213_208_123, Ok(1_580_213_208_123)),
            (1_580_213_208_123_456, Ok(1_580_213_208_123)),
            (1_580_213_208_123_456_789, Ok(1_580_213_208_123)),
            (0, Ok(0)),
            (4, Ok(4_000)),
            (4_294_967_295, Ok(4_294_967_295_000)),
            (SECONDS_BELOW - 1, Ok((SECONDS_BELOW - 1) * 1000)),
            (SECONDS_BELOW, Ok(SECONDS_BELOW)),
            (MILLIS_BELOW, Ok(MILLIS_BELOW / 1000)),
            (MICROS_BELOW, Ok(MICROS_BELOW / 1_000_000)),
            (i64::MAX, Ok(i64::MAX / 1_000_000)),
            (-1, Err(TimeError::Negative)),
        ];
        for (n, want) in cases {
            assert_eq!(&epoch_to_millis(*n), want, "input {n}");
        }
    }

    #[test]
    fn timestamps() {
        // (input, default zone, millis, had_zone)
        let cases: &[(&str, Tz, i64, bool)] = &[
            ("2021-12-29T12:06:28Z", Kolkata, 1_640_779_588_000, true),
            ("2021-12-29T06:12:28+05:30", UTC, 1_640_738_548_000, true),
            ("2021-12-29T06:12:28+0530", UTC, 1_640_738_548_000, true),
            ("2021-12-29T06:12:28+05", UTC, 1_640_740_348_000, true),
            ("2021-12-29T06:12:28-03:00", UTC, 1_640_769_148_000, true),
            ("2021-12-29t12:06:28z", UTC, 1_640_779_588_000, true),
            ("2021-12-29 12:06:28Z", UTC, 1_640_779_588_000, true),
            ("2021-12-29 12:06:28 UTC", Kolkata, 1_640_779_588_000, true),
            ("2021-12-29 17:36:28 +05:30", UTC, 1_640_779_588_000, true),
            ("2021-12-29T12:06:28.123Z", UTC, 1_640_779_588_123, true),
            (
                "2021-12-29T12:06:28.123456789Z",
                UTC,
                1_640_779_588_123,
                true,
            ),
            ("2021-12-29T12:06Z", UTC, 1_640_779_560_000, true),
            // No zone: wall time in the default zone.
            ("2020-04-28T16:47:37", UTC, 1_588_092_457_000, false),
            ("2020-04-28T16:47:37", Kolkata, 1_588_072_657_000, false),
            ("2020-04-28 16:47:37", Kolkata, 1_588_072_657_000, false),
            ("2020-04-28T16:47", UTC, 1_588_092_420_000, false),
            ("2020-04-28T16:47:37.5", UTC, 1_588_092_457_500, false),
            ("  2020-04-28T16:47:37Z\n", UTC, 1_588_092_457_000, true),
            // Epoch numbers as strings.
            ("1580213208", Kolkata, 1_580_213_208_000, true),
            ("1580213208123", UTC, 1_580_213_208_123, true),
            ("1580213208123456", UTC, 1_580_213_208_123, true),
            ("1580213208.5", UTC, 1_580_213_208_500, true),
            ("1580213208.123456", UTC, 1_580_213_208_123, true),
            ("4", UTC, 4_000, true),
            // RFC 2822 and JavaScript strings.
            ("Mon, 03 Sep 2018 17:06:05 +0530", UTC, SEP3, true),
            ("Mon, 03 Sep 2018 11:36:05 GMT", Kolkata, SEP3, true),
            (
                "Mon Sep 03 2018 17:06:05 GMT+0530 (India Standard Time)",
                UTC,
                SEP3,
                true,
            ),
            ("Mon Sep 03 2018 07:36:05 GMT-0400", UTC, SEP3, true),
            (
                "Mon Sep 03 2018 17:06:05 GMT+0530 (भारतीय मानक समय)",
                UTC,
                SEP3,
                true,
            ),
            // toLocaleString / Apex local forms, read in the default zone.
            ("9/3/2018, 5:06:05 PM", Kolkata, SEP3, false),
            ("9/3/2018 5:06 PM", Kolkata, SEP3 - 5_000, false),
            ("03/09/2018, 17:06:05", Kolkata, SEP3, false),
            ("3.9.2018 17:06:05", Kolkata, SEP3, false),
            (
                "13/9/2018, 17:06:05",
                Kolkata,
                SEP3 + 10 * 86_400_000,
                false,
            ),
            (
                "9/13/2018, 17:06:05",
                Kolkata,
                SEP3 + 10 * 86_400_000,
                false,
            ),
            ("2018/09/03 17:06:05", Kolkata, SEP3, false),
            ("2018-09-03 17:06:05", Kolkata, SEP3, false),
            (
                "9/3/2018, 12:06:05 AM",
                UTC,
                SEP3 - 11 * 3_600_000 - 30 * 60_000,
                false,
            ),
            ("9/3/2018, 7:36:05 a.m.", New_York, SEP3, false),
        ];
        for (raw, zone, millis, had_zone) in cases {
            let got =
                parse_timestamp(raw, *zone).unwrap_or_else(|e| panic!("input {raw:?} failed: {e}"));
            assert_eq!(
                (got.millis, got.had_zone),
                (*millis, *had_zone),
                "input {raw:?} in {zone}"
            );
            assert!(!got.date_only, "input {raw:?}");
        }
    }

    #[test]
    fn date_only_is_local_midnight() {
        let got = parse_timestamp("2020-04-28", Kolkata).unwrap();
        assert_eq!(
            got,
            ParsedTime {
                millis: 1_588_012_200_000,
                had_zone: false,
                date_only: true
            }
        );
    }

    #[test]
    fn daylight_saving_edges() {
        // Berlin springs forward 2021-03-28 02:00 -> 03:00: 02:30 does not exist.
        let gap = parse_timestamp("2021-03-28T02:30:00", Berlin).unwrap();
        assert_eq!(
            gap.millis,
            parse_timestamp("2021-03-28T01:30:00Z", UTC).unwrap().millis
        );
        // Falls back 2021-10-31 03:00 -> 02:00: 02:30 happens twice; the earlier one wins.
        let overlap = parse_timestamp("2021-10-31T02:30:00", Berlin).unwrap();
        assert_eq!(
            overlap.millis,
            parse_timestamp("2021-10-31T00:30:00Z", UTC).unwrap().millis
        );
    }

    #[test]
    fn not_timestamps() {
        let cases: &[(&str, TimeError)] = &[
            ("", TimeError::Empty),
            ("   ", TimeError::Empty),
            ("-1580213208", TimeError::Negative),
            ("99999999999999999999", TimeError::OutOfRange),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_timestamp(raw, UTC).as_ref(),
                Err(want),
                "input {raw:?}"
            );
        }
        let unrecognized = [
            "local_time",
            "sample string 4",
            "now",
            "2021-13-29T12:06:28Z",
            "2021-02-30T12:06:28Z",
            "2021-12-29T25:06:28Z",
            "2021-12-29X12:06:28",
            "2021-12-29T12:06:28+25:00",
            "2021-12-29T12:06:28 PST",
            "13/13/2018, 17:06:05",
            "9/3/18, 5:06:05 PM",
            "9/3/2018, 13:06:05 PM",
            "Mon Sep 03 2018",
            "1.2.3",
            "NaN",
            "1e12",
        ];
        for raw in unrecognized {
            assert!(
                matches!(parse_timestamp(raw, UTC), Err(TimeError::Unrecognized(_))),
                "input {raw:?}: {:?}",
                parse_timestamp(raw, UTC)
            );
        }
    }

    #[test]
    fn event_time_derivation() {
        const H: i64 = 3_600_000;
        let recv: i64 = 1_700_000_000_000;
        // (client, sent_at, received_at, event_time, flags)
        type Case = (Option<i64>, Option<i64>, i64, i64, &'static [&'static str]);
        let cases: &[Case] = &[
            (None, None, recv, recv, &[FLAG_TIME_DEFAULTED]),
            (None, Some(recv - H), recv, recv, &[FLAG_TIME_DEFAULTED]),
            (Some(recv - 1_000), None, recv, recv - 1_000, &[]),
            // 200 ms in transit: corrected silently.
            (
                Some(recv - 10_000),
                Some(recv - 200),
                recv,
                recv - 9_800,
                &[],
            ),
            // Device clock 2 h fast: event 5 min before sending.
            (
                Some(recv + 2 * H - 300_000),
                Some(recv + 2 * H),
                recv,
                recv - 300_000,
                &[FLAG_SKEW_CORRECTED],
            ),
            // Device clock 3 days slow: would look stale without the correction.
            (
                Some(recv - 72 * H - 60_000),
                Some(recv - 72 * H),
                recv,
                recv - 60_000,
                &[FLAG_SKEW_CORRECTED],
            ),
            (
                Some(recv + 25 * H),
                None,
                recv,
                recv,
                &[FLAG_FUTURE_CLAMPED],
            ),
            (Some(recv + 23 * H), None, recv, recv + 23 * H, &[]),
            (
                Some(recv - 25 * H),
                None,
                recv,
                recv - 25 * H,
                &[FLAG_OLDER_THAN_24H],
            ),
            (Some(recv - 24 * H), None, recv, recv - 24 * H, &[]),
            (
                Some(4_000),
                None,
                recv,
                4_000,
                &[FLAG_OLDER_THAN_24H, FLAG_IMPLAUSIBLE_PAST],
            ),
            (
                Some(recv + 48 * H),
                Some(recv - 1_000),
                recv,
                recv,
                &[FLAG_FUTURE_CLAMPED],
            ),
            (
                Some(i64::MAX),
                Some(i64::MIN),
                recv,
                recv,
                &[FLAG_SKEW_CORRECTED, FLAG_FUTURE_CLAMPED],
            ),
        ];
        for (client, sent, received, event_time, flags) in cases {
            let got = derive_event_time(*client, *sent, *received);
            assert_eq!(
                (got.event_time, got.flags.as_slice()),
                (*event_time, *flags),
                "client {client:?} sent {sent:?}"
            );
        }
    }
}
