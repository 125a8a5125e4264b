//! The consumer scan page and resolver (issue 5): page, languages, JSON,
//! linkset, HEAD/OPTIONS/CORS, 400 pages, scan log and clone detection,
//! feedback with its form token and the feedback API, rate limiting.

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, USER_AGENT};
use serde_json::Value;

use crate::helpers::*;
use suyuan::domain::statement::{BatchId, EventType};

const GTIN: &str = "09506000134352";

/// Factory → B1 → B2, unit 5 sold, an inspection; returns (app, actors, batch).
async fn chain() -> (TestApp, Actor, Actor, Actor, BatchId) {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let b2 = app.party("corner-shop", "b2").await;
    let qa = app.party("city-qa", "inspector").await;
    let batch = mint(&factory, "L1", 100).await;
    let s1 = ship(&factory, &b1, vec![range(batch, 0, 59)])
        .await
        .unwrap();
    receive(&b1, s1, vec![range(batch, 0, 59)]).await.unwrap();
    let s2 = ship(&b1, &b2, vec![range(batch, 0, 19)]).await.unwrap();
    receive(&b2, s2, vec![range(batch, 0, 19)]).await.unwrap();
    simple(&qa, EventType::Inspecting, vec![range(batch, 0, 99)], |e| {
        e.result = Some("pass: Salmonella not detected".into());
    })
    .await
    .unwrap();
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 5, 5)],
        |e| {
            e.place = Some("Corner Shop, Chaoyang".into());
        },
    )
    .await
    .unwrap();
    (app, factory, b1, b2, batch)
}

fn label(factory: &Actor, serial: u64) -> String {
    let path = format!("01/{GTIN}/10/L1/21/{serial}");
    let sig = suyuan::formats::sign::sign_label(&path, &factory.ks.key);
    format!("/{path}?s={sig}")
}

async fn page(app: &TestApp, url: &str, lang: &str, agent: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}{url}", app.base))
        .header(ACCEPT_LANGUAGE, lang)
        .header(USER_AGENT, agent)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn verdict_of(html: &str) -> &str {
    let i = html.find("data-verdict=\"").expect("data-verdict") + 14;
    &html[i..i + html[i..].find('"').unwrap()]
}

