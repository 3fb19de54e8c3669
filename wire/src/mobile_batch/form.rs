//! Document 000's `application/x-www-form-urlencoded` bodies with ASP.NET indexed keys,
//! converted to the JSON shape of the same request (see the parent module's "Form bodies").

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::{json::empty_body, Failure, MAX_EVENTS};

/// Most problems a form body reports before the list is cut short.
pub(super) const MAX_FORM_FAILURES: usize = 100;

/// What a decoded form key addresses.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FormKey<'k> {
    /// Not under `events`: ignored.
    Other,
    /// Under `events` but not one of the accepted shapes.
    Bad(String),
    Field {
        index: usize,
        field: &'k str,
    },
    Payload {
        index: usize,
        field: &'k str,
        entry: &'k str,
    },
}

const FORM_KEY_SHAPES: &str = "use events[N].field, events[N][field], events[N].payload.key \
                               or events[N][payload][key]";

/// One `.name` or `[name]` segment and the rest of the key.
fn form_segment(key: &str) -> Option<(&str, &str)> {
    if let Some(rest) = key.strip_prefix('.') {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        Some((&rest[..end], &rest[end..]))
    } else {
        let rest = key.strip_prefix('[')?;
        let end = rest.find(']')?;
        Some((&rest[..end], &rest[end + 1..]))
    }
}

pub(super) fn form_key(key: &str) -> FormKey<'_> {
    let head = key.find(['.', '[']).unwrap_or(key.len());
    if !key[..head].eq_ignore_ascii_case("events") {
        return FormKey::Other;
    }
    let bad = || FormKey::Bad(format!("is not a valid key; {FORM_KEY_SHAPES}"));
    let rest = &key[head..];
    let Some((index, rest)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) else {
        return bad();
    };
    let plain = !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && (index == "0" || !index.starts_with('0'));
    if !plain {
        return FormKey::Bad(format!(
            "has index {index:?}; an index is a plain number from 0 ({FORM_KEY_SHAPES})"
        ));
    }
    let index = match index.parse::<usize>() {
        Ok(i) if i < MAX_EVENTS => i,
        _ => {
            return FormKey::Bad(format!(
            "has index {index}; a request carries at most {MAX_EVENTS} events (indices 0 to {})",
            MAX_EVENTS - 1
        ))
        }
    };
    let Some((field, rest)) = form_segment(rest).filter(|(f, _)| !f.is_empty()) else {
        return bad();
    };
    if rest.is_empty() {
        return FormKey::Field { index, field };
    }
    if !field.eq_ignore_ascii_case("payload") {
        return FormKey::Bad(format!(
            "addresses a part of {field:?}; only payload takes keys ({FORM_KEY_SHAPES})"
        ));
    }
    let entry = if let Some(entry) = rest.strip_prefix('.') {
        entry
    } else if rest.starts_with('[') && rest.ends_with(']') && rest.len() >= 2 {
        &rest[1..rest.len() - 1]
    } else {
        return bad();
    };
    if entry.is_empty() {
        return FormKey::Bad(format!("has an empty payload key; {FORM_KEY_SHAPES}"));
    }
    FormKey::Payload {
        index,
        field,
        entry,
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value: `+` is a space, `%XX` a
/// byte (a `%` not followed by two hex digits stays as it is), and the result must be UTF-8.
pub(super) fn form_decode(raw: &[u8]) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The fields of one event of a form body.
#[derive(Default)]
struct FormEvent {
    fields: Map<String, Value>,
    /// Lowercased field name -> the spelling first used.
    spelling: HashMap<String, String>,
}

/// ASP.NET-style indexed form keys to the JSON shape of the same request.
pub(super) fn document(body: &[u8]) -> Result<Value, Vec<Failure>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    let mut failures = Vec::new();
    let mut events: BTreeMap<usize, FormEvent> = BTreeMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if failures.len() >= MAX_FORM_FAILURES {
            failures.push(Failure::request(
                None,
                format!("the list stops after {MAX_FORM_FAILURES} problems; more may follow"),
            ));
            break;
        }
        let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        let Some(key) = form_decode(raw_key) else {
            failures.push(Failure::request(
                Some(&String::from_utf8_lossy(raw_key)),
                "this form key is not valid UTF-8 after percent-decoding",
            ));
            continue;
        };
        let parsed = form_key(&key);
        if parsed == FormKey::Other {
            continue;
        }
        let Some(value) = form_decode(raw_value) else {
            failures.push(Failure::request(
                Some(&key),
                "the value is not valid UTF-8 after percent-decoding",
            ));
            continue;
        };
        match parsed {
            FormKey::Other => {}
            FormKey::Bad(reason) => failures.push(Failure::request(Some(&key), reason)),
            FormKey::Field { index, field } => {
                let event = events.entry(index).or_default();
                let lower = field.to_ascii_lowercase();
                if let Some(first) = event.spelling.get(&lower) {
                    let reason = if lower == "payload" {
                        format!("is given both as a value and as keys, or more than once (form key {key:?})")
                    } else {
                        format!("is given more than once (form key {key:?})")
                    };
                    failures.push(Failure::event(index, Some(first), reason));
                    continue;
                }
                event.spelling.insert(lower, field.to_string());
                // ASP.NET's ConvertEmptyStringToNull: an empty field is an absent one.
                let value = if value.is_empty() {
                    Value::Null
                } else {
                    Value::String(value)
                };
                event.fields.insert(field.to_string(), value);
            }
            FormKey::Payload {
                index,
                field,
                entry,
            } => {
                let event = events.entry(index).or_default();
                let spelling = event
                    .spelling
                    .entry("payload".into())
                    .or_insert_with(|| field.to_string())
                    .clone();
                let payload = event
                    .fields
                    .entry(spelling.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                match payload {
                    Value::Object(map) if map.contains_key(entry) => {
                        failures.push(Failure::event(
                            index,
                            Some(&spelling),
                            format!("key {entry:?} is given more than once (form key {key:?})"),
                        ));
                    }
                    Value::Object(map) => {
                        map.insert(entry.to_string(), Value::String(value));
                    }
                    _ => failures.push(Failure::event(
                        index,
                        Some(&spelling),
                        format!("is given both as a value and as keys (form key {key:?})"),
                    )),
                }
            }
        }
    }
    if let Some(missing) = events
        .keys()
        .enumerate()
        .find(|(i, k)| i != *k)
        .map(|(i, _)| i)
    {
        let highest = events.keys().next_back().copied().unwrap_or_default();
        failures.push(Failure::request(
            Some("events"),
            format!(
                "events[{missing}] is missing: indices must run from 0 without gaps (the highest given is {highest})"
            ),
        ));
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let mut top = Map::new();
    if !events.is_empty() {
        let list = events
            .into_values()
            .map(|e| Value::Object(e.fields))
            .collect();
        top.insert("events".into(), Value::Array(list));
    }
    Ok(Value::Object(top))
}
