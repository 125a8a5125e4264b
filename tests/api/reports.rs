//! Reports (issue 7, item 8): a small chain with a shortage, a consumer return,
//! feedback and a copied label, read back as JSON and as the `/inspect` page
//! with its server-drawn SVG charts.

use reqwest::header::USER_AGENT;
use serde_json::{json, Value};

use crate::helpers::*;
use suyuan::client::keystore::Keystore;
use suyuan::client::Client;
use suyuan::domain::party::Slug;
use suyuan::domain::statement::{BatchId, EventType, Exception, ExceptionType};
use suyuan::domain::time::Timestamp;
use suyuan::formats::sign::Kind;

const GTIN: &str = "09506000134352";
const H: i64 = 3600;
/// A factory name that needs escaping in XML and is not ASCII.
const FACTORY_NAME: &str = "Acme <乳业> & Sons";

/// Registers a party with a display name of our choosing.
async fn party_named(app: &TestApp, slug: &str, kind: &str, name: &str) -> Actor {
    let ks = Keystore::generate(Slug::parse(slug).unwrap());
    let admin = Client::new(&app.base, Some(app.admin.clone()));
    let body = json!({"slug": slug, "name": name, "kind": kind, "root_key": ks.public_key()});
    let v = admin
        .post("/api/v1/parties", body.to_string())
        .await
        .unwrap();
    let token = v["token"].as_str().unwrap().to_owned();
    Actor {
        client: Client::new(&app.base, Some(token.clone())),
        ks,
        token,
    }
}

fn at(t0: i64, hours: i64) -> Timestamp {
    Timestamp::from_unix(t0 + hours * H)
}

fn id_of(v: &Value) -> BatchId {
    BatchId::parse(v["id"].as_str().unwrap()).unwrap()
}

fn label(factory: &Actor, serial: u64) -> String {
    let path = format!("01/{GTIN}/10/R1/21/{serial}");
    let sig = suyuan::formats::sign::sign_label(&path, &factory.ks.key);
    format!("/{path}?s={sig}")
}

/// Opens a unit's scan page as one device; returns its verdict and the page.
async fn scan(app: &TestApp, url: &str, device: &str) -> (String, String) {
    let html = app
        .http
        .get(format!("{}{url}&lang=en", app.base))
        .header(USER_AGENT, device)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = html.find("data-verdict=\"").expect("data-verdict") + 14;
    let verdict = html[i..i + html[i..].find('"').unwrap()].to_owned();
    (verdict, html)
}

