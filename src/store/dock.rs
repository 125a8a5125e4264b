//! Rows of the dock pages (issue 6): users, sessions and pending station keys.
//!
//! These are plain mutable rows, not signed statements: a session or a password
//! is not evidence of anything, the signed events the dock sends are.

use crate::domain::party::Slug;

/// A dock user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct DockUser {
    /// The party the user works for.
    pub party: Slug,
    /// Sign-in name, unique within the party.
    pub name: String,
    /// argon2 PHC string.
    pub password_hash: String,
}

// The hash is not a secret in the cryptographic sense, but it has no business in logs.
impl std::fmt::Debug for DockUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockUser")
            .field("party", &self.party)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A signed-in browser.
#[derive(Clone, PartialEq, Eq)]
pub struct DockSession {
    /// SHA-256 (hex) of the cookie value; the value itself is never stored.
    pub id_hash: String,
    /// The user's party.
    pub party: Slug,
    /// The user's name.
    pub name: String,
    /// CSRF token the page must echo on every POST.
    pub csrf: String,
    /// Unix seconds after which the session is refused.
    pub expires: i64,
}

impl std::fmt::Debug for DockSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockSession")
            .field("party", &self.party)
            .field("name", &self.name)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A station key a browser generated, waiting for the party's root key to certify it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingStation {
    /// Number the admin names to `suyuan key approve --pending`.
    pub id: i64,
    /// The party.
    pub party: Slug,
    /// Public key, base64url.
    pub public_key: String,
    /// Its key id.
    pub key_id: String,
    /// What the browser called itself.
    pub label: String,
    /// The dock user who enrolled it.
    pub requested_by: String,
    /// Unix seconds.
    pub created: i64,
}

/// Maps a unique violation on `dock_users` to `Exists`, naming the user.
pub(crate) fn dock_unique(e: sqlx::Error, user: &DockUser) -> super::StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => super::StoreError::Exists(format!(
            "{} already has a dock user named \"{}\"",
            user.party, user.name
        )),
        _ => super::StoreError::Db(e),
    }
}

/// A `dock_stations` row as selected by both stores.
pub(crate) type StationRow = (i64, String, String, String, String, String, i64);

/// Parses a `dock_stations` row.
pub(crate) fn pending_row(row: StationRow) -> Result<PendingStation, super::StoreError> {
    let (id, party, public_key, key_id, label, requested_by, created) = row;
    Ok(PendingStation {
        id,
        party: super::parse_slug(&party)?,
        public_key,
        key_id,
        label,
        requested_by,
        created,
    })
}

#[cfg(test)]
mod tests {
    //! The dock rows on SQLite, and on PostgreSQL when `SUYUAN_TEST_DATABASE_URL` is set.
    use super::*;
    use crate::domain::keys::KeyRecord;
    use crate::domain::party::{PartyKind, Role};
    use crate::store::{DynStore, Party, StoreError};

    async fn conformance(store: DynStore) {
        let slug = Slug::parse("north-wholesale").unwrap();
        let party = Party {
            slug: slug.clone(),
            name: "North".into(),
            kind: PartyKind::B1,
            gln: None,
        };
        let key = crate::client::keystore::Keystore::generate(slug.clone());
        let root = KeyRecord {
            key_id: key.key_id.clone(),
            party: slug.clone(),
            public_key: key.public_key(),
            role: Role::Root,
            not_before: None,
            not_after: None,
            revoked: None,
        };
        store.create_party(&party, &root, "h").await.unwrap();

        let user = DockUser {
            party: slug.clone(),
            name: "anna".into(),
            password_hash: "$argon2id$x".into(),
        };
        store.add_dock_user(&user, 1).await.unwrap();
        let again = store.add_dock_user(&user, 2).await.unwrap_err();
        assert!(matches!(again, StoreError::Exists(_)), "{again}");
        assert_eq!(
            store.dock_user("north-wholesale", "anna").await.unwrap(),
            Some(user.clone())
        );
        assert_eq!(
            store.dock_user("north-wholesale", "bob").await.unwrap(),
            None
        );

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
        store.delete_dock_session("bb").await.unwrap();
        assert_eq!(store.dock_session("bb", 300).await.unwrap(), None);

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

        // The admin page's lists: newest station first, names only.
        let c = store
            .add_pending_station(&PendingStation {
                public_key: "pk2".into(),
                key_id: "k2".into(),
                ..st.clone()
            })
            .await
            .unwrap();
        let listed = store.dock_stations(&slug).await.unwrap();
        assert_eq!(listed, vec![c, a.clone()]);
        let other = Slug::parse("nobody-here").unwrap();
        assert!(store.dock_stations(&other).await.unwrap().is_empty());
        store
            .add_dock_user(
                &DockUser {
                    name: "aaron".into(),
                    ..user.clone()
                },
                3,
            )
            .await
            .unwrap();
        assert_eq!(
            store.dock_user_names(&slug).await.unwrap(),
            vec!["aaron".to_owned(), "anna".to_owned()]
        );
    }

    #[tokio::test]
    async fn dock_rows_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        conformance(crate::store::open(&url).await.unwrap()).await;
    }

    #[tokio::test]
    async fn dock_rows_on_postgres() {
        use sqlx::{Connection, Executor};
        let Some(server) = std::env::var("SUYUAN_TEST_DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
        else {
            return;
        };
        let name = format!("suyuan_dock_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut c = sqlx::PgConnection::connect(&server).await.unwrap();
        c.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap();
        // Same server, our database: replace the path of the URL.
        let (head, query) = server.split_once('?').unwrap_or((&server, ""));
        let host_end = head[head.find("://").map_or(0, |i| i + 3)..]
            .find('/')
            .map_or(head.len(), |i| i + head.find("://").map_or(0, |j| j + 3));
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let url = format!("{}/{name}{q}", &head[..host_end]);
        let store = crate::store::open(&url).await.unwrap();
        conformance(store.clone()).await;
        drop(store);
        let _ = c
            .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
            .await;
    }
}
