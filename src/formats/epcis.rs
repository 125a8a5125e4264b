//! EPCIS 2.0 JSON-LD export of one batch (issue 7, item 7).
//!
//! Pure mapping: the batch record and every event that touched the batch, in log
//! order, become one `EPCISDocument`. Vocabulary is CBV 2.0 (`https://ref.gs1.org/cbv/…`),
//! identifiers are GS1 Digital Link URIs on `https://id.gs1.org`, parties are
//! `urn:suyuan:party:{slug}`. What EPCIS has no field for (signature, statement id,
//! signer, key, our event type, ranges, exceptions, reasons) rides along as
//! extension fields in our own namespace (`suyuan:` prefix), so nothing is lost.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use crate::domain::batch::serial_for;
use crate::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, Resolution, UnitRange,
};
use crate::domain::time::Timestamp;
use crate::formats::gs1::{Key, Serial, Sscc};

/// The GS1 EPCIS 2.0 JSON-LD context.
pub const GS1_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld";
/// Our extension namespace (the `suyuan:` prefix).
pub const NAMESPACE: &str = "urn:suyuan:epcis:";
/// CBV 2.0 vocabulary base.
pub const CBV: &str = "https://ref.gs1.org/cbv/";
/// GS1 Digital Link resolver used for identifiers.
pub const DIGITAL_LINK: &str = "https://id.gs1.org";
/// Ranges up to this many units are listed unit by unit; larger ones are counted.
pub const MAX_LISTED: u64 = 1_000;

/// Why a document cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpcisError {
    /// A stored statement does not parse.
    #[error("statement {id} does not parse: {why}")]
    Parse {
        /// Statement id.
        id: String,
        /// What is wrong.
        why: String,
    },
    /// The first record is not the batch record.
    #[error("the export must start with the batch record")]
    NoBatch,
    /// An event names units of a batch whose record was not supplied.
    #[error("an event names batch {0}, whose record is missing")]
    UnknownBatch(String),
    /// A serial cannot be written as a GS1 serial (AI 21).
    #[error("serial {0} is not a valid GS1 serial")]
    BadSerial(String),
}

/// What a stored statement says.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A batch record (commissioning).
    Batch(BatchStatement),
    /// A custody event.
    Event(EventStatement),
}

/// A statement with its id and signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Statement id (hex).
    pub id: String,
    /// Leaf index in the log.
    pub seq: i64,
    /// The `sig` field.
    pub sig: String,
    /// The signed body.
    pub body: Body,
}

impl Record {
    /// Parses a stored batch record or event: its id, leaf index, kind
    /// (`batch` or `event`) and JSON as stored (with `sig`).
    pub fn parse(id: &str, seq: i64, kind: &str, json: &str) -> Result<Record, EpcisError> {
        let err = |why: String| EpcisError::Parse {
            id: id.to_owned(),
            why,
        };
        let mut v: Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        let sig = v
            .as_object_mut()
            .and_then(|o| o.remove("sig"))
            .and_then(|s| s.as_str().map(str::to_owned))
            .ok_or_else(|| err("no \"sig\"".into()))?;
        let body = match kind {
            "batch" => Body::Batch(serde_json::from_value(v).map_err(|e| err(e.to_string()))?),
            "event" => Body::Event(serde_json::from_value(v).map_err(|e| err(e.to_string()))?),
            other => return Err(err(format!("kind \"{other}\" is not exported"))),
        };
        Ok(Record {
            id: id.to_owned(),
            seq,
            sig,
            body,
        })
    }

    /// The batch record, if this is one.
    pub fn batch(&self) -> Option<&BatchStatement> {
        match &self.body {
            Body::Batch(b) => Some(b),
            Body::Event(_) => None,
        }
    }

    /// The event, if this is one.
    pub fn event(&self) -> Option<&EventStatement> {
        match &self.body {
            Body::Event(e) => Some(e),
            Body::Batch(_) => None,
        }
    }
}

/// `urn:suyuan:party:{slug}`.
pub fn party_uri(slug: &str) -> String {
    format!("urn:suyuan:party:{slug}")
}

/// `https://id.gs1.org/00/{sscc}`.
pub fn sscc_uri(sscc: &Sscc) -> String {
    let key = Key::Container { sscc: sscc.clone() };
    format!("{DIGITAL_LINK}/{}", key.canonical_path())
}

/// `https://id.gs1.org/01/{gtin}/10/{lot}/21/{serial}` of unit `index`.
pub fn unit_uri(batch: &BatchStatement, index: u64) -> Result<String, EpcisError> {
    let serial = serial_for(index, batch.serial_prefix.as_deref());
    let key = Key::Unit {
        gtin: batch.gtin.clone(),
        lot: batch.lot.clone(),
        serial: Serial::parse(&serial).map_err(|_| EpcisError::BadSerial(serial.clone()))?,
    };
    Ok(format!("{DIGITAL_LINK}/{}", key.canonical_path()))
}