async fn feedback(app: &TestApp, url: &str, device: &str, category: &str) {
    let (_, html) = scan(app, url, device).await;
    let i = html.find("name=\"token\" value=\"").expect("token field") + 20;
    let token = &html[i..i + html[i..].find('"').unwrap()];
    let r = app
        .http
        .post(format!("{}{url}", app.base))
        .header("origin", &app.base)
        .header(USER_AGENT, device)
        .form(&[
            ("token", token),
            ("kind", "feedback"),
            ("rating", "2"),
            ("category", category),
            ("comment", "not right"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
}

struct Chain {
    app: TestApp,
    factory: Actor,
    b1: Actor,
    b2: Actor,
    qa: Actor,
    stranger: Actor,
    batch: BatchId,
    t0: i64,
    suspect_pages: u64,
    pages: u64,
}

/// Factory → B1 (short by three) → B2, five sold, one brought back, two
/// feedback forms, a copied label scanned by many phones and a consumer scan of
/// a unit still at the factory.
async fn chain() -> Chain {
    let app = spawn_app().await;
    let factory = party_named(&app, "acme-dairy", "factory", FACTORY_NAME).await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let qa = app.party("county-qa", "inspector").await;
    let stranger = app.party("far-shop", "b2").await;
    // Twenty days ago, on the hour, so dwell times are whole hours.
    let t0 = (Timestamp::now().unix() - 20 * 24 * H) / H * H;

    let mut body = batch_body(&factory, "R1", 100);
    body.time = Timestamp::from_unix(t0);
    let (stmt, id) = signed(&factory, Kind::Batch, &body);
    factory.client.submit(Kind::Batch, &stmt).await.unwrap();
    let batch = BatchId::parse(&id).unwrap();
    // A second batch B1 never sees.
    mint(&factory, "R2", 10).await;

    let s1 = simple(
        &factory,
        EventType::Shipping,
        vec![range(batch, 0, 59)],
        |e| {
            e.time = at(t0, 10);
            e.to = Some(b1.ks.party.clone());
            e.asn = Some("ASN-7".into());
        },
    )
    .await
    .unwrap();
    simple(&b1, EventType::Receiving, vec![range(batch, 0, 56)], |e| {
        e.time = at(t0, 12);
        e.shipment = Some(id_of(&s1));
        e.exceptions = vec![Exception {
            kind: ExceptionType::Shortage,
            objects: vec![range(batch, 57, 59)],
            note: Some("three cartons missing".into()),
        }];
    })
    .await
    .unwrap();
    let s2 = simple(&b1, EventType::Shipping, vec![range(batch, 0, 39)], |e| {
        e.time = at(t0, 20);
        e.to = Some(b2.ks.party.clone());
    })
    .await
    .unwrap();
    simple(&b2, EventType::Receiving, vec![range(batch, 0, 39)], |e| {
        e.time = at(t0, 21);
        e.shipment = Some(id_of(&s2));
    })
    .await
    .unwrap();
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 0, 4)],
        |e| e.time = at(t0, 25),
    )
    .await
    .unwrap();
    simple(&b2, EventType::Returning, vec![range(batch, 0, 0)], |e| {
        e.time = at(t0, 30);
        e.reason = Some("tasted sour".into());
    })
    .await
    .unwrap();

    feedback(&app, &label(&factory, 1), "buyer-1", "quality").await;
    feedback(&app, &label(&factory, 2), "buyer-2", "packaging").await;
    let mut pages = 2;
    let mut suspect_pages = 0;
    // Unit 3's label copied: eight phones today.
    for n in 0..8 {
        let (v, _) = scan(&app, &label(&factory, 3), &format!("phone-{n}")).await;
        pages += 1;
        suspect_pages += u64::from(v == "suspect");
    }
    // Unit 80 never left the factory, yet a consumer scans it.
    let (v, _) = scan(&app, &label(&factory, 80), "phone-x").await;
    pages += 1;
    suspect_pages += u64::from(v == "suspect");
    Chain {
        app,
        factory,
        b1,
        b2,
        qa,
        stranger,
        batch,
        t0,
        suspect_pages,
        pages,
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn holder<'a>(r: &'a Value, slug: &str) -> &'a Value {
    r["units_by_holder"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["holder"] == slug)
        .unwrap_or_else(|| panic!("{slug} not in {r}"))
}

fn hop<'a>(r: &'a Value, slug: &str, until: &str) -> &'a Value {
    r["dwell"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["holder"] == slug && h["until"] == until)
        .unwrap_or_else(|| panic!("{slug} until {until} not in {r}"))
}

