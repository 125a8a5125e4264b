//! Custody through the real server: handoffs, splits, conflicts, recalls, returns.

use serde_json::Value;

use crate::helpers::*;
use suyuan::domain::custody::Disposition;
use suyuan::domain::statement::{EventType, Exception, ExceptionType, Resolution};
use suyuan::formats::sign::Kind;

#[tokio::test]
async fn factory_to_b1_to_b2_to_consumer() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 1000).await;

    let s1 = ship(&factory, &b1, vec![range(batch, 0, 599)])
        .await
        .unwrap();
    // In transit: the sender still holds, the receiver is named.
    let h = app.store.unit(&batch, 10).await.unwrap().unwrap();
    assert_eq!(
        (h.holder.as_str(), h.disposition),
        ("acme-dairy", Disposition::InTransit)
    );
    receive(&b1, s1, vec![range(batch, 0, 599)]).await.unwrap();
    let s2 = ship(&b1, &b2, vec![range(batch, 0, 99)]).await.unwrap();
    receive(&b2, s2, vec![range(batch, 0, 99)]).await.unwrap();
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 5, 5)],
        |_| {},
    )
    .await
    .unwrap();

    let unit = app.store.unit(&batch, 5).await.unwrap().unwrap();
    assert_eq!(
        (unit.holder.as_str(), unit.disposition),
        ("corner-shop", Disposition::RetailSold)
    );
    let holdings = app.holdings(&batch).await;
    let summary: Vec<(u64, u64, &str, Disposition)> = holdings
        .iter()
        .map(|h| {
            (
                h.range.first,
                h.range.last,
                h.holder.as_str(),
                h.disposition,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 4, "corner-shop", Disposition::Active),
            (5, 5, "corner-shop", Disposition::RetailSold),
            (6, 99, "corner-shop", Disposition::Active),
            (100, 599, "north-wholesale", Disposition::Active),
            (600, 999, "acme-dairy", Disposition::Active),
        ]
    );

    // The unit's public history lists the five events that named it, in order.
    let (code, v) = app.get(&format!("/api/v1/units/{batch}/5"), None).await;
    assert_eq!(code, 200);
    let types: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "shipping",
            "receiving",
            "shipping",
            "receiving",
            "retail_selling"
        ]
    );

    // The receiver's view of expected shipments shows nothing left in transit.
    let (code, v) = app
        .get("/api/v1/shipments?to=corner-shop", Some(&b2.token))
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["shipments"][0]["in_transit_units"], 0);
    assert_eq!(v["shipments"][0]["expected_units"], 100);
}

#[tokio::test]
async fn minting_a_million_units_writes_one_holding_row() {
    let app = spawn_app().await;
    let factory = app.party("big-factory", "factory").await;
    let batch = mint(&factory, "BIG", 1_000_000).await;
    let hs = app.holdings(&batch).await;
    assert_eq!(hs.len(), 1);
    assert_eq!((hs[0].range.first, hs[0].range.last), (0, 999_999));
    let (code, v) = app
        .get(&format!("/api/v1/units/{batch}/999999"), None)
        .await;
    assert_eq!(code, 200, "{v}");
    let (code, _) = app
        .get(&format!("/api/v1/units/{batch}/1000000"), None)
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn two_conflicting_handoffs_at_once_exactly_one_is_stored() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let other = app.party("south-wholesale", "b1").await;
    let batch = mint(&factory, "L1", 100).await;

    // Both sign against the same head and race; no client-side retry.
    let make = |to: &Actor| {
        let mut ev = suyuan::client::draft_event(
            &factory.ks,
            EventType::Shipping,
            vec![range(batch, 0, 49)],
        );
        ev.to = Some(to.ks.party.clone());
        ev.prev = [(batch, batch)].into_iter().collect();
        signed(&factory, Kind::Event, &ev).0.to_string()
    };
    let (a, b) = (make(&b1), make(&other));
    let before = app.log_size().await;
    let (ra, rb) = tokio::join!(
        app.post_raw("/api/v1/events", Some(&factory.token), &a),
        app.post_raw("/api/v1/events", Some(&factory.token), &b)
    );
    let mut codes = [ra.0, rb.0];
    codes.sort();
    assert_eq!(codes, [201, 409], "{ra:?} {rb:?}");
    let loser = if ra.0 == 409 { &ra.1 } else { &rb.1 };
    assert_eq!(loser["error"], "conflict");
    let winner_id = if ra.0 == 201 {
        ra.1["id"].clone()
    } else {
        rb.1["id"].clone()
    };
    assert_eq!(loser["heads"][batch.hex()], winner_id);
    assert_eq!(app.log_size().await, before + 1);

    // Re-signed on the new head, the losing handoff is now refused by the holder rule.
    let mut ev =
        suyuan::client::draft_event(&factory.ks, EventType::Shipping, vec![range(batch, 0, 49)]);
    ev.to = Some(other.ks.party.clone());
    let err = factory
        .client
        .submit_event(&factory.ks, ev)
        .await
        .unwrap_err();
    assert_eq!(status(&err), 422, "{err}");
}

