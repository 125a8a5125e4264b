//! `suyuan receive`, the real binary against the real server: a plain range,
//! with `--short`, `--damaged` and `--over`, and a pallet shipped by SSCC,
//! whole and with a unit short inside one of its cases.

use serde_json::Value;
use std::process::{Output, Stdio};

use crate::helpers::*;
use suyuan::domain::custody::Disposition;
use suyuan::domain::statement::{BatchId, EventType};
use suyuan::formats::gs1::{check_digit, Sscc};

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");

fn sscc(n: u32) -> Sscc {
    let body = format!("10614141{n:09}");
    Sscc::parse(&format!("{body}{}", check_digit(&body))).unwrap()
}

/// The receiver as the CLI sees it: a keystore file and a token.
struct Desk {
    _dir: tempfile::TempDir,
    keystore: String,
    token: String,
    server: String,
}

impl Desk {
    fn new(app: &TestApp, actor: &Actor) -> Desk {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keystore.json");
        actor.ks.save(&path).expect("save keystore");
        Desk {
            keystore: path.to_str().expect("path").to_owned(),
            _dir: dir,
            token: actor.token.clone(),
            server: app.base.clone(),
        }
    }

    /// Runs `suyuan receive --shipment ID EXTRA…` to completion (async, so the
    /// in-process server keeps answering).
    async fn receive(&self, shipment: BatchId, extra: &[&str]) -> Output {
        let id = shipment.hex();
        let mut args = vec![
            "receive",
            "--server",
            &self.server,
            "--token",
            &self.token,
            "--keystore",
            &self.keystore,
            "--shipment",
            &id,
        ];
        args.extend(extra);
        tokio::process::Command::new(BIN)
            .args(&args)
            .env_remove("SUYUAN_SERVER")
            .env_remove("SUYUAN_TOKEN")
            .env_remove("SUYUAN_KEYSTORE")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run suyuan receive")
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The stored receipt the CLI printed the id of.
async fn receipt(app: &TestApp, out: &Output) -> Value {
    assert!(out.status.success(), "{}", show(out));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("receipt JSON");
    assert_eq!(printed["status"], "stored", "{printed}");
    let id = printed["id"].as_str().expect("id");
    let (code, v) = app.get(&format!("/api/v1/statements/{id}"), None).await;
    assert_eq!(code, 200, "{v}");
    v["statement"].clone()
}

async fn state(app: &TestApp, batch: &BatchId, i: u64) -> (String, Disposition) {
    let h = app.store.unit(batch, i).await.unwrap().unwrap();
    (h.holder.to_string(), h.disposition)
}

#[tokio::test]
async fn cli_receive_plain_short_damaged_and_over() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let desk = Desk::new(&app, &b1);
    let batch = mint(&factory, "L1", 100).await;
    let b1_active = ("north-wholesale".to_owned(), Disposition::Active);

    // Plain: everything in transit is received.
    let s = ship(&factory, &b1, vec![range(batch, 0, 9)]).await.unwrap();
    let r = receipt(&app, &desk.receive(s, &[]).await).await;
    assert_eq!(r["type"], "receiving", "{r}");
    assert_eq!(r["objects"][0]["first"], 0, "{r}");
    assert_eq!(r["objects"][0]["last"], 9, "{r}");
    assert!(r.get("exceptions").is_none(), "{r}");
    for i in [0, 9] {
        assert_eq!(state(&app, &batch, i).await, b1_active);
    }
    // Nothing left: said so, and nothing is signed.
    let size = app.log_size().await;
    let again = desk.receive(s, &[]).await;
    assert!(!again.status.success(), "{}", show(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is still in transit"),
        "{}",
        show(&again)
    );
    assert_eq!(app.log_size().await, size);

    // --short: the short units stay in transit under the shipment, a signed shortage.
    let s = ship(&factory, &b1, vec![range(batch, 10, 19)])
        .await
        .unwrap();
    let r = receipt(&app, &desk.receive(s, &["--short", "18..19"]).await).await;
    assert_eq!(r["objects"][0]["last"], 17, "{r}");
    assert_eq!(r["exceptions"][0]["type"], "shortage", "{r}");
    assert_eq!(r["exceptions"][0]["objects"][0]["first"], 18, "{r}");
    assert_eq!(state(&app, &batch, 17).await, b1_active);
    assert_eq!(
        state(&app, &batch, 18).await,
        ("acme-dairy".to_owned(), Disposition::InTransit)
    );
    let (_, v) = app
        .get(&format!("/api/v1/shipments/{s}"), Some(&b1.token))
        .await;
    assert_eq!(v["in_transit_units"], 2, "{v}");
    assert_eq!(v["exceptions"][0]["exception"]["type"], "shortage", "{v}");
    // The two turn up later: a second run receives just them.
    let r = receipt(&app, &desk.receive(s, &[]).await).await;
    assert_eq!(r["objects"][0]["first"], 18, "{r}");
    assert_eq!(state(&app, &batch, 19).await, b1_active);

    // A short range outside what is in transit is refused before anything is signed.
    let s = ship(&factory, &b1, vec![range(batch, 20, 29)])
        .await
        .unwrap();
    let size = app.log_size().await;
    let bad = desk.receive(s, &["--short", "28..31"]).await;
    assert!(!bad.status.success(), "{}", show(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not in transit"),
        "{}",
        show(&bad)
    );
    assert_eq!(app.log_size().await, size);

    // --damaged, with the batch named: received but set aside.
    let damaged = format!("{batch}:21..22");
    let r = receipt(&app, &desk.receive(s, &["--damaged", &damaged]).await).await;
    assert_eq!(r["exceptions"][0]["type"], "damaged", "{r}");
    assert_eq!(r["exceptions"][0]["objects"][0]["last"], 22, "{r}");
    assert_eq!(state(&app, &batch, 20).await, b1_active);
    for i in [21, 22] {
        assert_eq!(
            state(&app, &batch, i).await,
            (
                "north-wholesale".to_owned(),
                Disposition::SellableNotAccessible
            )
        );
    }
    assert_eq!(state(&app, &batch, 23).await, b1_active);

    // --over: a note, no units; everything shipped is received.
    let s = ship(&factory, &b1, vec![range(batch, 30, 31)])
        .await
        .unwrap();
    let r = receipt(
        &app,
        &desk
            .receive(s, &["--over", "one carton not on the ASN"])
            .await,
    )
    .await;
    assert_eq!(r["exceptions"][0]["type"], "overage", "{r}");
    assert_eq!(
        r["exceptions"][0]["note"], "one carton not on the ASN",
        "{r}"
    );
    assert_eq!(state(&app, &batch, 31).await, b1_active);
}

#[tokio::test]
async fn cli_receive_a_pallet_shipped_by_sscc() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let desk = Desk::new(&app, &b1);
    let batch = mint(&factory, "LP", 200).await;
    // Two pallets of two cases of 24 each.
    for (case, first) in [(1, 0), (2, 24), (3, 48), (4, 72)] {
        simple(
            &factory,
            EventType::Packing,
            vec![range(batch, first, first + 23)],
            |e| e.parent = Some(sscc(case)),
        )
        .await
        .unwrap();
    }
    for (pallet, cases) in [(10, [1, 2]), (11, [3, 4])] {
        simple(&factory, EventType::Packing, vec![], |e| {
            e.parent = Some(sscc(pallet));
            e.containers = cases.iter().map(|c| sscc(*c)).collect();
        })
        .await
        .unwrap();
    }
    let ship_pallet = |pallet: u32| {
        let mut ev = suyuan::client::draft_event(&factory.ks, EventType::Shipping, vec![]);
        ev.containers = vec![sscc(pallet)];
        ev.to = Some(b1.ks.party.clone());
        let factory = factory.clone();
        async move {
            let v = factory.client.submit_event(&factory.ks, ev).await.unwrap();
            BatchId::parse(v["id"].as_str().unwrap()).unwrap()
        }
    };

    // The whole pallet: the receipt names it by SSCC, every unit inside arrives.
    let s = ship_pallet(10).await;
    let r = receipt(&app, &desk.receive(s, &[]).await).await;
    assert_eq!(
        r["containers"],
        serde_json::json!([sscc(10).to_string()]),
        "{r}"
    );
    assert!(
        r.get("objects").is_none_or(|o| o == &serde_json::json!([])),
        "{r}"
    );
    for i in [0, 23, 24, 47] {
        assert_eq!(
            state(&app, &batch, i).await,
            ("north-wholesale".to_owned(), Disposition::Active)
        );
    }
    assert!(app.store.in_shipment(&s).await.unwrap().is_empty());

    // A unit short in the second case of the other pallet: the receipt names
    // the pallet and reports the unit short; it stays in transit and leaves its case.
    let s = ship_pallet(11).await;
    let r = receipt(&app, &desk.receive(s, &["--short", "95..95"]).await).await;
    assert_eq!(
        r["containers"],
        serde_json::json!([sscc(11).to_string()]),
        "{r}"
    );
    assert!(r.get("objects").is_none(), "{r}");
    assert_eq!(r["exceptions"][0]["type"], "shortage", "{r}");
    assert_eq!(r["exceptions"][0]["objects"][0]["first"], 95, "{r}");
    assert_eq!(
        state(&app, &batch, 95).await,
        ("acme-dairy".to_owned(), Disposition::InTransit)
    );
    for i in [48, 94] {
        assert_eq!(
            state(&app, &batch, i).await,
            ("north-wholesale".to_owned(), Disposition::Active)
        );
    }
    let (_, case4) = app
        .get(&format!("/api/v1/containers/{}", sscc(4)), None)
        .await;
    assert_eq!(
        case4["units"],
        serde_json::json!([{"batch": batch.hex(), "first": 72, "last": 94}]),
        "{case4}"
    );
    // The missing unit turns up: received loose, as it is in no case any more.
    let r = receipt(&app, &desk.receive(s, &[]).await).await;
    assert!(r.get("containers").is_none(), "{r}");
    assert_eq!(
        r["objects"],
        serde_json::json!([{"batch": batch.hex(), "first": 95, "last": 95}]),
        "{r}"
    );
    assert!(app.store.in_shipment(&s).await.unwrap().is_empty());

    // The auditor replays every receipt and agrees with what was stored.
    let (code, v) = app.get("/log/checkpoint", None).await;
    assert_eq!(code, 200, "{v}");
    let state_dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["audit", "--quiet", "--database-url", &app.db_url, "--state"])
        .arg(state_dir.path().join("audit-state.json"))
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
}
