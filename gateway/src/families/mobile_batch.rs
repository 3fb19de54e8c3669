//! Seed 000: `POST /api/analytics/events`, a batch of analytics events from the mobile/web app,
//! as JSON (`application/json`, `text/json`), DataContract XML (`application/xml`, `text/xml`)
//! or `application/x-www-form-urlencoded`. 202 with an empty body when the whole batch is
//! stored; 400 with the list of failure reasons (event index, field, reason) otherwise, and
//! then nothing of the request is published.
//!
//! Required per event: `event_id`, `event_name` (non-empty strings) and `timestamp_utc`
//! (integer epoch seconds or milliseconds, >= 0). Every other field is optional and
//! type-checked: `user_id` and `duration_seconds` integers, `latitude`/`longitude` numbers,
//! `payload` an object of any JSON values, the rest strings. Numbers sent as numeric strings
//! are accepted, as the original ASP.NET binder did. Property names match case-insensitively.
//!
//! # One set of rules for three wire formats
//!
//! XML and form bodies are first converted to the JSON shape of the same request
//! (`{"events": [{...}]}`, every scalar a string) and then go through the same [`validate`]
//! as JSON, so the rules and the failure messages are the same; `raw` holds that JSON shape.
//! Problems of the wire format itself (malformed XML, a bad form key) are reported as failures
//! too, before validation; each says where (XML: line, column and byte offset).
//!
//! ## DataContract XML
//!
//! The layout `DataContractSerializer` writes for `AnalyticsEventBatchReq` (the seed's sample):
//! - Elements match by *local* name, case-insensitively; namespaces and prefixes (`d2p1:`,
//!   `d4p1:`) are not checked, and member order is free. The root must be
//!   `AnalyticsEventBatchReq`; its `events` holds `AnalyticsEventDto` elements (anything else
//!   there is a failure naming the index); other children of the root are ignored, like
//!   unknown JSON properties.
//! - An event field's text is its value, verbatim (entities and CDATA decoded, whitespace
//!   kept, so `<event_id> </event_id>` is "must not be empty"); `<city/>` is `""`, as the
//!   serializer reads it. Unknown fields are kept as strings (elements with children as
//!   objects) and end up in `raw`. A field given twice is a failure.
//! - Any element with `i:nil="true"` (the prefix is not checked) is `null`, i.e. absent; it
//!   must then be empty.
//! - `payload` is a list of `KeyValueOfstringanyType` with `Key` and `Value` (a missing
//!   `Value` is `null`; a missing `Key` or a key given twice is a failure); `<payload/>` is
//!   `{}`. A `Value` (`xs:anyType`) becomes: `null` with `i:nil="true"`; `{}` when empty and
//!   untyped, because that is how the serializer writes `new object()` (the seed's sample,
//!   whose JSON twin has `{}`); a JSON number for `i:type` int, long, short, byte, the
//!   unsigned kinds, integer, decimal, double and float; `true`/`false` for boolean (a value
//!   that does not parse as its type is a failure); an object for `ArrayOfKeyValueOf...`
//!   types or nested `KeyValueOf...` entries (a nested dictionary); an array for other
//!   `ArrayOf...` types; an object for other child elements (repeated names become arrays);
//!   otherwise (string, dateTime, guid, untyped text, ...) the text as a string.
//! - Safety and encoding: `<!DOCTYPE>` is refused (no DTDs, so no external or expanding
//!   entities; only the five predefined entities and character references are decoded);
//!   nesting deeper than [`MAX_XML_DEPTH`] is refused; the body must be UTF-8 (a UTF-8 BOM is
//!   skipped, a declaration naming another encoding is refused); exactly one root element,
//!   no text outside it, no text mixed with child elements, and the XML declaration, if
//!   any, first. Conversion stops at the first such problem; only a converted document is
//!   validated, and validation lists every field failure of every event.
//!
//! ## Form bodies
//!
//! ASP.NET-style indexed keys, with `events` matched case-insensitively:
//! `events[0].event_id=...` or `events[0][event_id]=...` (both styles may be mixed), and
//! payload entries as `events[0].payload.key`, `events[0][payload][key]`,
//! `events[0].payload[key]` or `events[0][payload].key`; after `payload.` the rest of the key
//! is the entry's name (it may contain dots), a bracketed name runs to the final `]`. Payload
//! values are strings (nested values cannot be expressed); other values are strings coerced
//! by validation. Decisions:
//! - `+` is a space and `%XX` a byte; the result must be UTF-8 (no silent replacement).
//! - An empty field value (`events[0].city=`) is absent (ASP.NET's ConvertEmptyStringToNull),
//!   so an empty `event_id` is "is required"; an empty payload value stays `""`.
//! - Indices may come in any order but must run from 0 without gaps: a gap is a failure
//!   naming the first missing index (ASP.NET silently stopped binding there). An index must be
//!   a plain number below [`MAX_EVENTS`] (no sign, no leading zeros).
//! - A field (case-insensitively, whichever key style) or payload entry given twice is a
//!   failure naming the key; so is a malformed key under `events` (`events=1`,
//!   `events[x].id`, `events[0]`, `events[0].city.x`).
//! - Keys that do not start with `events` (an anti-forgery token, say) are ignored, like
//!   unknown JSON properties; a body with none is "events is required".
//! - Every conversion problem is listed (at most 100); only a body without any is validated.
//!
//! ## Response formats
//!
//! Failure lists (400, and 415 for an unsupported `Content-Type`) are negotiated like ASP.NET
//! Web API: the highest-`q` literal `application/json`, `text/json`, `application/xml` or
//! `text/xml` in `Accept` wins, JSON on a tie (the formatter order). Without such a
//! preference (no `Accept`, only `*/*` or other ranges, only types we do not write) the
//! request's own media type answers: an `application/xml` or `text/xml` request gets XML of
//! that type, a `text/json` one `text/json`, every other request `application/json` (unlike
//! ASP.NET, which sent JSON for `*/*`; curl sends `*/*` by default). A type refused with
//! `q=0` is not used for that fallback. XML failures are written
//! as `DataContractSerializer` would, with `i:nil` for a missing index or field:
//! `<ArrayOfFailure xmlns:i=".." xmlns=".."><Failure><index>0</index><field>event_id</field>
//! <reason>is required</reason></Failure></ArrayOfFailure>`. [`transport_error`] has no
//! request to negotiate with and always answers JSON.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use hyper::header::{HeaderMap, ACCEPT};
use hyper::StatusCode;
use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::Serialize;
use serde_json::{Map, Number, Value};
use tributary_schemas::Source;

use super::{
    bytes_response, fields, json_response, AcceptContext, Accepted, HttpResponse, RequestParts,
    TransportError,
};

/// Largest request body accepted (as sent, before gzip inflation).
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Most events one request may carry.
pub const MAX_EVENTS: usize = 1000;
/// Deepest element nesting an XML body may use (the batch itself needs 6: root, `events`,
/// `AnalyticsEventDto`, `payload`, `KeyValueOfstringanyType`, `Value`).
pub const MAX_XML_DEPTH: usize = 32;
/// Most problems a form body reports before the list is cut short.
const MAX_FORM_FAILURES: usize = 100;

/// One analytics event as the client sent it (`AnalyticsEventDto`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyticsEvent {
    pub event_id: String,
    pub event_name: String,
    pub event_category: Option<String>,
    pub timestamp_utc: i64,
    pub session_id: Option<String>,
    pub source: Option<String>,
    pub user_id: Option<i64>,
    pub name: Option<String>,
    pub country_code: Option<String>,
    pub mobile_number: Option<String>,
    pub screen_name: Option<String>,
    pub duration_seconds: Option<i64>,
    pub payload: Option<Map<String, Value>>,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The event's fields exactly as sent (XML and form bodies as their JSON equivalent).
    pub raw: Map<String, Value>,
}

/// One failure reason of a rejected request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Index of the event in `events`, or `null` for a problem with the request as a whole.
    pub index: Option<usize>,
    /// The field at fault (`events`, `event_id`, ...), or `null` for the body as a whole.
    pub field: Option<String>,
    pub reason: String,
}

impl Failure {
    fn request(field: Option<&str>, reason: impl Into<String>) -> Self {
        Failure {
            index: None,
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }

    fn event(index: usize, field: Option<&str>, reason: impl Into<String>) -> Self {
        Failure {
            index: Some(index),
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }
}

/// The wire format of a request, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
    Form,
}

impl Format {
    /// `None` for a media type this endpoint does not take. A missing type is read as JSON.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Format> {
        match content_type {
            None | Some("application/json") | Some("text/json") => Some(Format::Json),
            Some("application/xml") | Some("text/xml") => Some(Format::Xml),
            Some("application/x-www-form-urlencoded") => Some(Format::Form),
            Some(_) => None,
        }
    }
}

/// Parse and validate a request body. Used by the gateway (to accept or reject) and by the
/// enricher (to split an accepted batch), so both always agree.
pub fn parse(format: Format, body: &[u8]) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    validate(document(format, body)?)
}

/// The body as a JSON-shaped document, whatever its format.
fn document(format: Format, body: &[u8]) -> Result<Value, Vec<Failure>> {
    match format {
        Format::Json => parse_json(body),
        Format::Xml => xml_document(body),
        Format::Form => form_document(body),
    }
}

/// `parse` without keeping anything: how many events, or every failure. The gateway needs
/// only this; building owned events it would throw away was 14% of its CPU in `Map::clone`
/// (bench/PROFILE.md, finding 3).
fn check(format: Format, body: &[u8]) -> Result<usize, Vec<Failure>> {
    if format == Format::Json {
        if let Some(events) = fast::count(body) {
            return Ok(events);
        }
    }
    validate_with(document(format, body)?, false).map(|events| events.len())
}

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
    use serde_json::{Map, Value};

    use super::MAX_EVENTS;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch<'a> {
        #[serde(borrow)]
        events: Vec<Event<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only to check them
    struct Event<'a> {
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
        // A `Value` map, not `IgnoredAny`: serde_json skips ignored values without its depth
        // limit or number range checks, which `validate`'s `Value` parse applies.
        payload: Option<Map<String, Value>>,
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
        latitude: Option<f64>,
        longitude: Option<f64>,
    }

    /// How many events `body` holds when it is a valid batch of the common shape; `None`
    /// when `validate` must decide.
    pub fn count(body: &[u8]) -> Option<usize> {
        let batch: Batch<'_> = serde_json::from_slice(body).ok()?;
        let valid = !batch.events.is_empty()
            && batch.events.len() <= MAX_EVENTS
            && batch.events.iter().all(|e| {
                !e.event_id.trim().is_empty()
                    && !e.event_name.trim().is_empty()
                    && e.timestamp_utc >= 0
            });
        valid.then_some(batch.events.len())
    }
}

fn empty_body() -> Vec<Failure> {
    vec![Failure::request(None, "the request body is empty")]
}

fn parse_json(body: &[u8]) -> Result<Value, Vec<Failure>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    serde_json::from_slice(body).map_err(|e| {
        vec![Failure::request(
            None,
            format!("the body is not valid JSON: {e}"),
        )]
    })
}

// ---------------------------------------------------------------------------------------------
// DataContract XML

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const XML_ROOT: &str = "AnalyticsEventBatchReq";
const XML_EVENT: &str = "AnalyticsEventDto";

