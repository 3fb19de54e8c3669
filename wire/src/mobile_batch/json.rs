//! Document 000's JSON bodies: the general parse into a `Value` (then [`super::validate`]), and
//! the fast check of the common shape.

use serde_json::Value;

use super::Failure;

/// The common case checked without building a `Value`: a JSON body holding only `events`,
/// whose events use only the document's field names, spelled exactly, each once, with JSON
/// types no looser than `validate` takes. Parsing into a `Value` was 4.5 of the gateway's
/// 5.6 µs per event (bench/PROFILE.md). Anything else — other keys or spellings, numbers
/// sent as strings, blank or missing required fields, empty or oversized batches, bad JSON —
/// answers `None`, and `validate` decides and words the failures. So `count` can only be
/// stricter than `validate`: whatever it accepts, `parse` (what the enricher runs) accepts
/// with the same number of events (unit tests and the `mobile_batch_json` fuzz target check
/// exactly that).
pub mod fast {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::value::RawValue;
    use serde_json::Map;

    use crate::mobile_batch::{AnalyticsEvent, MAX_EVENTS};
    use crate::time::{self, ClientTime};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch<E> {
        events: Vec<Object<E>>,
    }

    /// `T` read from a JSON object only. A struct that serde derives also takes a JSON array
    /// of its fields in order (`["e1","open",1700000000000,null,...]`), which document 000
    /// does not allow and `validate` refuses ("each event must be an object"); without this
    /// the fast check accepted such a batch that the general parse then refused.
    struct Object<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            T::deserialize(MapOnly(d)).map(Object)
        }
    }

    /// A deserializer that reads a struct as a map, and so never from an array.
    struct MapOnly<D>(D);

    impl<'de, D: serde::Deserializer<'de>> serde::Deserializer<'de> for MapOnly<D> {
        type Error = D::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_any(v)
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_map(v)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    /// One event of the common shape. `P` is how `payload` is read and `N` how `latitude` and
    /// `longitude` are: a `Value` map and `f64`s to check them (`count`), or their text
    /// (`parse`, which checks the text itself and reads the numbers as `validate` does).
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Event<'a, P, N> {
        #[serde(borrow)]
        event_id: Cow<'a, str>,
        #[serde(borrow)]
        event_name: Cow<'a, str>,
        timestamp_utc: i64,
        #[serde(borrow)]
        event_category: Option<Cow<'a, str>>,
        #[serde(borrow)]
        session_id: Option<Cow<'a, str>>,
        #[serde(borrow)]
        source: Option<Cow<'a, str>>,
        user_id: Option<i64>,
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        country_code: Option<Cow<'a, str>>,
        #[serde(borrow)]
        mobile_number: Option<Cow<'a, str>>,
        #[serde(borrow)]
        screen_name: Option<Cow<'a, str>>,
        duration_seconds: Option<i64>,
        // For `count`, a `Value` map, not `IgnoredAny`: serde_json skips ignored values
        // without its depth limit or number range checks, which `validate`'s `Value` parse
        // applies.
        payload: Option<P>,
        #[serde(borrow)]
        ip: Option<Cow<'a, str>>,
        #[serde(borrow)]
        country: Option<Cow<'a, str>>,
        #[serde(borrow)]
        state: Option<Cow<'a, str>>,
        #[serde(borrow)]
        city: Option<Cow<'a, str>>,
        #[serde(borrow)]
        zip: Option<Cow<'a, str>>,
        latitude: Option<N>,
        longitude: Option<N>,
    }

    impl<P, N> Event<'_, P, N> {
        /// The checks the field types alone do not make.
        fn is_valid(&self) -> bool {
            !self.event_id.trim().is_empty()
                && !self.event_name.trim().is_empty()
                && self.timestamp_utc >= 0
        }
    }

    /// A number field's text read as `validate` reads it (`fields::number`:
    /// `Number::as_f64`, which parses the digits sent with `str::parse`; serde_json's own
    /// float parsing may differ from it in the last bit): `Err` for a non-number or a
    /// non-finite one.
    fn number(text: Option<&RawValue>) -> Result<Option<f64>, ()> {
        let Some(text) = text.map(RawValue::get) else {
            return Ok(None);
        };
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Err(());
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(()),
        }
    }

    /// How many events `body` holds when it is a valid batch of the common shape; `None`
    /// when `validate` must decide.
    ///
    /// The body is checked as UTF-8 once, then parsed as text: serde_json otherwise checks
    /// every string on its own, and `payload` is checked without being built
    /// ([`CheckedObject`]). Together they were about two fifths of the instructions of
    /// mobile `gateway.accept` (callgrind, bench/PROFILE.md).
    pub fn count(body: &[u8]) -> Option<usize> {
        let text = std::str::from_utf8(body).ok()?;
        let Object(batch): Object<Batch<Event<'_, CheckedObject, f64>>> =
            serde_json::from_str(text).ok()?;
        let valid = !batch.events.is_empty()
            && batch.events.len() <= MAX_EVENTS
            && batch.events.iter().all(|Object(e)| e.is_valid());
        valid.then_some(batch.events.len())
    }

    /// A JSON object checked as `validate` checks `payload`, without building it: each
    /// number must be a finite `f64` (`crate::out_of_range_number`), nesting stays within
    /// serde_json's depth limit (it is parsed with `deserialize_map`/`deserialize_any`, as a
    /// `Value` is). A failed check is a parse error, so [`count`] leaves the body to
    /// `validate`.
    struct CheckedObject;

    /// Any JSON value, checked as [`CheckedObject`] checks its members.
    struct Checked;

    impl<'de> Deserialize<'de> for CheckedObject {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(CheckedVisitor { object_only: true })
                .map(|_| CheckedObject)
        }
    }

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(CheckedVisitor { object_only: false })
        }
    }

    struct CheckedVisitor {
        object_only: bool,
    }

    impl CheckedVisitor {
        fn scalar<E: serde::de::Error>(self) -> Result<Checked, E> {
            if self.object_only {
                Err(E::custom("payload is not an object"))
            } else {
                Ok(Checked)
            }
        }
    }

    impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
        type Value = Checked;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Checked, E> {
            self.scalar()
        }

        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Checked, E> {
            self.scalar()
        }

        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Checked, E> {
            self.scalar()
        }

        fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Checked, E> {
            if f.is_finite() {
                self.scalar()
            } else {
                Err(E::custom("number out of range"))
            }
        }

        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Checked, E> {
            self.scalar()
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Checked, E> {
            self.scalar()
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            if self.object_only {
                return Err(serde::de::Error::custom("payload is not an object"));
            }
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }

        /// An object, or (with serde_json's `arbitrary_precision`) a number: a map whose one
        /// key is serde_json's number token and whose value is the number's text, which
        /// `Number::as_f64` reads with `str::parse`.
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            while let Some(key) = map.next_key::<Key>()? {
                match key {
                    Key::NumberToken if self.object_only => {
                        return Err(serde::de::Error::custom("payload is not an object"));
                    }
                    Key::NumberToken => {
                        map.next_value::<NumberText>()?;
                    }
                    Key::Member => {
                        map.next_value::<Checked>()?;
                    }
                }
            }
            Ok(Checked)
        }
    }

    /// serde_json's private key for a number read with `arbitrary_precision`.
    const NUMBER_TOKEN: &str = "$serde_json::private::Number";

    enum Key {
        NumberToken,
        Member,
    }

    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl serde::de::Visitor<'_> for KeyVisitor {
                type Value = Key;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object key")
                }
                fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
                    Ok(if key == NUMBER_TOKEN {
                        Key::NumberToken
                    } else {
                        Key::Member
                    })
                }
            }
            d.deserialize_str(KeyVisitor)
        }
    }

    /// A number's text, checked to be a finite `f64` as `Number::as_f64` reads it.
    struct NumberText;

    impl<'de> Deserialize<'de> for NumberText {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct TextVisitor;
            impl serde::de::Visitor<'_> for TextVisitor {
                type Value = NumberText;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a number's text")
                }
                fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<NumberText, E> {
                    match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => Ok(NumberText),
                        _ => Err(E::custom("number out of range")),
                    }
                }
            }
            d.deserialize_str(TextVisitor)
        }
    }

    /// One event read by [`parse`]: the event as `validate` reads it, with `raw` and
    /// `payload` left empty, and their JSON text instead.
    #[derive(Debug, Clone, PartialEq)]
    pub struct TextEvent {
        pub event: AnalyticsEvent,
        /// The event's fields as compact JSON: exactly `serde_json::to_string(&raw)` of the
        /// `raw` that `validate` keeps.
        pub raw: String,
        /// `payload` as compact JSON, exactly as `raw` writes it; `None` when absent or null.
        pub payload: Option<String>,
    }

    /// The events of `body` when it is a valid batch of the common shape (as [`count`]) whose
    /// every event's text can be kept as it is: compact JSON text equal to what serializing
    /// `validate`'s `raw` writes. That holds unless an object repeats a key, a string uses
    /// an escape serde_json does not write (`\/`, `\u00e9`, `\u000a`), nesting is deep, a
    /// number is beyond `f64` or has an exponent serde_json writes otherwise (`1E5`, `1e5`:
    /// it writes `1e+5`), or a timestamp is `0` (it may have been sent as `-0`); then
    /// `None`, and [`crate::mobile_batch::parse`] reads the body. Whitespace between tokens is
    /// dropped, as serializing drops it. Reading the body into a `Value` tree and writing
    /// `raw` back out was most of the enricher's mobile CPU (bench/PROFILE.md); unit tests
    /// and the `mobile_batch_json` fuzz target hold this to `parse`, field for field and byte
    /// for byte.
    pub fn parse(body: &[u8]) -> Option<Vec<TextEvent>> {
        // The body is read twice: once by serde_json into the typed events, and once by
        // `compact` for each event's text. Reading each event's text out first as a
        // `RawValue` and parsing it again was a third pass (bench/PROFILE.md).
        let text = std::str::from_utf8(body).ok()?;
        let Object(batch): Object<Batch<Event<'_, &RawValue, &RawValue>>> =
            serde_json::from_str(text).ok()?;
        if batch.events.is_empty() || batch.events.len() > MAX_EVENTS {
            return None;
        }
        let texts = compact_events(events_array(text)?, batch.events.len())?;
        batch
            .events
            .into_iter()
            .zip(texts)
            .map(|(Object(e), text)| {
                if !e.is_valid() || e.timestamp_utc == 0 {
                    return None;
                }
                let payload = match e.payload {
                    None => None,
                    Some(p) if p.get().starts_with('{') => Some(text.raw[text.payload?].to_owned()),
                    Some(_) => return None,
                };
                // The digits a `Value::Number` of it writes, read as `validate` reads a
                // JSON number (`time::read_json`).
                let timestamp_raw = e.timestamp_utc.to_string();
                let owned = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
                let event = AnalyticsEvent {
                    event_id: e.event_id.into_owned(),
                    event_name: e.event_name.into_owned(),
                    event_category: owned(e.event_category),
                    timestamp_utc: ClientTime::Instant(time::epoch_millis(&timestamp_raw).ok()?),
                    timestamp_raw,
                    session_id: owned(e.session_id),
                    source: owned(e.source),
                    user_id: e.user_id,
                    name: owned(e.name),
                    country_code: owned(e.country_code),
                    mobile_number: owned(e.mobile_number),
                    screen_name: owned(e.screen_name),
                    duration_seconds: e.duration_seconds,
                    payload: None,
                    ip: owned(e.ip),
                    country: owned(e.country),
                    state: owned(e.state),
                    city: owned(e.city),
                    zip: owned(e.zip),
                    latitude: number(e.latitude).ok()?,
                    longitude: number(e.longitude).ok()?,
                    raw: Map::new(),
                };
                Some(TextEvent {
                    event,
                    raw: text.raw,
                    payload,
                })
            })
            .collect()
    }

    /// Where [`parse`] and [`crate::mobile_batch::parse`] disagree on `body`, if they do:
    /// `None` when `parse` declines the body or reads it exactly as the general parse does
    /// (the same events, and `raw`/`payload` texts equal to serializing its objects). For the
    /// unit tests and the `mobile_batch_json` fuzz target.
    pub fn disagreement(body: &[u8]) -> Option<String> {
        let fast = parse(body)?;
        let general = match crate::mobile_batch::parse(crate::mobile_batch::Format::Json, body) {
            Ok(events) => events,
            Err(error) => return Some(format!("the general parse refuses it: {error}")),
        };
        if fast.len() != general.len() {
            return Some(format!("{} events, not {}", fast.len(), general.len()));
        }
        fast.into_iter()
            .zip(general)
            .enumerate()
            .find_map(|(index, (fast, mut general))| {
                let raw = serde_json::to_string(&general.raw).ok()?;
                let payload = general.payload.as_ref().and_then(|p| serde_json::to_string(p).ok());
                general.raw = Map::new();
                general.payload = None;
                (fast.raw != raw || fast.payload != payload || fast.event != general).then(|| {
                    format!(
                        "event {index}: fast {:?} / {:?} / {:?}, general {raw:?} / {payload:?} / {general:?}",
                        fast.raw, fast.payload, fast.event
                    )
                })
            })
    }

    /// [`compact`]'s scratch space, kept across the events of a body so that compacting an
    /// event allocates only its text.
    #[derive(Default)]
    struct Scratch<'a> {
        /// The keys of the open objects, to find a repeated one.
        keys: Vec<&'a str>,
        /// The open objects and arrays, innermost last.
        stack: Vec<Open>,
    }

    /// An open object or array: where its keys start in `keys`, and whether a key comes next.
    struct Open {
        object: bool,
        keys_from: usize,
        key_next: bool,
    }

    /// Deepest nesting [`compact`] takes, counted inside one event; the body adds 2 (the
    /// batch object and `events`), well under serde_json's limit of 128 that `validate`'s
    /// parse applies.
    const MAX_DEPTH: usize = 100;

    /// One event's text from [`compact`].
    struct Compacted {
        /// The event object without whitespace between tokens.
        raw: String,
        /// Where `payload`'s value is in `raw`, when the event has that key.
        payload: Option<std::ops::Range<usize>>,
    }

    /// The `events` array's text, `[` to `]`, of a body that [`Batch`] read. That body is one
    /// object whose one key is `events`, and no spelling of that key holds a `:` (its escapes
    /// are letters and digits), so the array opens at the first `[` after the first `:` and
    /// closes at the last `]`.
    fn events_array(text: &str) -> Option<&str> {
        let value = text.find(':')? + 1;
        let start = value + text[value..].find('[')?;
        let end = text.rfind(']')?;
        text.get(start..=end)
    }

    fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
        while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    }

    /// Each of the `events` objects in `array` (valid JSON: the body parsed) through
    /// [`compact`]; `None` when one cannot be kept as its text, or the array does not hold
    /// `events` objects.
    fn compact_events(array: &str, events: usize) -> Option<Vec<Compacted>> {
        let bytes = array.as_bytes();
        let mut scratch = Scratch::default();
        let mut texts = Vec::with_capacity(events);
        // Room for an event of the batch's average length, so most texts never grow.
        let capacity = array.len() / events + 16;
        let mut i = 1;
        loop {
            let (text, end) = compact(array, skip_whitespace(bytes, i), capacity, &mut scratch)?;
            texts.push(text);
            i = skip_whitespace(bytes, end);
            match bytes.get(i)? {
                b',' => i += 1,
                b']' => break,
                _ => return None,
            }
        }
        (texts.len() == events).then_some(texts)
    }

    /// The object that starts at `text[from]` (valid JSON) without whitespace between tokens,
    /// when that is exactly what serde_json writes for the `Value` it parses to (with
    /// `preserve_order` and `arbitrary_precision`, so keys keep their order and numbers their
    /// digits), and the index just past it; `None` when it is not (see [`parse`]) or
    /// `text[from]` is not `{`. `capacity`: bytes to reserve for the text. The object's own keys are known to be unique (serde refuses a
    /// repeated field of [`Event`]), so only nested objects' keys are checked.
    fn compact<'a>(
        text: &'a str,
        from: usize,
        capacity: usize,
        scratch: &mut Scratch<'a>,
    ) -> Option<(Compacted, usize)> {
        let Scratch { keys, stack } = scratch;
        let bytes = text.as_bytes();
        if bytes.get(from) != Some(&b'{') {
            return None;
        }
        let mut out = String::with_capacity(capacity);
        stack.clear();
        keys.clear();
        let mut i = from;
        let mut copied = from;
        // `payload`'s value: whether the event's last key was `payload`, and where its value
        // starts and ends in `out`.
        let mut payload_key = false;
        let mut payload_from = None;
        let mut payload = None;
        // Where `text[at]` lands in `out`: `text[copied..at]` holds no whitespace, as each
        // whitespace byte flushes.
        let at_out = |out: &String, copied: usize, at: usize| out.len() + (at - copied);
        loop {
            match bytes[i] {
                b' ' | b'\t' | b'\n' | b'\r' => {
                    out.push_str(&text[copied..i]);
                    i += 1;
                    copied = i;
                }
                b'"' => {
                    let start = i;
                    i += 1;
                    loop {
                        // Valid JSON: the string ends before the text does.
                        i += memchr::memchr2(b'"', b'\\', &bytes[i..])?;
                        match bytes[i] {
                            b'"' => break,
                            _ => {
                                match bytes[i + 1] {
                                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                                    b'u' => {
                                        // serde_json writes `\u00xx` (lowercase) only for
                                        // control characters without a short escape.
                                        let hex = &text[i + 2..i + 6];
                                        let code = u8::from_str_radix(&hex[2..], 16).ok()?;
                                        let short =
                                            matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
                                        if !hex.starts_with("00")
                                            || code >= 0x20
                                            || short
                                            || hex.bytes().any(|b| b.is_ascii_uppercase())
                                        {
                                            return None;
                                        }
                                        i += 4;
                                    }
                                    _ => return None,
                                }
                                i += 2;
                            }
                        }
                    }
                    i += 1;
                    let depth = stack.len();
                    if let Some(open) = stack.last_mut() {
                        if open.object && open.key_next {
                            open.key_next = false;
                            let key = &text[start..i];
                            if depth == 1 {
                                payload_key = key == "\"payload\"";
                            } else {
                                if keys[open.keys_from..].contains(&key) {
                                    return None;
                                }
                                keys.push(key);
                            }
                        }
                    }
                }
                b':' => {
                    if payload_key && stack.len() == 1 {
                        payload_from = Some(at_out(&out, copied, i + 1));
                        payload_key = false;
                    }
                    i += 1;
                }
                b'{' | b'[' => {
                    if stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    stack.push(Open {
                        object: bytes[i] == b'{',
                        keys_from: keys.len(),
                        key_next: true,
                    });
                    i += 1;
                }
                b'}' | b']' => {
                    if stack.len() == 1 && payload.is_none() {
                        payload = payload_from.map(|from| from..at_out(&out, copied, i));
                    }
                    let open = stack.pop()?;
                    keys.truncate(open.keys_from);
                    i += 1;
                    if stack.is_empty() {
                        break;
                    }
                }
                b',' => {
                    if stack.len() == 1 && payload.is_none() {
                        payload = payload_from.map(|from| from..at_out(&out, copied, i));
                    }
                    if let Some(open) = stack.last_mut() {
                        open.key_next = true;
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < bytes.len()
                        && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        i += 1;
                    }
                    let digits = &text[start..i];
                    if let Some(at) = digits.find(['e', 'E']) {
                        // serde_json keeps a number's digits but writes its exponent as
                        // `e+` or `e-`.
                        let exponent = &digits.as_bytes()[at..];
                        if exponent[0] == b'E' || !matches!(exponent[1], b'+' | b'-') {
                            return None;
                        }
                    }
                    // Only an exponent or some 309 digits can take a number beyond `f64`.
                    let may_overflow = digits.len() > 300 || digits.contains('e');
                    if may_overflow && !digits.parse::<f64>().is_ok_and(f64::is_finite) {
                        return None;
                    }
                }
                _ => i += 1,
            }
        }
        out.push_str(&text[copied..i]);
        Some((Compacted { raw: out, payload }, i))
    }
}

pub(super) fn empty_body() -> Vec<Failure> {
    vec![Failure::request(None, "the request body is empty")]
}

pub(super) fn document(body: &[u8]) -> Result<Value, Vec<Failure>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    crate::parse_json(body).map_err(|e| {
        vec![Failure::request(
            None,
            format!("the body is not valid JSON: {e}"),
        )]
    })
}
