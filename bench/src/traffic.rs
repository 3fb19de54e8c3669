//! Realistic requests of the four API families, each event with an id no other request of any
//! run carries (a random run prefix and a counter). Values come from small pools (countries
//! with matching phone numbers, cities and coordinates; event names; products; CRM customers,
//! users and leads with realistic cardinalities) so that normalization does its real work.

use std::fmt::Write as _;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// An API family of `shared/seeds/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Mobile,
    Crm,
    S2s,
    Activity,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Mobile, Family::Crm, Family::S2s, Family::Activity];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Mobile => "mobile",
            Family::Crm => "crm",
            Family::S2s => "s2s",
            Family::Activity => "activity",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mobile" | "mobile_batch" | "000" => Ok(Family::Mobile),
            "crm" | "001" => Ok(Family::Crm),
            "s2s" | "002" => Ok(Family::S2s),
            "activity" | "003" => Ok(Family::Activity),
            other => Err(format!(
                "unknown family {other:?}: use mobile, crm, s2s or activity"
            )),
        }
    }
}

/// `mobile=70,crm=10,s2s=10,activity=10`: relative weights of *requests* per family.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Family, u32)>);

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let weight: u32 = weight
                .parse()
                .map_err(|_| format!("bad weight in {part:?}"))?;
            if weight > 0 {
                out.push((name.parse()?, weight));
            }
        }
        if out.is_empty() {
            return Err("the mix names no family".into());
        }
        Ok(Mix(out))
    }
}

/// One HTTP request ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub family: Family,
    pub path: String,
    pub content_type: &'static str,
    pub authorization: Option<&'static str>,
    pub body: Vec<u8>,
    pub events: usize,
}

/// The credentials of `config/tributary.toml` (the documents' own examples).
pub const S2S_TOKEN: &str = "skjdfASFasf03asdffar3asJHB32r";
pub const S2S_APP: u32 = 666;
pub const ACTIVITY_AUTH: &str = "Bearer demo-netcore-key";
/// `event_name` of the events whose arrival in ClickHouse `load` watches for.
pub const MARKER_EVENT: &str = "bench_marker";

#[derive(Debug, Clone)]
pub struct TrafficConfig {
    pub mix: Mix,
    /// Events per request for mobile and activity; S2S batches take at most 20, CRM one.
    pub batch_size: usize,
    /// Approximate JSON bytes per event; 0 keeps each family's natural size.
    pub event_bytes: usize,
    /// `Authorization` of activity uploads: the key names the tenant (default
    /// [`ACTIVITY_AUTH`]), so two loads can act as two tenants (bench phase g).
    pub activity_auth: &'static str,
}

pub struct Traffic {
    config: TrafficConfig,
    run: String,
    next_id: AtomicU64,
    /// Random text for padding (so padding compresses like real text, not like zeros).
    filler: String,
    total_weight: u32,
}

struct Country {
    code: &'static str,
    names: &'static [&'static str],
    state: &'static str,
    city: &'static str,
    zip: &'static str,
    lat: f64,
    lon: f64,
    /// Phone number prefix and how many random digits follow.
    phone: (&'static str, usize),
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "IN",
        names: &["India", "india", "IN"],
        state: "Karnataka",
        city: "Bengaluru",
        zip: "560001",
        lat: 12.9716,
        lon: 77.5946,
        phone: ("+91 98", 8),
    },
    Country {
        code: "US",
        names: &["United States", "USA", "US"],
        state: "California",
        city: "San Francisco",
        zip: "94103",
        lat: 37.7749,
        lon: -122.4194,
        phone: ("(415) 2", 6),
    },
    Country {
        code: "DE",
        names: &["Germany", "Deutschland", "DE"],
        state: "Berlin",
        city: "Berlin",
        zip: "10115",
        lat: 52.52,
        lon: 13.405,
        phone: ("+49 151 ", 8),
    },
    Country {
        code: "GB",
        names: &["United Kingdom", "UK", "GB"],
        state: "England",
        city: "London",
        zip: "SW1A 1AA",
        lat: 51.5072,
        lon: -0.1276,
        phone: ("07700 9", 5),
    },
    Country {
        code: "BR",
        names: &["Brazil", "Brasil", "BR"],
        state: "Sao Paulo",
        city: "São Paulo",
        zip: "01000-000",
        lat: -23.5505,
        lon: -46.6333,
        phone: ("+55 11 9", 8),
    },
    Country {
        code: "JP",
        names: &["Japan", "JP", "japan"],
        state: "Tokyo",
        city: "Tokyo",
        zip: "100-0001",
        lat: 35.6762,
        lon: 139.6503,
        phone: ("+81 90 ", 8),
    },
];

