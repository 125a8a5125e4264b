//! SQLite store: the embedded default. Reads go through a read-only pool;
//! appends go to the single writer task (see `writer`), WAL with synchronous=FULL.

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::domain::custody::Disposition;
use crate::domain::party::Role;

use writer::{Job, Reply, GROUP_MAX};

mod writer;

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    appends: mpsc::Sender<(Job, Reply)>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite://` URL names and migrates it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        let (appends, rx) = mpsc::channel(4 * GROUP_MAX);
        tokio::spawn(writer::run(write.clone(), rx));
        Ok(SqliteStore {
            read,
            write,
            appends,
        })
    }

    /// Queues an append for the writer and waits until its group is durable.
    async fn append(&self, job: Job) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.appends
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Commit("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Commit("the writer dropped the append".into()))?
    }
}

fn holding(row: &SqliteRow) -> Result<Holding, StoreError> {
    let opt_id = |col: &str| -> Result<Option<BatchId>, StoreError> {
        row.try_get::<Option<String>, _>(col)?
            .map(|s| parse_id(&s))
            .transpose()
    };
    let disposition: String = row.try_get("disposition")?;
    Ok(Holding {
        range: crate::domain::statement::UnitRange {
            batch: parse_id(&row.try_get::<String, _>("batch")?)?,
            first: row.try_get::<i64, _>("first")? as u64,
            last: row.try_get::<i64, _>("last")? as u64,
        },
        holder: parse_slug(&row.try_get::<String, _>("holder")?)?,
        disposition: Disposition::parse(&disposition)
            .ok_or_else(|| StoreError::Corrupt(format!("disposition {disposition}")))?,
        shipment: opt_id("shipment")?,
        dest: row
            .try_get::<Option<String>, _>("dest")?
            .map(|s| parse_slug(&s))
            .transpose()?,
        recall: opt_id("recall")?,
    })
}

fn stored(row: &SqliteRow) -> Result<StoredStatement, StoreError> {
    Ok(StoredStatement {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        party: row.try_get("party")?,
        json: row.try_get("json")?,
    })
}

fn party_row(row: &SqliteRow) -> Result<Party, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Party {
        slug: parse_slug(&row.try_get::<String, _>("slug")?)?,
        name: row.try_get("name")?,
        kind: PartyKind::parse(&kind).map_err(StoreError::Corrupt)?,
        gln: row.try_get("gln")?,
    })
}

fn key_row(row: &SqliteRow) -> Result<KeyRecord, StoreError> {
    let ts = |col: &str| -> Result<Option<Timestamp>, StoreError> {
        row.try_get::<Option<String>, _>(col)?
            .map(|s| Timestamp::parse(&s).map_err(StoreError::Corrupt))
            .transpose()
    };
    let role: String = row.try_get("role")?;
    Ok(KeyRecord {
        key_id: row.try_get("key_id")?,
        party: parse_slug(&row.try_get::<String, _>("party")?)?,
        public_key: row.try_get("public_key")?,
        role: Role::parse(&role).map_err(StoreError::Corrupt)?,
        not_before: ts("not_before")?,
        not_after: ts("not_after")?,
        revoked: ts("revoked")?,
    })
}

const KEY_SELECT: &str =
    "SELECT k.key_id, k.party, k.public_key, k.role, k.not_before, k.not_after, r.time AS revoked \
     FROM keys k LEFT JOIN revocations r ON r.key_id = k.key_id";

const HOLDING_COLS: &str = "batch, first, last, holder, disposition, shipment, dest, recall";

