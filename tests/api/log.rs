//! The transparency log over HTTP: signed checkpoints, inclusion and consistency
//! proofs, C2SP tiles, bad requests, two servers on one database, and the
//! refusal to start behind a signed checkpoint.

use crate::helpers::*;
use suyuan::client::Client;
use suyuan::store::StoredCheckpoint;
use suyuan::tlog::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};
use suyuan::tlog::note::{Checkpoint, Verifier};
use suyuan::tlog::service::{LogError, LogService};

async fn text(app: &TestApp, path: &str) -> (u16, String) {
    let (status, _, body) = bytes(app, path).await;
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

fn hashes(v: &serde_json::Value) -> Vec<Hash> {
    v["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// Each path gets its status and a JSON error with a message.
async fn refused(app: &TestApp, cases: &[(&str, u16)]) {
    for (path, status) in cases {
        let (st, body) = text(app, path).await;
        assert_eq!(st, *status, "{path}: {body}");
        assert!(body.contains("message"), "{path}: {body}");
    }
}

async fn checkpoint(app: &TestApp) -> Checkpoint {
    let (s, key) = text(app, "/log/key").await;
    assert_eq!(s, 200);
    let v = Verifier::parse(key.trim()).expect("verifier key");
    let (s, note) = text(app, "/log/checkpoint").await;
    assert_eq!(s, 200, "{note}");
    Checkpoint::open(&note, &v).expect("checkpoint verifies")
}

#[tokio::test]
async fn checkpoints_and_proofs_verify() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    let b1 = app.party("north-wholesale", "b1").await;
    let batch = mint(&factory, "L1", 100).await;
    let s = ship(&factory, &b1, vec![range(batch, 0, 49)])
        .await
        .unwrap();
    receive(&b1, s, vec![range(batch, 0, 49)]).await.unwrap();

    let old = checkpoint(&app).await;
    assert_eq!(old.size, app.log_size().await as u64);
    assert_eq!(old.size, 3);
    for seq in 0..old.size {
        let (st, json) = text(&app, &format!("/log/leaf/{seq}")).await;
        assert_eq!(st, 200);
        let (st, p) = app
            .get(
                &format!("/log/proof/inclusion?seq={seq}&size={}", old.size),
                None,
            )
            .await;
        assert_eq!(st, 200, "{p}");
        verify_inclusion(
            &leaf_hash(json.as_bytes()),
            seq,
            old.size,
            &hashes(&p),
            &old.root,
        )
        .expect("inclusion proof verifies");
    }
    let (st, p) = app
        .get(&format!("/log/proof/inclusion?id={}", batch.hex()), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(p["seq"], 0);
    assert_eq!(p["tree_size"], old.size);

    // The tree grows; the new checkpoint is consistent with the old one.
    mint(&factory, "L2", 10).await;
    mint(&factory, "L3", 10).await;
    let new = checkpoint(&app).await;
    assert_eq!(new.size, 5);
    let (st, p) = app
        .get(
            &format!("/log/proof/consistency?from={}&to={}", old.size, new.size),
            None,
        )
        .await;
    assert_eq!(st, 200);
    verify_consistency(old.size, new.size, &old.root, &new.root, &hashes(&p))
        .expect("consistency proof verifies");
    // Asking again without growth returns the same signed note.
    assert_eq!(
        text(&app, "/log/checkpoint").await,
        text(&app, "/log/checkpoint").await
    );
    let stored = app
        .store
        .latest_checkpoint()
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.size, 5);

    // Clear errors for bad requests.
    refused(
        &app,
        &[
            ("/log/proof/inclusion?seq=abc", 400),
            ("/log/proof/inclusion", 400),
            ("/log/proof/inclusion?seq=1&id=00", 400),
            ("/log/proof/inclusion?seq=4&size=3", 400),
            ("/log/proof/inclusion?seq=1&size=1000", 404),
            ("/log/proof/inclusion?id=0000", 404),
            ("/log/proof/consistency?from=5&to=2", 400),
            ("/log/proof/consistency?from=1", 400),
            ("/log/proof/consistency?from=1&to=1000", 404),
            ("/log/proof/consistency?from=-1&to=2", 400),
            ("/log/leaf/99999", 404),
            ("/log/leaf/x", 400),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_database_refuses_a_smaller_checkpoint() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    mint(&factory, "L1", 10).await;
    mint(&factory, "L2", 10).await;
    let cp = app.log.checkpoint().await.expect("sign");
    assert_eq!(cp.size, 2);
    let smaller = StoredCheckpoint {
        size: 1,
        ..cp.clone()
    };
    assert!(app.store.put_checkpoint(&smaller).await.is_err());
    let larger = StoredCheckpoint { size: 3, ..cp };
    assert!(app.store.put_checkpoint(&larger).await.is_err());
}

#[tokio::test]
async fn refuses_to_start_behind_or_forked_from_its_last_checkpoint() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    mint(&factory, "L1", 10).await;
    mint(&factory, "L2", 10).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.checkpoint");
    let log = LogService::open(
        app.store.clone(),
        app.log_key.clone(),
        None,
        Some(file.clone()),
    )
    .await
    .expect("open");
    assert_eq!(log.checkpoint().await.unwrap().size, 2);

    // A database restored from an older backup: fewer leaves than signed.
    let restored = spawn_app().await;
    let f2 = restored.party("acme-dairy", "factory").await;
    mint(&f2, "L1", 10).await;
    let err = LogService::open(
        restored.store.clone(),
        app.log_key.clone(),
        None,
        Some(file.clone()),
    )
    .await
    .expect_err("behind");
    assert!(
        matches!(
            err,
            LogError::Behind {
                signed: 2,
                size: 1,
                ..
            }
        ),
        "{err}"
    );
    // As many leaves again, but other ones: a fork.
    mint(&f2, "L9", 10).await;
    let err = LogService::open(
        restored.store.clone(),
        app.log_key.clone(),
        None,
        Some(file),
    )
    .await
    .expect_err("forked");
    assert!(matches!(err, LogError::Forked { size: 2, .. }), "{err}");
}

#[tokio::test]
async fn two_servers_append_to_one_tree() {
    if !on_postgres() {
        // Several servers share a database only on PostgreSQL (DESIGN.md).
        return;
    }
    let a = spawn_app().await;
    let b = spawn_beside(&a).await;
    let factory = a.party("acme-dairy", "factory").await;
    let other = a.party("other-dairy", "factory").await;
    let via_b = |actor: &Actor| Actor {
        client: Client::new(&b.base, Some(actor.token.clone())),
        ..actor.clone()
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let actor = match i % 4 {
            0 => factory.clone(),
            1 => via_b(&factory),
            2 => other.clone(),
            _ => via_b(&other),
        };
        tasks.push(tokio::spawn(async move {
            mint(&actor, &format!("L{i}"), 10).await;
        }));
        if i == 20 {
            // A checkpoint in the middle of the writes, from one server.
            let cp = checkpoint(&a).await;
            assert!(cp.size <= 42);
        }
    }
    for t in tasks {
        t.await.expect("mint task");
    }
    let seqs = a
        .raw
        .texts("SELECT CAST(seq AS TEXT) FROM statements ORDER BY seq")
        .await;
    let mut seqs: Vec<u64> = seqs.iter().map(|s| s.parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (0..40).collect::<Vec<u64>>(),
        "leaf indexes 0..40 without gaps or repeats"
    );
    let ca = checkpoint(&a).await;
    let cb = checkpoint(&b).await;
    assert_eq!(ca.size, 40);
    assert_eq!(ca, cb, "both servers sign the same tree");
    // Every checkpoint either stored is consistent with the final one.
    let all = a
        .raw
        .texts("SELECT CAST(size AS TEXT) || ' ' || root FROM checkpoints ORDER BY size")
        .await;
    for row in all {
        let (size, root) = row.split_once(' ').unwrap();
        let size: u64 = size.parse().unwrap();
        let root: Hash = hex::decode(root).unwrap().try_into().unwrap();
        let (_, p) = b
            .get(&format!("/log/proof/consistency?from={size}&to=40"), None)
            .await;
        verify_consistency(size, 40, &root, &ca.root, &hashes(&p)).expect("consistent");
    }
}

async fn bytes(app: &TestApp, path: &str) -> (u16, Option<String>, Vec<u8>) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("request");
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        r.status().as_u16(),
        cache,
        r.bytes().await.expect("body").to_vec(),
    )
}

#[tokio::test]
async fn the_tree_is_served_as_tiles_that_rebuild_the_signed_root() {
    let app = spawn_app().await;
    let factory = app.party("acme-dairy", "factory").await;
    // 260 leaves: one full tile of 256 and a partial one of 4.
    for round in 0..13 {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let f = factory.clone();
            tasks.push(tokio::spawn(async move {
                mint(&f, &format!("L{round}-{i}"), 5).await;
            }));
        }
        for t in tasks {
            t.await.expect("mint");
        }
    }
    let cp = checkpoint(&app).await;
    assert_eq!(cp.size, 260);

    let dir = tempfile::tempdir().expect("tempdir");
    let save = |rel: &str, body: &[u8]| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    let mut leaves: Vec<Hash> = Vec::new();
    for (tile, bundle, width) in [
        ("tile/0/000", "tile/entries/000", 256),
        ("tile/0/001.p/4", "tile/entries/001.p/4", 4),
    ] {
        let (st, cache, hashes) = bytes(&app, &format!("/log/{tile}")).await;
        assert_eq!(st, 200, "{tile}");
        assert_eq!(
            cache.as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(hashes.len(), 32 * width);
        let (st, _, entries) = bytes(&app, &format!("/log/{bundle}")).await;
        assert_eq!(st, 200, "{bundle}");
        // Each entry is the stored statement, and hashes to its tile's leaf.
        let mut at = 0;
        for i in 0..width {
            let len = u16::from_be_bytes([entries[at], entries[at + 1]]) as usize;
            let entry = &entries[at + 2..at + 2 + len];
            let h: Hash = hashes[32 * i..32 * i + 32].try_into().unwrap();
            assert_eq!(leaf_hash(entry), h, "{bundle} entry {i}");
            leaves.push(h);
            at += 2 + len;
        }
        assert_eq!(at, entries.len(), "{bundle} has exactly {width} entries");
        save(tile, &hashes);
        save(bundle, &entries);
    }
    // Level 1 holds the root of the first 256 leaves; with the 4 others it
    // gives the signed root.
    let (st, _, l1) = bytes(&app, "/log/tile/1/000.p/1").await;
    assert_eq!(st, 200);
    let first: Hash = l1.as_slice().try_into().unwrap();
    assert_eq!(
        first,
        suyuan::tlog::Tree::from_leaves(leaves[..256].iter().copied())
            .root(256)
            .unwrap()
    );
    save("tile/1/000.p/1", &l1);
    let tail = suyuan::tlog::Tree::from_leaves(leaves[256..].iter().copied())
        .root(4)
        .unwrap();
    assert_eq!(suyuan::tlog::merkle::node_hash(&first, &tail), cp.root);

    // The independent verifier rebuilds the same root from the saved files.
    save(
        "checkpoint",
        text(&app, "/log/checkpoint").await.1.as_bytes(),
    );
    save("key", text(&app, "/log/key").await.1.as_bytes());
    python_verifier("--tiles", dir.path(), true);
    // One flipped byte in an entry and it refuses.
    let bundle = dir.path().join("tile/entries/001.p/4");
    let mut b = std::fs::read(&bundle).unwrap();
    b[10] ^= 1;
    std::fs::write(&bundle, b).unwrap();
    python_verifier("--tiles", dir.path(), false);

    refused(
        &app,
        &[
            ("/log/tile/0/002", 404),
            ("/log/tile/0/001", 404),
            ("/log/tile/0/001.p/5", 404),
            ("/log/tile/1/000", 404),
            ("/log/tile/entries/001", 404),
            ("/log/tile/entries/002.p/1", 404),
            ("/log/tile/0/000.p/256", 400),
            ("/log/tile/0/000.p/0", 400),
            ("/log/tile/64/000", 400),
            ("/log/tile/0/1", 400),
            ("/log/tile/0/x999/x999/x999/x999/x999/x999/999", 400),
            ("/log/tile/x/000", 400),
        ],
    )
    .await;
}