/// Where `offset` is in `body`, for messages: `line 3, column 7 (byte 52)`. Lines and
/// columns count from 1; columns count characters.
fn position(body: &[u8], offset: usize) -> String {
    let offset = offset.min(body.len());
    let before = &body[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    format!("line {line}, column {column} (byte {offset})")
}

fn is_xml_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// One element of an XML body, reduced to what the DataContract layout uses.
#[derive(Debug, Default)]
struct XmlNode {
    /// Local name (prefix dropped).
    name: String,
    /// `i:nil="true"`.
    nil: bool,
    /// Local part of `i:type` (`int` for `d5p1:int`).
    xsi_type: Option<String>,
    /// Text and CDATA content, decoded; meaningful only without children.
    text: String,
    children: Vec<XmlNode>,
    /// Byte offset of the start tag's `<` in the body.
    at: usize,
}

impl XmlNode {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    fn has_text(&self) -> bool {
        !is_xml_blank(&self.text)
    }

    fn is_entry(&self) -> bool {
        starts_with_ci(&self.name, "KeyValueOf")
    }
}

/// DataContract XML to the JSON shape of the same request.
fn xml_document(body: &[u8]) -> Result<Value, Vec<Failure>> {
    let content = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    if content.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    if content.starts_with(b"\xFF\xFE")
        || content.starts_with(b"\xFE\xFF")
        || content.iter().take(2).any(|&b| b == 0)
    {
        return Err(vec![Failure::request(
            None,
            "XML bodies must be UTF-8 encoded (this one looks like UTF-16)",
        )]);
    }
    let Some(root) = xml_tree(body).map_err(|f| vec![f])? else {
        return Err(vec![Failure::request(
            None,
            "the XML body has no root element",
        )]);
    };
    XmlConverter { body }.batch(&root).map_err(|f| vec![f])
}

/// Why an entity or character reference could not be decoded, and where (relative to the
/// start of the decoded text).
fn unescape_problem(error: &quick_xml::Error) -> (usize, String) {
    match error {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(range, name)) => (
            range.start.saturating_sub(1),
            format!(
                "unknown entity &{name}; (DTDs are not read: only &lt; &gt; &amp; &apos; \
                 &quot; and character references such as &#233; are defined)"
            ),
        ),
        quick_xml::Error::Escape(EscapeError::UnterminatedEntity(range)) => (
            range.start,
            "an & that does not start an entity (write &amp;)".into(),
        ),
        quick_xml::Error::Escape(EscapeError::InvalidCharRef(why)) => {
            (0, format!("invalid character reference: {why}"))
        }
        quick_xml::Error::Encoding(_) => (0, "the text is not valid UTF-8".into()),
        other => (0, other.to_string()),
    }
}

/// Read the body into a tree of elements, enforcing well-formedness, the depth limit and the
/// absence of DTDs. `None` when there is no element at all.
fn xml_tree(body: &[u8]) -> Result<Option<XmlNode>, Failure> {
    let bom = if body.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let fail = |at: usize, what: &str| {
        Failure::request(
            None,
            format!(
                "the body is not valid XML at {}: {what}",
                position(body, at)
            ),
        )
    };
    let mut reader = Reader::from_reader(&body[bom..]);
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut root: Option<XmlNode> = None;
    loop {
        let at = bom + reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(fail(bom + reader.error_position() as usize, &e.to_string())),
        };
        match event {
            Event::Decl(_) if at != bom => {
                return Err(fail(at, "the XML declaration must come first"));
            }
            Event::Decl(decl) => {
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(|e| fail(at, &e.to_string()))?;
                    let encoding = String::from_utf8_lossy(&encoding).to_ascii_lowercase();
                    if !matches!(encoding.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(fail(
                            at,
                            &format!(
                                "the declaration says encoding=\"{encoding}\"; only UTF-8 is accepted"
                            ),
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(fail(
                    at,
                    "a <!DOCTYPE> is not allowed (DTDs and their entities are not processed)",
                ))
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Start(start) | Event::Empty(start) if stack.is_empty() && root.is_some() => {
                return Err(fail(
                    at,
                    &format!(
                        "a second root element <{}>; a document has exactly one",
                        String::from_utf8_lossy(start.local_name().as_ref())
                    ),
                ));
            }
            Event::Start(_) | Event::Empty(_) if stack.len() >= MAX_XML_DEPTH => {
                return Err(fail(
                    at,
                    &format!("elements are nested deeper than {MAX_XML_DEPTH} levels"),
                ));
            }
            Event::Start(start) => stack.push(xml_node(&start, at, &fail)?),
            Event::Empty(start) => {
                let node = xml_node(&start, at, &fail)?;
                attach(&mut stack, &mut root, node);
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err(fail(at, "an end tag without a start tag"));
                };
                if node.nil && (!node.children.is_empty() || node.has_text()) {
                    return Err(fail(
                        node.at,
                        &format!("<{}> has i:nil=\"true\" but also content", node.name),
                    ));
                }
                if !node.children.is_empty() && node.has_text() {
                    return Err(fail(
                        node.at,
                        &format!("<{}> mixes text with child elements", node.name),
                    ));
                }
                attach(&mut stack, &mut root, node);
            }
            Event::Text(text) => {
                let decoded = text.unescape().map_err(|e| {
                    let (offset, why) = unescape_problem(&e);
                    fail(at + offset, &why)
                })?;
                match stack.last_mut() {
                    Some(node) => node.text.push_str(&decoded),
                    None if is_xml_blank(&decoded) => {}
                    None => return Err(fail(at, "text outside the root element")),
                }
            }
            Event::CData(cdata) => {
                let decoded = cdata
                    .decode()
                    .map_err(|_| fail(at, "the CDATA section is not valid UTF-8"))?;
                match stack.last_mut() {
                    Some(node) => node.text.push_str(&decoded),
                    None => return Err(fail(at, "a CDATA section outside the root element")),
                }
            }
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(fail(
            body.len(),
            &format!(
                "the document ends but <{}> (opened at {}) is not closed",
                open.name,
                position(body, open.at)
            ),
        ));
    }
    Ok(root)
}

fn attach(stack: &mut [XmlNode], root: &mut Option<XmlNode>, node: XmlNode) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

/// An element's local name and the `i:nil` / `i:type` attributes.
fn xml_node(
    start: &BytesStart<'_>,
    at: usize,
    fail: &impl Fn(usize, &str) -> Failure,
) -> Result<XmlNode, Failure> {
    let name = std::str::from_utf8(start.local_name().as_ref())
        .map_err(|_| fail(at, "an element name is not valid UTF-8"))?
        .to_string();
    let mut node = XmlNode {
        name,
        at,
        ..XmlNode::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| fail(at, &e.to_string()))?;
        let key = attribute.key;
        let Some(prefix) = key.prefix() else {
            continue;
        };
        if prefix.as_ref() == b"xmlns" {
            continue;
        }
        let value = attribute.unescape_value().map_err(|e| {
            let (_, why) = unescape_problem(&e);
            fail(at, &why)
        })?;
        match key.local_name().as_ref() {
            b"nil" => {
                node.nil = match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(fail(
                            at,
                            &format!("i:nil must be true or false, got {other:?}"),
                        ))
                    }
                }
            }
            b"type" => {
                let value = value.trim();
                let local = value.rsplit(':').next().unwrap_or(value);
                node.xsi_type = Some(local.to_string());
            }
            _ => {}
        }
    }
    Ok(node)
}

/// Turns the element tree into the JSON shape `validate` checks.
struct XmlConverter<'b> {
    body: &'b [u8],
}

/// The event and field a nested value belongs to, for failures.
#[derive(Clone, Copy)]
struct Place<'a> {
    index: usize,
    field: &'a str,
}

impl Place<'_> {
    fn fail(self, reason: String) -> Failure {
        Failure::event(self.index, Some(self.field), reason)
    }
}