fn token_of(html: &str) -> String {
    let i = html.find("name=\"token\" value=\"").expect("token field") + 20;
    html[i..i + html[i..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_page_shows_verdict_first_then_origin_materials_custody_and_sale() {
    let (app, factory, ..) = chain().await;
    let url = label(&factory, 5);
    let (code, html) = page(&app, &url, "zh-CN,zh;q=0.9,en;q=0.5", "phone-a").await;
    assert_eq!(code, 200);
    assert_eq!(verdict_of(&html), "genuine");
    assert!(html.len() < 30 * 1024, "page is {} bytes", html.len());
    assert!(html.contains("<style>") && !html.contains("<script"));
    let verdict_at = html.find("data-verdict").unwrap();
    for needle in [
        "婴儿配方奶粉 900g",
        "acme-dairy Co.",
        "生产日期",
        "2026年10月1日",
        "Line 1",
        "raw milk",
        "Pasture 3",
        "Hulunbuir",
        "spray drying",
        "north-wholesale Co.",
        "corner-shop Co.",
        "已验证",
        "Salmonella not detected",
        "Corner Shop, Chaoyang",
        "首次验证于",
        "已扫描 1 次",
        "name=\"token\"",
        "value=\"return\"",
    ] {
        assert!(
            html[verdict_at..].contains(needle),
            "{needle} missing after the verdict:\n{html}"
        );
    }
    // English by ?lang=, whatever the header says; unknown lang falls back to the header.
    let (_, en) = page(&app, &format!("{url}&lang=en"), "zh-CN", "phone-a").await;
    assert!(en.contains("Genuine") && en.contains("Raw materials") && en.contains("1 Oct 2026"));
    assert!(en.contains("scanned 2 times"), "{en}");
    let (_, fallback) = page(&app, &format!("{url}&lang=tlh"), "zh", "phone-a").await;
    assert!(fallback.contains("正品"));
    let (_, default) = page(&app, &url, "", "phone-a").await;
    assert!(default.contains("Genuine"));

    // Unsold unit at the shop: genuine, no return form.
    let (_, shelf) = page(&app, &label(&factory, 6), "en", "phone-a").await;
    assert_eq!(verdict_of(&shelf), "genuine");
    assert!(shelf.contains("Not sold yet") && !shelf.contains("value=\"return\""));

    // Compressed when the client accepts it.
    for enc in ["gzip", "br"] {
        let r = app
            .http
            .get(format!("{}{url}", app.base))
            .header(ACCEPT_ENCODING, enc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-encoding"], enc);
        let n = r.bytes().await.unwrap().len();
        assert!(n < html.len() / 2, "{enc}: {n} bytes");
    }
}

#[tokio::test]
async fn a_page_shown_before_follows_events_of_its_lot_and_not_of_others() {
    let (app, factory, _b1, b2, batch) = chain().await;
    let url = label(&factory, 7);
    let (_, first) = page(&app, &url, "en", "phone-a").await;
    assert_eq!(verdict_of(&first), "genuine");
    assert!(first.contains("Not sold yet"), "{first}");
    // Custody moves in another lot; the page stays what it was.
    let other = mint(&factory, "L2", 10).await;
    let s = ship(&factory, &b2, vec![range(other, 0, 9)]).await.unwrap();
    receive(&b2, s, vec![range(other, 0, 9)]).await.unwrap();
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(other, 0, 0)],
        |_| {},
    )
    .await
    .unwrap();
    let (_, again) = page(&app, &url, "en", "phone-a").await;
    assert_eq!(verdict_of(&again), "genuine");
    assert!(again.contains("Not sold yet") && again.contains("scanned 2 times"));
    // A sale of another unit of the same lot moves its chain head: the page is
    // read anew, and still shows this unit unsold.
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 8, 8)],
        |_| {},
    )
    .await
    .unwrap();
    let (_, neighbour) = page(&app, &url, "en", "phone-a").await;
    assert!(neighbour.contains("Not sold yet"));
    // This unit's own sale and its lot's recall show at the next scan.
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 7, 7)],
        |_| {},
    )
    .await
    .unwrap();
    let (_, sold) = page(&app, &url, "en", "phone-a").await;
    assert_eq!(verdict_of(&sold), "genuine");
    assert!(!sold.contains("Not sold yet"), "{sold}");
    recall(
        &factory,
        vec![range(batch, 0, 99)],
        "contaminated whey",
        "return to shop",
    )
    .await
    .unwrap();
    let (_, recalled) = page(&app, &url, "en", "phone-a").await;
    assert_eq!(verdict_of(&recalled), "recalled");
    assert!(recalled.contains("contaminated whey"));
}

#[tokio::test]
async fn a_return_accepted_back_into_stock_ends_the_sale_on_the_page() {
    let (app, factory, _b1, b2, batch) = chain().await;
    let url = label(&factory, 5);
    let (_, sold) = page(&app, &url, "en", "buyer").await;
    assert!(
        sold.contains("Sold on") && sold.contains("value=\"return\""),
        "{sold}"
    );
    // The buyer brings it back: still the buyer's, so still sold.
    simple(&b2, EventType::Returning, vec![range(batch, 5, 5)], |e| {
        e.reason = Some("dented can".into())
    })
    .await
    .unwrap();
    let (_, returned) = page(&app, &url, "en", "buyer").await;
    assert!(returned.contains("Sold on"), "{returned}");
    // The shop takes it back into stock: on the shelf again, not sold.
    simple(
        &b2,
        EventType::AcceptingReturn,
        vec![range(batch, 5, 5)],
        |e| e.resolution = Some(suyuan::domain::statement::Resolution::Restock),
    )
    .await
    .unwrap();
    let (_, restocked) = page(&app, &url, "en", "shopper").await;
    assert_eq!(verdict_of(&restocked), "genuine");
    let sale_at = restocked.find("<h3>Sale</h3>").expect("sale section");
    let sale = &restocked[sale_at..sale_at + restocked[sale_at..].find("</section>").unwrap()];
    assert!(!sale.contains("Sold on"), "{sale}");
    assert!(sale.contains("Returned to the shop on"), "{sale}");
    assert!(!restocked.contains("value=\"return\""));
    let (_, zh) = page(&app, &format!("{url}&lang=zh"), "", "shopper").await;
    assert!(zh.contains("退回门店") && !zh.contains("售出于"), "{zh}");
    // Sold again: the new sale shows.
    simple(
        &b2,
        EventType::RetailSelling,
        vec![range(batch, 5, 5)],
        |e| e.place = Some("Corner Shop, second till".into()),
    )
    .await
    .unwrap();
    let (_, resold) = page(&app, &url, "en", "second-buyer").await;
    assert!(
        resold.contains("Sold on") && resold.contains("second till"),
        "{resold}"
    );
}