const MOBILE_EVENTS: &[(&str, &str)] = &[
    ("screen_view", "navigation"),
    ("button_click", "engagement"),
    ("add_to_cart", "commerce"),
    ("purchase", "commerce"),
    ("login", "account"),
    ("search", "engagement"),
    ("video_play", "media"),
    ("push_open", "messaging"),
];
const SCREENS: &[&str] = &[
    "home", "catalog", "product", "cart", "checkout", "profile", "search",
];
const PLATFORMS: &[&str] = &["android", "ios", "web"];
const FIRST: &[&str] = &[
    "Asha", "John", "Maria", "Kenji", "Lena", "Omar", "Priya", "Lucas",
];
const LAST: &[&str] = &[
    "Rao", "Smith", "Silva", "Tanaka", "Muller", "Haddad", "Nair", "Costa",
];
const PRODUCTS: &[(&str, &str, f64)] = &[
    (
        "Skin",
        "L'Oreal Paris Revitalift Crystal Micro-Essence",
        250.1,
    ),
    ("Makeup", "Maybelline Instant Age Rewind Concealer", 496.8),
    ("Hair", "Dove Intense Repair Shampoo 650ml", 399.0),
    (
        "Fragrance",
        "Davidoff Cool Water Eau de Toilette 125ml",
        2899.0,
    ),
    ("Bath", "Nivea Creme Soft Shower Gel 250ml", 189.5),
];
const ACTIVITIES: &[&str] = &[
    "Purchase",
    "Add To Cart",
    "Checkout",
    "Page Browse",
    "Wishlist",
];
const CRM_EVENTS: &[&str] = &["view", "click", "call", "email_open", "note"];
const S2S_EVENTS: &[&str] = &[
    "levelUp",
    "tutorialComplete",
    "messageReceived",
    "achievement",
];
const CURRENCIES: &[&str] = &["USD", "EUR", "INR", "GBP", "JPY"];

