//! Per-event normalization: the rules every source shares, applied to a family's draft: event time with skew
//! correction and clamping, identities (device ids, e-mail, E.164 phone, user_key), geo
//! (ISO country, lat/long checks, GeoIP fill-in), and per-tenant PII hashing.

use std::borrow::Cow;

use serde_json::{Map, Value};
use tributary_schemas::NormalizedEvent;

use crate::sources::json_text;
use crate::tenants::{NormalizeContext, PiiKind, TenantRules};
use crate::{geo, identity, time};

/// One event that parsed but cannot be normalized (e.g. a currency ISO 4217 does not know).
#[derive(Debug, Clone, PartialEq)]
pub struct EventFailure {
    /// Low-cardinality reason code (`invalid_currency`, ...), the DLQ record's `reason`.
    pub reason: Cow<'static, str>,
    pub detail: String,
    pub event_uid: String,
    /// The event's source fields as sent (hashed where the gateway hashed them).
    pub raw: Map<String, Value>,
    /// Which of `raw`'s fields hold PII.
    pub pii: Cow<'static, [Pii]>,
}

impl EventFailure {
    /// Hash `raw`'s PII fields by `rules`, as a normalized event's `raw` is hashed.
    pub fn hash_raw(&mut self, rules: &TenantRules) {
        hash_source_fields(&mut self.raw, &self.pii, rules);
    }
}

/// What one event became.
pub type Outcome = Result<NormalizedEvent, EventFailure>;

/// A source field holding PII, so hashing can scrub it from `raw` as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pii {
    pub kind: PiiKind,
    pub key: &'static str,
}

/// Where a draft's country to read a national phone number with comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PhoneHint {
    /// None: the number must carry its country code.
    #[default]
    None,
    /// The event's `country_raw` (the one country field a mobile event sent), so the text is
    /// not copied for every event.
    CountryRaw,
    /// Text of its own.
    Text(String),
}

/// A family's mapping of one event, before the shared rules run.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Canonical fields as the source gave them (`raw` is filled from `source_fields`).
    pub event: NormalizedEvent,
    /// The event's source fields exactly as sent.
    pub source_fields: SourceFields,
    /// When the client says the event happened, epoch ms.
    pub client_time_ms: Option<i64>,
    /// The client sent a time that could not be read.
    pub time_unparsed: bool,
    /// Country (alpha-2, name or calling code) to read a national phone number with.
    pub phone_hint: PhoneHint,
    /// `event.country_raw` is a calling code that names no one country (`+1`): kept as sent,
    /// never read as a country name or ISO 3166-1 numeric code.
    pub country_raw_is_calling_code: bool,
    /// Which source fields hold PII: a family's fixed list, borrowed.
    pub pii: Cow<'static, [Pii]>,
}

impl Draft {
    pub fn failure(&self, reason: &'static str, detail: String) -> EventFailure {
        EventFailure {
            reason: Cow::Borrowed(reason),
            detail,
            event_uid: self.event.event_uid.clone(),
            raw: self.source_fields.to_map(),
            pii: self.pii.clone(),
        }
    }
}

/// An event's source fields exactly as sent: the object, or its compact JSON text (what
/// serializing the object writes) when the family read it without building the object.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceFields {
    Map(Map<String, Value>),
    Text(String),
}

impl Default for SourceFields {
    fn default() -> Self {
        SourceFields::Map(Map::new())
    }
}

impl From<Map<String, Value>> for SourceFields {
    fn from(map: Map<String, Value>) -> Self {
        SourceFields::Map(map)
    }
}

impl SourceFields {
    /// The fields as an object (the text parsed back; it was compact JSON of one).
    pub fn to_map(&self) -> Map<String, Value> {
        match self {
            SourceFields::Map(map) => map.clone(),
            SourceFields::Text(text) => parse_object(text),
        }
    }

    /// The fields as an object to change, parsing the text first where needed.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        if let SourceFields::Text(text) = self {
            *self = SourceFields::Map(parse_object(text));
        }
        match self {
            SourceFields::Map(map) => map,
            SourceFields::Text(_) => unreachable!("replaced by its object above"),
        }
    }

    /// Compact JSON text of the fields (the `raw` column).
    pub fn into_text(self) -> String {
        match self {
            SourceFields::Map(map) => json_text(&map),
            SourceFields::Text(text) => text,
        }
    }
}