#[tokio::test]
async fn two_tills_selling_different_units_both_succeed() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let shop = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 100).await;
    let s = ship(&factory, &shop, vec![range(batch, 0, 99)])
        .await
        .unwrap();
    receive(&shop, s, vec![range(batch, 0, 99)]).await.unwrap();

    // Ten concurrent single-unit sales of one batch: each 409 is retried on a fresh head.
    let sales = (0..10).map(|i| {
        simple(
            &shop,
            EventType::RetailSelling,
            vec![range(batch, i, i)],
            |_| {},
        )
    });
    let results = futures_join_all(sales).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let sold: u64 = app
        .holdings(&batch)
        .await
        .iter()
        .filter(|h| h.disposition == Disposition::RetailSold)
        .map(|h| h.range.len())
        .sum();
    assert_eq!(sold, 10);
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.collect();
    let mut out = Vec::new();
    // Poll all concurrently on this task.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for d in done {
        out.extend(d);
    }
    out
}

#[tokio::test]
async fn shortage_stays_in_transit_and_visible() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let batch = mint(&factory, "L1", 100).await;
    let s = ship(&factory, &b1, vec![range(batch, 0, 99)])
        .await
        .unwrap();
    let mut ev =
        suyuan::client::draft_event(&b1.ks, EventType::Receiving, vec![range(batch, 0, 89)]);
    ev.shipment = Some(s);
    ev.exceptions = vec![Exception {
        kind: ExceptionType::Shortage,
        objects: vec![range(batch, 90, 99)],
        note: None,
    }];
    b1.client.submit_event(&b1.ks, ev).await.unwrap();

    let pending = app.store.in_shipment(&s).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].range.first, pending[0].range.last), (90, 99));
    // Both parties see it.
    let (_, v) = app
        .get("/api/v1/shipments?to=north-wholesale", Some(&b1.token))
        .await;
    assert_eq!(v["shipments"][0]["in_transit_units"], 10);
    let (code, v) = app
        .get(&format!("/api/v1/shipments/{s}"), Some(&factory.token))
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["in_transit_units"], 10);
    // The sender sees the receiver's discrepancy report.
    assert_eq!(v["exceptions"][0]["exception"]["type"], "shortage");
    assert_eq!(v["exceptions"][0]["by"], "north-wholesale");
    // A later receipt resolves it.
    receive(&b1, s, vec![range(batch, 90, 99)]).await.unwrap();
    assert!(app.store.in_shipment(&s).await.unwrap().is_empty());
}

#[tokio::test]
async fn recalled_units_cannot_be_sold_and_scan_says_recalled() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let shop = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 10).await;
    let s = ship(&factory, &shop, vec![range(batch, 0, 9)])
        .await
        .unwrap();
    receive(&shop, s, vec![range(batch, 0, 9)]).await.unwrap();
    recall(
        &factory,
        vec![range(batch, 0, 9)],
        "contaminated whey",
        "return to shop",
    )
    .await
    .unwrap();
    let err = simple(
        &shop,
        EventType::RetailSelling,
        vec![range(batch, 3, 3)],
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(status(&err), 422);
    assert!(err.to_string().contains("recalled"), "{err}");

    // The scan JSON of a signed label says recalled, with the reason.
    let path = "01/09506000134352/10/L1/21/3";
    let sig = suyuan::formats::sign::sign_label(path, &factory.ks.key);
    let (code, v) = app.get(&format!("/{path}?s={sig}"), None).await;
    assert_eq!(code, 200);
    assert_eq!(v["verdict"], "recalled");
    assert_eq!(v["recall"]["reason"], "contaminated whey");
}

#[tokio::test]
async fn consumer_return_and_restock() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let shop = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 10).await;
    let s = ship(&factory, &shop, vec![range(batch, 0, 9)])
        .await
        .unwrap();
    receive(&shop, s, vec![range(batch, 0, 9)]).await.unwrap();
    simple(
        &shop,
        EventType::RetailSelling,
        vec![range(batch, 2, 2)],
        |_| {},
    )
    .await
    .unwrap();
    // Returning an unsold unit at the counter is refused.
    let err = simple(
        &shop,
        EventType::Returning,
        vec![range(batch, 3, 3)],
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(status(&err), 422);
    simple(&shop, EventType::Returning, vec![range(batch, 2, 2)], |e| {
        e.reason = Some("dented can".into())
    })
    .await
    .unwrap();
    assert_eq!(
        app.store
            .unit(&batch, 2)
            .await
            .unwrap()
            .unwrap()
            .disposition,
        Disposition::Returned
    );
    simple(
        &shop,
        EventType::AcceptingReturn,
        vec![range(batch, 2, 2)],
        |e| e.resolution = Some(Resolution::Restock),
    )
    .await
    .unwrap();
    assert_eq!(
        app.store
            .unit(&batch, 2)
            .await
            .unwrap()
            .unwrap()
            .disposition,
        Disposition::Active
    );
    // Restocked units merge back into one range.
    assert_eq!(app.holdings(&batch).await.len(), 1);
}

#[tokio::test]
async fn replays_are_idempotent_whatever_the_spelling() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let (stmt, id) = signed(&factory, Kind::Batch, &batch_body(&factory, "L1", 10));
    let (c1, v1) = app
        .post_raw("/api/v1/batches", Some(&factory.token), &stmt.to_string())
        .await;
    assert_eq!((c1, v1["status"].as_str()), (201, Some("stored")));
    let pretty = serde_json::to_string_pretty(&stmt).unwrap();
    let (c2, v2) = app
        .post_raw("/api/v1/batches", Some(&factory.token), &pretty)
        .await;
    assert_eq!((c2, v2["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(v1["seq"], v2["seq"]);
    assert_eq!(v2["id"], Value::String(id));
    assert_eq!(app.log_size().await, 1);
}
