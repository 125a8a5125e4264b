//! The demo: a dairy, a wholesaler, two shops, an infant-formula batch with
//! custody through to sale, and a recalled second batch.
//!
//! Keys are derived from fixed seeds and statement times are fixed, so every
//! run produces the same batch ids and labels; `demo.json` lists URLs to open.

use ed25519_dalek::SigningKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::app::ledger::{Ledger, SubmitError};
use crate::client::draft_event;
use crate::client::keystore::Keystore;
use crate::domain::batch::serial_for;
use crate::domain::keys::KeyRecord;
use crate::domain::party::{PartyKind, Role, Slug};
use crate::domain::statement::{
    BatchId, BatchStatement, EventStatement, EventType, Exception, ExceptionType, Input, Step,
    UnitRange, VERSION,
};
use crate::domain::time::{Date, Timestamp};
use crate::formats::gs1::{self, Gtin, Key, Lot, Serial};
use crate::formats::sign::{self, Kind};
use crate::store::{Party, StoreError, TokenOwner};

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A statement was refused.
    #[error("demo statement refused: {0}")]
    Submit(#[from] SubmitError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing files failed.
    #[error("demo files: {0}")]
    Io(#[from] std::io::Error),
    /// A fixed demo value failed to parse (a bug in this file).
    #[error("demo data: {0}")]
    Data(String),
}

/// What `demo.json` holds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DemoInfo {
    /// Base URL of the labels.
    pub base_url: String,
    /// A unit sold to a consumer.
    pub sold: String,
    /// A unit on a shop shelf.
    pub in_stock: String,
    /// A unit of the recalled batch.
    pub recalled: String,
    /// A sold unit's URL with a signature that does not verify.
    pub tampered: String,
    /// A validly signed serial that was never minted.
    pub unknown: String,
    /// The main batch id.
    pub batch_id: String,
    /// The recalled batch id.
    pub recalled_batch_id: String,
    /// Path of the factory's keystore.
    pub factory_keystore: String,
}

const FACTORY: &str = "hengshan-dairy";
const B1: &str = "north-wholesale";
const SHOP: &str = "greenleaf-mart";
const SHOP2: &str = "sunrise-baby";
const INSPECTOR: &str = "city-qa";

/// GTIN of the demo product (company prefix 690123456, item 789).
pub fn demo_gtin() -> String {
    let body = "0690123456789";
    format!("{body}{}", gs1::check_digit(body))
}

/// The fixed demo key of a party: SHA-256 of `suyuan demo key: {slug}`. Demo only.
pub fn demo_key(slug: &str) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(format!("suyuan demo key: {slug}").as_bytes()).into();
    SigningKey::from_bytes(&seed)
}

fn slug(s: &str) -> Result<Slug, DemoError> {
    Slug::parse(s).map_err(DemoError::Data)
}

fn t(s: &str) -> Result<Timestamp, DemoError> {
    Timestamp::parse(s).map_err(DemoError::Data)
}

fn d(s: &str) -> Result<Date, DemoError> {
    Date::parse(s).map_err(DemoError::Data)
}

fn ks(s: &str) -> Result<Keystore, DemoError> {
    Ok(Keystore::from_key(slug(s)?, demo_key(s)))
}

/// Signs and submits, as the party's own station would.
async fn submit<T: Serialize>(
    ledger: &Ledger,
    kind: Kind,
    body: &T,
    k: &Keystore,
) -> Result<String, DemoError> {
    let (stmt, _) = sign::sign(kind, body, &k.key).map_err(|e| DemoError::Data(e.to_string()))?;
    let r = ledger
        .submit(kind, &stmt.to_string(), &TokenOwner::Party(k.party.clone()))
        .await?;
    Ok(r.id)
}

async fn event(ledger: &Ledger, k: &Keystore, mut ev: EventStatement) -> Result<String, DemoError> {
    let batches = crate::domain::custody::batches_touched(&ev);
    ev.prev = ledger.store.heads(&batches).await?;
    submit(ledger, Kind::Event, &ev, k).await
}

fn range(batch: &str, first: u64, last: u64) -> Result<UnitRange, DemoError> {
    Ok(UnitRange {
        batch: BatchId::parse(batch).map_err(DemoError::Data)?,
        first,
        last,
    })
}