/// Class-level (product + lot) URI `https://id.gs1.org/01/{gtin}/10/{lot}`.
pub fn class_uri(batch: &BatchStatement) -> String {
    // The unit path minus its serial, so the lot is escaped exactly as on labels.
    match Serial::parse("0") {
        Ok(serial) => {
            let key = Key::Unit {
                gtin: batch.gtin.clone(),
                lot: batch.lot.clone(),
                serial,
            };
            let path = key.canonical_path();
            let path = path.strip_suffix("/21/0").unwrap_or(&path);
            format!("{DIGITAL_LINK}/{path}")
        }
        Err(_) => format!("{DIGITAL_LINK}/01/{}/10/{}", batch.gtin, batch.lot),
    }
}

fn cbv(kind: &str, value: &str) -> String {
    format!("{CBV}{kind}-{value}")
}

/// EPCIS identifiers of some unit ranges: each unit's URI for ranges of at most
/// [`MAX_LISTED`] units, else one quantity element with the class-level URI (an
/// EPCIS consumer cannot expand a range, and listing a million URIs is no export);
/// the exact ranges always travel in `suyuan:objects`.
fn identify(
    ranges: &[UnitRange],
    batches: &BTreeMap<BatchId, BatchStatement>,
) -> Result<(Vec<Value>, Vec<Value>), EpcisError> {
    let mut epcs = Vec::new();
    let mut quantities = Vec::new();
    for r in ranges {
        let b = batches
            .get(&r.batch)
            .ok_or_else(|| EpcisError::UnknownBatch(r.batch.hex()))?;
        if r.len() <= MAX_LISTED {
            for i in r.first..=r.last {
                epcs.push(Value::String(unit_uri(b, i)?));
            }
        } else {
            quantities.push(json!({"epcClass": class_uri(b), "quantity": r.len()}));
        }
    }
    Ok((epcs, quantities))
}

fn ranges_json(ranges: &[UnitRange]) -> Value {
    Value::Array(
        ranges
            .iter()
            .map(|r| json!({"suyuan:batch": r.batch.hex(), "suyuan:first": r.first, "suyuan:last": r.last}))
            .collect(),
    )
}

/// CBV bizStep and disposition of an event. CBV 2.0 has no `recalling` or
/// `returning` step: a recall is `holding` with disposition `recalled`, a
/// consumer return at the counter is `receiving` + `returned`, stock sent back
/// upstream is `shipping` + `returned`; `suyuan:eventType` keeps our own name.
fn vocabulary(ev: &EventStatement) -> (&'static str, Option<&'static str>) {
    match ev.event_type {
        EventType::Shipping => ("shipping", Some("in_transit")),
        EventType::Receiving => ("receiving", Some("active")),
        EventType::RetailSelling => ("retail_selling", Some("retail_sold")),
        EventType::Returning if ev.to.is_some() => ("shipping", Some("returned")),
        EventType::Returning => ("receiving", Some("returned")),
        EventType::AcceptingReturn => (
            "receiving",
            Some(match ev.resolution {
                Some(Resolution::Restock) => "active",
                Some(Resolution::Destroy) => "destroyed",
                Some(Resolution::Quarantine) | None => "returned",
            }),
        ),
        EventType::Recalling => ("holding", Some("recalled")),
        EventType::Inspecting => (
            "inspecting",
            match ev.result.as_deref() {
                Some("pass") => Some("conformant"),
                Some("fail") => Some("non_conformant"),
                _ => None,
            },
        ),
        EventType::Destroying => ("destroying", Some("destroyed")),
        EventType::Packing => ("packing", Some("container_closed")),
        EventType::Unpacking => ("unpacking", Some("container_open")),
    }
}

/// A place as an EPCIS location id: a GLN-13 as its Digital Link URI, a URI as is,
/// anything else (a site name) as `urn:suyuan:place:{percent-encoded name}`.
fn place_uri(place: &str) -> String {
    if place.len() == 13 && place.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{DIGITAL_LINK}/414/{place}");
    }
    if place.starts_with("https://") || place.starts_with("http://") || place.starts_with("urn:") {
        return place.to_owned();
    }
    let enc = percent_encoding::utf8_percent_encode(place, percent_encoding::NON_ALPHANUMERIC);
    format!("urn:suyuan:place:{enc}")
}

