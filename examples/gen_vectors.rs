//! Writes the signing-format (version 1) test vectors into `tests/vectors/`.
//!
//! Run with `cargo run --example gen_vectors`. The output is deterministic:
//! fixed demo seeds, Ed25519 is deterministic, and every file is written in
//! the same order with the same spelling. `tests/vectors.rs` includes this
//! file as a module and checks that the files on disk equal [`build`]'s
//! output, so a vector cannot silently drift from its generator.
//!
//! See `tests/vectors/README.md` for the file format and what each invalid
//! vector checks.

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};
use suyuan::formats::jcs;
use suyuan::formats::sign::{self, b64, Kind};

/// One vector file.
#[derive(Debug, Clone, Serialize)]
pub struct Vector {
    /// The file name without `.json`, e.g. `01-batch-basic`.
    pub name: String,
    /// `batch`, `event`, `key` or `label`: the kind a verifier must use.
    pub kind: String,
    /// The statement without `sig` (an object), or the label path (a string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Value>,
    /// Raw JSON text of the statement without `sig`, for what a JSON object cannot hold (duplicate keys, lone surrogates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_text: Option<String>,
    /// base64url (no padding) of the 32-byte public key to verify with.
    pub public_key: String,
    /// base64url (no padding) of the 32-byte seed that made `sig`, or "" when no seed exists.
    pub secret_key: String,
    /// Hex of the message a conforming verifier computes, or "" when it must refuse to compute one.
    pub message_hex: String,
    /// Lowercase hex SHA-256 of that message, or "".
    pub id: String,
    /// The signature as transmitted.
    pub sig: String,
    /// Whether a conforming verifier accepts the vector.
    pub valid: bool,
    /// For invalid vectors: why it must be refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// ---------------------------------------------------------------------------
// Digital Link label paths

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~`, with uppercase hex.
pub fn dl_encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for &b in raw {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a lot or serial as delivered by a scanner: `%XX` (either case) becomes the byte, anything else stays.
fn dl_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let digit = |j: usize| bytes.get(j).and_then(|&c| (c as char).to_digit(16));
            out.push((digit(i + 1)? * 16 + digit(i + 2)?) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Rebuilds the canonical path `01/{gtin14}/10/{lot}/21/{serial}` or `00/{sscc18}` from a delivered one.
pub fn canonical_label_path(path: &str) -> Option<String> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let part = |s: &str| {
        dl_decode(s)
            .filter(|raw| !raw.is_empty())
            .map(|raw| dl_encode(&raw))
    };
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["00", sscc] if digits(sscc, 18) => Some(format!("00/{sscc}")),
        ["01", gtin, "10", lot, "21", serial] if digits(gtin, 14) => {
            Some(format!("01/{gtin}/10/{}/21/{}", part(lot)?, part(serial)?))
        }
        _ => None,
    }
}

fn label_path(gtin: &str, lot: &str, serial: &str) -> String {
    format!(
        "01/{gtin}/10/{}/21/{}",
        dl_encode(lot.as_bytes()),
        dl_encode(serial.as_bytes())
    )
}

// ---------------------------------------------------------------------------
// Scalars mod L, only for crafting the small-order-R and S+L signatures.

type U256 = [u64; 4];

/// The order of the Ed25519 base point, 2^252 + 27742317777372353535851937790883648493.
const L: U256 = [
    0x5812_631a_5cf5_d3ed,
    0x14de_f9de_a2f7_9cd6,
    0,
    0x1000_0000_0000_0000,
];

fn from_le(bytes: &[u8; 32]) -> U256 {
    std::array::from_fn(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap()))
}

fn to_le(x: &U256) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, limb) in x.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
    }
    out
}

fn add(a: &U256, b: &U256) -> U256 {
    let mut out = [0u64; 4];
    let mut carry = false;
    for i in 0..4 {
        let (s1, c1) = a[i].overflowing_add(b[i]);
        let (s2, c2) = s1.overflowing_add(carry as u64);
        out[i] = s2;
        carry = c1 || c2;
    }
    assert!(!carry, "values here stay below 2^255");
    out
}

fn sub(a: &U256, b: &U256) -> U256 {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow as u64);
        out[i] = d2;
        borrow = b1 || b2;
    }
    out
}

fn ge(a: &U256, b: &U256) -> bool {
    a.iter().rev().cmp(b.iter().rev()) != std::cmp::Ordering::Less
}

/// (a + b) mod L for a, b < L.
fn add_mod_l(a: &U256, b: &U256) -> U256 {
    let s = add(a, b);
    if ge(&s, &L) {
        sub(&s, &L)
    } else {
        s
    }
}

/// A little-endian number of any length, reduced mod L (bit by bit; slow and obvious).
fn reduce_mod_l(le: &[u8]) -> U256 {
    let mut r = [0u64; 4];
    for byte in le.iter().rev() {
        for bit in (0..8).rev() {
            r = add_mod_l(&r, &r);
            if byte >> bit & 1 == 1 {
                r = add_mod_l(&r, &[1, 0, 0, 0]);
            }
        }
    }
    r
}

fn mul_mod_l(a: &U256, b: &U256) -> U256 {
    let mut r = [0u64; 4];
    for byte in to_le(b).iter().rev() {
        for bit in (0..8).rev() {
            r = add_mod_l(&r, &r);
            if byte >> bit & 1 == 1 {
                r = add_mod_l(&r, a);
            }
        }
    }
    r
}

/// The encoding of the identity point (y = 1): order 1.
const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// The encoding of the Ed25519 base point B (y = 4/5).
const BASE_POINT: [u8; 32] = {
    let mut b = [0x66u8; 32];
    b[0] = 0x58;
    b
};

/// A signature with R = identity (small order) and S = k·a, which passes cofactorless
/// non-strict verification ([S]B = [k]A = R + [k]A) but must be refused by strict verification.
fn small_order_r_sig(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let h = Sha512::digest(seed);
    let mut a: [u8; 32] = h[..32].try_into().unwrap();
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = reduce_mod_l(&a);
    let public = SigningKey::from_bytes(seed).verifying_key();
    let k = reduce_mod_l(
        &Sha512::new()
            .chain_update(IDENTITY)
            .chain_update(public.as_bytes())
            .chain_update(message)
            .finalize(),
    );
    let s = mul_mod_l(&k, &a);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&IDENTITY);
    sig[32..].copy_from_slice(&to_le(&s));
    sig
}

/// The same signature with S replaced by S + L (same R, non-canonical S).
fn s_plus_l(sig: &str) -> String {
    let mut bytes: [u8; 64] = sign::unb64(sig).unwrap().try_into().unwrap();
    let s = from_le(bytes[32..].try_into().unwrap());
    bytes[32..].copy_from_slice(&to_le(&add(&s, &L)));
    b64(&bytes)
}

/// Sets padding bits in the last base64url character (decodes to the same bytes in a lenient decoder).
fn dirty_trailing_bits(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *text.as_bytes().last().unwrap();
    let value = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(
        value & 1,
        0,
        "the last character must have clear padding bits"
    );
    let mut out = text[..text.len() - 1].to_owned();
    out.push(ALPHABET[value | 1] as char);
    out
}

// ---------------------------------------------------------------------------
// Vector building

struct Party {
    seed: [u8; 32],
    key: SigningKey,
}

impl Party {
    fn new(byte: u8) -> Self {
        let seed = [byte; 32];
        Party {
            seed,
            key: SigningKey::from_bytes(&seed),
        }
    }
    fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
    fn public_b64(&self) -> String {
        b64(self.public().as_bytes())
    }
    fn secret_b64(&self) -> String {
        b64(&self.seed)
    }
    fn key_id(&self) -> String {
        sign::key_id(&self.public())
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("statement must be an object"),
    }
}

/// A valid object statement signed with the crate's own `sign_value`.
fn signed(kind: Kind, body: Value, by: &Party) -> Vector {
    let map = object(body);
    let canonical = jcs::canonicalize(&Value::Object(map.clone())).expect("valid statement");
    let message = sign::message(kind, &canonical);
    let (full, id) = sign::sign_value(kind, &map, &by.key).expect("signable");
    assert_eq!(id, sign::id_of(&message));
    Vector {
        name: String::new(),
        kind: kind.to_string(),
        statement: Some(Value::Object(map)),
        statement_text: None,
        public_key: by.public_b64(),
        secret_key: by.secret_b64(),
        message_hex: hex::encode(&message),
        id,
        sig: full["sig"].as_str().unwrap().to_owned(),
        valid: true,
        error: None,
    }
}

/// A valid label signature over a canonical path.
fn label(path: &str, by: &Party) -> Vector {
    let canonical = canonical_label_path(path).expect("label path");
    let message = sign::message(Kind::Label, &canonical);
    Vector {
        name: String::new(),
        kind: "label".into(),
        statement: Some(Value::String(path.to_owned())),
        statement_text: None,
        public_key: by.public_b64(),
        secret_key: by.secret_b64(),
        message_hex: hex::encode(&message),
        id: sign::id_of(&message),
        sig: sign::sign_label(&canonical, &by.key),
        valid: true,
        error: None,
    }
}

fn invalid(mut v: Vector, why: &str) -> Vector {
    v.valid = false;
    v.error = Some(why.to_owned());
    v
}

/// A vector whose statement no conforming implementation may canonicalise. `naive_body` is what
/// an implementation without the rule would sign (the sig is over it, so skipping the rule shows).
fn uncanonicalisable(
    kind: Kind,
    statement: Value,
    naive_body: &[u8],
    by: &Party,
    why: &str,
) -> Vector {
    assert!(jcs::canonicalize(&statement).is_err());
    let mut naive = sign::message(kind, "");
    naive.extend_from_slice(naive_body);
    Vector {
        name: String::new(),
        kind: kind.to_string(),
        statement: Some(statement),
        statement_text: None,
        public_key: by.public_b64(),
        secret_key: by.secret_b64(),
        message_hex: String::new(),
        id: String::new(),
        sig: b64(&by.key.sign(&naive).to_bytes()),
        valid: false,
        error: Some(why.to_owned()),
    }
}

/// Canonical text of `body` with the string `"@@NAIVE@@"` replaced by `raw` (how a naive JCS would spell it).
fn naive_canonical(body: &Value, raw: &[u8]) -> Vec<u8> {
    let text = jcs::canonicalize(body).unwrap();
    let (before, after) = text.split_once("\"@@NAIVE@@\"").expect("placeholder");
    [before.as_bytes(), raw, after.as_bytes()].concat()
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base[field] = value;
    base
}

const GTIN: &str = "09506000134352";

fn batch_basic(factory: &Party) -> Value {
    json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-11-01T08:00:00Z",
        "gtin": GTIN,
        "product": "Whole milk powder 900g",
        "lot": "L2026-1030-A",
        "quantity": 1000,
        "produced": "2026-10-30",
        "expires": "2028-10-30",
        "line": "line-2",
        "inputs": [
            {"material": "raw milk", "supplier": "green-pasture-farm", "supplier_lot": "RM-20261029-07", "origin": "NZ"},
            {"material": "lactose", "supplier": "sweet-co", "supplier_lot": "LA-4471", "origin": "NL"}
        ],
        "steps": [
            {"name": "spray-drying", "time": "2026-10-30T06:10:00Z"},
            {"name": "canning", "time": "2026-10-30T09:45:00Z"}
        ]
    })
}

fn batch_chinese(factory: &Party) -> Value {
    json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-11-02T01:30:00Z",
        "gtin": GTIN,
        "product": "婴儿配方奶粉 900g",
        "lot": "批次-20261031",
        "quantity": 2400,
        "produced": "2026-10-31",
        "expires": "2028-10-31",
        "line": "二号生产线",
        "inputs": [
            {"material": "生牛乳", "supplier": "黑龙江绿源牧场", "supplier_lot": "生乳-1029-07", "origin": "黑龙江省齐齐哈尔市"},
            {"material": "乳清蛋白粉", "supplier": "内蒙古乳业", "supplier_lot": "WP-2026-88", "origin": "内蒙古呼和浩特市"}
        ],
        "steps": [
            {"name": "喷雾干燥", "time": "2026-10-31T02:00:00Z"},
            {"name": "充氮灌装", "time": "2026-10-31T05:20:00Z"}
        ]
    })
}

fn event_shipping(factory: &Party, batch_id: &str, head: &str) -> Value {
    json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-11-03T07:00:00Z",
        "type": "shipping",
        "objects": [{"batch": batch_id, "first": 0, "last": 499}],
        "prev": {batch_id: head},
        "to": "b1-north",
        "asn": "ASN-1"
    })
}

/// All vectors in file order.
pub fn vectors() -> Vec<Vector> {
    let factory = Party::new(1);
    let carrier = Party::new(2);
    let dock = Party::new(3);
    let stranger = Party::new(4);

    let mut valid = Vec::new();
    let mut invalid_vs = Vec::new();

    // --- batch
    let basic = signed(Kind::Batch, batch_basic(&factory), &factory);
    let chinese = signed(Kind::Batch, batch_chinese(&factory), &factory);
    let batch1 = basic.id.clone();
    let batch2 = chinese.id.clone();
    valid.push(("batch-basic", basic.clone()));
    valid.push(("batch-chinese", chinese.clone()));

    let escapes = json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-11-02T09:00:00Z",
        "gtin": GTIN,
        "product": "Milk \"Gold\" C:\\line\\2 / 金装",
        "lot": "LOT\u{1}\u{1f}\u{7f}",
        "quantity": 12,
        "produced": "2026-10-31",
        "expires": "2028-10-31",
        "line": "b\u{8} f\u{c} n\n r\r t\t",
        "inputs": [
            {"material": "sep\u{2028}ara\u{2029}tors", "supplier": "emoji 🍼🐄", "supplier_lot": "\u{0}nul", "origin": "é ü ß"}
        ],
        "steps": [{"name": "</script>&<'>", "time": "2026-10-31T10:00:00Z"}]
    });
    valid.push(("batch-escapes", signed(Kind::Batch, escapes, &factory)));

    let order = with(
        batch_basic(&factory),
        "attributes",
        json!({
            "\u{fb01}ne": "U+FB01 sorts last in UTF-16",
            "\u{1f600}": "U+1F600 (D83D DE00) sorts before U+E000 in UTF-16, after it in UTF-8",
            "\u{e000}": "private use",
            "é": "latin",
            "z": "ascii",
            "Z": "upper",
            "aa": "prefix longer",
            "a": "prefix"
        }),
    );
    valid.push((
        "batch-utf16-key-order",
        signed(Kind::Batch, order, &factory),
    ));

    let limits = with(
        with(
            batch_basic(&factory),
            "quantity",
            json!(9_007_199_254_740_991i64),
        ),
        "counters",
        json!({"max": 9_007_199_254_740_991i64, "min": -9_007_199_254_740_991i64, "zero": 0, "minus_one": -1}),
    );
    valid.push((
        "batch-safe-integer-limits",
        signed(Kind::Batch, limits, &factory),
    ));

    let mut empty = batch_basic(&factory);
    empty["inputs"] = json!([]);
    empty["steps"] = json!([]);
    empty["attributes"] = json!({});
    empty["line"] = json!("");
    valid.push((
        "batch-empty-containers",
        signed(Kind::Batch, empty, &factory),
    ));

    let nested = with(
        batch_basic(&factory),
        "steps",
        json!([
            {"name": "spray-drying", "time": "2026-10-30T06:10:00Z",
             "params": {"temperature": {"inlet": 180, "outlet": 85, "unit": "C"}, "ok": true, "rework": false}},
            {"name": "qc", "time": "2026-10-30T11:00:00Z",
             "checks": [[1, 2], [3, [4, {}]], [], [{"a": {"b": {"c": {"d": [true, false]}}}}]]}
        ]),
    );
    valid.push(("batch-nested", signed(Kind::Batch, nested, &factory)));

    // --- event
    let ship = signed(
        Kind::Event,
        event_shipping(&factory, &batch1, &batch1),
        &factory,
    );
    let ship_id = ship.id.clone();
    valid.push(("event-shipping", ship.clone()));

    let receive = json!({
        "v": 1,
        "party": "b1-north",
        "key": carrier.key_id(),
        "time": "2026-11-04T15:30:00Z",
        "type": "receiving",
        "objects": [{"batch": batch1, "first": 0, "last": 499}],
        "prev": {batch1.as_str(): ship_id},
        "from": "acme-dairy",
        "asn": "ASN-1"
    });
    let receive = signed(Kind::Event, receive, &carrier);
    let receive_id = receive.id.clone();
    valid.push(("event-receiving", receive.clone()));

    let cn = json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-11-05T00:00:00Z",
        "type": "shipping",
        "objects": [{"batch": batch2, "first": 0, "last": 2399}],
        "prev": {batch2.as_str(): batch2},
        "to": "北京朝阳仓",
        "asn": "ASN-2026-北京-0001"
    });
    valid.push((
        "event-chinese-destination",
        signed(Kind::Event, cn, &factory),
    ));

    let multi = json!({
        "v": 1,
        "party": "b1-north",
        "key": carrier.key_id(),
        "time": "2026-11-06T08:00:00Z",
        "type": "shipping",
        "objects": [
            {"batch": batch1, "first": 0, "last": 99},
            {"batch": batch2, "first": 100, "last": 199}
        ],
        "prev": {batch1.as_str(): receive_id, batch2.as_str(): batch2},
        "to": "store-17",
        "asn": "ASN-2"
    });
    valid.push(("event-two-batches", signed(Kind::Event, multi, &carrier)));

    // --- key
    let certify = json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-11-01T00:00:00Z",
        "action": "certify",
        "subject": dock.public_b64(),
        "role": "dock",
        "not_before": "2026-11-01T00:00:00Z",
        "not_after": "2027-11-01T00:00:00Z"
    });
    valid.push((
        "key-certify-dock",
        signed(Kind::Key, certify.clone(), &factory),
    ));

    let revoke = json!({
        "v": 1,
        "party": "acme-dairy",
        "key": factory.key_id(),
        "time": "2026-12-24T10:00:00Z",
        "action": "revoke",
        "subject": dock.public_b64(),
        "reason": "设备丢失 (device lost)"
    });
    valid.push(("key-revoke-dock", signed(Kind::Key, revoke, &factory)));

    let certify_carrier = json!({
        "v": 1,
        "party": "b1-north",
        "key": carrier.key_id(),
        "time": "2026-11-01T00:00:00Z",
        "action": "certify",
        "subject": stranger.public_b64(),
        "role": "receiving",
        "not_before": "2026-11-01T00:00:00Z",
        "not_after": "2026-12-01T00:00:00Z"
    });
    valid.push((
        "key-certify-receiving",
        signed(Kind::Key, certify_carrier, &carrier),
    ));

    // --- label
    valid.push((
        "label-unit",
        label(&label_path(GTIN, "L2026-1030-A", "1"), &dock),
    ));
    let slash = label("01/09506000134352/10/LOT%2F1/21/42", &factory);
    valid.push(("label-percent-lot", slash.clone()));
    valid.push((
        "label-utf8-serial",
        label(&label_path(GTIN, "批次-20261031", "A~b_c.d- %/+"), &factory),
    ));
    valid.push(("label-sscc", label("00/106141412345678908", &dock)));
    let mut respelled = slash.clone();
    respelled.statement = Some(json!("01/09506000134352/10/%4cOT%2f1/21/4%32"));
    valid.push(("label-respelled", respelled));

    // --- invalid
    let mut tampered = basic.clone();
    let mut body = batch_basic(&factory);
    body["quantity"] = json!(1001); // 1000 with its lowest bit flipped, after signing
    let message = sign::message(Kind::Batch, &jcs::canonicalize(&body).unwrap());
    tampered.statement = Some(body);
    tampered.message_hex = hex::encode(&message);
    tampered.id = sign::id_of(&message);
    invalid_vs.push((
        "batch-tampered-body",
        invalid(
            tampered,
            "quantity changed from 1000 to 1001 (one bit) after signing; sig kept",
        ),
    ));

    let mut wrong_key = ship.clone();
    wrong_key.public_key = stranger.public_b64();
    invalid_vs.push((
        "event-wrong-public-key",
        invalid(
            wrong_key,
            "signed with seed [1;32], verified with the public key of seed [4;32]",
        ),
    ));

    let mut big_s = chinese.clone();
    big_s.sig = s_plus_l(&chinese.sig);
    invalid_vs.push((
        "batch-sig-s-plus-l",
        invalid(big_s, "S replaced by S + L (same R): non-canonical scalar, must be refused by strict verification"),
    ));

    let rogue = with(
        certify.clone(),
        "key",
        json!(sign::key_id(&VerifyingKey::from_bytes(&IDENTITY).unwrap())),
    );
    let rogue_msg = sign::message(Kind::Key, &jcs::canonicalize(&rogue).unwrap());
    let mut forged_sig = [0u8; 64];
    forged_sig[..32].copy_from_slice(&BASE_POINT);
    forged_sig[32] = 1;
    invalid_vs.push((
        "key-small-order-public-key",
        Vector {
            name: String::new(),
            kind: "key".into(),
            statement: Some(rogue),
            statement_text: None,
            public_key: b64(&IDENTITY),
            secret_key: String::new(),
            message_hex: hex::encode(&rogue_msg),
            id: sign::id_of(&rogue_msg),
            sig: b64(&forged_sig),
            valid: false,
            error: Some(
                "public key is the identity point (order 1); sig = (R = B, S = 1) satisfies [S]B = R + [k]A for every \
                 message, so a verifier without the small-order key check accepts this forgery"
                    .into(),
            ),
        },
    ));

    let mut small_r = receive.clone();
    small_r.sig = b64(&small_order_r_sig(
        &carrier.seed,
        &hex::decode(&receive.message_hex).unwrap(),
    ));
    invalid_vs.push((
        "event-small-order-r",
        invalid(
            small_r,
            "R is the identity point and S = k*a mod L: passes cofactorless non-strict verification \
             ([S]B = [k]A = R + [k]A) but strict verification refuses a small-order R",
        ),
    ));

    let unit = &valid.iter().find(|(n, _)| *n == "label-unit").unwrap().1;
    let mut truncated = unit.clone();
    truncated.sig.truncate(85);
    invalid_vs.push((
        "label-truncated-sig",
        invalid(truncated, "sig is 85 characters; 64 bytes are exactly 86"),
    ));

    let mut padded = ship.clone();
    padded.sig.push_str("==");
    invalid_vs.push((
        "event-sig-padded",
        invalid(
            padded,
            "sig has base64 padding \"==\"; the format uses base64url without padding",
        ),
    ));

    let mut dirty_sig = basic.clone();
    dirty_sig.sig = dirty_trailing_bits(&basic.sig);
    invalid_vs.push((
        "batch-sig-trailing-bits",
        invalid(dirty_sig, "last sig character has non-zero padding bits (a lenient decoder yields the valid signature)"),
    ));

    let certify_v = &valid
        .iter()
        .find(|(n, _)| *n == "key-certify-dock")
        .unwrap()
        .1;
    let mut dirty_key = certify_v.clone();
    dirty_key.public_key = dirty_trailing_bits(&certify_v.public_key);
    invalid_vs.push((
        "key-public-key-trailing-bits",
        invalid(dirty_key, "last public key character has non-zero padding bits (a lenient decoder yields the right key)"),
    ));

    let mut mismatch = ship.clone();
    let message = sign::message(
        Kind::Batch,
        &jcs::canonicalize(ship.statement.as_ref().unwrap()).unwrap(),
    );
    mismatch.kind = "batch".into();
    mismatch.message_hex = hex::encode(&message);
    mismatch.id = sign::id_of(&message);
    invalid_vs.push((
        "kind-mismatch",
        invalid(mismatch, "signed as kind \"event\", presented as kind \"batch\": the kind is part of the message"),
    ));

    let placeholder = with(batch_basic(&factory), "quantity", json!("@@NAIVE@@"));
    invalid_vs.push((
        "batch-integer-too-large",
        uncanonicalisable(
            Kind::Batch,
            with(batch_basic(&factory), "quantity", json!(9_007_199_254_740_992u64)),
            &naive_canonical(&placeholder, b"9007199254740992"),
            &factory,
            "quantity 9007199254740992 = 2^53 is outside ±(2^53−1); sig is over the naive canonical form",
        ),
    ));

    let placeholder = with(
        ship.statement.clone().unwrap(),
        "objects",
        json!([{"batch": batch1, "first": "@@NAIVE@@", "last": 499}]),
    );
    invalid_vs.push((
        "event-negative-integer-too-large",
        uncanonicalisable(
            Kind::Event,
            with(ship.statement.clone().unwrap(), "objects", json!([{"batch": batch1, "first": -9_007_199_254_740_992i64, "last": 499}])),
            &naive_canonical(&placeholder, b"-9007199254740992"),
            &factory,
            "first = -9007199254740992 = -2^53 is outside ±(2^53−1); sig is over the naive canonical form",
        ),
    ));

    let placeholder = with(batch_basic(&factory), "quantity", json!("@@NAIVE@@"));
    invalid_vs.push((
        "batch-float",
        uncanonicalisable(
            Kind::Batch,
            with(batch_basic(&factory), "quantity", json!(2.5)),
            &naive_canonical(&placeholder, b"2.5"),
            &factory,
            "quantity 2.5 is a float; sig is over the naive JCS form (2.5)",
        ),
    ));

    let placeholder = with(batch_basic(&factory), "expires", json!("@@NAIVE@@"));
    invalid_vs.push((
        "batch-null",
        uncanonicalisable(
            Kind::Batch,
            with(batch_basic(&factory), "expires", Value::Null),
            &naive_canonical(&placeholder, b"null"),
            &factory,
            "expires is null (omit the field instead); sig is over the naive JCS form (null)",
        ),
    ));

    // Duplicate key: "lot" twice; a naive parser keeps the last one, and the sig is over that.
    let last_wins = batch_basic(&factory);
    let pretty = serde_json::to_string_pretty(&last_wins).unwrap();
    let dup_text = pretty.replacen("{\n", "{\n  \"lot\": \"L2026-1030-B\",\n", 1);
    let naive = sign::message(Kind::Batch, &jcs::canonicalize(&last_wins).unwrap());
    invalid_vs.push((
        "batch-duplicate-key",
        Vector {
            name: String::new(),
            kind: "batch".into(),
            statement: None,
            statement_text: Some(dup_text),
            public_key: factory.public_b64(),
            secret_key: factory.secret_b64(),
            message_hex: String::new(),
            id: String::new(),
            sig: b64(&factory.key.sign(&naive).to_bytes()),
            valid: false,
            error: Some(
                "\"lot\" appears twice (statement_text); sig is over the last-one-wins reading a naive parser makes".into(),
            ),
        },
    ));

    // Lone surrogate: not Unicode, so not UTF-8; a naive implementation signs its WTF-8 bytes.
    let placeholder = with(batch_basic(&factory), "lot", json!("@@NAIVE@@"));
    let sur_text = serde_json::to_string_pretty(&placeholder)
        .unwrap()
        .replace("@@NAIVE@@", "L\\ud800");
    let mut naive = sign::message(Kind::Batch, "");
    naive.extend_from_slice(&naive_canonical(&placeholder, b"\"L\xed\xa0\x80\""));
    invalid_vs.push((
        "batch-lone-surrogate",
        Vector {
            name: String::new(),
            kind: "batch".into(),
            statement: None,
            statement_text: Some(sur_text),
            public_key: factory.public_b64(),
            secret_key: factory.secret_b64(),
            message_hex: String::new(),
            id: String::new(),
            sig: b64(&factory.key.sign(&naive).to_bytes()),
            valid: false,
            error: Some(
                "lot contains the lone surrogate \\ud800, which is not a Unicode scalar value"
                    .into(),
            ),
        },
    ));

    // A label signed over a non-canonical spelling: the verifier rebuilds the canonical path, so it fails.
    let spelled = "01/09506000134352/10/LOT%2f1/21/42";
    let mut noncanon = slash.clone();
    noncanon.statement = Some(json!(spelled));
    noncanon.sig = b64(&factory
        .key
        .sign(&sign::message(Kind::Label, spelled))
        .to_bytes());
    invalid_vs.push((
        "label-signed-noncanonical",
        invalid(
            noncanon,
            "signed over the spelling LOT%2f1 (lowercase hex); the signed path must be the canonical LOT%2F1",
        ),
    ));

    // --- added later: appended after the rest so earlier file names stay stable.
    // An inspection result with its method and certificate hash (issue 7).
    let inspector = Party::new(5);
    let inspect = json!({
        "v": 1,
        "party": "county-qa",
        "key": inspector.key_id(),
        "time": "2026-11-07T09:00:00Z",
        "type": "inspecting",
        "objects": [{"batch": batch1, "first": 0, "last": 499}],
        "prev": {batch1.as_str(): receive_id},
        "result": "pass: Salmonella not detected in 5 × 25 g",
        "method": "GB 4789.4-2016 沙门氏菌检验",
        "certificate_sha256": "9d80353572d37b9959053da385c849e2f7ee43605a9d8dafe9f175834a3f6cb0"
    });
    let later = vec![("event-inspecting", signed(Kind::Event, inspect, &inspector))];

    valid
        .into_iter()
        .chain(invalid_vs)
        .chain(later)
        .enumerate()
        .map(|(i, (short, mut v))| {
            v.name = format!("{:02}-{short}", i + 1);
            v
        })
        .collect()
}

/// The vector files: (file name, contents).
pub fn build() -> Vec<(String, String)> {
    vectors()
        .into_iter()
        .map(|v| {
            let text = serde_json::to_string_pretty(&v).expect("serialisable") + "\n";
            (format!("{}.json", v.name), text)
        })
        .collect()
}

/// Where the vector files live.
pub fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

fn main() -> std::io::Result<()> {
    let dir = vector_dir();
    fs::create_dir_all(&dir)?;
    // Remove stale vectors (renamed or dropped ones) so the directory is exactly the output.
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            fs::remove_file(&path)?;
        }
    }
    let files = build();
    for (name, text) in &files {
        fs::write(dir.join(name), text)?;
    }
    println!("wrote {} vectors to {}", files.len(), dir.display());
    Ok(())
}
