//! Document 000's DataContract XML bodies, converted to the JSON shape of the same request
//! (see the parent module's "DataContract XML" section for every rule).

use std::collections::HashSet;

use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Number, Value};

use super::{json::empty_body, Failure, MAX_XML_DEPTH};
use crate::UTF8_BOM;
const XML_ROOT: &str = "AnalyticsEventBatchReq";
const XML_EVENT: &str = "AnalyticsEventDto";

/// Where `offset` is in `body`, for messages: `line 3, column 7 (byte 52)`. Lines and
/// columns count from 1; columns count characters.
pub(super) fn position(body: &[u8], offset: usize) -> String {
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
pub(super) fn document(body: &[u8]) -> Result<Value, Vec<Failure>> {
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
                // The digits as sent, however many (`xs:integer` is unbounded).
                let t = text.trim();
                let t = t.strip_prefix('+').unwrap_or(t);
                match t.parse::<Number>() {
                    Ok(n) if crate::fields::is_integer_text(t) => Ok(Value::Number(n)),
                    _ => Err(invalid()),
                }
            }
            Some("double" | "float" | "decimal") => {
                let t = text.trim();
                match t.parse::<f64>() {
                    // Kept as written when it is JSON's grammar too (`1.99` stays `1.99`).
                    Ok(f) if f.is_finite() => Ok(Value::Number(
                        t.parse::<Number>()
                            .ok()
                            .or_else(|| Number::from_f64(f))
                            .ok_or_else(invalid)?,
                    )),
                    _ => Err(invalid()),
                }
            }
            Some("boolean") => match text.trim() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(invalid()),
            },
            _ => Ok(Value::String(text.to_string())),
        }
    }
}