impl XmlConverter<'_> {
    fn at(&self, node: &XmlNode) -> String {
        position(self.body, node.at)
    }

    fn batch(&self, root: &XmlNode) -> Result<Value, Failure> {
        if !root.is(XML_ROOT) {
            return Err(Failure::request(
                None,
                format!(
                    "the root element must be <{XML_ROOT}>, got <{}> at {}",
                    root.name,
                    self.at(root)
                ),
            ));
        }
        if root.nil {
            return Ok(Value::Null);
        }
        if root.children.is_empty() && root.has_text() {
            return Ok(Value::String(root.text.clone()));
        }
        let mut top = Map::new();
        // Other children of the root are ignored, like unknown JSON properties.
        for child in root.children.iter().filter(|c| c.is("events")) {
            if top.contains_key("events") {
                return Err(Failure::request(
                    Some("events"),
                    format!("is given more than once (again at {})", self.at(child)),
                ));
            }
            top.insert("events".into(), self.events(child)?);
        }
        Ok(Value::Object(top))
    }

    fn events(&self, node: &XmlNode) -> Result<Value, Failure> {
        if node.nil {
            return Ok(Value::Null);
        }
        if node.children.is_empty() {
            return Ok(if node.has_text() {
                Value::String(node.text.clone())
            } else {
                Value::Array(Vec::new())
            });
        }
        let mut events = Vec::with_capacity(node.children.len());
        for (index, child) in node.children.iter().enumerate() {
            if !child.is(XML_EVENT) {
                return Err(Failure::event(
                    index,
                    None,
                    format!(
                        "expected <{XML_EVENT}>, got <{}> at {}",
                        child.name,
                        self.at(child)
                    ),
                ));
            }
            events.push(self.event(index, child)?);
        }
        Ok(Value::Array(events))
    }

    fn event(&self, index: usize, node: &XmlNode) -> Result<Value, Failure> {
        if node.nil {
            return Ok(Value::Null);
        }
        if node.children.is_empty() && node.has_text() {
            return Ok(Value::String(node.text.clone()));
        }
        let mut object = Map::new();
        let mut seen = HashSet::new();
        for child in &node.children {
            let place = Place {
                index,
                field: &child.name,
            };
            if !seen.insert(child.name.to_ascii_lowercase()) {
                return Err(place.fail(format!(
                    "is given more than once (again at {})",
                    self.at(child)
                )));
            }
            let value = if child.nil {
                Value::Null
            } else if child.is("payload") {
                if child.children.is_empty() {
                    if child.has_text() {
                        Value::String(child.text.clone())
                    } else {
                        Value::Object(Map::new())
                    }
                } else {
                    self.dictionary(place, child)?
                }
            } else if child.children.is_empty() {
                Value::String(child.text.clone())
            } else {
                self.any(place, child)?
            };
            object.insert(child.name.clone(), value);
        }
        Ok(Value::Object(object))
    }

    /// A `Dictionary<string, object>`: `KeyValueOf...` entries with `Key` and `Value`.
    fn dictionary(&self, place: Place<'_>, node: &XmlNode) -> Result<Value, Failure> {
        let mut map = Map::new();
        for entry in &node.children {
            if !entry.is_entry() {
                return Err(place.fail(format!(
                    "expected <KeyValueOfstringanyType> entries, got <{}> at {}",
                    entry.name,
                    self.at(entry)
                )));
            }
            let mut key = None;
            let mut value = None;
            for part in &entry.children {
                if part.is("Key") {
                    if key.is_some() {
                        return Err(place.fail(format!(
                            "an entry has more than one <Key> (at {})",
                            self.at(part)
                        )));
                    }
                    if part.nil || !part.children.is_empty() {
                        return Err(place.fail(format!(
                            "an entry's <Key> must be text (at {})",
                            self.at(part)
                        )));
                    }
                    key = Some(part.text.clone());
                } else if part.is("Value") {
                    if value.is_some() {
                        return Err(place.fail(format!(
                            "an entry has more than one <Value> (at {})",
                            self.at(part)
                        )));
                    }
                    value = Some(self.any(place, part)?);
                } else {
                    return Err(place.fail(format!(
                        "unexpected <{}> in an entry at {}; expected <Key> and <Value>",
                        part.name,
                        self.at(part)
                    )));
                }
            }
            let Some(key) = key else {
                return Err(place.fail(format!("an entry has no <Key> (at {})", self.at(entry))));
            };
            if map.contains_key(&key) {
                return Err(place.fail(format!(
                    "key {key:?} is given more than once (again at {})",
                    self.at(entry)
                )));
            }
            map.insert(key, value.unwrap_or(Value::Null));
        }
        Ok(Value::Object(map))
    }

    /// An `xs:anyType` value (a payload `Value`, or an unknown element with children).
    fn any(&self, place: Place<'_>, node: &XmlNode) -> Result<Value, Failure> {
        if node.nil {
            return Ok(Value::Null);
        }
        let ty = node.xsi_type.as_deref().map(str::to_ascii_lowercase);
        if ty
            .as_deref()
            .is_some_and(|t| t.starts_with("arrayofkeyvalueof"))
        {
            if node.children.is_empty() && node.has_text() {
                return Err(place.fail(format!(
                    "a dictionary value must hold entries, not text (at {})",
                    self.at(node)
                )));
            }
            return self.dictionary(place, node);
        }
        if ty.as_deref().is_some_and(|t| t.starts_with("arrayof")) {
            if node.children.is_empty() && node.has_text() {
                return Err(place.fail(format!(
                    "an {} value must hold elements, not text (at {})",
                    node.xsi_type.as_deref().unwrap_or_default(),
                    self.at(node)
                )));
            }
            return node
                .children
                .iter()
                .map(|item| self.any(place, item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        if !node.children.is_empty() {
            if node.children.iter().all(XmlNode::is_entry) {
                return self.dictionary(place, node);
            }
            return self.object(place, node);
        }
        self.scalar(place, node, ty.as_deref())
    }

    /// Child elements as an object; a repeated name collects its values in an array.
    fn object(&self, place: Place<'_>, node: &XmlNode) -> Result<Value, Failure> {
        let mut map = Map::new();
        let mut repeated = HashSet::new();
        for child in &node.children {
            let value = self.any(place, child)?;
            match map.get_mut(&child.name) {
                None => {
                    map.insert(child.name.clone(), value);
                }
                Some(Value::Array(items)) if repeated.contains(&child.name) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                    repeated.insert(child.name.clone());
                }
            }
        }
        Ok(Value::Object(map))
    }

    fn scalar(&self, place: Place<'_>, node: &XmlNode, ty: Option<&str>) -> Result<Value, Failure> {
        let text = node.text.as_str();
        let invalid = || {
            place.fail(format!(
                "{text:?} is not a valid xs:{} (at {})",
                node.xsi_type.as_deref().unwrap_or_default(),
                self.at(node)
            ))
        };
        match ty {
            // `new object()`, as the serializer writes it: the seed's sample.
            None | Some("anytype") if text.is_empty() => Ok(Value::Object(Map::new())),
            Some(
                "int" | "long" | "short" | "byte" | "unsignedint" | "unsignedlong"
                | "unsignedshort" | "unsignedbyte" | "integer" | "nonnegativeinteger"
                | "positiveinteger" | "negativeinteger" | "nonpositiveinteger",
            ) => {
                let t = text.trim();
                if let Ok(i) = t.parse::<i64>() {
                    Ok(Value::from(i))
                } else if let Ok(u) = t.parse::<u64>() {
                    Ok(Value::from(u))
                } else {
                    Err(invalid())
                }
            }
            Some("double" | "float" | "decimal") => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(invalid),
            Some("boolean") => match text.trim() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(invalid()),
            },
            _ => Ok(Value::String(text.to_string())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Form bodies

/// What a decoded form key addresses.
#[derive(Debug, PartialEq, Eq)]
enum FormKey<'k> {
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

fn form_key(key: &str) -> FormKey<'_> {
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
fn form_decode(raw: &[u8]) -> Option<String> {
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
fn form_document(body: &[u8]) -> Result<Value, Vec<Failure>> {
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
fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// `get_ci`, taking the value out (a `null` is left in its place).
fn take_ci(object: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(value) = object.get_mut(key) {
        return Some(value.take());
    }
    object
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.take())
}

/// Validate the JSON shape of a request: `{"events": [AnalyticsEventDto, ...]}`. The
/// document is taken by value so each event's object moves into its `raw` uncopied.
pub fn validate(document: Value) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    validate_with(document, true)
}

/// `validate`; with `keep` false the events carry no `payload` or `raw` copies (only checked).
fn validate_with(document: Value, keep: bool) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
    let Value::Object(mut top) = document else {
        return Err(vec![Failure::request(
            None,
            "the body must be an object with an events list",
        )]);
    };
    let events = match take_ci(&mut top, "events") {
        None | Some(Value::Null) => {
            return Err(vec![Failure::request(Some("events"), "is required")]);
        }
        Some(Value::Array(events)) => events,
        Some(_) => return Err(vec![Failure::request(Some("events"), "must be a list")]),
    };
    if events.is_empty() {
        return Err(vec![Failure::request(
            Some("events"),
            "must contain at least one event",
        )]);
    }
    if events.len() > MAX_EVENTS {
        return Err(vec![Failure::request(
            Some("events"),
            format!(
                "must contain at most {MAX_EVENTS} events, got {}",
                events.len()
            ),
        )]);
    }
    let mut failures = Vec::new();
    let mut parsed = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        match validate_event(index, event, keep) {
            Ok(event) => parsed.push(event),
            Err(mut f) => failures.append(&mut f),
        }
    }
    if failures.is_empty() {
        Ok(parsed)
    } else {
        Err(failures)
    }
}

/// Collects every failure of one event instead of stopping at the first.
struct Checker<'a> {
    index: usize,
    object: &'a Map<String, Value>,
    failures: Vec<Failure>,
}

impl<'a> Checker<'a> {
    fn fail(&mut self, field: &str, reason: String) {
        self.failures.push(Failure {
            index: Some(self.index),
            field: Some(field.to_string()),
            reason,
        });
    }

    /// An optional field read with `reader`; a type error is recorded and read as absent.
    fn optional<T>(
        &mut self,
        field: &str,
        reader: fn(Option<&Value>) -> Result<Option<T>, fields::FieldProblem>,
    ) -> Option<T> {
        match reader(get_ci(self.object, field)) {
            Ok(value) => value,
            Err(problem) => {
                self.fail(field, problem);
                None
            }
        }
    }

    /// A required non-blank string field.
    fn required_text(&mut self, field: &str) -> String {
        match self.optional(field, fields::string) {
            Some(v) if !v.trim().is_empty() => v,
            Some(_) => {
                self.fail(field, "must not be empty".into());
                String::new()
            }
            None if self
                .failures
                .iter()
                .any(|f| f.field.as_deref() == Some(field)) =>
            {
                String::new()
            }
            None => {
                self.fail(field, "is required".into());
                String::new()
            }
        }
    }
}

fn validate_event(index: usize, event: Value, keep: bool) -> Result<AnalyticsEvent, Vec<Failure>> {
    let Value::Object(object) = event else {
        return Err(vec![Failure {
            index: Some(index),
            field: None,
            reason: "each event must be an object".into(),
        }]);
    };
    let mut c = Checker {
        index,
        object: &object,
        failures: Vec::new(),
    };
    let event_id = c.required_text("event_id");
    let event_name = c.required_text("event_name");
    let timestamp_utc = match fields::integer(get_ci(&object, "timestamp_utc")) {
        Ok(Some(t)) if t >= 0 => t,
        Ok(Some(_)) => {
            c.fail(
                "timestamp_utc",
                "must be >= 0 (epoch seconds or milliseconds)".into(),
            );
            0
        }
        Ok(None) => {
            c.fail("timestamp_utc", "is required".into());
            0
        }
        Err(problem) => {
            c.fail("timestamp_utc", problem);
            0
        }
    };
    let mut parsed = AnalyticsEvent {
        event_id,
        event_name,
        timestamp_utc,
        event_category: c.optional("event_category", fields::string),
        session_id: c.optional("session_id", fields::string),
        source: c.optional("source", fields::string),
        user_id: c.optional("user_id", fields::integer),
        name: c.optional("name", fields::string),
        country_code: c.optional("country_code", fields::string),
        mobile_number: c.optional("mobile_number", fields::string),
        screen_name: c.optional("screen_name", fields::string),
        duration_seconds: c.optional("duration_seconds", fields::integer),
        payload: if keep {
            c.optional("payload", fields::object)
        } else {
            c.optional("payload", |value| fields::object_type(value).map(|()| None))
        },
        ip: c.optional("ip", fields::string),
        country: c.optional("country", fields::string),
        state: c.optional("state", fields::string),
        city: c.optional("city", fields::string),
        zip: c.optional("zip", fields::string),
        latitude: c.optional("latitude", fields::number),
        longitude: c.optional("longitude", fields::number),
        raw: Map::new(),
    };
    let failures = c.failures;
    if !failures.is_empty() {
        return Err(failures);
    }
    if keep {
        parsed.raw = object;
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------------------------
// Replies

/// The format of a failure reply, from content negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Json,
    TextJson,
    Xml,
    TextXml,
}

impl Reply {
    fn from_media_type(media: &str) -> Option<Reply> {
        match media {
            "application/json" => Some(Reply::Json),
            "text/json" => Some(Reply::TextJson),
            "application/xml" => Some(Reply::Xml),
            "text/xml" => Some(Reply::TextXml),
            _ => None,
        }
    }

    fn is_xml(self) -> bool {
        matches!(self, Reply::Xml | Reply::TextXml)
    }

    fn content_type(self) -> &'static str {
        match self {
            Reply::Json => "application/json; charset=utf-8",
            Reply::TextJson => "text/json; charset=utf-8",
            Reply::Xml => "application/xml; charset=utf-8",
            Reply::TextXml => "text/xml; charset=utf-8",
        }
    }

    /// ASP.NET-style negotiation: the highest-`q` media type of `Accept` this endpoint writes
    /// (JSON on a tie), else the request's own media type when it is one of those
    /// (`content_type`: without parameters, lowercased), else JSON. Ranges (`*/*`, `text/*`)
    /// express no preference; `q=0` refuses a type.
    pub fn negotiate(headers: &HeaderMap, content_type: Option<&str>) -> Reply {
        let mut best: Option<(f32, Reply)> = None;
        let mut refused = Vec::new();
        for value in headers.get_all(ACCEPT) {
            let Ok(value) = value.to_str() else {
                continue;
            };
            'ranges: for range in value.split(',') {
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
                let mut q = 1.0f32;
                for param in parts {
                    let Some((name, value)) = param.split_once('=') else {
                        continue;
                    };
                    if name.trim().eq_ignore_ascii_case("q") {
                        match value.trim().parse::<f32>() {
                            Ok(v) if (0.0..=1.0).contains(&v) => q = v,
                            _ => continue 'ranges,
                        }
                    }
                }
                let Some(reply) = Reply::from_media_type(&media) else {
                    continue;
                };
                if q <= 0.0 {
                    refused.push(reply);
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((best_q, best_reply)) => {
                        q > best_q || (q >= best_q && best_reply.is_xml() && !reply.is_xml())
                    }
                };
                if better {
                    best = Some((q, reply));
                }
            }
        }
        if let Some((_, reply)) = best {
            return reply;
        }
        match content_type
            .and_then(Reply::from_media_type)
            .filter(|r| !refused.contains(r))
        {
            Some(own) => own,
            None => Reply::Json,
        }
    }
}

/// Validate one request; on success the gateway publishes it and answers 202.
// The signature is the one every family shares with `http.rs`.
#[allow(clippy::result_large_err)]
pub fn accept(
    ctx: &AcceptContext<'_>,
    req: &RequestParts<'_>,
    body: &[u8],
) -> Result<Accepted, HttpResponse> {
    let reply = Reply::negotiate(req.headers, req.content_type.as_deref());
    let Some(format) = Format::from_content_type(req.content_type.as_deref()) else {
        return Err(failures_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &[Failure::request(
                None,
                format!(
                    "unsupported Content-Type {:?}; use application/json, text/json, application/xml, text/xml or application/x-www-form-urlencoded",
                    req.content_type.as_deref().unwrap_or_default()
                ),
            )],
            reply,
        ));
    };
    match check(format, body) {
        Ok(events) => Ok(Accepted {
            source: Source::MobileBatch,
            tenant: ctx.credentials.default_tenant.clone(),
            attributes: HashMap::new(),
            events,
            reply: super::empty_response(StatusCode::ACCEPTED),
        }),
        Err(failures) => Err(failures_response(StatusCode::BAD_REQUEST, &failures, reply)),
    }
}