fn common(rec: &Record, time: Timestamp, party: &str, key: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("eventTime".into(), json!(time.to_string()));
    m.insert("eventTimeZoneOffset".into(), json!("+00:00"));
    m.insert(
        "eventID".into(),
        json!(format!("urn:suyuan:statement:{}", rec.id)),
    );
    m.insert("suyuan:statementId".into(), json!(rec.id));
    m.insert("suyuan:seq".into(), json!(rec.seq));
    m.insert("suyuan:party".into(), json!(party_uri(party)));
    m.insert("suyuan:key".into(), json!(key));
    m.insert("suyuan:sig".into(), json!(rec.sig));
    m
}

fn parties(kind: &str, slug: &str) -> Value {
    json!([
        {"type": cbv("SDT", "owning_party"), kind: party_uri(slug)},
        {"type": cbv("SDT", "possessing_party"), kind: party_uri(slug)},
    ])
}

/// Our nested fields under the `suyuan:` prefix, so JSON-LD processing keeps them.
fn prefixed(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (format!("suyuan:{k}"), prefixed(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(prefixed).collect()),
        other => other,
    }
}

/// The commissioning ObjectEvent of a batch record.
fn commissioning(rec: &Record, b: &BatchStatement) -> Result<Value, EpcisError> {
    let mut m = common(rec, b.time, b.party.as_str(), &b.key);
    m.insert("type".into(), json!("ObjectEvent"));
    m.insert("action".into(), json!("ADD"));
    m.insert("bizStep".into(), json!(cbv("BizStep", "commissioning")));
    m.insert("disposition".into(), json!(cbv("Disp", "active")));
    let id = BatchId::parse(&rec.id).map_err(|why| EpcisError::Parse {
        id: rec.id.clone(),
        why,
    })?;
    let all = UnitRange {
        batch: id,
        first: 0,
        last: b.quantity.saturating_sub(1),
    };
    let one = BTreeMap::from([(id, b.clone())]);
    let (epcs, quantities) = if b.quantity == 0 {
        (Vec::new(), Vec::new())
    } else {
        identify(std::slice::from_ref(&all), &one)?
    };
    m.insert("epcList".into(), Value::Array(epcs));
    if !quantities.is_empty() {
        m.insert("quantityList".into(), Value::Array(quantities));
    }
    if let Some(line) = &b.line {
        m.insert("readPoint".into(), json!({"id": place_uri(line)}));
    }
    m.insert("sourceList".into(), parties("source", b.party.as_str()));
    m.insert(
        "destinationList".into(),
        parties("destination", b.party.as_str()),
    );
    m.insert("suyuan:eventType".into(), json!("commissioning"));
    m.insert("suyuan:objects".into(), ranges_json(&[all]));
    // Instance/lot master data: the whole batch record, field for field.
    let mut ilmd = Map::new();
    ilmd.insert("suyuan:product".into(), json!(b.product));
    ilmd.insert("suyuan:quantity".into(), json!(b.quantity));
    ilmd.insert("suyuan:produced".into(), json!(b.produced.to_string()));
    if let Some(e) = &b.expires {
        ilmd.insert("suyuan:expires".into(), json!(e.to_string()));
    }
    if let Some(p) = &b.serial_prefix {
        ilmd.insert("suyuan:serialPrefix".into(), json!(p));
    }
    if let Some(l) = &b.line {
        ilmd.insert("suyuan:line".into(), json!(l));
    }
    if !b.inputs.is_empty() {
        ilmd.insert("suyuan:inputs".into(), prefixed(json!(b.inputs)));
    }
    if !b.steps.is_empty() {
        ilmd.insert("suyuan:steps".into(), prefixed(json!(b.steps)));
    }
    if !b.certificates.is_empty() {
        ilmd.insert(
            "suyuan:certificates".into(),
            prefixed(json!(b.certificates)),
        );
    }
    m.insert("ilmd".into(), Value::Object(ilmd));
    Ok(Value::Object(m))
}