/// The object a family's compact JSON text of source fields holds. The text was cut from a
/// body that parsed, and is checked to be what serializing its object writes
/// (`tributary_wire::mobile_batch::fast::parse`), so it always parses back to that object.
fn parse_object(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Apply the shared rules and produce the canonical event.
pub fn normalize(mut draft: Draft, ctx: &NormalizeContext, rules: &TenantRules) -> Outcome {
    apply_time(&mut draft);
    apply_devices(&mut draft.event);
    apply_contacts(&mut draft);
    apply_geo(&mut draft.event, draft.country_raw_is_calling_code, ctx);
    apply_hashing(&mut draft, rules);
    let e = &draft.event;
    let key = identity::pick_user_key(
        &identity::IdentityCandidates {
            user_id: e.user_id.as_deref(),
            identity: e.identity.as_deref(),
            instance_id: e.instance_id.as_deref(),
            idfa: e.idfa.as_deref(),
            gaid: e.gaid.as_deref(),
            ios_vendor_id: e.ios_vendor_id.as_deref(),
            android_id: e.android_id.as_deref(),
            lvid: e.lvid.as_deref(),
            annonid: e.anonymous_id.as_deref(),
            session_id: e.session_id.as_deref(),
        },
        &e.event_uid,
    );
    draft.event.user_key = key.key;
    draft.event.user_key_kind = key.kind.to_string();
    draft.event.raw = draft.source_fields.into_text();
    if draft.event.properties.is_empty() {
        draft.event.properties.push_str("{}");
    }
    Ok(draft.event)
}

fn apply_time(draft: &mut Draft) {
    let e = &mut draft.event;
    let derived = time::derive_event_time(draft.client_time_ms, e.sent_at, e.received_at);
    e.event_time = derived.event_time;
    e.time_flags = derived.flags.iter().map(|f| f.to_string()).collect();
    if draft.time_unparsed {
        e.time_flags.push("unparsed_time".into());
    }
}

fn apply_devices(e: &mut NormalizedEvent) {
    use identity::DeviceIdKind as K;
    let fields: [(K, &mut Option<String>); 6] = [
        (K::InstanceId, &mut e.instance_id),
        (K::Idfa, &mut e.idfa),
        (K::IosVendorId, &mut e.ios_vendor_id),
        (K::Gaid, &mut e.gaid),
        (K::AndroidId, &mut e.android_id),
        (K::Lvid, &mut e.lvid),
    ];
    // Invalid and all-zero ids (tracking disabled) are not identities; `raw` keeps them.
    for (kind, field) in fields {
        *field = field
            .take()
            .and_then(|raw| identity::normalize_device_id(kind, &raw).ok());
    }
}

fn apply_contacts(draft: &mut Draft) {
    let e = &mut draft.event;
    e.email = e.email.take().and_then(|m| identity::normalize_email(&m));
    if e.email.is_none() {
        // Netcore's identity is often the contact's e-mail.
        e.email = e
            .identity
            .as_deref()
            .filter(|i| i.contains('@'))
            .and_then(identity::normalize_email);
    }
    if let Some(raw) = e.phone_raw.take() {
        let hint = match &draft.phone_hint {
            PhoneHint::None => None,
            PhoneHint::CountryRaw => e.country_raw.as_deref(),
            PhoneHint::Text(text) => Some(text.as_str()),
        };
        match identity::normalize_phone(&raw, hint) {
            Ok(e164) => e.phone = Some(e164),
            Err(_) => e.phone_raw = Some(raw),
        }
    }
    e.name = e.name.take().and_then(geo::tidy);
}

fn apply_geo(e: &mut NormalizedEvent, country_raw_is_calling_code: bool, ctx: &NormalizeContext) {
    if let Some(mut raw) = e.country_raw.take() {
        let alpha2 = if country_raw_is_calling_code {
            None
        } else {
            geo::country_to_alpha2(&raw)
        };
        match alpha2 {
            Some(code) => {
                // The sent text's buffer holds the code: no allocation per event.
                raw.clear();
                raw.push_str(code);
                e.country = Some(raw);
            }
            None => e.country_raw = geo::tidy(raw),
        }
    }
    let (lat, lon, problem) = geo::check_lat_long(e.latitude, e.longitude);
    if let Some(problem) = problem {
        crate::metrics::field_dropped("lat_long", problem.code());
    }
    e.latitude = lat;
    e.longitude = lon;
    e.geo_source = lat.map(|_| "client".to_string());
    e.region = e.region.take().and_then(geo::tidy);
    e.city = e.city.take().and_then(geo::tidy);
    e.zip = e.zip.take().and_then(geo::tidy);
    let ip = e.ip.as_deref().and_then(geo::parse_ip);
    e.ip = match (ip, e.ip.take()) {
        (Some(ip), Some(sent)) => Some(geo::ip_text(ip, sent)),
        _ => None,
    };
    // The database fills only what the client did not send.
    let (Some(db), Some(ip)) = (&ctx.geoip, ip) else {
        return;
    };
    let Some(found) = db.lookup(ip) else {
        return;
    };
    let mut used = false;
    let mut fill = |field: &mut Option<String>, value: Option<String>| {
        if field.is_none() && value.is_some() {
            *field = value;
            used = true;
        }
    };
    if e.country_raw.is_none() {
        fill(&mut e.country, found.country);
    }
    fill(&mut e.region, found.region);
    fill(&mut e.city, found.city);
    if e.zip.is_none() {
        fill(&mut e.zip, found.postal_code);
    }
    if e.latitude.is_none() {
        if let (Some(lat), Some(lon)) = (found.latitude, found.longitude) {
            e.latitude = Some(lat);
            e.longitude = Some(lon);
            e.geo_source = Some("ip".into());
            used = true;
        }
    }
    if used && e.geo_source.is_none() {
        e.geo_source = Some("ip".into());
    }
}

fn apply_hashing(draft: &mut Draft, rules: &TenantRules) {
    if rules.hash.is_empty() {
        return;
    }
    let salt = rules.salt.as_str();
    let e = &mut draft.event;
    let mut hashed = Vec::new();
    let mut hash = |kind: PiiKind, field: &mut Option<String>| {
        if rules.hash.contains(&kind) {
            if let Some(value) = field.take() {
                *field = Some(identity::hash_pii(salt, &value));
                if !hashed.contains(&kind.as_str()) {
                    hashed.push(kind.as_str());
                }
            }
        }
    };
    hash(PiiKind::Email, &mut e.email);
    hash(PiiKind::Phone, &mut e.phone);
    hash(PiiKind::Phone, &mut e.phone_raw);
    hash(PiiKind::Ip, &mut e.ip);
    // The sender's address is the user's own for the mobile batch: hashed alike.
    hash(PiiKind::Ip, &mut e.sender_ip);
    hash(PiiKind::Name, &mut e.name);
    // An identity that is an e-mail or phone number is that PII too.
    let identity_kind = match e.identity.as_deref() {
        Some(i) if i.contains('@') => Some(PiiKind::Email),
        Some(i)
            if i.trim_start_matches('+')
                .bytes()
                .all(|b| b.is_ascii_digit())
                && i.len() >= 7 =>
        {
            Some(PiiKind::Phone)
        }
        _ => None,
    };
    if let Some(kind) = identity_kind {
        hash(kind, &mut e.identity);
    }
    hash_source_fields(draft.source_fields.as_map_mut(), &draft.pii, rules);
    e.hashed_fields = hashed.into_iter().map(str::to_string).collect();
}

/// Replace each PII field of `fields` that `rules` hash with its salted hash (of the text as
/// sent: `raw` keeps what the client sent, so its value is not normalized first).
fn hash_source_fields(fields: &mut Map<String, Value>, pii: &[Pii], rules: &TenantRules) {
    for pii in pii {
        if rules.hash.contains(&pii.kind) {
            if let Some(value) = fields.get_mut(pii.key) {
                if !value.is_null() {
                    let text = match &*value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    *value = Value::String(identity::hash_pii(&rules.salt, &text));
                }
            }
        }
    }
}
