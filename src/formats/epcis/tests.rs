//! The EPCIS export against hand-checked documents and the GS1 schema's rules.

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
        prev: BTreeMap::from([(id(1), id(1))]),
        ..EventStatement::new(
            Slug::parse("north-wholesale").unwrap(),
            "k2".into(),
            Timestamp::parse(T).unwrap(),
            t,
            objects,
        )
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
    assert!(matches!(
        Record::parse("x", 0, "batch", "{\"v\":1}"),
        Err(EpcisError::Parse { .. })
    ));
    assert!(matches!(
        Record::parse("x", 0, "key", "{\"v\":1,\"sig\":\"s\"}"),
        Err(EpcisError::Parse { .. })
    ));
}

#[test]
fn stored_statements_parse() {
    let b = batch(3, None);
    let mut v = serde_json::to_value(&b).unwrap();
    v["sig"] = json!("s".repeat(86));
    let rec = Record::parse(&id(1).hex(), 4, "batch", &v.to_string()).unwrap();
    assert_eq!(rec.batch(), Some(&b));
    assert_eq!(rec.sig, "s".repeat(86));
    assert_eq!(rec.seq, 4);
}
