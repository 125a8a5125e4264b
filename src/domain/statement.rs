//! The typed statements parties sign: batch records, custody events and key statements.
//!
//! Bodies are read from the exact JSON that was signed (never re-serialised on
//! the server), with unknown fields refused so nothing unsigned-for rides along.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::party::{Role, Slug};
use super::time::{Date, Timestamp};
use crate::formats::gs1::{Gtin, Lot, Sscc};

/// The only statement version this build reads and writes.
pub const VERSION: u32 = 1;

/// Largest batch: serials are indexes below this.
pub const MAX_QUANTITY: u64 = 1_000_000_000;

/// A factory's signed batch record; minting units 0..quantity-1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchStatement {
    /// Format version, 1.
    pub v: u32,
    /// The factory.
    pub party: Slug,
    /// Key id of the signing key.
    pub key: String,
    /// When it was signed.
    pub time: Timestamp,
    /// Product GTIN-14.
    pub gtin: Gtin,
    /// Product name as printed (any language).
    pub product: String,
    /// Lot (AI 10).
    pub lot: Lot,
    /// Number of units minted.
    pub quantity: u64,
    /// Production date.
    pub produced: Date,
    /// Expiry / best-before date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Date>,
    /// Production line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// Serial prefix printed before the unit index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_prefix: Option<String>,
    /// Raw-material inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// Process steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Certificates (name and SHA-256 of the document).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
}

/// One raw-material input lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What it is ("raw milk").
    pub material: String,
    /// Who supplied it.
    pub supplier: String,
    /// The supplier's lot number.
    pub supplier_lot: String,
    /// Where it comes from (farm, region, country).
    pub origin: String,
}

/// One process step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What was done.
    pub name: String,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

/// A certificate document by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Its title.
    pub name: String,
    /// Lowercase hex SHA-256 of the document.
    pub sha256: String,
}

/// The CBV business step of a custody event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// Goods leave for a named receiver.
    Shipping,
    /// The named receiver takes them in.
    Receiving,
    /// Sold to a consumer.
    RetailSelling,
    /// A consumer return at the counter, or goods sent back upstream (`to`).
    Returning,
    /// A return is taken back: restocked, quarantined or destroyed.
    AcceptingReturn,
    /// A recall by the factory or an inspector.
    Recalling,
    /// An inspection result.
    Inspecting,
    /// Goods destroyed by their holder.
    Destroying,
    /// Units or containers put into a container (case, pallet).
    Packing,
    /// A container emptied: its contents are loose again.
    Unpacking,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 10] = [
        EventType::Shipping,
        EventType::Receiving,
        EventType::RetailSelling,
        EventType::Returning,
        EventType::AcceptingReturn,
        EventType::Recalling,
        EventType::Inspecting,
        EventType::Destroying,
        EventType::Packing,
        EventType::Unpacking,
    ];

    /// Parses the snake_case name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Shipping => "shipping",
            EventType::Receiving => "receiving",
            EventType::RetailSelling => "retail_selling",
            EventType::Returning => "returning",
            EventType::AcceptingReturn => "accepting_return",
            EventType::Recalling => "recalling",
            EventType::Inspecting => "inspecting",
            EventType::Destroying => "destroying",
            EventType::Packing => "packing",
            EventType::Unpacking => "unpacking",
        }
    }

    /// Roles (besides root) whose keys may sign this event.
    pub fn roles(self) -> &'static [Role] {
        match self {
            EventType::Shipping
            | EventType::Receiving
            | EventType::Destroying
            | EventType::Packing
            | EventType::Unpacking => &[Role::Dock],
            EventType::RetailSelling | EventType::Returning | EventType::AcceptingReturn => {
                &[Role::Retail, Role::Dock]
            }
            EventType::Recalling => &[Role::Mint, Role::Inspect],
            EventType::Inspecting => &[Role::Inspect],
        }
    }
}

/// A run of units of one batch, by index, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitRange {
    /// Batch id (statement id of the batch record).
    pub batch: BatchId,
    /// First unit index.
    pub first: u64,
    /// Last unit index (inclusive).
    pub last: u64,
}