fn batch_record(
    lot: &str,
    quantity: u64,
    produced: &str,
    expires: &str,
    time: &str,
    supplier_lot: &str,
) -> Result<BatchStatement, DemoError> {
    let input = |material: &str, supplier: &str, lot: &str, origin: &str| Input {
        material: material.into(),
        supplier: supplier.into(),
        supplier_lot: lot.into(),
        origin: origin.into(),
    };
    let step = |name: &str, at: &str| -> Result<Step, DemoError> {
        Ok(Step {
            name: name.into(),
            time: Some(t(at)?),
            place: Some("恒山乳业 大同工厂 Datong plant".into()),
        })
    };
    let day = &time[..10];
    Ok(BatchStatement {
        v: VERSION,
        party: slug(FACTORY)?,
        key: sign::key_id(&demo_key(FACTORY).verifying_key()),
        time: t(time)?,
        gtin: Gtin::parse(&demo_gtin()).map_err(|e| DemoError::Data(e.to_string()))?,
        product: "婴儿配方奶粉 1段 900g / Infant formula stage 1, 900 g".into(),
        lot: Lot::parse(lot).map_err(|e| DemoError::Data(e.to_string()))?,
        quantity,
        produced: d(produced)?,
        expires: Some(d(expires)?),
        line: Some("2号线 喷雾干燥塔B / Line 2, spray dryer B".into()),
        serial_prefix: None,
        inputs: vec![
            input(
                "生牛乳 raw cow milk",
                "呼伦贝尔三号牧场 Hulunbuir Pasture No. 3",
                "HLBR3-20261013",
                "内蒙古呼伦贝尔 Hulunbuir, Inner Mongolia, CN",
            ),
            input(
                "乳清蛋白粉 whey protein concentrate 80",
                "Arla Foods Ingredients",
                supplier_lot,
                "Nr. Vium, Denmark",
            ),
            input(
                "维生素矿物质预混料 vitamin & mineral premix",
                "DSM Nutritional Products",
                "PMX-26-0412",
                "Kaiseraugst, Switzerland",
            ),
            input(
                "乳糖 lactose",
                "Hilmar Ingredients",
                "LAC-2609-118",
                "Hilmar, California, US",
            ),
        ],
        steps: vec![
            step(
                "原奶验收检测 raw milk intake and testing",
                &format!("{day}T00:30:00Z"),
            )?,
            step(
                "巴氏杀菌 85°C 15 s pasteurisation",
                &format!("{day}T01:10:00Z"),
            )?,
            step(
                "湿法混料 wet blending with whey and premix",
                &format!("{day}T01:40:00Z"),
            )?,
            step(
                "浓缩与喷雾干燥 evaporation and spray drying",
                &format!("{day}T02:30:00Z"),
            )?,
            step(
                "充氮灌装 nitrogen-flushed canning",
                &format!("{day}T05:00:00Z"),
            )?,
            step(
                "金属检测与X光检查 metal detection and X-ray",
                &format!("{day}T05:20:00Z"),
            )?,
        ],
        certificates: Vec::new(),
    })
}

/// The label URL of a unit, signed with the factory's demo key.
pub fn label_url(base: &str, lot: &str, index: u64, corrupt: bool) -> Result<String, DemoError> {
    let key = Key::Unit {
        gtin: Gtin::parse(&demo_gtin()).map_err(|e| DemoError::Data(e.to_string()))?,
        lot: Lot::parse(lot).map_err(|e| DemoError::Data(e.to_string()))?,
        serial: Serial::parse(&serial_for(index, None))
            .map_err(|e| DemoError::Data(e.to_string()))?,
    };
    let mut sig = sign::sign_label(&key.canonical_path(), &demo_key(FACTORY));
    if corrupt {
        // Change one character in the middle: still 86 characters of base64url, no longer valid.
        let mid = sig.len() / 2;
        let c = if &sig[mid..mid + 1] == "A" { "B" } else { "A" };
        sig.replace_range(mid..mid + 1, c);
    }
    Ok(key.url(base, &sig))
}

/// Lot of the main demo batch.
pub const LOT: &str = "L20261015A";
/// Lot of the recalled demo batch.
pub const RECALLED_LOT: &str = "L20260901B";

