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
use crate::store::StoredStatement;

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
    /// Parses a stored batch record or event (JSON with `sig`).
    pub fn parse(st: &StoredStatement) -> Result<Record, EpcisError> {
        let err = |why: String| EpcisError::Parse {
            id: st.id.clone(),
            why,
        };
        let mut v: Value = serde_json::from_str(&st.json).map_err(|e| err(e.to_string()))?;
        let sig = v
            .as_object_mut()
            .and_then(|o| o.remove("sig"))
            .and_then(|s| s.as_str().map(str::to_owned))
            .ok_or_else(|| err("no \"sig\"".into()))?;
        let body = match st.kind.as_str() {
            "batch" => Body::Batch(serde_json::from_value(v).map_err(|e| err(e.to_string()))?),
            "event" => Body::Event(serde_json::from_value(v).map_err(|e| err(e.to_string()))?),
            other => return Err(err(format!("kind \"{other}\" is not exported"))),
        };
        Ok(Record {
            id: st.id.clone(),
            seq: st.seq,
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
mod tests {
    use super::*;
    use crate::domain::party::Slug;
    use crate::domain::statement::{Exception, ExceptionType, VERSION};
    use crate::domain::time::Date;
    use crate::formats::gs1::{Gtin, Lot};

    const T: &str = "2026-11-28T14:02:25Z";

    fn id(n: u8) -> BatchId {
        BatchId([n; 32])
    }

    fn sscc() -> Sscc {
        Sscc::parse("106141411234567897").unwrap()
    }

    fn batch(quantity: u64, prefix: Option<&str>) -> BatchStatement {
        BatchStatement {
            v: VERSION,
            party: Slug::parse("acme-dairy").unwrap(),
            key: "k1".into(),
            time: Timestamp::parse(T).unwrap(),
            gtin: Gtin::parse("09506000134352").unwrap(),
            product: "milk powder".into(),
            lot: Lot::parse("A/B").unwrap(),
            quantity,
            produced: Date::parse("2026-10-01").unwrap(),
            expires: None,
            line: None,
            serial_prefix: prefix.map(str::to_owned),
            inputs: vec![],
            steps: vec![],
            certificates: vec![],
        }
    }

    fn event(t: EventType, objects: Vec<UnitRange>) -> EventStatement {
        EventStatement {
            v: VERSION,
            party: Slug::parse("north-wholesale").unwrap(),
            key: "k2".into(),
            time: Timestamp::parse(T).unwrap(),
            event_type: t,
            objects,
            containers: vec![],
            parent: None,
            prev: BTreeMap::from([(id(1), id(1))]),
            to: None,
            asn: None,
            shipment: None,
            exceptions: vec![],
            reason: None,
            instructions: None,
            resolution: None,
            result: None,
            method: None,
            certificate_sha256: None,
            place: None,
        }
    }

    fn rec(n: u8, body: Body) -> Record {
        Record {
            id: id(n).hex(),
            seq: n as i64,
            sig: "s".repeat(86),
            body,
        }
    }

    fn export(quantity: u64, events: Vec<EventStatement>) -> Value {
        let b = batch(quantity, Some("S"));
        let mut records = vec![rec(1, Body::Batch(b.clone()))];
        for (i, e) in events.into_iter().enumerate() {
            records.push(rec(i as u8 + 2, Body::Event(e)));
        }
        let batches = BTreeMap::from([(id(1), b)]);
        document(&records, &batches, Timestamp::parse(T).unwrap()).unwrap()
    }

    fn r(first: u64, last: u64) -> UnitRange {
        UnitRange {
            batch: id(1),
            first,
            last,
        }
    }

    #[test]
    fn uris() {
        let b = batch(10, Some("S"));
        assert_eq!(
            unit_uri(&b, 7).unwrap(),
            "https://id.gs1.org/01/09506000134352/10/A%2FB/21/S7"
        );
        assert_eq!(
            class_uri(&b),
            "https://id.gs1.org/01/09506000134352/10/A%2FB"
        );
        assert_eq!(
            sscc_uri(&sscc()),
            "https://id.gs1.org/00/106141411234567897"
        );
        assert_eq!(party_uri("acme-dairy"), "urn:suyuan:party:acme-dairy");
        assert_eq!(
            place_uri("0614141000005"),
            "https://id.gs1.org/414/0614141000005"
        );
        assert_eq!(place_uri("Dock 3"), "urn:suyuan:place:Dock%203");
        assert_eq!(place_uri("urn:x:y"), "urn:x:y");
    }

    #[test]
    fn document_header_and_commissioning() {
        let doc = export(3, vec![]);
        assert_eq!(doc["type"], "EPCISDocument");
        assert_eq!(doc["schemaVersion"], "2.0");
        assert_eq!(doc["creationDate"], T);
        assert_eq!(doc["@context"][0], GS1_CONTEXT);
        assert_eq!(doc["@context"][1]["suyuan"], NAMESPACE);
        let e = &doc["epcisBody"]["eventList"][0];
        assert_eq!(e["type"], "ObjectEvent");
        assert_eq!(e["action"], "ADD");
        assert_eq!(
            e["bizStep"],
            "https://ref.gs1.org/cbv/BizStep-commissioning"
        );
        assert_eq!(e["disposition"], "https://ref.gs1.org/cbv/Disp-active");
        assert_eq!(e["eventTime"], T);
        assert_eq!(e["eventTimeZoneOffset"], "+00:00");
        assert_eq!(e["epcList"].as_array().unwrap().len(), 3);
        assert!(e.get("quantityList").is_none());
        assert_eq!(e["suyuan:statementId"], id(1).hex());
        assert_eq!(e["suyuan:party"], "urn:suyuan:party:acme-dairy");
        assert_eq!(e["suyuan:key"], "k1");
        assert_eq!(e["suyuan:sig"], "s".repeat(86));
        assert_eq!(e["ilmd"]["suyuan:quantity"], 3);
        assert_eq!(
            prefixed(json!([{"material": "milk"}])),
            json!([{"suyuan:material": "milk"}])
        );
    }

    #[test]
    fn large_ranges_are_counted_small_ones_listed() {
        let doc = export(
            5000,
            vec![event(
                EventType::Shipping,
                vec![r(0, 999), r(1000, 1000 + MAX_LISTED)],
            )],
        );
        let e0 = &doc["epcisBody"]["eventList"][0];
        assert_eq!(e0["epcList"], json!([]));
        assert_eq!(e0["quantityList"][0]["quantity"], 5000);
        let e = &doc["epcisBody"]["eventList"][1];
        assert_eq!(e["epcList"].as_array().unwrap().len(), 1000);
        assert_eq!(e["quantityList"][0]["quantity"], 1001);
        assert_eq!(
            e["quantityList"][0]["epcClass"],
            "https://id.gs1.org/01/09506000134352/10/A%2FB"
        );
        assert_eq!(e["suyuan:objects"][1]["suyuan:last"], 2000);
    }

    #[test]
    fn bizsteps_and_dispositions() {
        let cases: Vec<(EventStatement, &str, Option<&str>)> = vec![
            (
                event(EventType::Shipping, vec![r(0, 0)]),
                "shipping",
                Some("in_transit"),
            ),
            (
                event(EventType::Receiving, vec![r(0, 0)]),
                "receiving",
                Some("active"),
            ),
            (
                event(EventType::RetailSelling, vec![r(0, 0)]),
                "retail_selling",
                Some("retail_sold"),
            ),
            (
                event(EventType::Returning, vec![r(0, 0)]),
                "receiving",
                Some("returned"),
            ),
            (
                event(EventType::Recalling, vec![r(0, 0)]),
                "holding",
                Some("recalled"),
            ),
            (
                event(EventType::Destroying, vec![r(0, 0)]),
                "destroying",
                Some("destroyed"),
            ),
            (
                event(EventType::Inspecting, vec![r(0, 0)]),
                "inspecting",
                None,
            ),
        ];
        for (ev, step, disp) in cases {
            let t = ev.event_type.as_str();
            let doc = export(1, vec![ev]);
            let e = &doc["epcisBody"]["eventList"][1];
            assert_eq!(e["type"], "ObjectEvent", "{t}");
            assert_eq!(e["action"], "OBSERVE", "{t}");
            assert_eq!(e["bizStep"], format!("{CBV}BizStep-{step}"), "{t}");
            match disp {
                Some(d) => assert_eq!(e["disposition"], format!("{CBV}Disp-{d}"), "{t}"),
                None => assert!(e.get("disposition").is_none(), "{t}"),
            }
            assert_eq!(e["suyuan:eventType"], t);
        }
        let mut ev = event(EventType::Inspecting, vec![r(0, 0)]);
        ev.result = Some("fail".into());
        let doc = export(1, vec![ev]);
        assert_eq!(
            doc["epcisBody"]["eventList"][1]["disposition"],
            "https://ref.gs1.org/cbv/Disp-non_conformant"
        );
        let mut ev = event(EventType::AcceptingReturn, vec![r(0, 0)]);
        ev.resolution = Some(Resolution::Restock);
        let doc = export(1, vec![ev]);
        assert_eq!(
            doc["epcisBody"]["eventList"][1]["disposition"],
            format!("{CBV}Disp-active")
        );
    }

    #[test]
    fn shipping_carries_parties_asn_place_and_containers() {
        let mut ev = event(EventType::Shipping, vec![r(0, 1)]);
        ev.to = Some(Slug::parse("corner-shop").unwrap());
        ev.asn = Some("ASN 1".into());
        ev.place = Some("Dock 3".into());
        ev.containers = vec![sscc()];
        let doc = export(2, vec![ev]);
        let e = &doc["epcisBody"]["eventList"][1];
        assert_eq!(
            e["epcList"],
            json!([
                "https://id.gs1.org/01/09506000134352/10/A%2FB/21/S0",
                "https://id.gs1.org/01/09506000134352/10/A%2FB/21/S1",
                "https://id.gs1.org/00/106141411234567897"
            ])
        );
        assert_eq!(
            e["sourceList"],
            json!([
                {"type": format!("{CBV}SDT-owning_party"), "source": "urn:suyuan:party:north-wholesale"},
                {"type": format!("{CBV}SDT-possessing_party"), "source": "urn:suyuan:party:north-wholesale"},
            ])
        );
        assert_eq!(
            e["destinationList"][1]["destination"],
            "urn:suyuan:party:corner-shop"
        );
        assert_eq!(
            e["bizTransactionList"][0]["bizTransaction"],
            "urn:suyuan:asn:ASN%201"
        );
        assert_eq!(
            e["bizTransactionList"][0]["type"],
            format!("{CBV}BTT-desadv")
        );
        assert_eq!(e["readPoint"]["id"], "urn:suyuan:place:Dock%203");
        assert_eq!(e["bizLocation"]["id"], "urn:suyuan:place:Dock%203");
        assert_eq!(e["suyuan:asn"], "ASN 1");
    }

    #[test]
    fn packing_and_unpacking_are_aggregations() {
        let mut pack = event(EventType::Packing, vec![r(0, 2)]);
        pack.parent = Some(sscc());
        let mut unpack = event(EventType::Unpacking, vec![]);
        unpack.parent = Some(sscc());
        let doc = export(3, vec![pack, unpack]);
        let p = &doc["epcisBody"]["eventList"][1];
        assert_eq!(p["type"], "AggregationEvent");
        assert_eq!(p["action"], "ADD");
        assert_eq!(p["parentID"], "https://id.gs1.org/00/106141411234567897");
        assert_eq!(p["childEPCs"].as_array().unwrap().len(), 3);
        assert_eq!(p["bizStep"], format!("{CBV}BizStep-packing"));
        assert!(p.get("epcList").is_none());
        let u = &doc["epcisBody"]["eventList"][2];
        assert_eq!(u["type"], "AggregationEvent");
        assert_eq!(u["action"], "DELETE");
        assert!(u.get("childEPCs").is_none());
        assert_eq!(u["bizStep"], format!("{CBV}BizStep-unpacking"));
    }

    #[test]
    fn exceptions_travel_as_extensions() {
        let mut ev = event(EventType::Receiving, vec![r(0, 7)]);
        ev.exceptions = vec![Exception {
            kind: ExceptionType::Shortage,
            objects: vec![r(8, 9)],
            note: Some("two missing".into()),
        }];
        ev.shipment = Some(id(9));
        let doc = export(10, vec![ev]);
        let e = &doc["epcisBody"]["eventList"][1];
        assert_eq!(e["suyuan:exceptions"][0]["suyuan:type"], "shortage");
        assert_eq!(
            e["suyuan:exceptions"][0]["suyuan:objects"][0]["suyuan:first"],
            8
        );
        assert_eq!(e["suyuan:exceptions"][0]["suyuan:note"], "two missing");
        assert_eq!(e["suyuan:shipment"], id(9).hex());
        assert_eq!(
            e["destinationList"][0]["destination"],
            "urn:suyuan:party:north-wholesale"
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let b = batch(3, None);
        let batches = BTreeMap::new();
        let t = Timestamp::parse(T).unwrap();
        assert_eq!(document(&[], &batches, t), Err(EpcisError::NoBatch));
        let ev = rec(2, Body::Event(event(EventType::Shipping, vec![r(0, 0)])));
        assert_eq!(
            document(std::slice::from_ref(&ev), &batches, t),
            Err(EpcisError::NoBatch)
        );
        let records = [rec(1, Body::Batch(b)), ev];
        assert_eq!(
            document(&records, &batches, t),
            Err(EpcisError::UnknownBatch(id(1).hex()))
        );
        let st = StoredStatement {
            seq: 0,
            id: "x".into(),
            kind: "batch".into(),
            party: "acme-dairy".into(),
            json: "{\"v\":1}".into(),
        };
        assert!(matches!(Record::parse(&st), Err(EpcisError::Parse { .. })));
    }

    #[test]
    fn stored_statements_parse() {
        let b = batch(3, None);
        let mut v = serde_json::to_value(&b).unwrap();
        v["sig"] = json!("s".repeat(86));
        let st = StoredStatement {
            seq: 4,
            id: id(1).hex(),
            kind: "batch".into(),
            party: "acme-dairy".into(),
            json: v.to_string(),
        };
        let rec = Record::parse(&st).unwrap();
        assert_eq!(rec.batch(), Some(&b));
        assert_eq!(rec.sig, "s".repeat(86));
        assert_eq!(rec.seq, 4);
    }
}