/// The ObjectEvent or AggregationEvent of a custody event.
fn custody_event(
    rec: &Record,
    ev: &EventStatement,
    batches: &BTreeMap<BatchId, BatchStatement>,
) -> Result<Value, EpcisError> {
    let mut m = common(rec, ev.time, ev.party.as_str(), &ev.key);
    let (step, disposition) = vocabulary(ev);
    let (mut epcs, quantities) = identify(&ev.objects, batches)?;
    epcs.extend(ev.containers.iter().map(|c| Value::String(sscc_uri(c))));
    let aggregation = matches!(ev.event_type, EventType::Packing | EventType::Unpacking);
    if aggregation {
        m.insert("type".into(), json!("AggregationEvent"));
        let action = if ev.event_type == EventType::Packing {
            "ADD"
        } else {
            "DELETE"
        };
        m.insert("action".into(), json!(action));
        if let Some(p) = &ev.parent {
            m.insert("parentID".into(), json!(sscc_uri(p)));
        }
        if !epcs.is_empty() {
            m.insert("childEPCs".into(), Value::Array(epcs));
        }
        if !quantities.is_empty() {
            m.insert("childQuantityList".into(), Value::Array(quantities));
        }
    } else {
        m.insert("type".into(), json!("ObjectEvent"));
        m.insert("action".into(), json!("OBSERVE"));
        m.insert("epcList".into(), Value::Array(epcs));
        if !quantities.is_empty() {
            m.insert("quantityList".into(), Value::Array(quantities));
        }
    }
    m.insert("bizStep".into(), json!(cbv("BizStep", step)));
    if let Some(d) = disposition {
        m.insert("disposition".into(), json!(cbv("Disp", d)));
    }
    if let Some(p) = &ev.place {
        m.insert("readPoint".into(), json!({"id": place_uri(p)}));
        m.insert("bizLocation".into(), json!({"id": place_uri(p)}));
    }
    if let Some(asn) = &ev.asn {
        let enc = percent_encoding::utf8_percent_encode(asn, percent_encoding::NON_ALPHANUMERIC);
        m.insert(
            "bizTransactionList".into(),
            json!([{"type": cbv("BTT", "desadv"), "bizTransaction": format!("urn:suyuan:asn:{enc}")}]),
        );
    }
    match (ev.event_type, &ev.to) {
        // Goods leaving for someone: from the signer to the named receiver.
        (EventType::Shipping | EventType::Returning, Some(to)) => {
            m.insert("sourceList".into(), parties("source", ev.party.as_str()));
            m.insert(
                "destinationList".into(),
                parties("destination", to.as_str()),
            );
        }
        // Goods arriving: the signer now owns and possesses them.
        (EventType::Receiving | EventType::AcceptingReturn, _) => {
            m.insert(
                "destinationList".into(),
                parties("destination", ev.party.as_str()),
            );
        }
        _ => {}
    }
    m.insert("suyuan:eventType".into(), json!(ev.event_type.as_str()));
    if !ev.objects.is_empty() {
        m.insert("suyuan:objects".into(), ranges_json(&ev.objects));
    }
    let prev: Map<String, Value> = ev
        .prev
        .iter()
        .map(|(b, h)| (b.hex(), json!(h.hex())))
        .collect();
    m.insert("suyuan:prev".into(), Value::Object(prev));
    if let Some(s) = &ev.shipment {
        m.insert("suyuan:shipment".into(), json!(s.hex()));
    }
    if let Some(a) = &ev.asn {
        m.insert("suyuan:asn".into(), json!(a));
    }
    if !ev.exceptions.is_empty() {
        let list: Vec<Value> = ev
            .exceptions
            .iter()
            .map(|e| {
                let mut x = Map::new();
                x.insert("suyuan:type".into(), json!(e.kind));
                if !e.objects.is_empty() {
                    x.insert("suyuan:objects".into(), ranges_json(&e.objects));
                }
                if let Some(n) = &e.note {
                    x.insert("suyuan:note".into(), json!(n));
                }
                Value::Object(x)
            })
            .collect();
        m.insert("suyuan:exceptions".into(), Value::Array(list));
    }
    for (name, value) in [
        ("suyuan:reason", &ev.reason),
        ("suyuan:instructions", &ev.instructions),
        ("suyuan:result", &ev.result),
        ("suyuan:method", &ev.method),
        ("suyuan:certificateSha256", &ev.certificate_sha256),
        ("suyuan:place", &ev.place),
    ] {
        if let Some(v) = value {
            m.insert(name.into(), json!(v));
        }
    }
    if let Some(r) = ev.resolution {
        m.insert("suyuan:resolution".into(), json!(r));
    }
    Ok(Value::Object(m))
}

/// Builds the `EPCISDocument` of a batch: `records[0]` is its batch record, the rest
/// the events that touched it, in log order; `batches` holds the record of every
/// batch those events name (the exported one included).
pub fn document(
    records: &[Record],
    batches: &BTreeMap<BatchId, BatchStatement>,
    created: Timestamp,
) -> Result<Value, EpcisError> {
    let (first, rest) = records.split_first().ok_or(EpcisError::NoBatch)?;
    let batch = first.batch().ok_or(EpcisError::NoBatch)?;
    let mut events = vec![commissioning(first, batch)?];
    for rec in rest {
        match &rec.body {
            Body::Event(ev) => events.push(custody_event(rec, ev, batches)?),
            Body::Batch(_) => {
                return Err(EpcisError::Parse {
                    id: rec.id.clone(),
                    why: "a second batch record in one export".into(),
                })
            }
        }
    }
    Ok(json!({
        "@context": [GS1_CONTEXT, {"suyuan": NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.to_string(),
        "suyuan:batch": first.id,
        "epcisBody": {"eventList": events},
    }))
}

#[cfg(test)]
mod tests;
