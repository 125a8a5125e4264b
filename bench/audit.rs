//! `suyuan audit` throughput on a large log, side by side with raw ed25519-dalek
//! batch verification of the same signatures in the same run; and inclusion
//! proof size and time at that many leaves.
//!
//! Run: `cargo bench --bench audit` (env STATEMENTS=1000000 to change the size).
//!
//! Setup is not the audited path, so it takes shortcuts: the log is a chain of
//! (mint, ship 10 units, receive) triples, signed on all cores, and written
//! straight into the `statements` table with multi-row INSERTs in transactions
//! of 50,000 rows (the leaf-index trigger still checks every row). A checkpoint
//! over the whole tree is signed with a log key and stored. The audit itself
//! is the release binary, `suyuan audit --database-url … --quiet`, timed from
//! process start to exit.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sqlx::Executor;
use suyuan::client::draft_event;
use suyuan::client::keystore::Keystore;
use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::{PartyKind, Role, Slug};
use suyuan::domain::statement::{BatchId, BatchStatement, EventType, UnitRange, VERSION};
use suyuan::domain::time::{Date, Timestamp};
use suyuan::formats::gs1::{Gtin, Lot};
use suyuan::formats::sign::{self, Kind};
use suyuan::store::{self, Party, StoredCheckpoint};
use suyuan::tlog::merkle::{leaf_hash, verify_inclusion, Tree};
use suyuan::tlog::note::{Checkpoint, Verifier};
use suyuan::verify::audit::SIG_BATCH;

