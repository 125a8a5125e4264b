//! EPCIS 2.0 export (issue 7, item 7): a real flow exported over HTTP and by the
//! CLI, validated against the official GS1 EPCIS 2.0 JSON schema in tests/epcis/.

use crate::helpers::*;
use serde_json::Value;
use suyuan::domain::statement::{EventType, Exception, ExceptionType};
use suyuan::formats::gs1::{check_digit, Sscc};

fn sscc(n: u32) -> Sscc {
    let body = format!("10614141{n:09}");
    Sscc::parse(&format!("{body}{}", check_digit(&body))).unwrap()
}

/// Every error the official schema finds in `doc` (formats checked too).
fn schema_errors(doc: &Value) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/epcis/EPCIS-JSON-Schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the official schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn steps(doc: &Value) -> Vec<(String, String)> {
    doc["epcisBody"]["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let step = e["bizStep"].as_str().unwrap_or_default();
            (
                e["type"].as_str().unwrap().to_owned(),
                step.trim_start_matches("https://ref.gs1.org/cbv/BizStep-")
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn exported_flow_validates_against_the_official_schema() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let shop = app.party("corner-shop", "b2").await;
    let stranger = app.party("far-away", "b1").await;
    let batch = mint(&factory, "L-EPCIS", 1500).await;

    // Pack a case, ship it with 1,200 loose units, receive all but 10 (shortage).
    simple(
        &factory,
        EventType::Packing,
        vec![range(batch, 0, 23)],
        |e| {
            e.parent = Some(sscc(1));
            e.place = Some("Line 1 packing".into());
        },
    )
    .await
    .unwrap();
    simple(
        &factory,
        EventType::Shipping,
        vec![range(batch, 24, 1223)],
        |e| {
            e.containers = vec![sscc(1)];
            e.to = Some(shop.ks.party.clone());
            e.asn = Some("ASN 7/1".into());
            e.place = Some("0614141000005".into());
        },
    )
    .await
    .unwrap();
    let shipment = app.store.shipments_to(&shop.ks.party).await.unwrap()[0]
        .id
        .clone();
    simple(
        &shop,
        EventType::Receiving,
        vec![range(batch, 24, 1213)],
        |e| {
            e.containers = vec![sscc(1)];
            e.shipment = Some(suyuan::domain::statement::BatchId::parse(&shipment).unwrap());
            e.exceptions = vec![Exception {
                kind: ExceptionType::Shortage,
                objects: vec![range(batch, 1214, 1223)],
                note: Some("10 missing".into()),
            }];
        },
    )
    .await
    .unwrap();
    simple(
        &shop,
        EventType::RetailSelling,
        vec![range(batch, 24, 25)],
        |e| e.place = Some("Corner Shop, Beijing".into()),
    )
    .await
    .unwrap();
    recall(
        &factory,
        vec![range(batch, 0, 1499)],
        "contaminated whey",
        "return to shop",
    )
    .await
    .unwrap();

    let path = format!("/api/v1/epcis/events?batch={batch}");
    let (code, doc) = app.get(&path, Some(&shop.token)).await;
    assert_eq!(code, 200, "{doc}");
    let errors = schema_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");

    assert_eq!(doc["type"], "EPCISDocument");
    assert_eq!(doc["schemaVersion"], "2.0");
    assert_eq!(
        steps(&doc),
        [
            ("ObjectEvent", "commissioning"),
            ("AggregationEvent", "packing"),
            ("ObjectEvent", "shipping"),
            ("ObjectEvent", "receiving"),
            ("ObjectEvent", "retail_selling"),
            ("ObjectEvent", "holding"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let ev = &doc["epcisBody"]["eventList"];
    let class = "https://id.gs1.org/01/09506000134352/10/L-EPCIS";
    // 1,500 units are counted, not listed.
    assert_eq!(ev[0]["action"], "ADD");
    assert_eq!(ev[0]["quantityList"][0]["epcClass"], class);
    assert_eq!(ev[0]["quantityList"][0]["quantity"], 1500);
    assert_eq!(ev[0]["suyuan:statementId"], batch.to_string());
    assert_eq!(
        ev[1]["parentID"],
        format!("https://id.gs1.org/00/{}", sscc(1))
    );
    assert_eq!(ev[1]["childEPCs"].as_array().unwrap().len(), 24);
    assert_eq!(ev[1]["childEPCs"][0], format!("{class}/21/0"));
    assert_eq!(
        ev[2]["disposition"],
        "https://ref.gs1.org/cbv/Disp-in_transit"
    );
    assert_eq!(ev[2]["quantityList"][0]["quantity"], 1200);
    assert_eq!(
        ev[2]["epcList"],
        serde_json::json!([format!("https://id.gs1.org/00/{}", sscc(1))])
    );
    assert_eq!(
        ev[2]["destinationList"][0]["destination"],
        "urn:suyuan:party:corner-shop"
    );
    assert_eq!(
        ev[2]["bizLocation"]["id"],
        "https://id.gs1.org/414/0614141000005"
    );
    assert_eq!(ev[3]["suyuan:exceptions"][0]["suyuan:type"], "shortage");
    assert_eq!(
        ev[4]["epcList"],
        serde_json::json!([format!("{class}/21/24"), format!("{class}/21/25")])
    );
    assert_eq!(
        ev[4]["disposition"],
        "https://ref.gs1.org/cbv/Disp-retail_sold"
    );
    assert_eq!(
        ev[5]["disposition"],
        "https://ref.gs1.org/cbv/Disp-recalled"
    );
    assert_eq!(ev[5]["suyuan:eventType"], "recalling");
    for e in ev.as_array().unwrap() {
        assert_eq!(e["suyuan:sig"].as_str().unwrap().len(), 86, "{e}");
        assert_eq!(e["eventTimeZoneOffset"], "+00:00");
    }

    // The validator is not a rubber stamp: a broken event fails.
    let mut broken = doc.clone();
    broken["epcisBody"]["eventList"][4]["action"] = "LOOK".into();
    assert!(!schema_errors(&broken).is_empty());

    // Who may read it.
    assert_eq!(app.get(&path, Some(&factory.token)).await.0, 200);
    assert_eq!(app.get(&path, Some(&app.admin)).await.0, 200);
    let (code, v) = app.get(&path, Some(&stranger.token)).await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(app.get(&path, None).await.0, 401);
    let unknown = format!("/api/v1/epcis/events?batch={}", "0".repeat(64));
    assert_eq!(app.get(&unknown, Some(&app.admin)).await.0, 404);
    let (code, v) = app
        .get("/api/v1/epcis/events?batch=XYZ", Some(&app.admin))
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        app.get("/api/v1/epcis/events", Some(&app.admin)).await.0,
        400
    );

    // The CLI writes the same document, and it validates too.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("epcis.jsonld");
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_suyuan"))
        .args(["export", "--epcis", "--server", &app.base, "--batch"])
        .arg(batch.to_string())
        .arg("--out")
        .arg(&out)
        .env("SUYUAN_TOKEN", &factory.token)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let errors = schema_errors(&file);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(file["epcisBody"], doc["epcisBody"]);
}
