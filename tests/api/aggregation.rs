//! Packing units into cases and cases onto pallets; one scan of the pallet ships and receives it all.

use crate::helpers::*;
use suyuan::domain::custody::Disposition;
use suyuan::domain::statement::EventType;
use suyuan::gs1::{check_digit, Sscc};

fn sscc(n: u32) -> Sscc {
    let body = format!("10614141{n:09}");
    Sscc::parse(&format!("{body}{}", check_digit(&body))).unwrap()
}

#[tokio::test]
async fn pallet_of_cases_ships_and_receives_with_one_scan_each() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let a = mint(&factory, "LA", 100).await;
    let b = mint(&factory, "LB", 100).await;

    // Two cases of 24 from two batches, then both onto one pallet.
    simple(&factory, EventType::Packing, vec![range(a, 0, 23)], |e| {
        e.parent = Some(sscc(1))
    })
    .await
    .unwrap();
    simple(&factory, EventType::Packing, vec![range(b, 0, 23)], |e| {
        e.parent = Some(sscc(2))
    })
    .await
    .unwrap();
    simple(&factory, EventType::Packing, vec![], |e| {
        e.parent = Some(sscc(9));
        e.containers = vec![sscc(1), sscc(2)];
    })
    .await
    .unwrap();
    let (code, v) = app
        .get(&format!("/api/v1/containers/{}", sscc(9)), None)
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["units"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.store.unit_containers(&a, 5).await.unwrap(),
        vec![sscc(1), sscc(9)]
    );

    // Units already in a case cannot go into another one.
    let err = simple(&factory, EventType::Packing, vec![range(a, 20, 30)], |e| {
        e.parent = Some(sscc(3))
    })
    .await
    .unwrap_err();
    assert_eq!(status(&err), 422, "{err}");
    assert!(err.to_string().contains("already packed"), "{err}");

    // Ship the pallet by its SSCC alone: every unit inside moves.
    let mut ev = suyuan::client::draft_event(&factory.ks, EventType::Shipping, vec![]);
    ev.containers = vec![sscc(9)];
    ev.to = Some(b1.ks.party.clone());
    let v = factory.client.submit_event(&factory.ks, ev).await.unwrap();
    let shipment = suyuan::domain::statement::BatchId::parse(v["id"].as_str().unwrap()).unwrap();
    for (batch, i) in [(a, 0), (a, 23), (b, 10)] {
        assert_eq!(
            app.store
                .unit(&batch, i)
                .await
                .unwrap()
                .unwrap()
                .disposition,
            Disposition::InTransit
        );
    }
    assert_eq!(
        app.store.unit(&a, 24).await.unwrap().unwrap().disposition,
        Disposition::Active
    );

    // Receive it with one scan of the pallet.
    let mut ev = suyuan::client::draft_event(&b1.ks, EventType::Receiving, vec![]);
    ev.containers = vec![sscc(9)];
    ev.shipment = Some(shipment);
    b1.client.submit_event(&b1.ks, ev).await.unwrap();
    let h = app.store.unit(&b, 23).await.unwrap().unwrap();
    assert_eq!(
        (h.holder.as_str(), h.disposition),
        ("north-wholesale", Disposition::Active)
    );
    assert!(app.store.in_shipment(&shipment).await.unwrap().is_empty());

    // The unit's history names the packing and the pallet handoff.
    let (_, v) = app.get(&format!("/api/v1/units/{a}/3"), None).await;
    let types: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["packing", "packing", "shipping", "receiving"]);

    // Only the holder unpacks; a case on a pallet waits for the pallet.
    let err = simple(&factory, EventType::Unpacking, vec![], |e| {
        e.parent = Some(sscc(9))
    })
    .await
    .unwrap_err();
    assert_eq!(status(&err), 422, "{err}");
    let err = simple(&b1, EventType::Unpacking, vec![], |e| {
        e.parent = Some(sscc(1))
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("unpack"), "{err}");
    simple(&b1, EventType::Unpacking, vec![], |e| {
        e.parent = Some(sscc(9))
    })
    .await
    .unwrap();
    assert_eq!(
        app.store.unit_containers(&a, 5).await.unwrap(),
        vec![sscc(1)]
    );
    let (code, _) = app
        .get(&format!("/api/v1/containers/{}", sscc(9)), None)
        .await;
    assert_eq!(code, 404);
}