#[tokio::test]
async fn batch_report_counts_holders_dwell_exceptions_returns_feedback_and_copies() {
    let c = chain().await;
    let (app, batch) = (&c.app, c.batch);
    let (st, r) = app
        .get(&format!("/api/v1/reports?batch={batch}"), Some(&c.qa.token))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["batch"], batch.hex());

    // Units by holder: what custody says now.
    let holdings = app.holdings(&batch).await;
    for h in r["units_by_holder"].as_array().unwrap() {
        let held: u64 = holdings
            .iter()
            .filter(|x| x.holder.as_str() == h["holder"])
            .map(|x| x.range.len())
            .sum();
        assert_eq!(n(&h["units"]), held, "{h}");
    }
    let acme = holder(&r, "acme-dairy");
    assert_eq!(acme["name"], FACTORY_NAME);
    assert_eq!(
        (
            n(&acme["by_state"]["active"]),
            n(&acme["by_state"]["in_transit"])
        ),
        (40, 3)
    );
    assert_eq!(n(&holder(&r, "north-wholesale")["units"]), 17);
    let shop = &holder(&r, "corner-shop")["by_state"];
    assert_eq!(
        (
            n(&shop["active"]),
            n(&shop["retail_sold"]),
            n(&shop["returned"])
        ),
        (35, 4, 1)
    );

    // Dwell: the times the events carried.
    let d = hop(&r, "acme-dairy", "shipment");
    assert_eq!(
        (
            n(&d["units"]),
            d["p50_secs"].as_i64(),
            d["max_secs"].as_i64()
        ),
        (60, Some(10 * H), Some(10 * H))
    );
    let d = hop(&r, "north-wholesale", "shipment");
    assert_eq!((n(&d["units"]), d["p90_secs"].as_i64()), (40, Some(8 * H)));
    let d = hop(&r, "corner-shop", "sale");
    assert_eq!((n(&d["units"]), d["p50_secs"].as_i64()), (5, Some(4 * H)));

    // The shortage is still open: nobody received the three missing units.
    let open = r["open_exceptions"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{r}");
    assert_eq!(open[0]["receiver"], "north-wholesale");
    assert_eq!(open[0]["sender"], "acme-dairy");
    assert_eq!(
        open[0]["time"],
        Timestamp::from_unix(c.t0 + 12 * H).to_string()
    );
    let ex = &open[0]["exceptions"][0];
    assert_eq!(
        (ex["type"].as_str(), n(&ex["units"]), n(&ex["open_units"])),
        (Some("shortage"), 3, 3)
    );

    assert_eq!(
        r["returns"],
        json!([{"kind": "consumer", "reason": "tasted sour", "units": 1}])
    );
    let fb: Vec<(String, u64)> = r["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["category"].as_str().unwrap().to_owned(), n(&f["count"])))
        .collect();
    assert_eq!(fb, [("packaging".to_owned(), 1), ("quality".to_owned(), 1)]);

    // Suspect scans: the report judges each logged scan as the scan page did.
    let s = &r["suspect"];
    assert_eq!(n(&s["scans"]), c.pages);
    assert!(c.suspect_pages > 0);
    assert_eq!(n(&s["suspect_scans"]), c.suspect_pages, "{s}");
    let units: Vec<(u64, String)> = s["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (n(&u["index"]), u["reasons"][0].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        units,
        [
            (3, "many_scanners".to_owned()),
            (80, "never_reached_retail".to_owned())
        ]
    );
    let today = Timestamp::now().date().to_string();
    assert_eq!(
        s["per_day"],
        json!([{"day": today, "scans": c.suspect_pages}])
    );
}

#[tokio::test]
async fn party_reports_cover_the_batches_the_party_handled() {
    let c = chain().await;
    let app = &c.app;
    let (st, r) = app
        .get("/api/v1/reports?party=north-wholesale", Some(&c.b1.token))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["party"], "north-wholesale");
    assert_eq!(r["batches"].as_array().unwrap().len(), 1);
    assert_eq!(r["batches"][0]["batch"], c.batch.hex());
    let (st, f) = app
        .get("/api/v1/reports?party=acme-dairy", Some(&c.factory.token))
        .await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["batches"].as_array().unwrap().len(), 2);
    // The second batch's ten units sit at the factory too.
    assert_eq!(n(&holder(&f, "acme-dairy")["units"]), 53);
    let (st, _) = app
        .get("/api/v1/reports?party=acme-dairy", Some(&app.admin))
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn reports_refuse_strangers_and_bad_queries_clearly() {
    let c = chain().await;
    let app = &c.app;
    let b = c.batch.hex();
    let before = app.dump().await;
    let cases: Vec<(String, Option<&str>, u16, &str)> = vec![
        (format!("?batch={b}"), None, 401, "Authorization"),
        (
            format!("?batch={b}"),
            Some(&c.stranger.token),
            403,
            "never handled",
        ),
        (format!("?batch={b}"), Some(&c.b2.token), 200, ""),
        (
            "?party=acme-dairy".into(),
            Some(&c.stranger.token),
            403,
            "far-shop",
        ),
        ("?party=nobody".into(), Some(&c.qa.token), 404, "nobody"),
        (
            format!("?batch={}", "0".repeat(64)),
            Some(&c.qa.token),
            404,
            "no batch",
        ),
        (
            "?batch=xyz".into(),
            Some(&c.qa.token),
            400,
            "64 lowercase hex",
        ),
        (
            format!("?batch={b}&party=acme-dairy"),
            Some(&c.qa.token),
            400,
            "not both",
        ),
        (
            "".into(),
            Some(&c.qa.token),
            400,
            "?batch=ID or ?party=SLUG",
        ),
    ];
    for (q, token, want, says) in cases {
        let (st, v) = app.get(&format!("/api/v1/reports{q}"), token).await;
        assert_eq!(st, want, "{q}: {v}");
        if want != 200 {
            let m = v["message"].as_str().unwrap_or_default();
            assert!(m.contains(says), "{q}: {m}");
        }
    }
    assert_eq!(app.dump().await, before, "reading reports changed nothing");
}