fn failures_response(status: StatusCode, failures: &[Failure], reply: Reply) -> HttpResponse {
    match reply {
        Reply::Json => json_response(
            status,
            &serde_json::to_value(failures).expect("failures serialize"),
        ),
        Reply::TextJson => bytes_response(
            status,
            reply.content_type(),
            serde_json::to_vec(failures).expect("failures serialize"),
        ),
        Reply::Xml | Reply::TextXml => bytes_response(
            status,
            reply.content_type(),
            failures_xml(failures).into_bytes(),
        ),
    }
}

/// Namespace of the failure list in XML replies (`DataContractSerializer` style).
pub const FAILURE_XML_NAMESPACE: &str = "http://schemas.datacontract.org/2004/07/Tributary.Gateway";

/// XML character data: markup escaped, and characters XML 1.0 cannot carry replaced by U+FFFD.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The failure list as `DataContractSerializer` writes a `List<Failure>`.
fn failures_xml(failures: &[Failure]) -> String {
    let mut out = format!(
        "<ArrayOfFailure xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{FAILURE_XML_NAMESPACE}\">"
    );
    for failure in failures {
        out.push_str("<Failure>");
        match failure.index {
            Some(index) => {
                let _ = write!(out, "<index>{index}</index>");
            }
            None => out.push_str("<index i:nil=\"true\" />"),
        }
        match &failure.field {
            Some(field) => {
                let _ = write!(out, "<field>{}</field>", xml_escape(field));
            }
            None => out.push_str("<field i:nil=\"true\" />"),
        }
        let _ = write!(
            out,
            "<reason>{}</reason></Failure>",
            xml_escape(&failure.reason)
        );
    }
    out.push_str("</ArrayOfFailure>");
    out
}

/// Errors found before parsing, as a failure list like every other error of this family.
/// There is no request to negotiate with here, so the list is always JSON.
pub fn transport_error(error: &TransportError) -> HttpResponse {
    let mut response = failures_response(
        error.status(),
        &[Failure::request(None, error.message())],
        Reply::Json,
    );
    error.decorate(&mut response, "POST");
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The seed's JSON sample, verbatim.
    const SEED_JSON: &str = r#"{
"events": [
{
"event_id": "sample string 1",
"event_name": "sample string 2",
"event_category": "sample string 3",
"timestamp_utc": 4,
"session_id": "sample string 5",
"source": "sample string 6",
"user_id": 7,
"name": "sample string 8",
"country_code": "sample string 9",
"mobile_number": "sample string 10",
"screen_name": "sample string 11",
"duration_seconds": 1,
"payload": {
"sample string 1": {},
"sample string 3": {}
},
"ip": "sample string 12",
"country": "sample string 13",
"state": "sample string 14",
"city": "sample string 15",
"zip": "sample string 16",
"latitude": 1.1,
"longitude": 1.1
},
{
"event_id": "sample string 1",
"event_name": "sample string 2",
"event_category": "sample string 3",
"timestamp_utc": 4,
"session_id": "sample string 5",
"source": "sample string 6",
"user_id": 7,
"name": "sample string 8",
"country_code": "sample string 9",
"mobile_number": "sample string 10",
"screen_name": "sample string 11",
"duration_seconds": 1,
"payload": {
"sample string 1": {},
"sample string 3": {}
},
"ip": "sample string 12",
"country": "sample string 13",
"state": "sample string 14",
"city": "sample string 15",
"zip": "sample string 16",
"latitude": 1.1,
"longitude": 1.1
}
]
}"#;

    /// The seed's XML sample, verbatim.
    const SEED_XML: &str = r#"<AnalyticsEventBatchReq xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Domain.RequestAgg">