/// Sets up the demo once (reusing it if present), writes keystores, tokens and `demo.json`.
pub async fn setup(
    ledger: &Ledger,
    data_dir: &Path,
    base_url: &str,
) -> Result<DemoInfo, DemoError> {
    let keys_dir = data_dir.join("keys");
    std::fs::create_dir_all(&keys_dir)?;
    let parties = [
        (FACTORY, "恒山乳业 Hengshan Dairy Co.", PartyKind::Factory),
        (B1, "华北食品批发 North China Food Wholesale", PartyKind::B1),
        (SHOP, "绿叶超市 Greenleaf Mart", PartyKind::B2),
        (SHOP2, "朝阳母婴店 Sunrise Baby Store", PartyKind::B2),
        (
            INSPECTOR,
            "市质量检验所 City Quality Inspection",
            PartyKind::Inspector,
        ),
    ];
    let fresh = ledger.store.party(FACTORY).await?.is_none();
    for (s, name, kind) in parties {
        let k = ks(s)?;
        let path = keys_dir.join(format!("{s}.json"));
        if !path.exists() {
            k.save(&path).map_err(|e| DemoError::Data(e.to_string()))?;
        }
        if fresh {
            let token = crate::http::auth::new_token();
            let party = Party {
                slug: k.party.clone(),
                name: name.into(),
                kind,
                gln: None,
            };
            let root = KeyRecord {
                key_id: k.key_id.clone(),
                party: k.party.clone(),
                public_key: k.public_key(),
                role: Role::Root,
                not_before: None,
                not_after: None,
                revoked: None,
            };
            ledger
                .store
                .create_party(&party, &root, &crate::http::auth::token_hash(&token))
                .await?;
            std::fs::write(keys_dir.join(format!("{s}.token")), format!("{token}\n"))?;
        }
    }
    if fresh {
        populate(ledger).await?;
    }
    let factory = ks(FACTORY)?;
    let batch_id = sign::sign(
        Kind::Batch,
        &batch_record(
            LOT,
            1000,
            "2026-10-15",
            "2028-10-14",
            "2026-10-15T08:00:00Z",
            "WPC80-DK-26-3391",
        )?,
        &factory.key,
    )
    .map_err(|e| DemoError::Data(e.to_string()))?
    .1;
    let recalled_batch_id = sign::sign(Kind::Batch, &recalled_record()?, &factory.key)
        .map_err(|e| DemoError::Data(e.to_string()))?
        .1;
    let info = DemoInfo {
        base_url: base_url.to_owned(),
        sold: label_url(base_url, LOT, 0, false)?,
        in_stock: label_url(base_url, LOT, 10, false)?,
        recalled: label_url(base_url, RECALLED_LOT, 7, false)?,
        tampered: label_url(base_url, LOT, 0, true)?,
        unknown: label_url(base_url, LOT, 5000, false)?,
        batch_id,
        recalled_batch_id,
        factory_keystore: keys_dir
            .join(format!("{FACTORY}.json"))
            .display()
            .to_string(),
    };
    let json = serde_json::to_string_pretty(&info).map_err(|e| DemoError::Data(e.to_string()))?;
    std::fs::write(data_dir.join("demo.json"), json)?;
    Ok(info)
}

fn recalled_record() -> Result<BatchStatement, DemoError> {
    batch_record(
        RECALLED_LOT,
        200,
        "2026-09-01",
        "2028-08-31",
        "2026-09-01T08:00:00Z",
        "WPC80-DK-26-2977",
    )
}