async fn batch_row(
    pool: &SqlitePool,
    filter: &str,
    a: &str,
    b: Option<&str>,
) -> Result<Option<BatchRow>, StoreError> {
    let sql = format!(
        "SELECT b.id, b.party, b.quantity, h.head, s.seq, s.kind, s.json, s.party AS sparty \
         FROM batches b JOIN chain_heads h ON h.batch = b.id JOIN statements s ON s.id = b.id WHERE {filter}"
    );
    let mut q = sqlx::query(&sql).bind(a);
    if let Some(b) = b {
        q = q.bind(b);
    }
    let Some(row) = q.fetch_optional(pool).await? else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    Ok(Some(BatchRow {
        id: parse_id(&id)?,
        party: parse_slug(&row.try_get::<String, _>("party")?)?,
        quantity: row.try_get::<i64, _>("quantity")? as u64,
        head: parse_id(&row.try_get::<String, _>("head")?)?,
        statement: StoredStatement {
            seq: row.try_get("seq")?,
            id,
            kind: row.try_get("kind")?,
            party: row.try_get("sparty")?,
            json: row.try_get("json")?,
        },
    }))
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_party(
        &self,
        party: &Party,
        root: &KeyRecord,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT slug FROM parties WHERE slug = ?")
            .bind(party.slug.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(format!(
                "party \"{}\" is already registered",
                party.slug
            )));
        }
        let key_taken: Option<String> =
            sqlx::query_scalar("SELECT key_id FROM keys WHERE public_key = ? OR key_id = ?")
                .bind(&root.public_key)
                .bind(&root.key_id)
                .fetch_optional(&mut *tx)
                .await?;
        if key_taken.is_some() {
            return Err(StoreError::Exists(
                "that public key is already registered".into(),
            ));
        }
        let now = Timestamp::now().to_string();
        sqlx::query(
            "INSERT INTO parties (slug, name, kind, gln, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(party.slug.as_str())
        .bind(&party.name)
        .bind(party.kind.as_str())
        .bind(&party.gln)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO keys (key_id, party, public_key, role) VALUES (?, ?, ?, 'root')")
            .bind(&root.key_id)
            .bind(party.slug.as_str())
            .bind(&root.public_key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(party.slug.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_token(&self, hash: &str, party: Option<&Slug>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES (?, ?, ?)")
            .bind(hash)
            .bind(party.map(|p| p.as_str()))
            .bind(Timestamp::now().to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT party FROM tokens WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.read)
                .await?;
        match row {
            None => Ok(None),
            Some((None,)) => Ok(Some(TokenOwner::Admin)),
            Some((Some(p),)) => Ok(Some(TokenOwner::Party(parse_slug(&p)?))),
        }
    }

    async fn has_admin(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE party IS NULL")
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        sqlx::query("SELECT slug, name, kind, gln FROM parties WHERE slug = ?")
            .bind(slug)
            .fetch_optional(&self.read)
            .await?
            .map(|r| party_row(&r))
            .transpose()
    }

    async fn parties(&self) -> Result<Vec<Party>, StoreError> {
        sqlx::query("SELECT slug, name, kind, gln FROM parties ORDER BY slug")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(party_row)
            .collect()
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(&format!("{KEY_SELECT} WHERE k.key_id = ?"))
            .bind(key_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| key_row(&r))
            .transpose()
    }

    async fn keys_of(&self, party: &Slug) -> Result<Vec<KeyRecord>, StoreError> {
        sqlx::query(&format!("{KEY_SELECT} WHERE k.party = ? ORDER BY k.key_id"))
            .bind(party.as_str())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(key_row)
            .collect()
    }

    async fn statement(&self, id: &str) -> Result<Option<StoredStatement>, StoreError> {
        sqlx::query("SELECT seq, id, kind, party, json FROM statements WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| stored(&r))
            .transpose()
    }

    async fn statements_from(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT seq, id, kind, party, json FROM statements WHERE seq >= ? ORDER BY seq LIMIT ?",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn append_key(
        &self,
        st: &NewStatement,
        change: &KeyChange,
    ) -> Result<Appended, StoreError> {
        self.append(Job::Key(st.clone(), change.clone())).await
    }

    async fn append_batch(
        &self,
        st: &NewStatement,
        batch: &BatchStatement,
    ) -> Result<Appended, StoreError> {
        self.append(Job::Batch(st.clone(), batch.clone())).await
    }

    async fn append_event(
        &self,
        st: &NewStatement,
        ev: &EventStatement,
        signer_kind: PartyKind,
    ) -> Result<Appended, StoreError> {
        self.append(Job::Event(st.clone(), ev.clone(), signer_kind))
            .await
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<BatchRow>, StoreError> {
        batch_row(&self.read, "b.id = ?", &id.hex(), None).await
    }

    async fn batch_by_lot(&self, gtin: &str, lot: &str) -> Result<Option<BatchRow>, StoreError> {
        batch_row(&self.read, "b.gtin = ? AND b.lot = ?", gtin, Some(lot)).await
    }

    async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, StoreError> {
        let mut out = BTreeMap::new();
        for b in batches {
            let head: Option<String> =
                sqlx::query_scalar("SELECT head FROM chain_heads WHERE batch = ?")
                    .bind(b.hex())
                    .fetch_optional(&self.read)
                    .await?;
            if let Some(h) = head {
                out.insert(*b, parse_id(&h)?);
            }
        }
        Ok(out)
    }

    async fn unit(&self, batch: &BatchId, index: u64) -> Result<Option<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = ? AND first <= ? ORDER BY first DESC LIMIT 1"
        ))
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_optional(&self.read)
        .await?
        .map(|r| holding(&r))
        .transpose()
        .map(|h| h.filter(|h| h.range.last >= index))
    }

    async fn unit_events(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT DISTINCT s.seq, s.id, s.kind, s.party, s.json FROM event_objects o \
             JOIN statements s ON s.id = o.event WHERE o.batch = ? AND o.first <= ? AND o.last >= ? ORDER BY s.seq",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .bind(index as i64)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn holdings_of(&self, party: &Slug) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE holder = ?1 OR dest = ?1 ORDER BY batch, first"
        ))
        .bind(party.as_str())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn holdings_of_batch(&self, batch: &BatchId) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = ? ORDER BY first"
        ))
        .bind(batch.hex())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn in_shipment(&self, shipment: &StatementId) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE shipment = ? AND disposition = 'in_transit' ORDER BY batch, first"
        ))
        .bind(shipment.hex())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn shipments_to(&self, party: &Slug) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.dest = ? AND e.type IN ('shipping', 'returning') ORDER BY s.seq DESC",
        )
        .bind(party.as_str())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect()
    }
}