<events xmlns:d2p1="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Models">
<d2p1:AnalyticsEventDto>
<d2p1:city>sample string 15</d2p1:city>
<d2p1:country>sample string 13</d2p1:country>
<d2p1:country_code>sample string 9</d2p1:country_code>
<d2p1:duration_seconds>1</d2p1:duration_seconds>
<d2p1:event_category>sample string 3</d2p1:event_category>
<d2p1:event_id>sample string 1</d2p1:event_id>
<d2p1:event_name>sample string 2</d2p1:event_name>
<d2p1:ip>sample string 12</d2p1:ip>
<d2p1:latitude>1.1</d2p1:latitude>
<d2p1:longitude>1.1</d2p1:longitude>
<d2p1:mobile_number>sample string 10</d2p1:mobile_number>
<d2p1:name>sample string 8</d2p1:name>
<d2p1:payload xmlns:d4p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
<d4p1:KeyValueOfstringanyType>
<d4p1:Key>sample string 1</d4p1:Key>
<d4p1:Value />
</d4p1:KeyValueOfstringanyType>
<d4p1:KeyValueOfstringanyType>
<d4p1:Key>sample string 3</d4p1:Key>
<d4p1:Value />
</d4p1:KeyValueOfstringanyType>
</d2p1:payload>
<d2p1:screen_name>sample string 11</d2p1:screen_name>
<d2p1:session_id>sample string 5</d2p1:session_id>
<d2p1:source>sample string 6</d2p1:source>
<d2p1:state>sample string 14</d2p1:state>
<d2p1:timestamp_utc>4</d2p1:timestamp_utc>
<d2p1:user_id>7</d2p1:user_id>
<d2p1:zip>sample string 16</d2p1:zip>
</d2p1:AnalyticsEventDto>
<d2p1:AnalyticsEventDto>
<d2p1:city>sample string 15</d2p1:city>
<d2p1:country>sample string 13</d2p1:country>
<d2p1:country_code>sample string 9</d2p1:country_code>
<d2p1:duration_seconds>1</d2p1:duration_seconds>
<d2p1:event_category>sample string 3</d2p1:event_category>
<d2p1:event_id>sample string 1</d2p1:event_id>
<d2p1:event_name>sample string 2</d2p1:event_name>
<d2p1:ip>sample string 12</d2p1:ip>
<d2p1:latitude>1.1</d2p1:latitude>
<d2p1:longitude>1.1</d2p1:longitude>
<d2p1:mobile_number>sample string 10</d2p1:mobile_number>
<d2p1:name>sample string 8</d2p1:name>
<d2p1:payload xmlns:d4p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
<d4p1:KeyValueOfstringanyType>
<d4p1:Key>sample string 1</d4p1:Key>
<d4p1:Value />
</d4p1:KeyValueOfstringanyType>
<d4p1:KeyValueOfstringanyType>
<d4p1:Key>sample string 3</d4p1:Key>
<d4p1:Value />
</d4p1:KeyValueOfstringanyType>
</d2p1:payload>
<d2p1:screen_name>sample string 11</d2p1:screen_name>
<d2p1:session_id>sample string 5</d2p1:session_id>
<d2p1:source>sample string 6</d2p1:source>
<d2p1:state>sample string 14</d2p1:state>
<d2p1:timestamp_utc>4</d2p1:timestamp_utc>
<d2p1:user_id>7</d2p1:user_id>
<d2p1:zip>sample string 16</d2p1:zip>
</d2p1:AnalyticsEventDto>
</events>
</AnalyticsEventBatchReq>"#;

    #[test]
    fn the_fast_check_takes_the_common_shape_and_never_what_validate_refuses() {
        let one = |event: &str| format!(r#"{{"events":[{event}]}}"#);
        let base = r#""event_id":"e1","event_name":"open","timestamp_utc":1700000000"#;
        // (body, whether the fast path must take it)
        let cases = [
            (SEED_JSON.to_string(), true),
            (one(&format!("{{{base}}}")), true),
            (
                one(&format!(
                    r#"{{{base},"payload":{{"a":[1,{{"b":null}}]}},"latitude":1}}"#
                )),
                true,
            ),
            (one(&format!(r#"{{{base},"user_id":null,"zip":""}}"#)), true),
            (one(&format!(r#"{{{base},"event_id":"e2"}}"#)), false), // duplicate key
            (
                one(r#"{"Event_Id":"e1","event_name":"open","timestamp_utc":1}"#),
                false,
            ),
            (one(&format!(r#"{{{base},"extra":1}}"#)), false), // kept in raw by validate
            (
                one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":"17"}"#),
                false,
            ),
            (
                one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":1.0}"#),
                false,
            ),
            (
                one(r#"{"event_id":"e1","event_name":"open","timestamp_utc":-1}"#),
                false,
            ),
            (
                one(r#"{"event_id":" ","event_name":"open","timestamp_utc":1}"#),
                false,
            ),
            (
                one(r#"{"event_id":7,"event_name":"open","timestamp_utc":1}"#),
                false,
            ),
            (one(r#"{"event_name":"open","timestamp_utc":1}"#), false),
            (
                one(&format!(r#"{{{base},"user_id":18446744073709551615}}"#)),
                false,
            ),
            (one(&format!(r#"{{{base},"payload":[]}}"#)), false),
            (one(&format!(r#"{{{base},"latitude":1e400}}"#)), false),
            (
                one(&format!(r#"{{{base},"payload":{{"n":1e400}}}}"#)),
                false,
            ),
            (
                one(&format!(
                    r#"{{{base},"payload":{{"d":{}{}}}}}"#,
                    "[".repeat(200),
                    "]".repeat(200)
                )),
                false,
            ),
            (r#"{"events":[]}"#.to_string(), false),
            (r#"{"events":[],"more":1}"#.to_string(), false),
            (format!("{} x", one(&format!("{{{base}}}"))), false),
        ];
        for (body, fast) in cases {
            let counted = fast::count(body.as_bytes());
            assert_eq!(counted.is_some(), fast, "{body}");
            if let Some(n) = counted {
                assert_eq!(parse(Format::Json, body.as_bytes()).map(|e| e.len()), Ok(n));
            }
            // Either way the gateway's answer is validate's.
            assert_eq!(
                check(Format::Json, body.as_bytes()),
                parse(Format::Json, body.as_bytes()).map(|e| e.len()),
                "{body}"
            );
        }
    }

    #[test]
    fn the_seed_json_sample_is_accepted_with_every_field() {
        let events = parse(Format::Json, SEED_JSON.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], events[1]);
        let e = &events[0];
        assert_eq!(e.event_id, "sample string 1");
        assert_eq!(e.event_name, "sample string 2");
        assert_eq!(e.event_category.as_deref(), Some("sample string 3"));
        assert_eq!(e.timestamp_utc, 4);
        assert_eq!(e.session_id.as_deref(), Some("sample string 5"));
        assert_eq!(e.source.as_deref(), Some("sample string 6"));
        assert_eq!(e.user_id, Some(7));
        assert_eq!(e.name.as_deref(), Some("sample string 8"));
        assert_eq!(e.country_code.as_deref(), Some("sample string 9"));
        assert_eq!(e.mobile_number.as_deref(), Some("sample string 10"));
        assert_eq!(e.screen_name.as_deref(), Some("sample string 11"));
        assert_eq!(e.duration_seconds, Some(1));
        assert_eq!(e.payload.as_ref().unwrap().len(), 2);
        assert_eq!(e.ip.as_deref(), Some("sample string 12"));
        assert_eq!(e.country.as_deref(), Some("sample string 13"));
        assert_eq!(e.state.as_deref(), Some("sample string 14"));
        assert_eq!(e.city.as_deref(), Some("sample string 15"));
        assert_eq!(e.zip.as_deref(), Some("sample string 16"));
        assert_eq!(e.latitude, Some(1.1));
        assert_eq!(e.longitude, Some(1.1));
        assert_eq!(e.raw.len(), 20);
    }

    /// The typed fields only: `raw` keeps each format's own representation.
    fn typed(events: Vec<AnalyticsEvent>) -> Vec<AnalyticsEvent> {
        events
            .into_iter()
            .map(|e| AnalyticsEvent {
                raw: Map::new(),
                ..e
            })
            .collect()
    }

    #[test]
    fn the_seed_xml_sample_yields_the_same_events_as_the_json_sample() {
        let from_json = typed(parse(Format::Json, SEED_JSON.as_bytes()).unwrap());
        for content_type in ["application/xml", "text/xml"] {
            let format = Format::from_content_type(Some(content_type)).unwrap();
            let events = parse(format, SEED_XML.as_bytes()).unwrap();
            assert_eq!(events.len(), 2, "{content_type}");
            // Every element of the sample is kept, as the JSON sample keeps every property.
            assert_eq!(events[0].raw.len(), 20, "{content_type}");
            assert_eq!(
                events[0].payload,
                Some(Map::from_iter([
                    ("sample string 1".to_string(), json!({})),
                    ("sample string 3".to_string(), json!({})),
                ]))
            );
            assert_eq!(typed(events), from_json, "{content_type}");
            let response = accept(
                &ctx(&credentials()),
                &request(content_type, &HeaderMap::new()),
                SEED_XML.as_bytes(),
            );
            let Ok(accepted) = response else {
                panic!("{content_type}: the sample is refused");
            };
            assert_eq!(accepted.events, 2);
            assert_eq!(accepted.reply.status(), StatusCode::ACCEPTED);
        }
    }

    const I: &str = "http://www.w3.org/2001/XMLSchema-instance";

    /// The index and field of a failure.
    type FailureAt = (Option<usize>, &'static str);
    /// Label, body, index, field, every piece the reason must contain.
    type XmlProblemCase = (
        &'static str,
        Vec<u8>,
        Option<usize>,
        Option<&'static str>,
        Vec<&'static str>,
    );
    /// Label, body, index, field, a piece of the reason.
    type FormProblemCase = (
        &'static str,
        String,
        Option<usize>,
        Option<&'static str>,
        &'static str,
    );

    /// A batch of one event whose `AnalyticsEventDto` holds `inner`, in the seed's layout.
    fn xml_batch(inner: &str) -> String {
        format!(
            r#"<AnalyticsEventBatchReq xmlns:i="{I}" xmlns="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Domain.RequestAgg"><events xmlns:d2p1="http://schemas.datacontract.org/2004/07/LifetronsPhoneApi.Models"><d2p1:AnalyticsEventDto>{inner}</d2p1:AnalyticsEventDto></events></AnalyticsEventBatchReq>"#
        )
    }

    const XML_REQUIRED: &str = "<d2p1:event_id>e1</d2p1:event_id><d2p1:event_name>open</d2p1:event_name><d2p1:timestamp_utc>1580213208</d2p1:timestamp_utc>";

    fn xml_payload(entries: &str) -> String {
        format!(
            r#"{XML_REQUIRED}<d2p1:payload xmlns:d4p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays">{entries}</d2p1:payload>"#
        )
    }

    fn entry(key: &str, value: &str) -> String {
        format!("<d4p1:KeyValueOfstringanyType><d4p1:Key>{key}</d4p1:Key>{value}</d4p1:KeyValueOfstringanyType>")
    }

    fn typed_value(ty: &str, text: &str) -> String {
        format!(
            r#"<d4p1:Value xmlns:d5p1="http://www.w3.org/2001/XMLSchema" i:type="d5p1:{ty}">{text}</d4p1:Value>"#
        )
    }

    #[test]
    fn xml_elements_convert_to_the_json_shape() {
        let payload_types = xml_payload(
            &[
                entry("int", &typed_value("int", "42")),
                entry("long", &typed_value("long", " -9000000000 ")),
                entry(
                    "ulong",
                    &typed_value("unsignedLong", "18446744073709551615"),
                ),
                entry("double", &typed_value("double", "1.5")),
                entry("decimal", &typed_value("decimal", "10.25")),
                entry("yes", &typed_value("boolean", "true")),
                entry("no", &typed_value("boolean", "0")),
                entry("text", &typed_value("string", " a b ")),
                entry("blank", &typed_value("string", "")),
                entry("when", &typed_value("dateTime", "2020-01-28T12:06:48Z")),
                entry("untyped", "<d4p1:Value>plain</d4p1:Value>"),
                entry("object", "<d4p1:Value />"),
                entry("null", r#"<d4p1:Value i:nil="true" />"#),
                entry("missing", ""),
            ]
            .concat(),
        );
        let nested = xml_payload(&entry(
            "outer",
            &format!(
                "<d4p1:Value i:type=\"d4p1:ArrayOfKeyValueOfstringanyType\">{}</d4p1:Value>",
                entry("inner", &typed_value("int", "1"))
            ),
        ));
        let array = xml_payload(&entry(
            "list",
            &format!(
                "<d4p1:Value i:type=\"d4p1:ArrayOfanyType\">{}{}</d4p1:Value>",
                typed_value("int", "1").replace("d4p1:Value", "d4p1:anyType"),
                typed_value("string", "two").replace("d4p1:Value", "d4p1:anyType")
            ),
        ));
        let empty_array = xml_payload(&entry(
            "list",
            "<d4p1:Value i:type=\"d4p1:ArrayOfanyType\" />",
        ));
        // (label, AnalyticsEventDto content, field, value in the JSON shape; None = absent)
        let cases: Vec<(&str, String, &str, Option<Value>)> = vec![
            ("text", "<d2p1:city>Pune</d2p1:city>".into(), "city", Some(json!("Pune"))),
            ("entities", "<d2p1:name>Tom &amp; Jerry &lt;3 &#x41;&#66; &quot;&apos;&gt;</d2p1:name>".into(), "name", Some(json!("Tom & Jerry <3 AB \"'>"))),
            ("cdata", "<d2p1:name><![CDATA[<b>&amp;</b>]]></d2p1:name>".into(), "name", Some(json!("<b>&amp;</b>"))),
            ("text, cdata and comments", "<d2p1:name>a<![CDATA[&]]>b<!-- c -->c</d2p1:name>".into(), "name", Some(json!("a&bc"))),
            ("whitespace kept", "<d2p1:city>  Pune </d2p1:city>".into(), "city", Some(json!("  Pune "))),
            ("whitespace only", "<d2p1:city>  \n </d2p1:city>".into(), "city", Some(json!("  \n "))),
            ("self-closing", "<d2p1:city />".into(), "city", Some(json!(""))),
            ("empty pair", "<d2p1:city></d2p1:city>".into(), "city", Some(json!(""))),
            ("nil", r#"<d2p1:city i:nil="true" />"#.into(), "city", Some(Value::Null)),
            ("nil false", r#"<d2p1:city i:nil="false">x</d2p1:city>"#.into(), "city", Some(json!("x"))),
            ("unknown element", "<d2p1:app_version>1.2</d2p1:app_version>".into(), "app_version", Some(json!("1.2"))),
            ("unknown with children", "<d2p1:device><d2p1:os>ios</d2p1:os><d2p1:os>17</d2p1:os><d2p1:model>x</d2p1:model></d2p1:device>".into(), "device", Some(json!({"os": ["ios", "17"], "model": "x"}))),
            ("no namespaces", "<city>x</city>".into(), "city", Some(json!("x"))),
            ("other prefixes", "<a:city xmlns:a=\"urn:x\">x</a:city>".into(), "city", Some(json!("x"))),
            ("absent", String::new(), "city", None),
            ("empty payload", "<d2p1:payload />".into(), "payload", Some(json!({}))),
            ("nil payload", r#"<d2p1:payload i:nil="true" />"#.into(), "payload", Some(Value::Null)),
            ("text payload", "<d2p1:payload>x</d2p1:payload>".into(), "payload", Some(json!("x"))),
            ("typed payload values", payload_types, "payload", Some(json!({
                "int": 42, "long": -9000000000i64, "ulong": u64::MAX, "double": 1.5, "decimal": 10.25,
                "yes": true, "no": false, "text": " a b ", "blank": "", "when": "2020-01-28T12:06:48Z",
                "untyped": "plain", "object": {}, "null": null, "missing": null
            }))),
            ("nested dictionary", nested, "payload", Some(json!({"outer": {"inner": 1}}))),
            ("array", array, "payload", Some(json!({"list": [1, "two"]}))),
            ("empty array", empty_array, "payload", Some(json!({"list": []}))),
        ];
        for (label, inner, field, want) in cases {
            let inner = if inner.contains("event_id") {
                inner
            } else {
                format!("{XML_REQUIRED}{inner}")
            };
            let doc = xml_document(xml_batch(&inner).as_bytes())
                .unwrap_or_else(|f| panic!("{label}: {f:?}"));
            assert_eq!(doc["events"][0].get(field), want.as_ref(), "{label}");
            assert_eq!(doc["events"][0]["event_id"], json!("e1"), "{label}");
        }
    }

    #[test]
    fn xml_documents_in_other_spellings_are_read_alike() {
        let plain = "<AnalyticsEventBatchReq><events><AnalyticsEventDto><event_id>e1</event_id><event_name>open</event_name><timestamp_utc>1</timestamp_utc></AnalyticsEventDto></events></AnalyticsEventBatchReq>";
        let want =
            json!({"events": [{"event_id": "e1", "event_name": "open", "timestamp_utc": "1"}]});
        let with_bom = [UTF8_BOM, plain.as_bytes()].concat();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("plain", plain.into()),
            (
                "declaration",
                format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{plain}").into_bytes(),
            ),
            ("bom", with_bom),
            (
                "bom and declaration",
                [
                    UTF8_BOM,
                    b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n",
                    plain.as_bytes(),
                ]
                .concat(),
            ),
            (
                "comments and PIs",
                format!("<!-- hi --><?xml-stylesheet href=\"a\"?>{plain}\n<!-- bye -->\n")
                    .into_bytes(),
            ),
            (
                "pretty",
                plain
                    .replace('>', ">\n  ")
                    .replace("\n  e1", "e1")
                    .replace("\n  open", "open")
                    .replace("\n  1<", "1<")
                    .into_bytes(),
            ),
            (
                "case",
                plain
                    .replace("AnalyticsEventBatchReq", "analyticseventbatchreq")
                    .replace("events", "Events")
                    .replace("AnalyticsEventDto", "ANALYTICSEVENTDTO")
                    .into_bytes(),
            ),
            (
                "ignored root children",
                plain
                    .replace("<events>", "<version>2</version><events>")
                    .into_bytes(),
            ),
        ];
        for (label, body) in cases {
            let doc = xml_document(&body).unwrap_or_else(|f| panic!("{label}: {f:?}"));
            let events = doc.get("events").unwrap();
            let key = |k: &str| {
                events[0]
                    .as_object()
                    .unwrap()
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(key("event_id"), Some(json!("e1")), "{label}");
            assert_eq!(events.as_array().unwrap().len(), 1, "{label}");
            if label.contains("plain") || label.contains("bom") || label.contains("declaration") {
                assert_eq!(doc, want, "{label}");
            }
            assert!(parse(Format::Xml, &body).is_ok(), "{label}");
        }
    }

    /// An event with an unknown field nested so that the deepest element is at `depth`.
    fn nested_xml(depth: usize) -> String {
        let levels = depth - 3;
        let inner = format!("{}x{}", "<deep>".repeat(levels), "</deep>".repeat(levels));
        xml_batch(&format!("{XML_REQUIRED}{inner}"))
    }

    #[test]
    fn xml_nesting_is_limited() {
        assert!(parse(Format::Xml, nested_xml(MAX_XML_DEPTH).as_bytes()).is_ok());
        let failures = parse(Format::Xml, nested_xml(MAX_XML_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(
            failures[0].reason.contains("deeper than 32"),
            "{failures:?}"
        );
        let failures = parse(Format::Xml, nested_xml(10_000).as_bytes()).unwrap_err();
        assert!(
            failures[0].reason.contains("deeper than 32"),
            "{failures:?}"
        );
    }

    #[test]
    fn xml_problems_are_failures_that_say_where() {
        let dto = |inner: &str| xml_batch(&format!("{XML_REQUIRED}{inner}")).into_bytes();
        let pl = |entries: &str| xml_batch(&xml_payload(entries)).into_bytes();
        // (label, body, index, field, every piece the reason must contain)
        let cases: Vec<XmlProblemCase> = vec![
            ("mismatched end tag", b"<AnalyticsEventBatchReq>\n  <events>\n  </evnts>".to_vec(), None, None, vec!["not valid XML at line 3, column 3 (byte 38)", "evnts"]),
            ("unclosed", b"<AnalyticsEventBatchReq>\n<events>".to_vec(), None, None, vec!["ends but <events> (opened at line 2, column 1 (byte 25)) is not closed"]),
            ("unclosed tag", b"<AnalyticsEventBatchReq><events".to_vec(), None, None, vec!["not valid XML at line 1, column 25"]),
            ("unknown entity", b"<AnalyticsEventBatchReq>\n<x>a &nbsp;</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["line 2, column 6", "&nbsp;"]),
            ("bare ampersand", b"<AnalyticsEventBatchReq><x>a & b</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["column 30", "&amp;"]),
            ("bad character reference", b"<AnalyticsEventBatchReq><x>&#xZZ;</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["character reference"]),
            ("wrong root", b"<?xml version=\"1.0\"?>\n<Batch><events/></Batch>".to_vec(), None, None, vec!["root element must be <AnalyticsEventBatchReq>, got <Batch> at line 2, column 1"]),
            ("doctype", b"<!DOCTYPE AnalyticsEventBatchReq><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["DOCTYPE", "line 1, column 1"]),
            ("external entity", b"<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<AnalyticsEventBatchReq><events><AnalyticsEventDto><event_id>&xxe;</event_id></AnalyticsEventDto></events></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["DOCTYPE", "line 2"]),
            ("entity expansion", b"<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]><AnalyticsEventBatchReq>&b;</AnalyticsEventBatchReq>".to_vec(), None, None, vec!["DOCTYPE"]),
            ("two roots", b"<AnalyticsEventBatchReq/><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["second root", "byte 25"]),
            ("text before root", b"hello <AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["text outside the root", "byte 0"]),
            ("text after root", b"<AnalyticsEventBatchReq/>\nbye".to_vec(), None, None, vec!["text outside the root", "line 1, column 26"]),
            ("end tag without start", b"</AnalyticsEventBatchReq>".to_vec(), None, None, vec!["not valid XML at line 1, column 1"]),
            ("mixed content", dto("<d2p1:city>a<b/>c</d2p1:city>"), None, None, vec!["<city> mixes text with child elements"]),
            ("nil with content", dto(r#"<d2p1:city i:nil="true">x</d2p1:city>"#), None, None, vec!["<city> has i:nil=\"true\" but also content"]),
            ("bad nil", dto(r#"<d2p1:city i:nil="yes" />"#), None, None, vec!["i:nil must be true or false, got \"yes\""]),
            ("bad attribute", b"<AnalyticsEventBatchReq a=1/>".to_vec(), None, None, vec!["not valid XML at line 1, column 1"]),
            ("duplicate field", dto("<d2p1:event_id>e2</d2p1:event_id>"), Some(0), Some("event_id"), vec!["is given more than once (again at line 1, column"]),
            ("duplicate field, other case", dto("<d2p1:CITY>a</d2p1:CITY><d2p1:city>b</d2p1:city>"), Some(0), Some("city"), vec!["more than once"]),
            ("duplicate events", b"<AnalyticsEventBatchReq><events/><Events/></AnalyticsEventBatchReq>".to_vec(), None, Some("events"), vec!["more than once", "byte 33"]),
            ("not an event", format!("<AnalyticsEventBatchReq><events><AnalyticsEventDto>{XML_REQUIRED}</AnalyticsEventDto><Event/></events></AnalyticsEventBatchReq>").into_bytes(), Some(1), None, vec!["expected <AnalyticsEventDto>, got <Event>"]),
            ("entry without key", pl("<d4p1:KeyValueOfstringanyType><d4p1:Value /></d4p1:KeyValueOfstringanyType>"), Some(0), Some("payload"), vec!["an entry has no <Key>"]),
            ("duplicate payload key", pl(&[entry("k", "<d4p1:Value />"), entry("k", "<d4p1:Value />")].concat()), Some(0), Some("payload"), vec!["key \"k\" is given more than once"]),
            ("two values", pl(&entry("k", "<d4p1:Value /><d4p1:Value />")), Some(0), Some("payload"), vec!["more than one <Value>"]),
            ("stray element in entry", pl(&entry("k", "<d4p1:Other />")), Some(0), Some("payload"), vec!["unexpected <Other>"]),
            ("not an entry", pl("<d4p1:Item>x</d4p1:Item>"), Some(0), Some("payload"), vec!["expected <KeyValueOfstringanyType> entries, got <Item>"]),
            ("bad int", pl(&entry("k", &typed_value("int", "4x"))), Some(0), Some("payload"), vec!["\"4x\" is not a valid xs:int"]),
            ("bad boolean", pl(&entry("k", &typed_value("boolean", "yes"))), Some(0), Some("payload"), vec!["xs:boolean"]),
            ("NaN", pl(&entry("k", &typed_value("double", "NaN"))), Some(0), Some("payload"), vec!["xs:double"]),
            ("utf-16 declared", b"<?xml version=\"1.0\" encoding=\"utf-16\"?><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["encoding=\"utf-16\"", "only UTF-8"]),
            ("utf-16 bytes", b"\xFF\xFE<\0A\0".to_vec(), None, None, vec!["UTF-16"]),
            ("invalid utf-8", b"<AnalyticsEventBatchReq><x>\xC3\x28</x></AnalyticsEventBatchReq>".to_vec(), None, None, vec!["UTF-8", "byte 27"]),
            ("late declaration", b"<!-- x --><?xml version=\"1.0\"?><AnalyticsEventBatchReq/>".to_vec(), None, None, vec!["declaration must come first", "byte 10"]),
            ("no root", b"<?xml version=\"1.0\"?><!-- nothing -->".to_vec(), None, None, vec!["no root element"]),
            ("empty", Vec::new(), None, None, vec!["the request body is empty"]),
            ("blank", b" \r\n\t".to_vec(), None, None, vec!["the request body is empty"]),
            ("bom only", UTF8_BOM.to_vec(), None, None, vec!["the request body is empty"]),
        ];
        for (label, body, index, field, pieces) in cases {
            let failures = parse(Format::Xml, &body).unwrap_err();
            assert_eq!(failures.len(), 1, "{label}: {failures:?}");
            let f = &failures[0];
            assert_eq!(
                (f.index, f.field.as_deref()),
                (index, field),
                "{label}: {f:?}"
            );
            for piece in pieces {
                assert!(
                    f.reason.contains(piece),
                    "{label}: {piece:?} not in {:?}",
                    f.reason
                );
            }
        }
    }

    #[test]
    fn xml_values_follow_the_json_rules() {
        let batch = |events: &str| {
            format!("<AnalyticsEventBatchReq xmlns:i=\"{I}\">{events}</AnalyticsEventBatchReq>")
        };
        let without = |field: &str| {
            XML_REQUIRED
                .split("<d2p1:")
                .filter(|p| {
                    !p.is_empty()
                        && !p.starts_with(field)
                        && !p.starts_with(&format!("/d2p1:{field}"))
                })
                .map(|p| format!("<d2p1:{p}"))
                .collect::<String>()
                .replace("<d2p1:/", "</")
        };
        // (label, body, accepted or the failing (index, field))
        let cases: Vec<(&str, String, Result<(), FailureAt>)> = vec![
            ("numeric strings", xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id> 7 </d2p1:user_id><d2p1:latitude>12.97</d2p1:latitude><d2p1:duration_seconds>3</d2p1:duration_seconds>")), Ok(())),
            ("bad timestamp", xml_batch(&XML_REQUIRED.replace("1580213208", "yesterday")), Err((Some(0), "timestamp_utc"))),
            ("negative timestamp", xml_batch(&XML_REQUIRED.replace("1580213208", "-1")), Err((Some(0), "timestamp_utc"))),
            ("bad user_id", xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id>seven</d2p1:user_id>")), Err((Some(0), "user_id"))),
            ("empty user_id", xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id />")), Err((Some(0), "user_id"))),
            ("nil user_id", xml_batch(&format!(r#"{XML_REQUIRED}<d2p1:user_id i:nil="true" />"#)), Ok(())),
            ("bad latitude", xml_batch(&format!("{XML_REQUIRED}<d2p1:latitude>north</d2p1:latitude>")), Err((Some(0), "latitude"))),
            ("blank event_id", xml_batch(&XML_REQUIRED.replace(">e1<", ">  <")), Err((Some(0), "event_id"))),
            ("missing event_id", xml_batch(&without("event_id")), Err((Some(0), "event_id"))),
            ("nil event_name", xml_batch(&without("event_name").replace("<d2p1:event_id>", r#"<d2p1:event_name i:nil="true"/><d2p1:event_id>"#)), Err((Some(0), "event_name"))),
            ("text payload", xml_batch(&format!("{XML_REQUIRED}<d2p1:payload>x</d2p1:payload>")), Err((Some(0), "payload"))),
            ("nil events", batch(r#"<events i:nil="true"/>"#), Err((None, "events"))),
            ("no events", batch(""), Err((None, "events"))),
            ("empty events", batch("<events></events>"), Err((None, "events"))),
            ("text events", batch("<events>x</events>"), Err((None, "events"))),
        ];
        for (label, body, want) in cases {
            let got = parse(Format::Xml, body.as_bytes());
            match (want, got) {
                (Ok(()), Ok(events)) => assert_eq!(events.len(), 1, "{label}"),
                (Err((index, field)), Err(failures)) => {
                    assert_eq!(
                        (failures[0].index, failures[0].field.as_deref()),
                        (index, Some(field)),
                        "{label}: {failures:?}"
                    )
                }
                (want, got) => panic!("{label}: wanted {want:?}, got {got:?}"),
            }
        }
        let typed = &parse(Format::Xml, xml_batch(&format!("{XML_REQUIRED}<d2p1:user_id> 7 </d2p1:user_id><d2p1:latitude>12.97</d2p1:latitude><d2p1:City>Pune</d2p1:City>")).as_bytes()).unwrap()[0];
        assert_eq!(
            (typed.user_id, typed.latitude, typed.city.as_deref()),
            (Some(7), Some(12.97), Some("Pune"))
        );
        for (body, reason) in [
            (
                format!(r#"<AnalyticsEventBatchReq xmlns:i="{I}" i:nil="true"/>"#),
                "must be an object",
            ),
            (
                batch(r#"<events><AnalyticsEventDto i:nil="true"/></events>"#),
                "each event must be an object",
            ),
            (
                batch("<events><AnalyticsEventDto>x</AnalyticsEventDto></events>"),
                "each event must be an object",
            ),
        ] {
            let failures = parse(Format::Xml, body.as_bytes()).unwrap_err();
            assert!(failures[0].reason.contains(reason), "{body}: {failures:?}");
        }
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let body = "ab\ncdé\nf".as_bytes();
        assert_eq!(position(body, 0), "line 1, column 1 (byte 0)");
        assert_eq!(position(body, 3), "line 2, column 1 (byte 3)");
        assert_eq!(position(body, 7), "line 2, column 4 (byte 7)");
        assert_eq!(position(body, 9), "line 3, column 2 (byte 9)");
        assert_eq!(position(body, 99), "line 3, column 2 (byte 9)");
    }

    const FORM_REQUIRED: &str =
        "events[0].event_id=e1&events[0].event_name=open&events[0].timestamp_utc=1580213208";

    #[test]
    fn form_keys_convert_to_the_json_shape() {
        let event = |extra: Value| {
            let mut e =
                json!({"event_id": "e1", "event_name": "open", "timestamp_utc": "1580213208"});
            e.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"events": [e]})
        };
        let with = |extra: &str| format!("{FORM_REQUIRED}&{extra}");
        // (label, body, the JSON shape)
        let cases: Vec<(&str, String, Value)> = vec![
            ("dots", FORM_REQUIRED.into(), event(json!({}))),
            ("brackets", "events[0][event_id]=e1&events[0][event_name]=open&events[0][timestamp_utc]=1580213208".into(), event(json!({}))),
            ("mixed styles", "events[0].event_id=e1&events[0][event_name]=open&events[0].timestamp_utc=1580213208".into(), event(json!({}))),
            ("payload with dots", with("events[0].payload.screen=home&events[0].payload.tab=2"), event(json!({"payload": {"screen": "home", "tab": "2"}}))),
            ("payload with brackets", with("events[0][payload][screen]=home"), event(json!({"payload": {"screen": "home"}}))),
            ("payload dot then bracket", with("events[0].payload[screen]=home"), event(json!({"payload": {"screen": "home"}}))),
            ("payload bracket then dot", with("events[0][payload].screen=home"), event(json!({"payload": {"screen": "home"}}))),
            ("payload key with dots", with("events[0].payload.a.b=1&events[0][payload][c.d]=2&events[0].payload[e[f]]=3"), event(json!({"payload": {"a.b": "1", "c.d": "2", "e[f]": "3"}}))),
            ("payload empty value", with("events[0].payload.k="), event(json!({"payload": {"k": ""}}))),
            ("encoded", "events%5B0%5D.event_id=e1&events[0].event_name=hello+world%21&events[0].timestamp_utc=1580213208&events[0].city=a%2Bb&events[0].name=%C3%A9t%C3%A9+%26+co&events[0].zip=100%&events[0].state=%zz".into(),
                json!({"events": [{"event_id": "e1", "event_name": "hello world!", "timestamp_utc": "1580213208", "city": "a+b", "name": "été & co", "zip": "100%", "state": "%zz"}]})),
            ("case", "Events[0].Event_Id=e1&EVENTS[0][EVENT_NAME]=open&events[0].timestamp_utc=1580213208".into(),
                json!({"events": [{"Event_Id": "e1", "EVENT_NAME": "open", "timestamp_utc": "1580213208"}]})),
            ("unknown top-level keys", format!("__RequestVerificationToken=abc&eventsCount=1&{FORM_REQUIRED}&x"), event(json!({}))),
            ("unknown field", with("events[0].app_version=1.2"), event(json!({"app_version": "1.2"}))),
            ("empty value is absent", with("events[0].city=&events[0].zip"), event(json!({"city": null, "zip": null}))),
            ("empty pieces", format!("&&{FORM_REQUIRED}&&"), event(json!({}))),
            ("any order", "events[1].event_id=b&events[0].event_id=a&events[1].event_name=n&events[0].event_name=n&events[0].timestamp_utc=1&events[1].timestamp_utc=2".into(),
                json!({"events": [{"event_id": "a", "event_name": "n", "timestamp_utc": "1"}, {"event_id": "b", "event_name": "n", "timestamp_utc": "2"}]})),
            ("no events", "a=1&b=2".into(), json!({})),
        ];
        for (label, body, want) in cases {
            let doc = form_document(body.as_bytes()).unwrap_or_else(|f| panic!("{label}: {f:?}"));
            assert_eq!(doc, want, "{label}");
        }
    }

    #[test]
    fn form_problems_are_failures_that_name_the_key() {
        // (label, body, index, field, piece of the reason)
        let cases: Vec<FormProblemCase> = vec![
            ("gap", format!("{FORM_REQUIRED}&events[2].event_id=x"), None, Some("events"), "events[1] is missing: indices must run from 0 without gaps (the highest given is 2)"),
            ("not from 0", FORM_REQUIRED.replace("[0]", "[1]"), None, Some("events"), "events[0] is missing"),
            ("duplicate", format!("{FORM_REQUIRED}&events[0].event_id=e2"), Some(0), Some("event_id"), "is given more than once (form key \"events[0].event_id\")"),
            ("duplicate across styles", format!("{FORM_REQUIRED}&events[0][event_id]=e2"), Some(0), Some("event_id"), "form key \"events[0][event_id]\""),
            ("duplicate in other case", format!("{FORM_REQUIRED}&events[0].EVENT_ID=e2"), Some(0), Some("event_id"), "more than once"),
            ("duplicate payload key", format!("{FORM_REQUIRED}&events[0].payload.k=1&events[0][payload][k]=2"), Some(0), Some("payload"), "key \"k\" is given more than once (form key \"events[0][payload][k]\")"),
            ("payload as value and keys", format!("{FORM_REQUIRED}&events[0].payload=x&events[0].payload.k=1"), Some(0), Some("payload"), "both as a value and as keys"),
            ("payload keys then value", format!("{FORM_REQUIRED}&events[0].payload.k=1&events[0].payload=x"), Some(0), Some("payload"), "both as a value and as keys"),
            ("no index", "events=1".into(), None, Some("events"), "is not a valid key; use events[N].field"),
            ("no index, dot", "events.event_id=1".into(), None, Some("events.event_id"), "is not a valid key"),
            ("word index", "events[x].event_id=1".into(), None, Some("events[x].event_id"), "an index is a plain number"),
            ("negative index", "events[-1].event_id=1".into(), None, Some("events[-1].event_id"), "an index is a plain number"),
            ("leading zero", "events[01].event_id=1".into(), None, Some("events[01].event_id"), "an index is a plain number"),
            ("too far", "events[1000].event_id=1".into(), None, Some("events[1000].event_id"), "at most 1000 events"),
            ("huge index", "events[99999999999999999999999].event_id=1".into(), None, Some("events[99999999999999999999999].event_id"), "at most 1000 events"),
            ("no field", "events[0]=1".into(), None, Some("events[0]"), "is not a valid key"),
            ("empty field", "events[0].=1".into(), None, Some("events[0]."), "is not a valid key"),
            ("unclosed bracket", "events[0][event_id=1".into(), None, Some("events[0][event_id"), "is not a valid key"),
            ("nested non-payload", "events[0].city.x=1".into(), None, Some("events[0].city.x"), "only payload takes keys"),
            ("payload junk", "events[0][payload]x=1".into(), None, Some("events[0][payload]x"), "is not a valid key"),
            ("empty payload key", "events[0].payload.=1".into(), None, Some("events[0].payload."), "empty payload key"),
            ("bad utf-8 value", format!("{FORM_REQUIRED}&events[0].city=%FF"), None, Some("events[0].city"), "not valid UTF-8"),
            ("bad utf-8 key", format!("{FORM_REQUIRED}&events[0].c%FFty=x"), None, Some("events[0].c%FFty"), "not valid UTF-8"),
            ("empty", String::new(), None, None, "the request body is empty"),
            ("blank", " \r\n".into(), None, None, "the request body is empty"),
            ("only other keys", "a=1".into(), None, Some("events"), "is required"),
            ("empty event_id", FORM_REQUIRED.replace("=e1", "="), Some(0), Some("event_id"), "is required"),
            ("bad timestamp", FORM_REQUIRED.replace("1580213208", "soon"), Some(0), Some("timestamp_utc"), "must be an integer"),
            ("bad user_id", format!("{FORM_REQUIRED}&events[0].user_id=seven"), Some(0), Some("user_id"), "must be an integer"),
            ("payload value", format!("{FORM_REQUIRED}&events[0].payload=x"), Some(0), Some("payload"), "must be an object"),
        ];
        for (label, body, index, field, piece) in cases {
            let failures = parse(Format::Form, body.as_bytes()).unwrap_err();
            assert_eq!(failures.len(), 1, "{label}: {failures:?}");
            let f = &failures[0];
            assert_eq!(
                (f.index, f.field.as_deref()),
                (index, field),
                "{label}: {f:?}"
            );
            assert!(
                f.reason.contains(piece),
                "{label}: {piece:?} not in {:?}",
                f.reason
            );
        }
    }

    #[test]
    fn form_bodies_follow_the_json_rules() {
        let form = "events[0].event_id=sample+string+1&events[0].event_name=sample+string+2&events[0].event_category=sample+string+3\
            &events[0].timestamp_utc=4&events[0].session_id=sample+string+5&events[0].source=sample+string+6&events[0].user_id=7\
            &events[0].name=sample+string+8&events[0].country_code=sample+string+9&events[0].mobile_number=sample+string+10\
            &events[0].screen_name=sample+string+11&events[0].duration_seconds=1&events[0].ip=sample+string+12\
            &events[0].country=sample+string+13&events[0].state=sample+string+14&events[0].city=sample+string+15\
            &events[0].zip=sample+string+16&events[0].latitude=1.1&events[0].longitude=1.1";
        let mut from_json = typed(parse(Format::Json, SEED_JSON.as_bytes()).unwrap());
        from_json.truncate(1);
        from_json[0].payload = None;
        assert_eq!(
            typed(parse(Format::Form, form.as_bytes()).unwrap()),
            from_json
        );

        let many: String = (0..MAX_EVENTS)
            .map(|i| {
                format!(
                    "events[{i}].event_id=e&events[{i}].event_name=n&events[{i}].timestamp_utc=1&"
                )
            })
            .collect();
        assert_eq!(
            parse(Format::Form, many.as_bytes()).unwrap().len(),
            MAX_EVENTS
        );

        // Every problem is listed, up to a limit.
        let failures = parse(
            Format::Form,
            format!("{FORM_REQUIRED}&events[0].event_id=x&events[0].city.x=1").as_bytes(),
        )
        .unwrap_err();
        assert_eq!(failures.len(), 2, "{failures:?}");
        let junk: String = (0..150).map(|i| format!("events[x{i}].a=1&")).collect();
        let failures = parse(Format::Form, junk.as_bytes()).unwrap_err();
        assert_eq!(failures.len(), MAX_FORM_FAILURES + 1);
        assert!(failures[MAX_FORM_FAILURES]
            .reason
            .contains("stops after 100"));
    }

    #[test]
    fn form_keys_parse() {
        assert_eq!(
            form_key("events[3].city"),
            FormKey::Field {
                index: 3,
                field: "city"
            }
        );
        assert_eq!(
            form_key("EVENTS[0][City]"),
            FormKey::Field {
                index: 0,
                field: "City"
            }
        );
        assert_eq!(
            form_key("events[1].Payload[a.b]"),
            FormKey::Payload {
                index: 1,
                field: "Payload",
                entry: "a.b"
            }
        );
        assert_eq!(form_key("eventsx[0].city"), FormKey::Other);
        assert_eq!(form_key("token"), FormKey::Other);
        assert!(matches!(form_key("events[0]"), FormKey::Bad(_)));
        assert_eq!(form_decode(b"a+b%20c%2b%C3%A9%4"), Some("a b c+é%4".into()));
        assert_eq!(form_decode(b"%C3"), None);
    }

    fn credentials() -> crate::credentials::Credentials {
        crate::credentials::Credentials::from_config(&crate::config::TenantsConfig::default())
            .unwrap()
    }

    fn ctx(credentials: &crate::credentials::Credentials) -> AcceptContext<'_> {
        AcceptContext {
            credentials,
            received_at: 0,
            batch_id: "batch",
        }
    }

    fn request<'a>(content_type: &str, headers: &'a HeaderMap) -> RequestParts<'a> {
        RequestParts {
            method: &hyper::Method::POST,
            path: "/api/analytics/events",
            query: None,
            headers,
            content_type: (!content_type.is_empty()).then(|| content_type.to_string()),
        }
    }

    fn accept_header(accept: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT, accept.parse().unwrap());
        }
        headers
    }

    #[test]
    fn failure_replies_are_negotiated() {
        use Reply::*;
        // (Accept, request Content-Type, reply)
        let cases: &[(Option<&str>, Option<&str>, Reply)] = &[
            (None, None, Json),
            (None, Some("application/json"), Json),
            (None, Some("text/json"), TextJson),
            (None, Some("application/x-www-form-urlencoded"), Json),
            (None, Some("application/xml"), Xml),
            (None, Some("text/xml"), TextXml),
            (None, Some("text/plain"), Json),
            (Some("application/xml"), Some("application/json"), Xml),
            (Some("text/xml"), None, TextXml),
            (
                Some("Application/XML; charset=utf-8"),
                Some("application/json"),
                Xml,
            ),
            (Some("application/json"), Some("application/xml"), Json),
            (Some("*/*"), Some("application/xml"), Xml),
            (Some("*/*"), Some("application/json"), Json),
            (Some("text/*, application/*"), Some("text/xml"), TextXml),
            (Some("text/html"), Some("application/xml"), Xml),
            (Some("application/json;q=0.5, application/xml"), None, Xml),
            (
                Some("application/xml;q=0.9, text/json;q=0.8"),
                Some("text/xml"),
                Xml,
            ),
            (
                Some("application/xml, application/json"),
                Some("application/xml"),
                Json,
            ),
            (Some("text/xml, text/json"), None, TextJson),
            (Some("application/xml;q=0"), Some("application/xml"), Json),
            (
                Some("application/xml;q=0, */*"),
                Some("application/xml"),
                Json,
            ),
            (
                Some("application/xml;q=2, application/json;q=0.1"),
                None,
                Json,
            ),
            (
                Some("application/xml;q=abc"),
                Some("application/json"),
                Json,
            ),
            (
                Some("application/json;q=0.1, text/xml;q=0.2"),
                None,
                TextXml,
            ),
        ];
        for (accept, content_type, want) in cases {
            let headers = accept_header(*accept);
            assert_eq!(
                Reply::negotiate(&headers, *content_type),
                *want,
                "{accept:?} {content_type:?}"
            );
        }
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT, "application/json;q=0.5".parse().unwrap());
        headers.append(ACCEPT, "text/xml".parse().unwrap());
        assert_eq!(Reply::negotiate(&headers, None), TextXml);
    }

    fn body_of(response: HttpResponse) -> (StatusCode, String, String) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes =
            futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
                .unwrap()
                .to_bytes();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    fn refused(
        content_type: &str,
        accept_value: Option<&str>,
        body: &[u8],
    ) -> (StatusCode, String, String) {
        let credentials = credentials();
        let headers = accept_header(accept_value);
        match accept(&ctx(&credentials), &request(content_type, &headers), body) {
            Ok(_) => panic!("accepted"),
            Err(response) => body_of(response),
        }
    }

    #[test]
    fn failures_are_rendered_as_xml_when_negotiated() {
        let no_id = br#"{"events": [{"event_name": "open", "timestamp_utc": 1}]}"#;
        let (status, content_type, body) =
            refused("application/json", Some("application/xml"), no_id);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/xml; charset=utf-8");
        assert_eq!(
            body,
            format!("<ArrayOfFailure xmlns:i=\"{I}\" xmlns=\"{FAILURE_XML_NAMESPACE}\"><Failure><index>0</index><field>event_id</field><reason>is required</reason></Failure></ArrayOfFailure>")
        );

        // An XML request without Accept gets XML of its own media type.
        let (status, content_type, body) = refused("text/xml", None, b"<Batch/>");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "text/xml; charset=utf-8");
        assert!(body.contains(r#"<Failure><index i:nil="true" /><field i:nil="true" /><reason>the root element must be &lt;AnalyticsEventBatchReq&gt;, got &lt;Batch&gt; at line 1, column 1 (byte 0)</reason></Failure>"#), "{body}");

        // ... unless it asks for JSON.
        let (_, content_type, body) =
            refused("application/xml", Some("application/json"), b"<Batch/>");
        assert_eq!(content_type, "application/json; charset=utf-8");
        let failures: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(failures[0]["index"], Value::Null);

        // A form request gets JSON, a text/json one text/json.
        let (_, content_type, _) = refused("application/x-www-form-urlencoded", None, b"a=1");
        assert_eq!(content_type, "application/json; charset=utf-8");
        let (_, content_type, body) = refused("text/json", None, b"{}");
        assert_eq!(content_type, "text/json; charset=utf-8");
        assert!(body.contains("\"field\":\"events\""), "{body}");

        // An unsupported Content-Type is answered in the negotiated format too.
        let (status, content_type, body) = refused("text/plain", Some("text/xml"), b"x");
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(content_type, "text/xml; charset=utf-8");
        assert!(
            body.contains("unsupported Content-Type &quot;text/plain&quot;"),
            "{body}"
        );

        // Success is 202 without a body, whatever Accept says.
        let credentials = credentials();
        let headers = accept_header(Some("application/xml"));
        let Ok(accepted) = accept(
            &ctx(&credentials),
            &request("application/x-www-form-urlencoded", &headers),
            FORM_REQUIRED.as_bytes(),
        ) else {
            panic!("refused");
        };
        let (status, _, body) = body_of(accepted.reply);
        assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, ""));

        // Transport errors stay JSON.
        let (status, content_type, _) = body_of(transport_error(&TransportError::Timeout));
        assert_eq!(
            (status, content_type.as_str()),
            (
                StatusCode::REQUEST_TIMEOUT,
                "application/json; charset=utf-8"
            )
        );
    }

    #[test]
    fn xml_failure_lists_escape_and_parse_back() {
        let failures = vec![
            Failure::event(3, Some("a<b>&\"c'"), "bad\r\n\tvalue \u{0} \u{FFFF} é"),
            Failure::request(None, "x"),
        ];
        let xml = failures_xml(&failures);
        assert!(xml.contains("<field>a&lt;b&gt;&amp;&quot;c&apos;</field><reason>bad&#xD;\n\tvalue \u{FFFD} \u{FFFD} é</reason>"), "{xml}");
        let root = xml_tree(xml.as_bytes()).unwrap().unwrap();
        assert!(root.is("ArrayOfFailure"));
        assert_eq!(root.children.len(), 2);
        let first = &root.children[0];
        let texts: Vec<_> = first
            .children
            .iter()
            .map(|c| (c.name.as_str(), c.nil, c.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec![
                ("index", false, "3"),
                ("field", false, "a<b>&\"c'"),
                ("reason", false, "bad\r\n\tvalue \u{FFFD} \u{FFFD} é")
            ]
        );
        let second: Vec<_> = root.children[1]
            .children
            .iter()
            .map(|c| (c.name.as_str(), c.nil))
            .collect();
        assert_eq!(
            second,
            vec![("index", true), ("field", true), ("reason", false)]
        );
    }

    fn one(event: Value) -> Result<Vec<AnalyticsEvent>, Vec<Failure>> {
        validate(serde_json::json!({ "events": [event] }))
    }

    fn valid() -> Value {
        serde_json::json!({"event_id": "e1", "event_name": "open", "timestamp_utc": 1580213208})
    }

    #[test]
    fn field_rules_valid_and_invalid() {
        // (field, value, accepted)
        let cases: Vec<(&str, Value, bool)> = vec![
            ("event_id", Value::Null, false),
            ("event_id", "".into(), false),
            ("event_id", 12.into(), true),
            ("event_id", serde_json::json!({}), false),
            ("event_name", "  ".into(), false),
            ("event_name", serde_json::json!([]), false),
            ("timestamp_utc", Value::Null, false),
            ("timestamp_utc", "1580213208".into(), true),
            ("timestamp_utc", 1580213208123i64.into(), true),
            ("timestamp_utc", (-1).into(), false),
            ("timestamp_utc", "yesterday".into(), false),
            ("timestamp_utc", 1.5.into(), false),
            ("user_id", 7.into(), true),
            ("user_id", "7".into(), true),
            ("user_id", "seven".into(), false),
            ("duration_seconds", "1".into(), true),
            ("duration_seconds", 1.25.into(), false),
            ("latitude", 12.97.into(), true),
            ("latitude", "12.97".into(), true),
            ("latitude", "north".into(), false),
            ("longitude", true.into(), false),
            ("payload", serde_json::json!({"a": [1, {"b": null}]}), true),
            ("payload", serde_json::json!([1]), false),
            ("payload", "x".into(), false),
            ("city", serde_json::json!({"name": "x"}), false),
            ("mobile_number", 919876543210i64.into(), true),
        ];
        for (field, value, accepted) in cases {
            let mut event = valid();
            if value.is_null() {
                event.as_object_mut().unwrap().remove(field);
            } else {
                event[field] = value.clone();
            }
            let result = one(event);
            assert_eq!(result.is_ok(), accepted, "{field} = {value}: {result:?}");
            if let Err(failures) = result {
                assert_eq!(failures[0].index, Some(0));
                assert_eq!(failures[0].field.as_deref(), Some(field));
            }
        }
    }

    #[test]
    fn request_level_problems_are_reported_without_an_index() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"{\"events\": [", "line 1 column 12"),
            (b"[]", "object"),
            (b"{}", "required"),
            (b"{\"events\": {}}", "list"),
            (b"{\"events\": []}", "at least one"),
            (b"{\"events\": [1]}", "must be an object"),
        ];
        for (body, want) in cases {
            let failures = parse(Format::Json, body).unwrap_err();
            assert!(
                failures[0].reason.contains(want),
                "{:?}: {failures:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn every_failure_of_every_event_is_listed_and_nothing_is_half_accepted() {
        let doc = serde_json::json!({"events": [valid(), {"event_name": "x"}, valid(), {"event_id": "e", "event_name": "n", "timestamp_utc": "t"}]});
        let failures = validate(doc).unwrap_err();
        let got: Vec<_> = failures
            .iter()
            .map(|f| (f.index.unwrap(), f.field.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "event_id".to_string()),
                (1, "timestamp_utc".to_string()),
                (3, "timestamp_utc".to_string())
            ]
        );
    }

    #[test]
    fn batch_size_limit() {
        let many = serde_json::json!({ "events": vec![valid(); MAX_EVENTS] });
        assert_eq!(validate(many).unwrap().len(), MAX_EVENTS);
        let too_many = serde_json::json!({ "events": vec![valid(); MAX_EVENTS + 1] });
        assert!(validate(too_many).is_err());
    }

    #[test]
    fn property_names_match_case_insensitively() {
        let doc = serde_json::json!({"Events": [{"Event_Id": "a", "EVENT_NAME": "b", "timestamp_UTC": 1}]});
        let events = validate(doc).unwrap();
        assert_eq!(events[0].event_id, "a");
        assert_eq!(events[0].event_name, "b");
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type(Some("text/json")),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type(None), Some(Format::Json));
        assert_eq!(
            Format::from_content_type(Some("text/xml")),
            Some(Format::Xml)
        );
        assert_eq!(
            Format::from_content_type(Some("application/x-www-form-urlencoded")),
            Some(Format::Form)
        );
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
    }
}