/// Rows per INSERT statement and per transaction.
const ROWS_PER_INSERT: usize = 500;
const ROWS_PER_TX: usize = 50_000;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One stored row: id, kind, party, key id, json.
type Row = (String, &'static str, String, String, String);

fn batch_body(ks: &Keystore, lot: &str, time: Timestamp) -> BatchStatement {
    BatchStatement {
        v: VERSION,
        party: ks.party.clone(),
        key: ks.key_id.clone(),
        time,
        gtin: Gtin::parse("06901234567892").expect("gtin"),
        product: "bench milk".into(),
        lot: Lot::parse(lot).expect("lot"),
        quantity: 1000,
        produced: Date::parse("2026-10-01").expect("date"),
        expires: None,
        line: None,
        serial_prefix: None,
        inputs: vec![],
        steps: vec![],
        certificates: vec![],
    }
}

/// The three statements of triple `i`: mint, ship 0..9 to b1, receive.
fn triple(i: usize, factory: &Keystore, b1: &Keystore, time: Timestamp) -> [Row; 3] {
    let row = |kind: Kind, v: serde_json::Value, id: String, ks: &Keystore| -> Row {
        let json = suyuan::formats::jcs::canonicalize(&v).expect("jcs");
        (
            id,
            kind.as_str(),
            ks.party.to_string(),
            ks.key_id.clone(),
            json,
        )
    };
    let (b, bid) = sign::sign(
        Kind::Batch,
        &batch_body(factory, &format!("L{i}"), time),
        &factory.key,
    )
    .expect("sign");
    let batch = BatchId::parse(&bid).expect("id");
    let objects = vec![UnitRange {
        batch,
        first: 0,
        last: 9,
    }];
    let mut ship = draft_event(factory, EventType::Shipping, objects.clone());
    ship.time = time;
    ship.to = Some(b1.party.clone());
    ship.asn = Some(format!("ASN-{i}"));
    ship.prev.insert(batch, batch);
    let (s, sid) = sign::sign(Kind::Event, &ship, &factory.key).expect("sign");
    let shipment = BatchId::parse(&sid).expect("id");
    let mut recv = draft_event(b1, EventType::Receiving, objects);
    recv.time = time;
    recv.shipment = Some(shipment);
    recv.prev.insert(batch, shipment);
    let (r, rid) = sign::sign(Kind::Event, &recv, &b1.key).expect("sign");
    [
        row(Kind::Batch, b, bid, factory),
        row(Kind::Event, s, sid, factory),
        row(Kind::Event, r, rid, b1),
    ]
}

/// Signs triples `from..to` on all cores.
fn sign_range(
    from: usize,
    to: usize,
    factory: &Keystore,
    b1: &Keystore,
    time: Timestamp,
) -> Vec<Row> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = (to - from).div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = (from..to)
            .step_by(per)
            .map(|a| {
                let b = (a + per).min(to);
                s.spawn(move || {
                    (a..b)
                        .flat_map(|i| triple(i, factory, b1, time))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("signer"))
            .collect()
    })
}

async fn insert(pool: &sqlx::SqlitePool, rows: &[Row], first_seq: usize, tree: &mut Tree) {
    let now = Timestamp::now().to_string();
    let mut tx = pool.begin().await.expect("begin");
    for (n, chunk) in rows.chunks(ROWS_PER_INSERT).enumerate() {
        let one = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let sql = format!(
            "INSERT INTO statements (seq, id, kind, party, key_id, time, json, leaf_hash, received_at) VALUES {}",
            vec![one; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (k, (id, kind, party, key, json)) in chunk.iter().enumerate() {
            let leaf = leaf_hash(json.as_bytes());
            tree.push(leaf);
            q = q
                .bind((first_seq + n * ROWS_PER_INSERT + k) as i64)
                .bind(id)
                .bind(*kind)
                .bind(party)
                .bind(key)
                .bind(&now)
                .bind(json)
                .bind(hex::encode(leaf))
                .bind(&now);
        }
        tx.execute(q).await.expect("insert");
    }
    tx.commit().await.expect("commit");
}

/// Raw batch verification of every stored signature on all cores, in batches of
/// the audit's size ([`SIG_BATCH`]); reading and parsing untimed.
async fn raw_verify(
    store: &store::DynStore,
    keys: &[(String, VerifyingKey)],
    n: usize,
) -> Duration {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut spent = Duration::ZERO;
    let mut from = 0;
    while from < n {
        let page = store
            .statements_from(from as i64, 50_000)
            .await
            .expect("read");
        from += page.len();
        let items: Vec<(Vec<u8>, Signature, VerifyingKey)> = page
            .iter()
            .map(|st| {
                let p =
                    sign::parse_statement(st.kind.parse().expect("kind"), &st.json).expect("parse");
                let key_id = p.body["key"].as_str().expect("key");
                let vk = keys.iter().find(|(k, _)| k == key_id).expect("known key").1;
                (p.message, sign::parse_sig(&p.sig).expect("sig"), vk)
            })
            .collect();
        let t = Instant::now();
        let per = items.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for part in items.chunks(per) {
                s.spawn(move || {
                    for c in part.chunks(SIG_BATCH) {
                        let m: Vec<&[u8]> = c.iter().map(|x| x.0.as_slice()).collect();
                        let sg: Vec<Signature> = c.iter().map(|x| x.1).collect();
                        let k: Vec<VerifyingKey> = c.iter().map(|x| x.2).collect();
                        ed25519_dalek::verify_batch(&m, &sg, &k).expect("valid");
                    }
                });
            }
        });
        spent += t.elapsed();
    }
    spent
}

#[tokio::main]
async fn main() {
    let n = env_num("STATEMENTS", 1_000_000) / 3 * 3;
    let dir = tempfile::tempdir().expect("tempdir");
    // BENCH_KEEP=DIR keeps the database there for profiling.
    let db_dir = std::env::var("BENCH_KEEP").map_or_else(|_| dir.path().to_path_buf(), Into::into);
    let url = format!("sqlite://{}", db_dir.join("bench.db").display());
    let store = store::open(&url).await.expect("open");
    let slug = |s: &str| Slug::parse(s).expect("slug");
    let factory = Keystore::generate(slug("bench-factory"));
    let b1 = Keystore::generate(slug("bench-b1"));
    for (k, kind) in [(&factory, PartyKind::Factory), (&b1, PartyKind::B1)] {
        let p = Party {
            slug: k.party.clone(),
            name: k.party.to_string(),
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
        store
            .create_party(&p, &root, &hex::encode(rand::random::<[u8; 32]>()))
            .await
            .expect("party");
    }
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                .expect("url")
                .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
        )
        .await
        .expect("pool");

    let t = Instant::now();
    let time = Timestamp::now();
    let mut tree = Tree::new();
    let triples = n / 3;
    let per_tx = ROWS_PER_TX / 3;
    let mut done = 0;
    while done < triples {
        let to = (done + per_tx).min(triples);
        let rows = sign_range(done, to, &factory, &b1, time);
        insert(&pool, &rows, done * 3, &mut tree).await;
        done = to;
    }
    let log_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let origin = suyuan::tlog::service::default_origin(&log_key);
    let root = tree.root(tree.size()).expect("root");
    let note = Checkpoint {
        origin: origin.clone(),
        size: tree.size(),
        root,
    }
    .sign(&log_key)
    .expect("sign");
    let verifier = Verifier::new(&origin, log_key.verifying_key()).expect("verifier");
    store
        .put_checkpoint(&StoredCheckpoint {
            size: tree.size() as i64,
            root: hex::encode(root),
            note,
            verifier: verifier.to_string(),
        })
        .await
        .expect("checkpoint");
    println!(
        "setup: {n} statements signed and stored in {:.1?}",
        t.elapsed()
    );

    let keys = vec![
        (factory.key_id.clone(), factory.key.verifying_key()),
        (b1.key_id.clone(), b1.key.verifying_key()),
    ];
    // The peer runs before and after the audit (the machine may be shared); the
    // faster of the two is the figure compared against.
    let raw_before = raw_verify(&store, &keys, n).await;

    // The audit, as an inspector runs it.
    let state = dir.path().join("audit-state.json");
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_suyuan"))
        // The bench stores only the log (no holdings or heads): audit the log alone.
        .args([
            "audit",
            "--quiet",
            "--log-only",
            "--database-url",
            &url,
            "--state",
        ])
        .arg(&state)
        .args(["--log-key", &verifier.to_string()])
        .output()
        .expect("run suyuan audit");
    let audit_time = t.elapsed();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "audit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let raw_after = raw_verify(&store, &keys, n).await;
    let raw_time = raw_before.min(raw_after);

    // Inclusion proofs at this size.
    let samples = 10_000u64;
    let size = tree.size();
    let t = Instant::now();
    let mut bytes = 0usize;
    let mut longest = 0usize;
    for i in 0..samples {
        let index = (i * 7919 * 104_729) % size;
        let p = tree.inclusion_proof(index, size).expect("proof");
        bytes += p.len() * 32;
        longest = longest.max(p.len());
        if i == 0 {
            verify_inclusion(&tree.leaf(index).expect("leaf"), index, size, &p, &root)
                .expect("verifies");
        }
    }
    let per_proof = t.elapsed() / samples as u32;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "inclusion proof at {size} leaves: {} hashes max ({} bytes), mean {} bytes, {:.2?} per proof",
        longest,
        longest * 32,
        bytes / samples as usize,
        per_proof
    );
    let audit_rate = n as f64 / audit_time.as_secs_f64();
    let raw_rate = n as f64 / raw_time.as_secs_f64();
    println!(
        "audit {n} statements in {:.2?} (whole process: read, parse, JCS, ids, leaf hashes, signatures, keys, chains, custody, root); raw batch verify on {threads} threads in batches of {SIG_BATCH}: {:.2?} before, {:.2?} after",
        audit_time, raw_before, raw_after
    );
    println!(
        "audit stmts/s={:.0} raw={:.0} ratio={:.2}",
        audit_rate,
        raw_rate,
        audit_rate / raw_rate
    );
}
