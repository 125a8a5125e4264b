//! Trace (issue 7): a raw-material lot downstream to batches, holders and
//! containers; recall follow-up as units come back; the `/inspect` page.

use serde_json::Value;

use crate::helpers::*;
use suyuan::domain::statement::{BatchId, EventType, Resolution};
use suyuan::formats::gs1::{check_digit, Sscc};
use suyuan::formats::sign::Kind;

fn sscc(n: u32) -> Sscc {
    let body = format!("10614141{n:09}");
    Sscc::parse(&format!("{body}{}", check_digit(&body))).unwrap()
}

fn batch_of<'a>(trace: &'a Value, id: &BatchId) -> &'a Value {
    trace["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["batch"] == id.hex())
        .unwrap_or_else(|| panic!("batch {id} not in {trace}"))
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// Posts the page's form, as a browser does: the token in the body.
async fn post_page(app: &TestApp, form: &[(&str, &str)]) -> (u16, String) {
    let resp = app
        .http
        .post(format!("{}/inspect", app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn page(app: &TestApp, query: &str) -> (u16, String) {
    let resp = app
        .http
        .get(format!("{}/inspect{query}", app.base))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn material_lot_traced_to_every_batch_holder_and_container() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let inspector = app.party("county-qa", "inspector").await;
    let other = app.party("other-farm", "factory").await;

    // Two batches use supplier lot P3-1 (the helper's input); a third does not.
    let a = mint(&factory, "L1", 1000).await;
    let b = mint(&factory, "L2", 500).await;
    let mut body = batch_body(&factory, "L3", 10);
    body.inputs[0].supplier = "Mill 9".into();
    body.inputs[0].supplier_lot = "Q9-7".into();
    let (stmt, c) = signed(&factory, Kind::Batch, &body);
    factory.client.submit(Kind::Batch, &stmt).await.unwrap();

    simple(
        &factory,
        EventType::Packing,
        vec![range(a, 900, 923)],
        |e| e.parent = Some(sscc(1)),
    )
    .await
    .unwrap();
    let s1 = ship(&factory, &b1, vec![range(a, 0, 599)]).await.unwrap();
    receive(&b1, s1, vec![range(a, 0, 599)]).await.unwrap();
    let s2 = ship(&b1, &b2, vec![range(a, 0, 99)]).await.unwrap();
    receive(&b2, s2, vec![range(a, 0, 99)]).await.unwrap();
    simple(&b2, EventType::RetailSelling, vec![range(a, 0, 9)], |_| {})
        .await
        .unwrap();
    ship(&factory, &b1, vec![range(b, 0, 99)]).await.unwrap();
    recall(
        &factory,
        vec![range(a, 0, 99)],
        "aflatoxin in raw milk lot P3-1",
        "stop selling, return to the factory",
    )
    .await
    .unwrap();

    let (st, t) = app
        .get("/api/v1/trace?material_lot=P3-1", Some(&inspector.token))
        .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["material_lot"], "P3-1");
    assert_eq!(t["batches"].as_array().unwrap().len(), 2, "{t}");
    let ta = batch_of(&t, &a);
    assert_eq!(ta["lot"], "L1");
    assert_eq!(ta["inputs"][0]["supplier"], "Pasture 3");
    let w = &ta["whereabouts"];
    assert_eq!(
        [
            "units",
            "at_factory",
            "at_b1",
            "at_b2",
            "in_transit",
            "sold",
            "recalled"
        ]
        .map(|f| n(w, f)),
        [1000, 400, 500, 90, 0, 10, 100],
        "{w}"
    );
    let sold_at_shop = w["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["holder"] == "corner-shop" && h["disposition"] == "retail_sold")
        .unwrap();
    assert_eq!(
        (n(sold_at_shop, "units"), n(sold_at_shop, "recalled")),
        (10, 10)
    );
    assert_eq!(sold_at_shop["kind"], "b2");
    let cs = ta["containers"].as_array().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["sscc"], sscc(1).as_str());
    assert_eq!(n(&cs[0], "units"), 24);
    let wb = &batch_of(&t, &b)["whereabouts"];
    assert_eq!(
        ["units", "at_factory", "in_transit"].map(|f| n(wb, f)),
        [500, 400, 100]
    );
    let in_transit = wb["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["disposition"] == "in_transit")
        .unwrap();
    assert_eq!(
        (&in_transit["holder"], &in_transit["dest"]),
        (&Value::from("acme-dairy"), &Value::from("north-wholesale"))
    );
    assert_eq!(n(&t["total"], "units"), 1500);
    assert_eq!(n(&t["total"], "sold"), 10);

    // Narrowed by supplier; another lot finds only its own batch.
    let (st, t2) = app
        .get(
            "/api/v1/trace?material_lot=P3-1&supplier=Pasture%203",
            Some(&inspector.token),
        )
        .await;
    assert_eq!((st, t2["batches"].as_array().unwrap().len()), (200, 2));
    let (st, _) = app
        .get(
            "/api/v1/trace?material_lot=P3-1&supplier=Mill%209",
            Some(&inspector.token),
        )
        .await;
    assert_eq!(st, 404);
    let (st, t3) = app
        .get("/api/v1/trace?material_lot=Q9-7", Some(&app.admin))
        .await;
    assert_eq!(st, 200);
    assert_eq!(t3["batches"][0]["batch"], c);

    // A lot nobody used: 404 naming it.
    let (st, e) = app
        .get("/api/v1/trace?material_lot=NOPE-1", Some(&inspector.token))
        .await;
    assert_eq!(st, 404, "{e}");
    assert!(e["message"].as_str().unwrap().contains("NOPE-1"), "{e}");
    let (st, _) = app.get("/api/v1/trace", Some(&inspector.token)).await;
    assert_eq!(st, 400);

    // Who may trace: the factory sees its own batches; others' factories see none.
    let (st, tf) = app
        .get("/api/v1/trace?material_lot=P3-1", Some(&factory.token))
        .await;
    assert_eq!((st, tf["batches"].as_array().unwrap().len()), (200, 2));
    let (st, _) = app
        .get("/api/v1/trace?material_lot=P3-1", Some(&other.token))
        .await;
    assert_eq!(st, 404);
    for who in [&b2, &b1] {
        let (st, e) = app
            .get("/api/v1/trace?material_lot=P3-1", Some(&who.token))
            .await;
        assert_eq!(st, 403, "{e}");
    }
    let (st, _) = app.get("/api/v1/trace?material_lot=P3-1", None).await;
    assert_eq!(st, 401);

    // The page: a trace needs a token; with one it lists the batches.
    let (st, _) = page(&app, "?material_lot=P3-1").await;
    assert_eq!(st, 401);
    let (st, html) = post_page(
        &app,
        &[("material_lot", "P3-1"), ("token", &inspector.token)],
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("lot L1") && html.contains("lot L2"), "{html}");
    assert!(!html.contains("lot L3"));
    assert!(html.contains(sscc(1).as_str()));
    let (st, _) = post_page(
        &app,
        &[("material_lot", "NOPE-1"), ("token", &inspector.token)],
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = post_page(&app, &[("material_lot", "P3-1"), ("token", &b2.token)]).await;
    assert_eq!(st, 403);
    // The form posts; a token put in the URL anyway is refused, not used.
    assert!(html.contains("<form method=\"post\" action=\"/inspect\">"));
    assert!(!html.contains("method=\"get\""));
    let (st, html) = page(
        &app,
        &format!("?material_lot=P3-1&token={}", inspector.token),
    )
    .await;
    assert_eq!(st, 400);
    assert!(html.contains("token in the URL is refused"), "{html}");
    assert!(
        !html.contains("Inputs from this lot"),
        "nothing traced with a URL token"
    );
}

#[tokio::test]
async fn recall_view_follows_units_coming_back() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let inspector = app.party("county-qa", "inspector").await;
    let a = mint(&factory, "R1", 100).await;
    let s = ship(&factory, &b1, vec![range(a, 0, 49)]).await.unwrap();
    receive(&b1, s, vec![range(a, 0, 49)]).await.unwrap();
    recall(
        &inspector,
        vec![range(a, 0, 59)],
        "undeclared allergen",
        "send all stock back to acme-dairy",
    )
    .await
    .unwrap();

    let recall = |v: &Value| v["recalls"][0]["whereabouts"].clone();
    let (st, v) = app.get("/api/v1/recalls", Some(&inspector.token)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["recalls"].as_array().unwrap().len(), 1);
    assert_eq!(v["recalls"][0]["reason"], "undeclared allergen");
    assert_eq!(v["recalls"][0]["party"], "county-qa");
    assert_eq!(v["recalls"][0]["batches"][0]["lot"], "R1");
    assert_eq!(n(&v["recalls"][0]["batches"][0], "units"), 60);
    let w = recall(&v);
    assert_eq!(
        [
            "units",
            "at_factory",
            "at_b1",
            "in_transit",
            "returned",
            "recalled"
        ]
        .map(|f| n(&w, f)),
        [60, 10, 50, 0, 0, 60],
        "{w}"
    );

    // B1 sends the recalled stock back upstream: in transit.
    let ret = simple(&b1, EventType::Returning, vec![range(a, 0, 49)], |e| {
        e.to = Some(factory.ks.party.clone());
        e.reason = Some("recall".into());
    })
    .await
    .unwrap();
    let ret = BatchId::parse(ret["id"].as_str().unwrap()).unwrap();
    let (_, v) = app.get("/api/v1/recalls", Some(&factory.token)).await;
    let w = recall(&v);
    assert_eq!(
        ["at_factory", "at_b1", "in_transit"].map(|f| n(&w, f)),
        [10, 0, 50],
        "{w}"
    );

    // The factory takes it back into quarantine.
    simple(
        &factory,
        EventType::AcceptingReturn,
        vec![range(a, 0, 49)],
        |e| {
            e.shipment = Some(ret);
            e.resolution = Some(Resolution::Quarantine);
        },
    )
    .await
    .unwrap();
    let (_, v) = app.get("/api/v1/recalls", Some(&app.admin)).await;
    let w = recall(&v);
    assert_eq!(
        [
            "units",
            "at_factory",
            "at_b1",
            "in_transit",
            "returned",
            "recalled"
        ]
        .map(|f| n(&w, f)),
        [60, 10, 0, 0, 50, 60],
        "{w}"
    );
    let back = w["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["disposition"] == "returned")
        .unwrap();
    assert_eq!(
        (&back["holder"], n(back, "units")),
        (&Value::from("acme-dairy"), 50)
    );

    // Only operator, inspector and factory tokens.
    for who in [&b1, &b2] {
        let (st, _) = app.get("/api/v1/recalls", Some(&who.token)).await;
        assert_eq!(st, 403);
    }

    // The page shows recalls publicly, by holder kind; holders by name need a token.
    let (st, html) = page(&app, "").await;
    assert_eq!(st, 200);
    assert!(html.contains("undeclared allergen"), "{html}");
    assert!(html.contains("send all stock back to acme-dairy"));
    assert!(!html.contains("acme-dairy (factory)"));
    let (st, html) = post_page(&app, &[("token", &inspector.token)]).await;
    assert_eq!(st, 200);
    assert!(html.contains("acme-dairy (factory): 50 returned"), "{html}");
    let (st, _) = post_page(&app, &[("token", "sy_not-a-token")]).await;
    assert_eq!(st, 401);
    let (st, html) = page(&app, &format!("?token={}", inspector.token)).await;
    assert_eq!(st, 400);
    assert!(!html.contains("acme-dairy (factory): 50 returned"));
}

#[tokio::test]
async fn million_unit_batch_is_traced_from_ranges() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let mut body = batch_body(&factory, "BIG", 1_000_000);
    body.inputs[0].supplier_lot = "BIG-1".into();
    let (stmt, id) = signed(&factory, Kind::Batch, &body);
    factory.client.submit(Kind::Batch, &stmt).await.unwrap();
    let id = BatchId::parse(&id).unwrap();
    ship(&factory, &b1, vec![range(id, 0, 499_999)])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (st, t) = app
        .get("/api/v1/trace?material_lot=BIG-1", Some(&app.admin))
        .await;
    eprintln!("trace of a 1,000,000-unit batch: {:?}", started.elapsed());
    assert_eq!(st, 200, "{t}");
    let w = &t["batches"][0]["whereabouts"];
    assert_eq!(
        ["units", "at_factory", "in_transit"].map(|f| n(w, f)),
        [1_000_000, 500_000, 500_000]
    );
}