async fn populate(ledger: &Ledger) -> Result<(), DemoError> {
    let (factory, b1, shop, shop2, qa) =
        (ks(FACTORY)?, ks(B1)?, ks(SHOP)?, ks(SHOP2)?, ks(INSPECTOR)?);
    let main = batch_record(
        LOT,
        1000,
        "2026-10-15",
        "2028-10-14",
        "2026-10-15T08:00:00Z",
        "WPC80-DK-26-3391",
    )?;
    let batch = submit(ledger, Kind::Batch, &main, &factory).await?;
    let recalled = submit(ledger, Kind::Batch, &recalled_record()?, &factory).await?;

    let at = |mut e: EventStatement, time: &str| -> Result<EventStatement, DemoError> {
        e.time = t(time)?;
        Ok(e)
    };
    // Factory ships 600 units to the wholesaler; it receives them all.
    let mut ship = draft_event(&factory, EventType::Shipping, vec![range(&batch, 0, 599)?]);
    ship.to = Some(slug(B1)?);
    ship.asn = Some("ASN-HS-2026-0417".into());
    ship.place = Some("恒山乳业 大同工厂 Datong plant".into());
    let ship1 = event(ledger, &factory, at(ship, "2026-10-18T02:00:00Z")?).await?;
    let mut recv = draft_event(&b1, EventType::Receiving, vec![range(&batch, 0, 599)?]);
    recv.shipment = Some(BatchId::parse(&ship1).map_err(DemoError::Data)?);
    recv.place = Some("华北物流中心 Beijing DC".into());
    event(ledger, &b1, at(recv, "2026-10-19T06:30:00Z")?).await?;

    // Wholesaler ships to two shops; the second delivery is ten cans short.
    let mut s1 = draft_event(&b1, EventType::Shipping, vec![range(&batch, 0, 199)?]);
    s1.to = Some(slug(SHOP)?);
    s1.asn = Some("ASN-NW-88120".into());
    let s1 = event(ledger, &b1, at(s1, "2026-10-21T01:00:00Z")?).await?;
    let mut s2 = draft_event(&b1, EventType::Shipping, vec![range(&batch, 200, 299)?]);
    s2.to = Some(slug(SHOP2)?);
    s2.asn = Some("ASN-NW-88121".into());
    let s2 = event(ledger, &b1, at(s2, "2026-10-21T01:30:00Z")?).await?;
    let mut r1 = draft_event(&shop, EventType::Receiving, vec![range(&batch, 0, 199)?]);
    r1.shipment = Some(BatchId::parse(&s1).map_err(DemoError::Data)?);
    r1.place = Some("绿叶超市 朝阳店 Greenleaf Chaoyang".into());
    event(ledger, &shop, at(r1, "2026-10-22T03:00:00Z")?).await?;
    let mut r2 = draft_event(&shop2, EventType::Receiving, vec![range(&batch, 200, 289)?]);
    r2.shipment = Some(BatchId::parse(&s2).map_err(DemoError::Data)?);
    r2.exceptions = vec![Exception {
        kind: ExceptionType::Shortage,
        objects: vec![range(&batch, 290, 299)?],
        note: Some("one case of 10 missing from the pallet".into()),
    }];
    event(ledger, &shop2, at(r2, "2026-10-22T04:00:00Z")?).await?;

    // The shop sells five cans, one at a time.
    for (i, time) in [
        "2026-10-25T09:12:00Z",
        "2026-10-25T10:40:00Z",
        "2026-10-26T02:05:00Z",
        "2026-10-26T08:31:00Z",
        "2026-10-27T11:47:00Z",
    ]
    .iter()
    .enumerate()
    {
        let mut sale = draft_event(
            &shop,
            EventType::RetailSelling,
            vec![range(&batch, i as u64, i as u64)?],
        );
        sale.place = Some("绿叶超市 朝阳店 Greenleaf Chaoyang".into());
        event(ledger, &shop, at(sale, time)?).await?;
    }

    // The earlier batch went to the wholesaler, then was recalled by the factory.
    let mut ship = draft_event(
        &factory,
        EventType::Shipping,
        vec![range(&recalled, 0, 149)?],
    );
    ship.to = Some(slug(B1)?);
    ship.asn = Some("ASN-HS-2026-0311".into());
    let ship2 = event(ledger, &factory, at(ship, "2026-09-04T02:00:00Z")?).await?;
    let mut recv = draft_event(&b1, EventType::Receiving, vec![range(&recalled, 0, 149)?]);
    recv.shipment = Some(BatchId::parse(&ship2).map_err(DemoError::Data)?);
    event(ledger, &b1, at(recv, "2026-09-05T06:00:00Z")?).await?;
    let mut recall = draft_event(
        &factory,
        EventType::Recalling,
        vec![range(&recalled, 0, 199)?],
    );
    recall.reason = Some("供应商乳清蛋白批次 WPC80-DK-26-2977 检出阪崎克罗诺杆菌风险 / Possible Cronobacter sakazakii in whey supplier lot WPC80-DK-26-2977".into());
    recall.instructions = Some("请停止使用并退回购买门店，全额退款 / Stop using it and return it to the shop for a full refund".into());
    event(ledger, &factory, at(recall, "2026-10-02T09:00:00Z")?).await?;

    // The inspector records a passing test of the main batch.
    let mut insp = draft_event(&qa, EventType::Inspecting, vec![range(&batch, 0, 999)?]);
    insp.result = Some("pass: Cronobacter, Salmonella not detected (GB 4789)".into());
    event(ledger, &qa, at(insp, "2026-10-17T07:00:00Z")?).await?;
    Ok(())
}

/// Reads a `demo.json` written by [`setup`].
pub fn read_info(data_dir: &Path) -> Option<DemoInfo> {
    let text = std::fs::read_to_string(data_dir.join("demo.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Where the demo keeps a party's keystore.
pub fn keystore_path(data_dir: &Path, slug: &str) -> PathBuf {
    data_dir.join("keys").join(format!("{slug}.json"))
}
