//! Who an event belongs to: e-mail addresses, phone numbers (E.164), device and advertising
//! ids, the choice of the event's `user_key`, and salted hashing of personal data.
//!
//! Everything here is pure; the caller decides whether a rejected value becomes a flag, a
//! dropped field or a DLQ reason.

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;

use phonenumber::country::Id as PhoneRegion;
use phonenumber::Mode;
use uuid::Uuid;

use super::geo::country_to_alpha2;
use crate::memo::{self, Memo};

/// Longest e-mail address that can be delivered (RFC 5321 path limit minus the brackets).
const MAX_EMAIL_LEN: usize = 254;

/// Longer inputs are not phone numbers; the cap also bounds the parser's work.
const MAX_PHONE_LEN: usize = 64;

/// Values clients send when they have no id at all; they must never become a user key, or
/// every such event would be attributed to one "user".
const PLACEHOLDER_IDS: &[&str] = &[
    "null",
    "undefined",
    "none",
    "nil",
    "(null)",
    "nan",
    "0",
    "-",
];

/// Trim, lowercase and sanity-check an e-mail address.
///
/// Valid means: exactly one `@`, a non-empty local part, a domain of at least two non-empty
/// dot-separated labels, no whitespace or control characters, at most 254 characters. The
/// whole address is lowercased: the local part is case-sensitive in theory only, and every
/// major mailbox provider treats it case-insensitively, so lowercasing is what joins a user's
/// events. Nothing else is rewritten (no Gmail dot or `+tag` folding: that changes identity).
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return None;
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.contains('@') {
        return None;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
        return None;
    }
    Some(email)
}

/// Why a phone number could not be turned into E.164.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number is longer than {MAX_PHONE_LEN} characters")]
    TooLong,
    #[error("phone number has no country code and no usable country hint")]
    MissingCountry,
    #[error("country hint {0:?} is neither a country nor a calling code")]
    UnknownCountryHint(String),
    #[error("not a phone number")]
    Unparseable,
    #[error("not a valid number for its country")]
    Invalid,
}

/// Parse a phone number as clients type it and return it in E.164 (`+919876543210`).
///
/// Spaces, dashes, dots, slashes and parentheses are ignored; a leading `00` is read as the
/// international prefix `+` (the ITU-recommended international call prefix that most of the
/// world dials). Numbers without a country code need `country_hint`: an ISO 3166-1 alpha-2
/// or alpha-3 code or a country name (`"IN"`, `"IND"`, `"India"`), or a calling code with
/// or without `+` (`"91"`, `"+91"`, `"0091"`) — the mobile batch API's `country_code` field
/// is filled with either form. A calling code shared by several regions (`1`, `7`, `44`)
/// resolves to the main region of that code. Extensions (`ext. 123`, `x123`, `#123`) are
/// dropped: E.164 has none. Letters anywhere else make it `Unparseable` (vanity numbers such
/// as `1-800-FLOWERS` are not contact numbers anyone records).
/// The number must be valid (not merely possible) for its region.
///
/// Results are cached per thread: a mobile batch is one user's events, so the same number
/// comes a hundred times, and validation (the number-type patterns) costs ~8 µs a call.
pub fn normalize_phone(raw: &str, country_hint: Option<&str>) -> Result<String, PhoneError> {
    /// The number and its hint as one text, unambiguously (the hint's length first), so a
    /// lookup borrows the per-thread key buffer instead of allocating a key.
    fn write_key(key: &mut String, raw: &str, country_hint: Option<&str>) {
        use std::fmt::Write;
        key.clear();
        match country_hint {
            None => key.push('-'),
            Some(hint) => write!(key, "{}:{hint}", hint.len()).expect("a String takes it"),
        }
        key.push_str(raw);
    }
    const CAPACITY: usize = 65_536;
    thread_local! {
        static CACHE: Memo<Result<String, PhoneError>> = RefCell::new(HashMap::new());
        static KEY: RefCell<String> = const { RefCell::new(String::new()) };
    }
    KEY.with_borrow_mut(|key| {
        write_key(key, raw, country_hint);
        memo::get_or_compute(&CACHE, key, CAPACITY, || {
            normalize_phone_uncached(raw, country_hint)
        })
    })
}