impl UnitRange {
    /// Number of units.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a range holds at least one unit.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A 32-byte statement id (lowercase hex on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct BatchId(pub [u8; 32]);

impl BatchId {
    /// Parses 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        // Decoded in place: ids are read millions of times by the audit.
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        let ok = text.len() == 64
            && text
                .as_bytes()
                .chunks_exact(2)
                .zip(out.iter_mut())
                .all(|(pair, o)| match (nibble(pair[0]), nibble(pair[1])) {
                    (Some(hi), Some(lo)) => {
                        *o = hi << 4 | lo;
                        true
                    }
                    _ => false,
                });
        if ok {
            Ok(BatchId(out))
        } else {
            Err(format!(
                "\"{text}\" is not a statement id (64 lowercase hex digits)"
            ))
        }
    }

    /// The hex form.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl<'de> Deserialize<'de> for BatchId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Reads the id from borrowed text where the input allows (no `String` per id).
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = BatchId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<BatchId, E> {
                BatchId::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(Hex)
    }
}

impl TryFrom<String> for BatchId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        BatchId::parse(&s)
    }
}

impl From<BatchId> for String {
    fn from(b: BatchId) -> String {
        b.hex()
    }
}

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A statement id that is not a batch (events, chain heads); same spelling.
pub type StatementId = BatchId;

/// A receiving exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionType {
    /// Expected but not delivered: stays in transit.
    Shortage,
    /// Delivered but not expected.
    Overage,
    /// Delivered damaged: received, set aside.
    Damaged,
    /// Delivered but not what was ordered.
    WrongItem,
}

/// One receiving exception and the units it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// What went wrong.
    #[serde(rename = "type")]
    pub kind: ExceptionType,
    /// The units concerned, where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<UnitRange>,
    /// Free text (what was seen instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What happens to units taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Back to sellable stock.
    Restock,
    /// Kept aside, not sellable.
    Quarantine,
    /// Destroyed.
    Destroy,
}

/// A signed custody event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventStatement {
    /// Format version, 1.
    pub v: u32,
    /// The signing party.
    pub party: Slug,
    /// Key id of the signing key.
    pub key: String,
    /// When it happened.
    pub time: Timestamp,
    /// Business step.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Units covered (loose units; for packing, the loose units put in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<UnitRange>,
    /// Containers covered, with everything inside them (for packing, the containers put in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Sscc>,
    /// The container filled (packing) or emptied (unpacking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Sscc>,
    /// For every batch touched, the chain head this event follows.
    pub prev: BTreeMap<BatchId, StatementId>,
    /// Receiver (shipping, returning upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Slug>,
    /// Advance ship notice number (shipping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<String>,
    /// The shipping or returning event this one receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<StatementId>,
    /// Receiving exceptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
    /// Why (recalls, returns, destruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What holders and consumers should do (recalls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Fate of returned units (accepting_return).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Inspection result ("pass", "fail", "conditional" or free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// How the inspection was done: method or standard (inspecting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Lowercase hex SHA-256 of the certificate document (inspecting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_sha256: Option<String>,
    /// Where it happened (site name or GLN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

impl EventStatement {
    /// An event of `event_type` by `party` (signing key `key`) at `time` over
    /// `objects`; every other field empty, `prev` too.
    pub fn new(
        party: Slug,
        key: String,
        time: Timestamp,
        event_type: EventType,
        objects: Vec<UnitRange>,
    ) -> Self {
        EventStatement {
            v: VERSION,
            party,
            key,
            time,
            event_type,
            objects,
            containers: Vec::new(),
            parent: None,
            prev: BTreeMap::new(),
            to: None,
            asn: None,
            shipment: None,
            exceptions: Vec::new(),
            reason: None,
            instructions: None,
            resolution: None,
            result: None,
            method: None,
            certificate_sha256: None,
            place: None,
        }
    }
}

/// Certify a station key or revoke one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    /// The root key vouches for `subject` in `role` between the two times.
    Certify,
    /// `subject` is no longer to be trusted from `time` on.
    Revoke,
}

/// A key statement, signed by the party's root key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatement {
    /// Format version, 1.
    pub v: u32,
    /// The party whose key this is.
    pub party: Slug,
    /// Key id of the signing (root) key.
    pub key: String,
    /// When it was signed.
    pub time: Timestamp,
    /// Certify or revoke.
    pub action: KeyAction,
    /// The public key concerned, base64url.
    pub subject: String,
    /// Role granted (certify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Start of validity (certify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// End of validity (certify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// Why (revoke).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