#[tokio::test]
async fn resolver_json_linkset_head_options_cors_and_bad_paths() {
    let (app, factory, ..) = chain().await;
    let url = label(&factory, 5);
    // JSON, extra parameters ignored.
    let (code, v) = app.get(&format!("{url}&utm_source=wechat&x=1"), None).await;
    assert_eq!(code, 200);
    assert_eq!(v["verdict"], "genuine");
    assert_eq!(v["batch"]["record"]["inputs"][0]["origin"], "Hulunbuir");
    assert_eq!(v["scans"]["count"], 1);
    // Linkset by ?linkType=all and by Accept.
    for (q, accept) in [
        ("&linkType=all", "text/html"),
        ("", "application/linkset+json"),
    ] {
        let r = app
            .http
            .get(format!("{}{url}{q}", app.base))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/linkset+json");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let v: Value = r.json().await.unwrap();
        let set = &v["linkset"][0];
        assert!(set["anchor"]
            .as_str()
            .unwrap()
            .ends_with(&url[1..url.find('?').unwrap()]));
        for rel in ["pip", "traceability", "recallStatus"] {
            let href = set[format!("https://gs1.org/voc/{rel}")][0]["href"]
                .as_str()
                .unwrap_or_else(|| panic!("no {rel} in {v}"));
            assert!(href.starts_with(&app.base), "{href}");
        }
        // The links work.
        let href = set["https://gs1.org/voc/recallStatus"][0]["href"]
            .as_str()
            .unwrap();
        let rs: Value = app
            .http
            .get(href)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rs["recalled"], false);
    }
    // HEAD: headers, no body, not a scan.
    let before = app
        .raw
        .texts("SELECT CAST(COUNT(*) AS TEXT) FROM scans")
        .await;
    let r = app
        .http
        .head(format!("{}{url}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers()["link"].to_str().unwrap().contains("linkset"));
    assert!(r.bytes().await.unwrap().is_empty());
    let after = app
        .raw
        .texts("SELECT CAST(COUNT(*) AS TEXT) FROM scans")
        .await;
    assert_eq!(before, after);
    // OPTIONS and CORS on GET.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}{url}", app.base))
        .header("origin", "https://other.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = app
        .http
        .get(format!("{}{url}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");

    // Bad input: readable 400 pages, in the reader's language, never 500.
    let long_q = format!("/01/{GTIN}/10/L1/21/5?s={}", "A".repeat(6000));
    for (path, needle) in [
        ("/01/09506000134353/10/L1/21/5", "check digit"),
        ("/01/0950600013435A/10/L1/21/5", "digits"),
        ("/01/123/10/L1/21/5", "8, 12, 13 or 14"),
        (&format!("/01/{GTIN}/10/L%231/21/5")[..], "lot"),
        (
            &format!("/01/{GTIN}/10/L1/99/5")[..],
            "unknown application identifier",
        ),
        ("/", ""),
        ("/hello", ""),
    ] {
        let (code, html) = page(&app, path, "en", "x").await;
        assert_eq!(code, 400, "{path}: {html}");
        assert!(html.contains("This is not a label we can read"), "{path}");
        assert!(html.contains(needle), "{path} should say {needle}: {html}");
    }
    let (code, html) = page(&app, "/01/09506000134353/10/L1/21/5", "zh", "x").await;
    assert_eq!(code, 400);
    assert!(html.contains("无法识别此标签"));
    let (code, v) = app.get("/01/09506000134353/10/L1/21/5", None).await;
    assert_eq!((code, v["error"].as_str()), (400, Some("bad_label")));
    // A double-encoded percent is a lot of its own ("L%251"): not on record.
    let (code, html) = page(&app, &format!("/01/{GTIN}/10/L%25251/21/5"), "en", "x").await;
    assert_eq!((code, verdict_of(&html)), (200, "unknown"));
    // Missing, truncated or huge signatures: a clear "unknown", not an error.
    for q in ["", "?s=", "?s=abc", &long_q[long_q.find('?').unwrap()..]] {
        let (code, html) = page(&app, &format!("/01/{GTIN}/10/L1/21/5{q}"), "en", "x").await;
        assert_eq!(code, 200, "{q}");
        assert_eq!(verdict_of(&html), "unknown", "{q}");
    }
}

#[tokio::test]
async fn scans_are_logged_hashed_and_many_devices_make_a_sold_label_suspect() {
    let (app, factory, ..) = chain().await;
    let url = label(&factory, 5);
    // The buyer scans three times: still genuine.
    for _ in 0..3 {
        let (_, html) = page(&app, &url, "en", "buyer-phone").await;
        assert_eq!(verdict_of(&html), "genuine");
    }
    // Copies of the label are scanned by other phones.
    let mut last = String::new();
    for i in 0..6 {
        last = page(&app, &url, "en", &format!("phone-{i}")).await.1;
    }
    assert_eq!(verdict_of(&last), "suspect", "{last}");
    assert!(last.contains("many different phones") && last.contains("scanned 9 times"));
    assert!(last.contains("First verified on"));
    let (_, v) = app.get(&url, None).await;
    assert_eq!(v["verdict"], "suspect");
    assert_eq!(v["reason"], "many_scanners");
    assert!(v["scans"]["scanners_after_sale"].as_u64().unwrap() > 5);

    // Never a raw address in the log: 128-bit hex hashes only.
    let scanners = app.raw.texts("SELECT scanner FROM scans").await;
    assert_eq!(scanners.len(), 10);
    assert!(scanners
        .iter()
        .all(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())));
    let dump = app
        .raw
        .texts("SELECT unit || '|' || scanner FROM scans")
        .await
        .join("\n");
    assert!(!dump.contains("127.0.0"));

    // A unit still at the wholesaler scanned by a consumer: suspect.
    let (_, html) = page(&app, &label(&factory, 30), "en", "phone-x").await;
    assert_eq!(verdict_of(&html), "suspect");
    assert!(html.contains("never delivered to a shop"));

    // A forged signature is unknown and is not logged against the unit.
    let forged = format!("/01/{GTIN}/10/L1/21/6?s={}", "A".repeat(86));
    for i in 0..8 {
        let (_, html) = page(&app, &forged, "en", &format!("forger-{i}")).await;
        assert_eq!(verdict_of(&html), "unknown");
        assert!(html.contains("12315"));
    }
    let (_, html) = page(&app, &label(&factory, 6), "en", "shop-phone").await;
    assert_eq!(verdict_of(&html), "genuine");
    // No such unit (index past the batch), even with a valid signature.
    let (_, html) = page(&app, &label(&factory, 100), "en", "x").await;
    assert_eq!(verdict_of(&html), "unknown");
}

async fn post_form(
    app: &TestApp,
    url: &str,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> (u16, String) {
    let mut req = app.http.post(format!("{}{url}", app.base)).form(form);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn feedback_reaches_the_chain_without_the_device_and_returns_reach_the_seller() {
    let (app, factory, b1, b2, _) = chain().await;
    let url = label(&factory, 5);
    let (_, html) = page(&app, &url, "en", "buyer").await;
    let token = token_of(&html);
    let comment = "<script>alert('x')</script> tasted sour";
    let (code, thanks) = post_form(
        &app,
        &url,
        &[
            ("token", &token),
            ("kind", "feedback"),
            ("rating", "2"),
            ("category", "quality"),
            ("comment", comment),
            ("contact", "138 0000 0000"),
        ],
        Some(&app.base),
    )
    .await;
    assert_eq!(code, 200, "{thanks}");
    assert!(
        thanks.contains("&#60;script&#62;") && !thanks.contains("<script>alert"),
        "{thanks}"
    );

    for actor in [&factory, &b1, &b2] {
        let party = actor.ks.party.as_str();
        let (code, v) = app
            .get(
                &format!("/api/v1/feedback?party={party}"),
                Some(&actor.token),
            )
            .await;
        assert_eq!(code, 200, "{v}");
        let items = v["feedback"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{party}: {v}");
        let f = &items[0];
        assert_eq!(f["rating"], 2);
        assert_eq!(f["category"], "quality");
        assert_eq!(f["kind"], "feedback");
        assert_eq!(f["signature_ok"], true);
        assert_eq!(
            f["comment"],
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; tasted sour"
        );
        assert!(f.get("scanner").is_none() && !v.to_string().contains("127.0.0.1"));
    }
    // The inspector was not a holder; another party's token cannot read it.
    let (code, _) = app
        .get("/api/v1/feedback?party=acme-dairy", Some(&b2.token))
        .await;
    assert_eq!(code, 403);
    let (code, _) = app.get("/api/v1/feedback?party=acme-dairy", None).await;
    assert_eq!(code, 401);
    let (code, _) = app
        .get("/api/v1/feedback?party=../x", Some(&app.admin))
        .await;
    assert_eq!(code, 400);

    // Return request: only the selling shop sees it.
    let (code, body) = post_form(
        &app,
        &url,
        &[
            ("token", &token),
            ("kind", "exchange"),
            ("comment", "dented can"),
        ],
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (_, v) = app
        .get("/api/v1/feedback?party=corner-shop", Some(&b2.token))
        .await;
    assert_eq!(v["feedback"][0]["kind"], "exchange");
    let (_, v) = app
        .get("/api/v1/feedback?party=acme-dairy", Some(&factory.token))
        .await;
    assert_eq!(v["feedback"].as_array().unwrap().len(), 1);

    // An unsold unit cannot be returned.
    let shelf = label(&factory, 6);
    let (_, html) = page(&app, &shelf, "en", "buyer").await;
    let t6 = token_of(&html);
    let (code, _) = post_form(&app, &shelf, &[("token", &t6), ("kind", "return")], None).await;
    assert_eq!(code, 409);

    // Cross-site posts, missing or foreign tokens are refused.
    let (code, _) = post_form(
        &app,
        &url,
        &[("token", &token), ("rating", "5")],
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(code, 403);
    let (code, _) = post_form(&app, &url, &[("rating", "5")], None).await;
    assert_eq!(code, 403);
    let (code, _) = post_form(&app, &shelf, &[("token", &token), ("rating", "5")], None).await;
    assert_eq!(code, 403, "a token is bound to its unit");
    // Bad values and a huge comment.
    let (code, body) = post_form(&app, &url, &[("token", &token), ("rating", "9")], None).await;
    assert_eq!(code, 400);
    assert!(body.contains("1 to 5"));
    let big = "x".repeat(1024 * 1024);
    let (code, _) = post_form(&app, &url, &[("token", &token), ("comment", &big)], None).await;
    assert_eq!(code, 413);
    let long = "y".repeat(3000);
    let (code, _) = post_form(&app, &url, &[("token", &token), ("comment", &long)], None).await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn feedback_is_limited_per_device_and_address() {
    let (app, factory, ..) = chain().await;
    let url = label(&factory, 5);
    let (_, html) = page(&app, &url, "en", "buyer").await;
    let token = token_of(&html);
    let mut codes = Vec::new();
    for i in 0..8 {
        let c = format!("message {i}");
        codes.push(
            post_form(&app, &url, &[("token", &token), ("comment", &c)], None)
                .await
                .0,
        );
    }
    assert_eq!(&codes[..5], &[200; 5], "{codes:?}");
    assert!(codes[5..].iter().all(|&c| c == 429), "{codes:?}");
}

#[tokio::test]
async fn abusive_clients_get_a_429_page() {
    let (app, factory, ..) = chain().await;
    let url = label(&factory, 5);
    let mut statuses = Vec::new();
    for _ in 0..80 {
        statuses.push(page(&app, &url, "zh", "bot").await);
    }
    let limited = statuses.iter().find(|(c, _)| *c == 429).expect("some 429");
    assert!(limited.1.contains("请求过于频繁"));
    assert!(statuses.iter().all(|(c, _)| *c == 200 || *c == 429));
}