fn normalize_phone_uncached(raw: &str, country_hint: Option<&str>) -> Result<String, PhoneError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    if trimmed.len() > MAX_PHONE_LEN {
        return Err(PhoneError::TooLong);
    }
    let number = strip_extension(trimmed.strip_prefix("tel:").unwrap_or(trimmed));
    if !number.chars().any(|c| c.is_ascii_digit())
        || !number.chars().all(|c| {
            c.is_ascii_digit()
                || c.is_whitespace()
                || matches!(c, '+' | '-' | '.' | '(' | ')' | '/')
        })
    {
        return Err(PhoneError::Unparseable);
    }
    let number_text = international_prefix_to_plus(number);

    let hint = country_hint.map(str::trim).filter(|h| !h.is_empty());
    let region = hint.and_then(phone_region_from_hint);

    let parsed = match phonenumber::parse(region, &number_text) {
        Ok(number) => number,
        Err(phonenumber::ParseError::InvalidCountryCode) if region.is_none() => {
            return Err(match hint {
                Some(h) => PhoneError::UnknownCountryHint(h.to_string()),
                None => PhoneError::MissingCountry,
            });
        }
        Err(_) => return Err(PhoneError::Unparseable),
    };
    if !phonenumber::is_valid(&parsed) {
        return Err(PhoneError::Invalid);
    }
    Ok(parsed.format().mode(Mode::E164).to_string())
}

/// The number without a trailing extension (`ext. 123`, `x123`, `#123`), which E.164 lacks.
fn strip_extension(number: &str) -> &str {
    let lower = number.to_ascii_lowercase();
    ["ext", "x", "#"]
        .iter()
        .filter_map(|marker| lower.find(marker))
        .min()
        .map_or(number, |at| number[..at].trim_end())
}

/// `00 44 20 …` -> `+44 20 …`. Numbers already in `+` form are left alone.
fn international_prefix_to_plus(number: &str) -> String {
    let digits_start = number
        .find(|c: char| c.is_ascii_digit() || c == '+')
        .unwrap_or(0);
    let (lead, rest) = number.split_at(digits_start);
    match rest.strip_prefix("00") {
        Some(after) if lead.chars().all(|c| c == '(' || c.is_whitespace()) => {
            format!("+{after}")
        }
        _ => number.to_string(),
    }
}

/// A region id for the parser from a country hint: calling codes first (all digits, maybe
/// with `+` or `00`), then anything `country_to_alpha2` understands.
fn phone_region_from_hint(hint: &str) -> Option<PhoneRegion> {
    if let Some(code) = calling_code(hint) {
        let regions = phonenumber::metadata::DATABASE.region(&code)?;
        // The database lists the main region of a shared calling code first (US for 1).
        return regions
            .first()
            .and_then(|id| PhoneRegion::from_str(id).ok());
    }
    let alpha2 = country_to_alpha2(hint)?;
    PhoneRegion::from_str(alpha2).ok()
}

