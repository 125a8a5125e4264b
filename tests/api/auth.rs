//! Authorization: bearer tokens, who may write and read what, and tokens kept hashed.

use serde_json::{json, Value};

use crate::helpers::*;
use suyuan::client::keystore::Keystore;
use suyuan::domain::statement::{BatchId, EventType};
use suyuan::formats::sign::Kind;

/// Factory with a batch of 100; 0..49 shipped to and received by B1; a B2 registered.
struct Chain {
    app: TestApp,
    factory: Actor,
    b1: Actor,
    b2: Actor,
    batch: BatchId,
    shipment: BatchId,
}

async fn chain() -> Chain {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let batch = mint(&factory, "L1", 100).await;
    let shipment = ship(&factory, &b1, vec![range(batch, 0, 49)])
        .await
        .expect("ship");
    receive(&b1, shipment, vec![range(batch, 0, 49)])
        .await
        .expect("receive");
    Chain {
        app,
        factory,
        b1,
        b2,
        batch,
        shipment,
    }
}

impl Chain {
    /// A valid new batch record of the factory, as text.
    fn new_batch(&self) -> String {
        signed(
            &self.factory,
            Kind::Batch,
            &batch_body(&self.factory, "L2", 10),
        )
        .0
        .to_string()
    }

    /// POSTs with an arbitrary Authorization header (or none).
    async fn post_with_header(&self, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .post(format!("{}{path}", self.app.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// Sends a request that must be refused and checks that nothing changed.
    async fn refused(
        &self,
        auth: Option<&str>,
        path: &str,
        body: &str,
        status: u16,
        code: &str,
        needle: &str,
    ) {
        let size = self.app.log_size().await;
        let holdings = self.app.holdings(&self.batch).await;
        let rows = self.app.dump().await;
        let (got, v) = self.post_with_header(path, auth, body).await;
        assert_eq!(got, status, "{v}");
        assert_eq!(v["error"], code, "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert_eq!(self.app.log_size().await, size);
        assert_eq!(self.app.holdings(&self.batch).await, holdings);
        assert_eq!(self.app.dump().await, rows);
    }
}

#[tokio::test]
async fn no_token_is_401() {
    let c = chain().await;
    let body = c.new_batch();
    c.refused(
        None,
        "/api/v1/batches",
        &body,
        401,
        "unauthorized",
        "send \"Authorization: Bearer <token>\"",
    )
    .await;
    c.refused(
        None,
        "/api/v1/parties",
        "{}",
        401,
        "unauthorized",
        "Authorization",
    )
    .await;
}

#[tokio::test]
async fn unknown_token_is_401() {
    let c = chain().await;
    let body = c.new_batch();
    let forged = suyuan::http::auth::new_token();
    c.refused(
        Some(&format!("Bearer {forged}")),
        "/api/v1/batches",
        &body,
        401,
        "unauthorized",
        "unknown token",
    )
    .await;
}

#[tokio::test]
async fn malformed_authorization_header_is_401() {
    let c = chain().await;
    let body = c.new_batch();
    let basic = format!("Basic {}", c.factory.token);
    let glued = format!("Bearer{}", c.factory.token);
    for header in [basic.as_str(), glued.as_str(), "Token abc", "Bearer "] {
        c.refused(
            Some(header),
            "/api/v1/batches",
            &body,
            401,
            "unauthorized",
            "the Authorization header must be \"Bearer <token>\"",
        )
        .await;
    }
    // The right token in the right form is accepted.
    let (code, v) = c
        .post_with_header(
            "/api/v1/batches",
            Some(&format!("Bearer {}", c.factory.token)),
            &body,
        )
        .await;
    assert_eq!(code, 201, "{v}");
}

#[tokio::test]
async fn token_of_another_party_is_403() {
    let c = chain().await;
    let body = c.new_batch();
    c.refused(
        Some(&format!("Bearer {}", c.b1.token)),
        "/api/v1/batches",
        &body,
        403,
        "forbidden",
        "this token is north-wholesale's; it cannot submit a statement signed by acme-dairy",
    )
    .await;
    // An event too: B2 sending the factory's signed shipment.
    let mut ev = suyuan::client::draft_event(
        &c.factory.ks,
        EventType::Shipping,
        vec![range(c.batch, 50, 59)],
    );
    ev.to = Some(c.b2.ks.party.clone());
    ev.prev = c.app.store.heads(&[c.batch]).await.unwrap();
    let (stmt, _) = signed(&c.factory, Kind::Event, &ev);
    c.refused(
        Some(&format!("Bearer {}", c.b2.token)),
        "/api/v1/events",
        &stmt.to_string(),
        403,
        "forbidden",
        "cannot submit a statement signed by acme-dairy",
    )
    .await;
}

#[tokio::test]
async fn operator_token_cannot_submit_party_statements() {
    let c = chain().await;
    let body = c.new_batch();
    c.refused(
        Some(&format!("Bearer {}", c.app.admin)),
        "/api/v1/batches",
        &body,
        403,
        "forbidden",
        "the operator token cannot submit party statements",
    )
    .await;
}

#[tokio::test]
async fn party_token_cannot_register_parties() {
    let c = chain().await;
    let ks = Keystore::generate(suyuan::domain::party::Slug::parse("new-shop").unwrap());
    let body =
        json!({"slug": "new-shop", "name": "New Shop", "kind": "b2", "root_key": ks.public_key()});
    c.refused(
        Some(&format!("Bearer {}", c.factory.token)),
        "/api/v1/parties",
        &body.to_string(),
        403,
        "forbidden",
        "only the operator token may do this",
    )
    .await;
}

#[tokio::test]
async fn reading_another_partys_holdings_or_shipments_is_403() {
    let c = chain().await;
    let app = &c.app;
    let forbidden = [
        (
            "/api/v1/holdings?party=acme-dairy".to_owned(),
            &c.b1.token,
            "it cannot read acme-dairy's data",
        ),
        (
            "/api/v1/shipments?to=north-wholesale".to_owned(),
            &c.b2.token,
            "it cannot read north-wholesale's data",
        ),
        (
            format!("/api/v1/batches/{}/holdings", c.batch),
            &c.b2.token,
            "it cannot read acme-dairy's data",
        ),
        (
            format!("/api/v1/shipments/{}", c.shipment),
            &c.b2.token,
            "it cannot read north-wholesale's data",
        ),
    ];
    for (path, token, needle) in &forbidden {
        let (code, v) = app.get(path, Some(token)).await;
        assert_eq!(code, 403, "{path}: {v}");
        assert_eq!(v["error"], "forbidden", "{path}: {v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{v}");
        // Without a token it is 401, not a leak.
        let (code, _) = app.get(path, None).await;
        assert_eq!(code, 401, "{path}");
    }
    // Each party reads its own, the operator reads all.
    let allowed = [
        ("/api/v1/holdings".to_owned(), &c.b1.token),
        (
            "/api/v1/holdings?party=acme-dairy".to_owned(),
            &c.factory.token,
        ),
        (
            "/api/v1/shipments?to=north-wholesale".to_owned(),
            &c.b1.token,
        ),
        (
            format!("/api/v1/batches/{}/holdings", c.batch),
            &c.factory.token,
        ),
        (
            format!("/api/v1/shipments/{}", c.shipment),
            &c.factory.token,
        ),
        (format!("/api/v1/shipments/{}", c.shipment), &c.b1.token),
        ("/api/v1/holdings?party=corner-shop".to_owned(), &app.admin),
    ];
    for (path, token) in &allowed {
        let (code, v) = app.get(path, Some(token)).await;
        assert_eq!(code, 200, "{path}: {v}");
    }
    let (_, v) = app.get("/api/v1/holdings", Some(&c.b1.token)).await;
    assert_eq!(v["units"], 50);
}

#[tokio::test]
async fn b2_cannot_ship_units_b1_holds() {
    let c = chain().await;
    let size = c.app.log_size().await;
    let holdings = c.app.holdings(&c.batch).await;
    let rows = c.app.dump().await;
    let err = simple(
        &c.b2,
        EventType::Shipping,
        vec![range(c.batch, 0, 9)],
        |e| e.to = Some(c.b1.ks.party.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(status(&err), 422, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("corner-shop does not hold units 0..9")
            && text.contains("(north-wholesale does)"),
        "{text}"
    );
    assert_eq!(c.app.log_size().await, size);
    assert_eq!(c.app.holdings(&c.batch).await, holdings);
    assert_eq!(c.app.dump().await, rows);
}

#[tokio::test]
async fn public_reads_need_no_token() {
    let c = chain().await;
    let app = &c.app;
    let paths = [
        format!("/api/v1/units/{}/3", c.batch),
        format!("/api/v1/batches/{}", c.batch),
        format!("/api/v1/statements/{}", c.batch),
        format!("/api/v1/statements/{}", c.shipment),
        "/api/v1/parties".to_owned(),
        "/api/v1/parties/acme-dairy".to_owned(),
        "/api/v1/health".to_owned(),
    ];
    for path in &paths {
        let (code, v) = app.get(path, None).await;
        assert_eq!(code, 200, "{path}: {v}");
    }
    let (_, v) = app.get(&format!("/api/v1/units/{}/3", c.batch), None).await;
    assert_eq!(v["holding"]["holder"], "north-wholesale");
    // The scan of a signed label, as JSON and as the HTML page.
    let path = "01/09506000134352/10/L1/21/3";
    let sig = suyuan::formats::sign::sign_label(path, &c.factory.ks.key);
    let (code, v) = app.get(&format!("/{path}?s={sig}"), None).await;
    assert_eq!(code, 200, "{v}");
    // Signed and on record; at a wholesaler, so a consumer scan is "suspect", not "unknown".
    assert_eq!(v["signature_ok"], true, "{v}");
    assert_eq!(
        (v["verdict"].as_str(), v["reason"].as_str()),
        (Some("suspect"), Some("never_reached_retail")),
        "{v}"
    );
    let html = app
        .http
        .get(format!("{}/{path}?s={sig}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status().as_u16(), 200);
    assert!(html
        .text()
        .await
        .unwrap()
        .contains("data-verdict=\"suspect\""));
    // Resolving a scanned code is public too.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/resolve", app.base),
        &[("code", "(01)09506000134352(10)L1(21)3")],
    )
    .unwrap();
    let resp = app.http.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn tokens_are_stored_hashed() {
    let c = chain().await;
    let tokens = [&c.app.admin, &c.factory.token, &c.b1.token, &c.b2.token];
    let hashes = c.app.raw.texts("SELECT hash FROM tokens").await;
    assert_eq!(hashes.len(), tokens.len());
    let everything = c.app.dump().await.join("\n");
    for t in tokens {
        assert!(t.starts_with("sy_") && t.len() > 40, "{t}");
        assert!(!everything.contains(t.as_str()), "a raw token is stored");
        assert!(
            !everything.contains(&t["sy_".len()..]),
            "a raw token is stored"
        );
        let hash = suyuan::http::auth::token_hash(t);
        assert!(hashes.contains(&hash), "no hash of a token on record");
    }
}