/// The `<svg>` elements of a page, each parsed as XML on its own.
fn svgs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<svg") {
        let end = rest[i..].find("</svg>").expect("closed svg") + i + 6;
        out.push(rest[i..end].to_owned());
        rest = &rest[end..];
    }
    out
}

#[tokio::test]
async fn the_inspect_page_draws_the_report_as_svg_without_token_in_the_url() {
    let c = chain().await;
    let app = &c.app;
    let (_, json) = app
        .get(
            &format!("/api/v1/reports?batch={}", c.batch),
            Some(&c.qa.token),
        )
        .await;
    let resp = app
        .http
        .post(format!("{}/inspect", app.base))
        .form(&[("token", c.qa.token.as_str()), ("batch", &c.batch.hex())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script"), "no JS");
    let charts = svgs(&html);
    assert_eq!(charts.len(), 3, "holders, dwell, suspect scans per day");
    for svg in &charts {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    let bars = |svg: &str| {
        roxmltree::Document::parse(svg)
            .unwrap()
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("bar"))
            .count()
    };
    let holders = json["units_by_holder"].as_array().unwrap().len();
    assert_eq!(bars(&charts[0]), holders);
    assert_eq!(bars(&charts[1]), json["dwell"].as_array().unwrap().len());
    assert_eq!(
        bars(&charts[2]),
        json["suspect"]["per_day"].as_array().unwrap().len()
    );
    // The factory's name survives as text, escaped in the markup.
    let doc = roxmltree::Document::parse(&charts[0]).unwrap();
    assert!(doc.descendants().any(|n| n.text() == Some(FACTORY_NAME)));
    assert!(charts[0].contains("Acme &lt;乳业&gt; &amp; Sons"));

    // Without a token: no report, a clear refusal.
    let resp = app
        .http
        .post(format!("{}/inspect", app.base))
        .form(&[("batch", c.batch.hex())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let html = resp.text().await.unwrap();
    assert!(html.contains("needs a token") && svgs(&html).is_empty());
    // A party off the chain: refused by name.
    let resp = app
        .http
        .post(format!("{}/inspect", app.base))
        .form(&[
            ("token", c.stranger.token.as_str()),
            ("batch", &c.batch.hex()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().await.unwrap().contains("never handled"));
}

#[tokio::test]
async fn inspections_carry_result_method_and_certificate_hash() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let qa = app.party("county-qa", "inspector").await;
    let batch = mint(&factory, "I1", 10).await;
    let cert = b"Certificate CQ-2026-0042: Salmonella not detected";
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(cert))
    };

    // Bad hashes are refused, naming the field, and store nothing.
    let before = app.log_size().await;
    for bad in [
        sha.to_uppercase(),
        sha[..63].to_owned(),
        format!("sha256:{sha}"),
    ] {
        let e = simple(&qa, EventType::Inspecting, vec![range(batch, 0, 9)], |e| {
            e.result = Some("pass".into());
            e.method = Some("GB 4789.4-2016".into());
            e.certificate_sha256 = Some(bad.clone());
        })
        .await
        .unwrap_err();
        assert_eq!(status(&e), 422, "{e}");
        assert!(e.to_string().contains("certificate_sha256"), "{e}");
    }
    assert_eq!(app.log_size().await, before);

    simple(&qa, EventType::Inspecting, vec![range(batch, 0, 9)], |e| {
        e.result = Some("conditional: retest lot in 30 days".into());
        e.method = Some("GB 4789.4-2016 沙门氏菌检验".into());
        e.certificate_sha256 = Some(sha.clone());
    })
    .await
    .unwrap();

    // The unit's JSON view and the EPCIS export carry all three.
    let url = format!("/01/{GTIN}/10/I1/21/3?s={}", {
        suyuan::formats::sign::sign_label(&format!("01/{GTIN}/10/I1/21/3"), &factory.ks.key)
    });
    let (st, unit) = app.get(&url, None).await;
    assert_eq!(st, 200, "{unit}");
    let text = unit.to_string();
    assert!(
        text.contains(&sha) && text.contains("沙门氏菌检验") && text.contains("retest lot"),
        "{unit}"
    );
    // The scan page's inspections section shows them too.
    let html = app
        .http
        .get(format!("{}{url}&lang=en", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = &html[html
        .find("<h3>Inspections</h3>")
        .expect("inspections section")..];
    assert!(
        section.contains(&format!("Certificate SHA-256: {sha}"))
            && section.contains("Method: GB 4789.4-2016 沙门氏菌检验"),
        "{section}"
    );
    let (st, doc) = app
        .get(
            &format!("/api/v1/epcis/events?batch={batch}"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(st, 200, "{doc}");
    let events = doc["epcisBody"]["eventList"].as_array().unwrap();
    let ins = events
        .iter()
        .find(|e| e["suyuan:eventType"] == "inspecting")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(ins["suyuan:certificateSha256"], sha.as_str());
    assert_eq!(ins["suyuan:method"], "GB 4789.4-2016 沙门氏菌检验");
    assert_eq!(ins["suyuan:result"], "conditional: retest lot in 30 days");
}

/// Open exceptions of a batch report, as `(type, units, open_units)`.
async fn open_exceptions(app: &TestApp, batch: BatchId, token: &str) -> Vec<(String, u64, u64)> {
    let (st, r) = app
        .get(&format!("/api/v1/reports?batch={batch}"), Some(token))
        .await;
    assert_eq!(st, 200, "{r}");
    r["open_exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["exceptions"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                n(&e["units"]),
                n(&e["open_units"]),
            )
        })
        .collect()
}

/// A recall and an inspection cover units but resolve nothing: twelve short
/// and two damaged units stay open through both, until the short ones arrive
/// and a damaged one is destroyed.
#[tokio::test]
async fn recalls_and_inspections_leave_receiving_exceptions_open() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let qa = app.party("county-qa", "inspector").await;
    let batch = mint(&factory, "X1", 100).await;
    let s = ship(&factory, &b1, vec![range(batch, 0, 59)])
        .await
        .unwrap();
    simple(&b1, EventType::Receiving, vec![range(batch, 0, 47)], |e| {
        e.shipment = Some(s);
        e.exceptions = vec![
            Exception {
                kind: ExceptionType::Shortage,
                objects: vec![range(batch, 48, 59)],
                note: None,
            },
            Exception {
                kind: ExceptionType::Damaged,
                objects: vec![range(batch, 0, 1)],
                note: Some("crushed".into()),
            },
        ];
    })
    .await
    .unwrap();
    let both = vec![
        ("shortage".to_owned(), 12, 12),
        ("damaged".to_owned(), 2, 2),
    ];
    assert_eq!(open_exceptions(&app, batch, &qa.token).await, both);

    recall(
        &factory,
        vec![range(batch, 0, 99)],
        "whey supplier lot",
        "return to the seller",
    )
    .await
    .unwrap();
    assert_eq!(
        open_exceptions(&app, batch, &qa.token).await,
        both,
        "a recall resolves nothing"
    );
    simple(&qa, EventType::Inspecting, vec![range(batch, 0, 99)], |e| {
        e.result = Some("fail".into());
        e.method = Some("GB 4789.4-2016".into());
    })
    .await
    .unwrap();
    assert_eq!(
        open_exceptions(&app, batch, &qa.token).await,
        both,
        "an inspection resolves nothing"
    );

    // What does resolve them: the missing units arrive, a damaged one is destroyed.
    receive(&b1, s, vec![range(batch, 48, 59)]).await.unwrap();
    simple(&b1, EventType::Destroying, vec![range(batch, 0, 0)], |_| {})
        .await
        .unwrap();
    assert_eq!(
        open_exceptions(&app, batch, &qa.token).await,
        vec![("damaged".to_owned(), 2, 1)]
    );
}