/// The ITU calling code a text is written as: one to three digits, maybe after `+` or `00`
/// (`"91"`, `"+91"`, `"0091"`), with spaces around. Whether any region has it is not checked.
fn calling_code(text: &str) -> Option<u16> {
    let text = text.trim();
    let digits = text
        .strip_prefix('+')
        .or_else(|| text.strip_prefix("00"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What a country field written as a calling code says of the country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallingCodeCountry {
    /// The text is not a calling code's shape: read it as a country name or ISO code.
    NotACallingCode,
    /// The calling code of exactly one country (`91` India, `356` Malta): its ISO 3166-1
    /// alpha-2.
    Country(&'static str),
    /// A calling code of several countries (`1`, `7`, `44`), of none (`999`), or of a
    /// non-geographic service (`800`): the country is unknown, and the text must not be read
    /// as an ISO 3166-1 numeric code (`590` is Guadeloupe's calling code and Panama's number).
    Unknown,
}

/// The country a calling code names, for the mobile batch API's `country_code` (seed 000),
/// which apps fill with either an ISO code (`"IN"`) or the phone number's calling code
/// (`"+91"`, `"91"`); `docs/field-mapping.md` maps it to `country` when `country` is absent.
/// A code shared by several countries names none of them: `+1` may be the United States or
/// Canada, so no country is guessed (the phone number's reading still takes the main region,
/// as libphonenumber does).
///
/// Answers are cached per thread by the text sent, as `country_to_alpha2`'s are.
pub fn calling_code_country(text: &str) -> CallingCodeCountry {
    thread_local! {
        static CACHE: Memo<CallingCodeCountry> = RefCell::new(HashMap::new());
    }
    memo::get_or_compute(&CACHE, text, 4_096, || {
        let Some(code) = calling_code(text) else {
            return CallingCodeCountry::NotACallingCode;
        };
        let regions = phonenumber::metadata::DATABASE
            .region(&code)
            .unwrap_or_default();
        match regions.as_slice() {
            // Region ids are ISO alpha-2, or `001` for non-geographic codes.
            [one] if one.len() == 2 && one.bytes().all(|b| b.is_ascii_alphabetic()) => {
                country_to_alpha2(one)
                    .map_or(CallingCodeCountry::Unknown, CallingCodeCountry::Country)
            }
            _ => CallingCodeCountry::Unknown,
        }
    })
}

/// The device and advertising identifiers the S2S import documents (and the mobile SDKs send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceIdKind {
    /// S2S device identifier, a UUID.
    InstanceId,
    /// iOS advertising identifier, a UUID.
    Idfa,
    /// iOS vendor identifier, a UUID.
    IosVendorId,
    /// Android advertising identifier, a UUID.
    Gaid,
    /// Settings.Secure.ANDROID_ID, 64 bits as 16 hex digits.
    AndroidId,
    /// Web visitor id, 32 hex digits.
    Lvid,
}

impl DeviceIdKind {
    /// The `user_key_kind` / `NormalizedEvent` field name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceIdKind::InstanceId => "instance_id",
            DeviceIdKind::Idfa => "idfa",
            DeviceIdKind::IosVendorId => "ios_vendor_id",
            DeviceIdKind::Gaid => "gaid",
            DeviceIdKind::AndroidId => "android_id",
            DeviceIdKind::Lvid => "lvid",
        }
    }
}

/// Why a device id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{kind} does not have the documented shape ({expected})")]
    BadShape {
        kind: &'static str,
        expected: &'static str,
    },
    #[error("{0} is all zeros (unknown, or ad tracking disabled)")]
    ZeroId(&'static str),
}

/// Lowercase a device id and check its documented shape.
///
/// - `instanceId`, `idfa`, `iosVendorId`, `gaid`: a UUID (the S2S doc: 36 symbols). Any
///   spelling the `uuid` crate reads (hyphenated, 32 hex digits, braced, `urn:uuid:`) is
///   accepted and rewritten to the lowercase hyphenated 8-4-4-4-12 form.
/// - `lvid`: 32 hex digits (the S2S doc: 32 symbols).
/// - `androidId`: 16 hex digits (the S2S doc: 16 symbols). 14 or 15 digits are accepted and
///   left-padded with zeros: older Android versions generated it with `Long.toHexString`,
///   which drops leading zeros (the doc's own example has 15).
///
/// An id of only zeros is `Err(ZeroId)` whatever its length: the zero UUID is what iOS and
/// Android return as advertising id when the user disabled tracking, and the S2S doc's
/// placeholders are zeros; keyed on, it would merge every such device into one user.
pub fn normalize_device_id(kind: DeviceIdKind, raw: &str) -> Result<String, DeviceIdError> {
    let name = kind.as_str();
    let id = raw.trim().to_ascii_lowercase();
    if id.is_empty() {
        return Err(DeviceIdError::Empty(name));
    }
    if id.chars().all(|c| matches!(c, '0' | '-' | '{' | '}'))
        || id == "urn:uuid:00000000-0000-0000-0000-000000000000"
    {
        return Err(DeviceIdError::ZeroId(name));
    }
    match kind {
        DeviceIdKind::InstanceId
        | DeviceIdKind::Idfa
        | DeviceIdKind::IosVendorId
        | DeviceIdKind::Gaid => Uuid::try_parse(&id)
            .map(|uuid| uuid.hyphenated().to_string())
            .map_err(|_| DeviceIdError::BadShape {
                kind: name,
                expected: "UUID 8-4-4-4-12 hex",
            }),
        DeviceIdKind::Lvid => {
            if id.len() == 32 && is_hex(&id) {
                Ok(id)
            } else {
                Err(DeviceIdError::BadShape {
                    kind: name,
                    expected: "32 hex digits",
                })
            }
        }
        DeviceIdKind::AndroidId => {
            if (14..=16).contains(&id.len()) && is_hex(&id) {
                Ok(format!("{id:0>16}"))
            } else {
                Err(DeviceIdError::BadShape {
                    kind: name,
                    expected: "16 hex digits",
                })
            }
        }
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every identifier an event may carry, as sent (the caller does not need to clean them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityCandidates<'a> {
    /// Explicit user id: mobile batch `user_id`, CRM `user_id`, S2S `customUserId`.
    pub user_id: Option<&'a str>,
    /// Netcore `identity`: the contact's e-mail, mobile or customer id.
    pub identity: Option<&'a str>,
    pub instance_id: Option<&'a str>,
    pub idfa: Option<&'a str>,
    pub gaid: Option<&'a str>,
    pub ios_vendor_id: Option<&'a str>,
    pub android_id: Option<&'a str>,
    pub lvid: Option<&'a str>,
    /// Netcore `annonid`, the anonymous contact id.
    pub annonid: Option<&'a str>,
    pub session_id: Option<&'a str>,
}

/// The key an event is attributed to (`NormalizedEvent.user_key` / `user_key_kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    pub key: String,
    pub kind: &'static str,
}

/// Choose the event's user key: the first usable candidate in this order.
///
/// 1. `user_id` (S2S `customUserId` included), `identity` — the tenant's own user ids. The key is the id
///    itself (trimmed; an `identity` that is an e-mail is lowercased), so the same user id
///    sent through different APIs of one tenant joins up.
/// 2. device ids `instance_id`, `idfa`, `gaid`, `ios_vendor_id`, `android_id`, `lvid` —
///    normalized by [`normalize_device_id`]; invalid and all-zero ids are skipped (the S2S
///    docs require a user id *or* a device id, and its samples carry zero `lvid`s).
/// 3. anonymous ids `annonid` (kind `anonymous_id`), `session_id`.
/// 4. nothing usable: the event alone, kind `event`, value `event_uid`.
///
/// Device, anonymous and event keys are `"<kind>:<value>"`, so that they can never collide
/// with a user id or with each other. Empty values and placeholders (`null`, `undefined`,
/// `none`, `nil`, `(null)`, `NaN`, `0`, `-`; any case) are skipped: `0` is what an integer
/// user id field holds for a logged-out user.
pub fn pick_user_key(c: &IdentityCandidates<'_>, event_uid: &str) -> UserKey {
    if let Some(id) = usable(c.user_id) {
        return UserKey {
            key: id.to_string(),
            kind: "user_id",
        };
    }
    if let Some(id) = usable(c.identity) {
        // Netcore: identity "can be the email/mobile/customer-id of the logged-in contact".
        let key = if id.contains('@') {
            normalize_email(id).unwrap_or_else(|| id.to_string())
        } else {
            id.to_string()
        };
        return UserKey {
            key,
            kind: "identity",
        };
    }
    let devices = [
        (DeviceIdKind::InstanceId, c.instance_id),
        (DeviceIdKind::Idfa, c.idfa),
        (DeviceIdKind::Gaid, c.gaid),
        (DeviceIdKind::IosVendorId, c.ios_vendor_id),
        (DeviceIdKind::AndroidId, c.android_id),
        (DeviceIdKind::Lvid, c.lvid),
    ];
    for (kind, raw) in devices {
        if let Some(id) = raw.and_then(|raw| normalize_device_id(kind, raw).ok()) {
            return prefixed(kind.as_str(), &id);
        }
    }
    if let Some(id) = usable(c.annonid) {
        return prefixed("anonymous_id", id);
    }
    if let Some(id) = usable(c.session_id) {
        return prefixed("session_id", id);
    }
    prefixed("event", event_uid)
}

fn usable(raw: Option<&str>) -> Option<&str> {
    let id = raw?.trim();
    if id.is_empty()
        || PLACEHOLDER_IDS
            .iter()
            .any(|placeholder| id.eq_ignore_ascii_case(placeholder))
    {
        return None;
    }
    Some(id)
}

fn prefixed(kind: &'static str, value: &str) -> UserKey {
    UserKey {
        key: format!("{kind}:{value}"),
        kind,
    }
}

pub use tributary_service::pii::hash_pii;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let cases: &[(&str, Option<&str>)] = &[
            ("user@example.com", Some("user@example.com")),
            ("  John.Doe@Example.COM ", Some("john.doe@example.com")),
            (
                "\tMIXED.Case+Tag@Sub.Domain.co.in\n",
                Some("mixed.case+tag@sub.domain.co.in"),
            ),
            ("a@b.co", Some("a@b.co")),
            ("", None),
            ("   ", None),
            ("no-at-sign.example.com", None),
            ("two@@example.com", None),
            ("a@b@example.com", None),
            ("@example.com", None),
            ("user@", None),
            ("user@localhost", None),
            ("user@example..com", None),
            ("user@.example.com", None),
            ("user@example.com.", None),
            ("john doe@example.com", None),
            ("sample string 10", None),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_email(raw).as_deref(), *want, "input {raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(normalize_email(&long), None);
    }

    #[test]
    fn phones() {
        let ok: &[(&str, Option<&str>, &str)] = &[
            ("+91 98765 43210", None, "+919876543210"),
            ("+919876543210", None, "+919876543210"),
            ("98765 43210", Some("IN"), "+919876543210"),
            ("98765-43210", Some("in"), "+919876543210"),
            ("098765 43210", Some("IN"), "+919876543210"),
            ("9876543210", Some("+91"), "+919876543210"),
            ("9876543210", Some("91"), "+919876543210"),
            ("9876543210", Some(" India "), "+919876543210"),
            ("9876543210", Some("IND"), "+919876543210"),
            ("919876543210", Some("IN"), "+919876543210"),
            ("0091 98765 43210", None, "+919876543210"),
            ("(650) 253-0000", Some("US"), "+16502530000"),
            ("650.253.0000", Some("1"), "+16502530000"),
            ("+1 (650) 253-0000", None, "+16502530000"),
            ("+1-650-253-0000 ext. 123", None, "+16502530000"),
            ("0044 20 7946 0958", None, "+442079460958"),
            ("020 7946 0958", Some("GB"), "+442079460958"),
            ("020 7946 0958", Some("UK"), "+442079460958"),
            ("030/123456789", Some("DE"), "+4930123456789"),
            ("+49 (0)30 123456789", None, "+4930123456789"),
        ];
        for (raw, hint, want) in ok {
            assert_eq!(
                normalize_phone(raw, *hint).as_deref(),
                Ok(*want),
                "input {raw:?} hint {hint:?}"
            );
        }
        let bad: &[(&str, Option<&str>, PhoneError)] = &[
            ("", None, PhoneError::Empty),
            ("   ", Some("IN"), PhoneError::Empty),
            ("sample string 10", None, PhoneError::Unparseable),
            ("98765 43210", None, PhoneError::MissingCountry),
            (
                "98765 43210",
                Some("Atlantis"),
                PhoneError::UnknownCountryHint("Atlantis".into()),
            ),
            ("+91 12345", None, PhoneError::Invalid),
            ("+1 555 0100", None, PhoneError::Invalid),
            ("12", Some("IN"), PhoneError::Invalid),
            ("1-800-FLOWERS", Some("US"), PhoneError::Unparseable),
            ("call me", None, PhoneError::Unparseable),
        ];
        for (raw, hint, want) in bad {
            assert_eq!(
                normalize_phone(raw, *hint).as_ref(),
                Err(want),
                "input {raw:?} hint {hint:?}"
            );
        }
        assert_eq!(
            normalize_phone(&"9".repeat(65), None),
            Err(PhoneError::TooLong)
        );
    }

    #[test]
    fn calling_codes_name_a_country_only_when_one_country_has_them() {
        use CallingCodeCountry::{Country, NotACallingCode, Unknown};
        let cases: &[(&str, CallingCodeCountry)] = &[
            ("91", Country("IN")),
            ("+91", Country("IN")),
            ("0091", Country("IN")),
            (" +91 ", Country("IN")),
            // Malta's calling code, although 356 is India's ISO 3166-1 numeric code.
            ("356", Country("MT")),
            ("+49", Country("DE")),
            ("1", Unknown),
            ("+1", Unknown),
            ("7", Unknown),
            ("+44", Unknown),
            // Guadeloupe, Saint Barthélemy and Saint Martin; 590 is also Panama's number.
            ("590", Unknown),
            ("999", Unknown),
            ("800", Unknown),
            ("IN", NotACallingCode),
            ("India", NotACallingCode),
            ("+", NotACallingCode),
            ("", NotACallingCode),
            ("1234", NotACallingCode),
            ("+9 1", NotACallingCode),
        ];
        for (text, want) in cases {
            assert_eq!(calling_code_country(text), *want, "input {text:?}");
            // Twice: the cached answer is the computed one.
            assert_eq!(calling_code_country(text), *want, "input {text:?}, cached");
        }
    }

    #[test]
    fn the_phone_cache_tells_number_and_hint_apart() {
        // Each pair would share a key if number and hint were simply joined.
        let calls: &[(&str, Option<&str>, Option<&str>)] = &[
            ("6502530000", Some("1"), Some("+16502530000")),
            ("16502530000", None, None),
            ("6502530000", None, None),
            ("6502530000", Some(""), None),
            ("9876543210", Some("IN"), Some("+919876543210")),
            ("9876543210", Some("I"), None),
            ("N9876543210", Some(""), None),
        ];
        for _ in 0..2 {
            for (raw, hint, want) in calls {
                assert_eq!(
                    normalize_phone(raw, *hint).ok().as_deref(),
                    *want,
                    "{raw:?} with {hint:?}"
                );
            }
        }
    }

    #[test]
    fn phone_parser_never_panics_on_junk() {
        let junk = [
            "local_time",
            "+",
            "++91",
            "00",
            "0000000000",
            "+0 000",
            "()",
            "+91 (",
            "1e10",
            "+999 1234567",
            "tel:+91-98765-43210",
            "+91 98765 43210 x",
            "٩٨٧٦٥٤٣٢١٠",
            "+1 800 FLOWERS",
            "--++--",
            "+۹۱ ۹۸۷۶۵ ۴۳۲۱۰",
        ];
        for raw in junk {
            for hint in [None, Some("IN"), Some("+1"), Some("999"), Some("")] {
                let _ = normalize_phone(raw, hint);
            }
        }
    }

    #[test]
    fn device_ids() {
        use DeviceIdKind::*;
        let ok: &[(DeviceIdKind, &str, &str)] = &[
            (
                Idfa,
                "6D92078A-8246-4BA4-AE5B-76104861E7DC",
                "6d92078a-8246-4ba4-ae5b-76104861e7dc",
            ),
            (
                Gaid,
                " 38400000-8cf0-11bd-b23e-10b96e40000d ",
                "38400000-8cf0-11bd-b23e-10b96e40000d",
            ),
            (
                InstanceId,
                "{6D92078A-8246-4BA4-AE5B-76104861E7DC}",
                "6d92078a-8246-4ba4-ae5b-76104861e7dc",
            ),
            (
                IosVendorId,
                "6d92078a82464ba4ae5b76104861e7dc",
                "6d92078a-8246-4ba4-ae5b-76104861e7dc",
            ),
            (
                Lvid,
                "0123456789ABCDEF0123456789abcdef",
                "0123456789abcdef0123456789abcdef",
            ),
            (AndroidId, "9774D56D682E549C", "9774d56d682e549c"),
            (AndroidId, "774d56d682e549c", "0774d56d682e549c"),
        ];
        for (kind, raw, want) in ok {
            assert_eq!(
                normalize_device_id(*kind, raw).as_deref(),
                Ok(*want),
                "{kind:?} {raw:?}"
            );
        }
        let zero: &[(DeviceIdKind, &str)] = &[
            (Idfa, "00000000-0000-0000-0000-000000000000"),
            (InstanceId, "00000000-0000-0000-0000-000000000000"),
            (Gaid, "00000000000000000000000000000000"),
            (Lvid, "00000000000000000000000000000000"),
            (AndroidId, "000000000000000"),
            (AndroidId, "0000000000000000"),
        ];
        for (kind, raw) in zero {
            assert_eq!(
                normalize_device_id(*kind, raw),
                Err(DeviceIdError::ZeroId(kind.as_str())),
                "{kind:?} {raw:?}"
            );
        }
        let bad: &[(DeviceIdKind, &str)] = &[
            (Idfa, "6d92078a-8246-4ba4-ae5b"),
            (Gaid, "zzzzzzzz-8246-4ba4-ae5b-76104861e7dc"),
            (Lvid, "0123456789abcdef"),
            (Lvid, "0123456789abcdef0123456789abcdeg"),
            (Lvid, "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
            (AndroidId, "9774d56d682e549c00"),
            (AndroidId, "9774d56d682"),
            (AndroidId, "sample string 5!"),
        ];
        for (kind, raw) in bad {
            assert!(
                matches!(
                    normalize_device_id(*kind, raw),
                    Err(DeviceIdError::BadShape { .. })
                ),
                "{kind:?} {raw:?}"
            );
        }
        assert_eq!(
            normalize_device_id(Lvid, "  "),
            Err(DeviceIdError::Empty("lvid"))
        );
    }

    #[test]
    fn user_key_precedence() {
        let idfa = "6D92078A-8246-4BA4-AE5B-76104861E7DC";
        let zero_lvid = "00000000000000000000000000000000";
        let cases: &[(IdentityCandidates<'_>, &str, &str)] = &[
            (
                IdentityCandidates {
                    user_id: Some("7"),
                    identity: Some("x@y.com"),
                    idfa: Some(idfa),
                    ..Default::default()
                },
                "7",
                "user_id",
            ),
            (
                IdentityCandidates {
                    user_id: Some(" null "),
                    identity: Some(" Jane@Example.com "),
                    ..Default::default()
                },
                "jane@example.com",
                "identity",
            ),
            (
                IdentityCandidates {
                    identity: Some("CUSTOMER_ID"),
                    annonid: Some("a1"),
                    ..Default::default()
                },
                "CUSTOMER_ID",
                "identity",
            ),
            (
                IdentityCandidates {
                    user_id: Some("0"),
                    identity: Some("1111"),
                    lvid: Some(zero_lvid),
                    ..Default::default()
                },
                "1111",
                "identity",
            ),
            (
                IdentityCandidates {
                    user_id: Some(""),
                    instance_id: Some("00000000-0000-0000-0000-000000000000"),
                    idfa: Some(idfa),
                    ..Default::default()
                },
                "idfa:6d92078a-8246-4ba4-ae5b-76104861e7dc",
                "idfa",
            ),
            (
                IdentityCandidates {
                    gaid: Some("not-a-uuid"),
                    android_id: Some("9774D56D682E549C"),
                    lvid: Some("0123456789abcdef0123456789abcdef"),
                    ..Default::default()
                },
                "android_id:9774d56d682e549c",
                "android_id",
            ),
            (
                IdentityCandidates {
                    lvid: Some(zero_lvid),
                    annonid: Some("anon-42"),
                    session_id: Some("s-1"),
                    ..Default::default()
                },
                "anonymous_id:anon-42",
                "anonymous_id",
            ),
            (
                IdentityCandidates {
                    annonid: Some("undefined"),
                    session_id: Some("sample string 5"),
                    ..Default::default()
                },
                "session_id:sample string 5",
                "session_id",
            ),
            (IdentityCandidates::default(), "event:ev-1", "event"),
        ];
        for (candidates, key, kind) in cases {
            let got = pick_user_key(candidates, "ev-1");
            assert_eq!(
                (got.key.as_str(), got.kind),
                (*key, *kind),
                "{candidates:?}"
            );
        }
    }

    #[test]
    fn pii_hash_is_salted_sha256_with_separator() {
        // sha256("" || 0x00 || "") = sha256 of the single byte 0x00.
        assert_eq!(
            hash_pii("", ""),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(hash_pii("salt", "+919876543210").len(), 64);
        assert_eq!(hash_pii("s", "v"), hash_pii("s", "v"));
        assert_ne!(hash_pii("ab", "c"), hash_pii("a", "bc"));
        assert_ne!(hash_pii("salt1", "v"), hash_pii("salt2", "v"));
    }
}