/// Cardinalities of the CRM ids: the search benchmark's synthetic rows use the same shapes.
pub const CRM_CUSTOMERS: u64 = 200;
pub const CRM_USERS: u64 = 1000;
pub const CRM_ENTITIES: u64 = 50_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2024-06-01T10:11:12` of an epoch second (UTC), without a zone.
fn iso_seconds(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn digits(rng: &mut fastrand::Rng, out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(char::from(b'0' + rng.u8(0..10)));
    }
}

fn hex(rng: &mut fastrand::Rng, out: &mut String, n: usize) {
    const HEX: &[u8] = b"0123456789abcdef";
    for _ in 0..n {
        out.push(char::from(HEX[rng.usize(0..16)]));
    }
}

fn uuid_text(rng: &mut fastrand::Rng) -> String {
    let mut s = String::with_capacity(36);
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        hex(rng, &mut s, n);
    }
    s
}

fn ip(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..10) {
        0 => format!("2001:db8::{:x}:{:x}", rng.u16(..), rng.u16(..)),
        1..=4 => format!("203.0.113.{}", rng.u8(1..255)),
        5..=7 => format!("198.51.100.{}", rng.u8(1..255)),
        _ => format!("192.0.2.{}", rng.u8(1..255)),
    }
}

impl Traffic {
    pub fn new(config: TrafficConfig) -> Traffic {
        let mut rng = fastrand::Rng::new();
        let run: String = (0..8)
            .map(|_| char::from(b"0123456789abcdef"[rng.usize(0..16)]))
            .collect();
        let filler: String = (0..65_536)
            .map(|i| if i % 7 == 6 { ' ' } else { rng.alphanumeric() })
            .collect();
        let total_weight = config.mix.0.iter().map(|(_, w)| w).sum();
        Traffic {
            config,
            run,
            next_id: AtomicU64::new(0),
            filler,
            total_weight,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The family of request slot `n`: a deterministic, well-spread pick by weight.
    pub fn family_of(&self, n: u64) -> Family {
        let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % self.total_weight as u64;
        let mut acc = 0u64;
        for (family, weight) in &self.config.mix.0 {
            acc += *weight as u64;
            if h < acc {
                return *family;
            }
        }
        self.config.mix.0[0].0
    }

    pub fn events_per_request(&self, family: Family) -> usize {
        let n = self.config.batch_size.max(1);
        match family {
            Family::Mobile => n.min(1000),
            Family::Activity => n.min(1000),
            Family::S2s => n.min(20),
            Family::Crm => 1,
        }
    }

    /// Mean events per request of the mix (S2S may send fewer when 10 KB would overflow).
    pub fn mean_events_per_request(&self) -> f64 {
        let total: f64 = self
            .config
            .mix
            .0
            .iter()
            .map(|(f, w)| *w as f64 * self.events_per_request(*f) as f64)
            .sum();
        total / self.total_weight as f64
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    fn pad(&self, rng: &mut fastrand::Rng, len: usize) -> &str {
        let len = len.min(self.filler.len() - 1);
        let start = rng.usize(0..self.filler.len() - len);
        &self.filler[start..start + len]
    }

    /// Bytes still missing to reach `event_bytes` for an event of `written` bytes.
    fn missing(&self, written: usize, overhead: usize) -> usize {
        self.config.event_bytes.saturating_sub(written + overhead)
    }

    /// A request of `family`; `marker` makes the first event of a mobile request a marker.
    pub fn build(&self, family: Family, rng: &mut fastrand::Rng, marker: Option<&str>) -> Request {
        match family {
            Family::Mobile => self.mobile(rng, marker),
            Family::Crm => self.crm(rng),
            Family::S2s => self.s2s(rng),
            Family::Activity => self.activity(rng),
        }
    }

    /// Seed 000: `{"events":[...]}` of `batch_size` events, every field of the document.
    pub fn mobile(&self, rng: &mut fastrand::Rng, marker: Option<&str>) -> Request {
        let n = self.events_per_request(Family::Mobile);
        let mut out = String::with_capacity(n * (self.config.event_bytes.max(480) + 16) + 16);
        out.push_str("{\"events\":[");
        let now = now_ms();
        // One app install sends a batch: the user, device, session and place are the batch's,
        // the events differ (as a mobile SDK's queue flush looks).
        let c = &COUNTRIES[rng.usize(0..COUNTRIES.len())];
        let mut phone = String::from(c.phone.0);
        digits(rng, &mut phone, c.phone.1);
        let session = rng.u64(..);
        let platform = PLATFORMS[rng.usize(0..PLATFORMS.len())];
        let user = rng.u32(1..2_000_000);
        let person = (
            FIRST[rng.usize(0..FIRST.len())],
            LAST[rng.usize(0..LAST.len())],
        );
        let country = c.names[rng.usize(0..c.names.len())];
        let address = ip(rng);
        let (lat, lon) = (c.lat + rng.f64() * 0.1, c.lon + rng.f64() * 0.1);
        let version = (rng.u8(0..20), rng.u8(0..10));
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            let start = out.len();
            let (name, category) = MOBILE_EVENTS[rng.usize(0..MOBILE_EVENTS.len())];
            let (name, id) = match (i, marker) {
                (0, Some(m)) => (MARKER_EVENT, m.to_string()),
                _ => (name, format!("ev-{}-{}", self.run, self.next_id())),
            };
            let ts = now - 5_000 + (i as i64 * 50);
            let _ = write!(
                out,
                r#"{{"event_id":"{id}","event_name":"{name}","event_category":"{category}","timestamp_utc":{ts},"session_id":"s-{session:016x}","source":"{platform}","user_id":{user},"name":"{} {}","country_code":"{}","mobile_number":"{phone}","screen_name":"{}","duration_seconds":{},"ip":"{address}","country":"{country}","state":"{}","city":"{}","zip":"{}","latitude":{lat:.4},"longitude":{lon:.4},"payload":{{"item_id":"sku-{}","price":"{}.{:02}","ab_variant":"{}","app_version":"5.{}.{}""#,
                person.0,
                person.1,
                c.code,
                SCREENS[rng.usize(0..SCREENS.len())],
                rng.u32(0..600),
                c.state,
                c.city,
                c.zip,
                rng.u32(1000..99_999),
                rng.u32(1..5000),
                rng.u32(0..100),
                ["A", "B"][rng.usize(0..2)],
                version.0,
                version.1,
            );
            let missing = self.missing(out.len() - start, 14);
            if missing > 0 {
                let _ = write!(out, r#","notes":"{}""#, self.pad(rng, missing));
            }
            out.push_str("}}");
        }
        out.push_str("]}");
        Request {
            family: Family::Mobile,
            path: "/api/analytics/events".into(),
            content_type: "application/json",
            authorization: None,
            body: out.into_bytes(),
            events: n,
        }
    }

    /// Seed 001: one event on lead_analytics (some of them the browser-extension variant),
    /// contact_analytics or analytics_events.
    pub fn crm(&self, rng: &mut fastrand::Rng) -> Request {
        let entity = rng.u64(0..CRM_ENTITIES);
        let customer = entity % CRM_CUSTOMERS;
        let user = (entity * 7) % CRM_USERS;
        let recording = rng.u64(0..4);
        let (path, entity_fields, tool) = match rng.u8(0..10) {
            0..=3 => (
                "/api/v1/lead_analytics",
                format!(r#""lead_id":"lead-{entity}""#),
                "vfp",
            ),
            4 => (
                "/api/v1/lead_analytics",
                format!(r#""entity_id":"lead-{entity}""#),
                "browser_extension",
            ),
            5..=7 => (
                "/api/v1/contact_analytics",
                format!(r#""contact_id":"contact-{entity}""#),
                "vfp",
            ),
            _ => {
                let kind = ["lead", "contact"][rng.usize(0..2)];
                (
                    "/api/v1/analytics_events",
                    format!(r#""entity_type":"{kind}","entity_id":"{kind}-{entity}""#),
                    "dialer",
                )
            }
        };
        let now = now_ms();
        let local = iso_seconds(now / 1000 + 19_800);
        let mut out = String::with_capacity(700 + self.config.event_bytes);
        let _ = write!(
            out,
            r#"{{"customer_id":"cust-{customer}",{entity_fields},"user_id":"user-{user}","tool_signature":"{tool}","recording_id":"rec-{entity}-{recording}","event_type":"{}","event_id":"crm-{}-{}","message":"{} opened the {} panel","javascript_local_time":"{local}.{:03}+05:30","apex_local_time":"{}","event_environment_path":"/lightning/r/Lead/{entity}/view","name_parser_event_id":"np-{:08x}","recommendation_model_event_id":"rm-{:08x}","version_info":{{"extension":"3.{}.{}","browser":"chrome-12{}"}}"#,
            CRM_EVENTS[rng.usize(0..CRM_EVENTS.len())],
            self.run,
            self.next_id(),
            FIRST[rng.usize(0..FIRST.len())],
            ["summary", "activity", "notes"][rng.usize(0..3)],
            now % 1000,
            iso_seconds(now / 1000).replace('T', " "),
            rng.u32(..),
            rng.u32(..),
            rng.u8(0..10),
            rng.u8(0..20),
            rng.u8(0..10),
        );
        let missing = self.missing(out.len(), 1);
        if missing > 0 {
            // `message` is the free-text field of the document.
            let _ = write!(out, r#","message_detail":"{}""#, self.pad(rng, missing));
        }
        out.push('}');
        Request {
            family: Family::Crm,
            path: path.into(),
            content_type: "application/json",
            authorization: None,
            body: out.into_bytes(),
            events: 1,
        }
    }

    /// Seed 002: a `...Batch` method (custom events mostly, some revenue, logins and
    /// registrations), within the document's 20 items and 10 KB.
    pub fn s2s(&self, rng: &mut fastrand::Rng) -> Request {
        let (method, kind) = match rng.u8(0..20) {
            0..=13 => ("customEventBatch", 0),
            14..=16 => ("customRevenueBatch", 1),
            17..=18 => ("loginBatch", 2),
            _ => ("registrationBatch", 3),
        };
        let want = self.events_per_request(Family::S2s);
        let now_s = now_ms() / 1000;
        let mut items: Vec<String> = Vec::with_capacity(want);
        let mut size = 2;
        for _ in 0..want {
            let mut item = String::with_capacity(420);
            let user = rng.u32(1..5_000_000);
            let id = self.next_id();
            match kind {
                0 => {
                    let _ = write!(
                        item,
                        r#"{{"customUserId":"{user}","customEventName":"{}","customEventParams":{{"level":"{}","eid":"{}-{id}""#,
                        S2S_EVENTS[rng.usize(0..S2S_EVENTS.len())],
                        rng.u8(1..80),
                        self.run,
                    );
                    let tail = format!(
                        r#"}},"eventTimestamp":{},"instanceId":"{}","ipv4":"203.0.113.{}","idGender":"{}","age":"{}","connectionType":"{}","bluetoothEnabled":"{}","adTrackingEnabled":"1""#,
                        now_s - rng.i64(0..30),
                        uuid_text(rng),
                        rng.u8(1..255),
                        rng.u8(0..3),
                        rng.u8(14..80),
                        rng.u8(0..3),
                        rng.u8(0..3),
                    );
                    // Extra parameters carry the padding (values are at most 255 characters).
                    let mut missing = self.missing(item.len() + tail.len(), 1);
                    let mut k = 0;
                    while missing > 0 {
                        let len = missing.min(200);
                        let _ = write!(item, r#","p{k}":"{}""#, self.pad(rng, len));
                        missing = missing.saturating_sub(len + 10);
                        k += 1;
                    }
                    item.push_str(&tail);
                }
                1 => {
                    let _ = write!(
                        item,
                        r#"{{"customUserId":"{user}","eventTimestamp":{},"idTransaction":"tx-{}-{id}","currency":"{}","total":"{}.{:02}","gaid":"{}","ipv4":"198.51.100.{}""#,
                        now_s - rng.i64(0..30),
                        self.run,
                        CURRENCIES[rng.usize(0..CURRENCIES.len())],
                        rng.u32(0..500),
                        rng.u8(0..100),
                        uuid_text(rng),
                        rng.u8(1..255),
                    );
                }
                _ => {
                    // No eventTimestamp: the event is identified by its place in the request.
                    let mut lvid = String::new();
                    hex(rng, &mut lvid, 32);
                    let _ = write!(
                        item,
                        r#"{{"customUserId":"{user}","lvid":"{lvid}","adBlocker":"{}","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.{}.{} Safari/537.36","ipv6":"2001:db8::{:x}""#,
                        rng.u8(0..2),
                        rng.u16(1000..7000),
                        rng.u8(0..200),
                        rng.u16(..),
                    );
                }
            }
            item.push('}');
            if size + item.len() + 1 > tributary_wire::s2s::BODY_LIMIT {
                break;
            }
            size += item.len() + 1;
            items.push(item);
        }
        let body = format!("[{}]", items.join(","));
        Request {
            family: Family::S2s,
            path: format!("/v1/{method}/?idApp={S2S_APP}"),
            content_type: "application/json",
            authorization: Some(S2S_TOKEN),
            events: items.len(),
            body: body.into_bytes(),
        }
    }

    /// Seed 003: a JSON array of activities with product arrays, identities that are e-mails,
    /// phone numbers or customer ids (or only an anonymous id), zoned and zone-less times.
    pub fn activity(&self, rng: &mut fastrand::Rng) -> Request {
        let n = self.events_per_request(Family::Activity);
        let now_s = now_ms() / 1000;
        let mut out = String::with_capacity(n * (self.config.event_bytes.max(600) + 16));
        out.push('[');
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            let start = out.len();
            let ts = iso_seconds(now_s - rng.i64(0..600));
            let ts = match rng.u8(0..10) {
                0..=6 => format!("{ts}Z"),
                7..=8 => ts,
                _ => format!("{}+05:30", iso_seconds(now_s + 19_800 - rng.i64(0..600))),
            };
            let person = rng.u32(1..1_000_000);
            let identity = match rng.u8(0..10) {
                0..=4 => format!(r#""identity":"user{person}@example.com""#),
                5..=6 => {
                    let mut phone = String::from(r#""identity":"+9198"#);
                    digits(rng, &mut phone, 8);
                    phone.push('"');
                    phone
                }
                7 => format!(r#""identity":{person}"#),
                _ => format!(r#""annonid":"anon-{:016x}""#, rng.u64(..)),
            };
            let _ = write!(
                out,
                r#"{{"asset_id":"sdbsjdh623jhmsndbkfs","activity_name":"{}","timestamp":"{ts}",{identity},"activity_source":"{}","activity_params":{{"activity_id":"act-{}-{}","customer_user_id":"cu-{person}","currency":"INR","items":["#,
                ACTIVITIES[rng.usize(0..ACTIVITIES.len())],
                ["web", "app"][rng.usize(0..2)],
                self.run,
                self.next_id(),
            );
            let count = rng.usize(1..4);
            for k in 0..count {
                let (category, product, price) = PRODUCTS[rng.usize(0..PRODUCTS.len())];
                if k > 0 {
                    out.push(',');
                }
                let _ = write!(
                    out,
                    r#"{{"l1_category":"{category}","product_name":"{product}","price":{price:.1},"mrp":{:.1},"quantity":{}}}"#,
                    price * 1.1,
                    rng.u8(1..4),
                );
            }
            let _ = write!(out, r#"],"total_item_qty":{count}"#);
            let missing = self.missing(out.len() - start, 14);
            if missing > 0 {
                let _ = write!(out, r#","notes":"{}""#, self.pad(rng, missing));
            }
            out.push_str("}}");
        }
        out.push(']');
        Request {
            family: Family::Activity,
            path: "/v1/activity/upload".into(),
            content_type: "application/json",
            authorization: Some(self.config.activity_auth),
            body: out.into_bytes(),
            events: n,
        }
    }
}

/// gzip at the fastest level, as a client library would send it.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(batch: usize, event_bytes: usize) -> Traffic {
        Traffic::new(TrafficConfig {
            mix: "mobile=1,crm=1,s2s=1,activity=1".parse().unwrap(),
            batch_size: batch,
            event_bytes,
            activity_auth: ACTIVITY_AUTH,
        })
    }

    #[test]
    fn every_family_is_valid_json_with_unique_ids() {
        let t = traffic(100, 0);
        let mut rng = fastrand::Rng::with_seed(7);
        for family in Family::ALL {
            for _ in 0..20 {
                let r = t.build(family, &mut rng, None);
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{family:?}: {e}"));
                assert!(r.events >= 1, "{family:?}");
                let _ = v;
            }
        }
        let a = t.mobile(&mut rng, None);
        let b = t.mobile(&mut rng, None);
        let ids = |r: &Request| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string())
                .collect()
        };
        let mut all = ids(&a);
        all.extend(ids(&b));
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn event_bytes_pads_events_and_s2s_stays_within_10kb() {
        let t = traffic(100, 2000);
        let mut rng = fastrand::Rng::with_seed(1);
        let m = t.mobile(&mut rng, None);
        assert!(m.body.len() > 190_000, "{}", m.body.len());
        let s = t.s2s(&mut rng);
        assert!(s.body.len() <= 10 * 1024 && s.events >= 1);
        serde_json::from_slice::<serde_json::Value>(&s.body).unwrap();
    }

    #[test]
    fn iso_seconds_is_the_civil_date() {
        assert_eq!(iso_seconds(0), "1970-01-01T00:00:00");
        assert_eq!(iso_seconds(1_580_213_208), "2020-01-28T12:06:48");
    }

    #[test]
    fn mix_parses_weights() {
        let m: Mix = "mobile=3,crm".parse().unwrap();
        assert_eq!(m.0, vec![(Family::Mobile, 3), (Family::Crm, 1)]);
        assert!("x=1".parse::<Mix>().is_err());
    }
}
