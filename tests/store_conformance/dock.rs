//! The dock pages' rows: users, sessions and stations waiting for approval.

use suyuan::domain::party::{PartyKind, Slug};
use suyuan::store::dock::{DockSession, DockUser, PendingStation};
use suyuan::store::StoreError;

use crate::fixtures::*;
use crate::Db;

pub async fn dock_users_sessions_and_stations(db: Db) {
    let store = db.open().await;
    let b1 = Actor::new("north-wholesale", PartyKind::B1, 2);
    b1.register(&store).await;
    let slug = b1.slug.clone();

    let user = DockUser {
        party: slug.clone(),
        name: "anna".into(),
        password_hash: "$argon2id$x".into(),
    };
    store.add_dock_user(&user, 1).await.unwrap();
    match store.add_dock_user(&user, 2).await {
        Err(StoreError::Exists(m)) => {
            assert_eq!(m, "north-wholesale already has a dock user named \"anna\"")
        }
        r => panic!("expected Exists, got {r:?}"),
    }
    assert_eq!(
        store.dock_user("north-wholesale", "anna").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.dock_user("north-wholesale", "bob").await.unwrap(),
        None
    );
    assert_eq!(store.dock_user("other-party", "anna").await.unwrap(), None);

    let s = DockSession {
        id_hash: "aa".into(),
        party: slug.clone(),
        name: "anna".into(),
        csrf: "c".into(),
        expires: 100,
    };
    store.add_dock_session(&s, 10).await.unwrap();
    assert_eq!(store.dock_session("aa", 50).await.unwrap(), Some(s.clone()));
    assert_eq!(
        store.dock_session("aa", 100).await.unwrap(),
        Some(s.clone()),
        "good until it expires"
    );
    assert_eq!(
        store.dock_session("aa", 101).await.unwrap(),
        None,
        "expired"
    );
    // A new sign-in sweeps expired sessions.
    let s2 = DockSession {
        id_hash: "bb".into(),
        expires: 500,
        ..s.clone()
    };
    store.add_dock_session(&s2, 200).await.unwrap();
    assert_eq!(store.dock_session("aa", 50).await.unwrap(), None, "swept");
    assert_eq!(store.dock_session("bb", 300).await.unwrap(), Some(s2));
    store.delete_dock_session("bb").await.unwrap();
    assert_eq!(store.dock_session("bb", 300).await.unwrap(), None);
    store.delete_dock_session("never there").await.unwrap();

    let st = PendingStation {
        id: 0,
        party: slug.clone(),
        public_key: "pk1".into(),
        key_id: "k1".into(),
        label: "dock 1".into(),
        requested_by: "anna".into(),
        created: 5,
    };
    let a = store.add_pending_station(&st).await.unwrap();
    assert!(a.id > 0);
    assert_eq!(
        a,
        PendingStation {
            id: a.id,
            ..st.clone()
        }
    );
    let b = store
        .add_pending_station(&PendingStation {
            label: "retry".into(),
            ..st.clone()
        })
        .await
        .unwrap();
    assert_eq!(a, b, "the same key again is the same station");
    assert_eq!(store.pending_station(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.pending_station(a.id + 99).await.unwrap(), None);

    // The admin page's lists: newest station first, names only, in byte order.
    let c = store
        .add_pending_station(&PendingStation {
            public_key: "pk2".into(),
            key_id: "k2".into(),
            ..st.clone()
        })
        .await
        .unwrap();
    assert!(c.id > a.id);
    assert_eq!(
        store.dock_stations(&slug).await.unwrap(),
        vec![c, a.clone()]
    );
    let other = Slug::parse("nobody-here").unwrap();
    assert!(store.dock_stations(&other).await.unwrap().is_empty());
    for name in ["aaron", "Bob"] {
        let u = DockUser {
            name: name.into(),
            ..user.clone()
        };
        store.add_dock_user(&u, 3).await.unwrap();
    }
    assert_eq!(
        store.dock_user_names(&slug).await.unwrap(),
        ["Bob", "aaron", "anna"]
    );
    assert!(store.dock_user_names(&other).await.unwrap().is_empty());
}
