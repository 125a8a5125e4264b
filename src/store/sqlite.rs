//! SQLite store: the embedded default.
//!
//! One writer task owns the only write connection (WAL, synchronous=FULL).
//! Appends queue to it and are committed in groups: each append runs in its own
//! savepoint (so a refused one leaves no trace), the group commits with one
//! fsync, and only then is anyone answered. That keeps every acknowledged
//! append durable while paying for the disk flush once per group, not per event.

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::domain::custody::{self, BatchFacts, Context, Disposition};
use crate::domain::party::Role;

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    appends: mpsc::Sender<(Job, Reply)>,
}

/// An append waiting for the writer task.
#[derive(Debug)]
enum Job {
    Key(NewStatement, KeyChange),
    Batch(NewStatement, BatchStatement),
    Event(NewStatement, EventStatement, PartyKind),
}

type Reply = oneshot::Sender<Result<Appended, StoreError>>;

/// Most appends committed in one transaction.
const GROUP_MAX: usize = 256;

/// Takes queued appends in groups and commits each group once.
async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<(Job, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        match run_group(&pool, &group).await {
            Ok(results) => {
                for ((_, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = group.len(), "group commit failed; nothing of it was stored");
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Commit(e.to_string())));
                }
            }
        }
    }
}

async fn run_group(
    pool: &SqlitePool,
    group: &[(Job, Reply)],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut results = Vec::with_capacity(group.len());
    for (job, _) in group {
        let mut sp = (*tx).begin().await?;
        let result = match job {
            Job::Key(st, change) => append_key_in(&mut sp, st, change).await,
            Job::Batch(st, batch) => append_batch_in(&mut sp, st, batch).await,
            Job::Event(st, ev, kind) => append_event_in(&mut sp, st, ev, *kind).await,
        };
        if result.is_ok() {
            sp.commit().await?;
        } else {
            sp.rollback().await?;
        }
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
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
        tokio::spawn(writer(write.clone(), rx));
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

/// Stores the statement at the next leaf index, or returns `Err(seq)` of the copy already stored.
///
/// The leaf index is read from `log_state` in the same statement, and a trigger
/// advances it, so an append costs one round trip to the database worker.
async fn insert_statement(
    conn: &mut SqliteConnection,
    st: &NewStatement,
) -> Result<Result<i64, i64>, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO statements (seq, id, kind, party, key_id, time, json, leaf_hash, received_at) \
         SELECT size, ?, ?, ?, ?, ?, ?, ?, ? FROM log_state WHERE id = 1 \
         ON CONFLICT (id) DO NOTHING RETURNING seq",
    )
    .bind(&st.id)
    .bind(st.kind.as_str())
    .bind(st.party.as_str())
    .bind(&st.key_id)
    .bind(st.time.to_string())
    .bind(&st.json)
    .bind(leaf_hash(&st.json))
    .bind(Timestamp::now().to_string())
    .fetch_optional(&mut *conn)
    .await?;
    match seq {
        Some(seq) => Ok(Ok(seq)),
        None => {
            let existing: i64 = sqlx::query_scalar("SELECT seq FROM statements WHERE id = ?")
                .bind(&st.id)
                .fetch_one(&mut *conn)
                .await?;
            Ok(Err(existing))
        }
    }
}

/// `INSERT … VALUES (?, …), (?, …);` for `rows` rows of `cols` columns (empty when no rows).
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    if rows == 0 {
        return String::new();
    }
    let one = format!("({})", vec!["?"; cols].join(", "));
    format!("{head}{};\n", vec![one; rows].join(", "))
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_holding<'q>(q: Query<'q>, h: &Holding) -> Query<'q> {
    q.bind(h.range.batch.hex())
        .bind(h.range.first as i64)
        .bind(h.range.last as i64)
        .bind(h.holder.to_string())
        .bind(h.disposition.as_str())
        .bind(h.shipment.map(|s| s.hex()))
        .bind(h.dest.as_ref().map(|d| d.to_string()))
        .bind(h.recall.map(|s| s.hex()))
}

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

/// One append inside the writer's group transaction.
async fn append_key_in(
    tx: &mut SqliteConnection,
    st: &NewStatement,
    change: &KeyChange,
) -> Result<Appended, StoreError> {
    let seq = match insert_statement(&mut *tx, st).await? {
        Ok(seq) => seq,
        Err(seq) => return Ok(Appended::Duplicate(seq)),
    };
    match change {
        KeyChange::Certify(k) => {
            let taken: Option<String> =
                sqlx::query_scalar("SELECT key_id FROM keys WHERE public_key = ? OR key_id = ?")
                    .bind(&k.public_key)
                    .bind(&k.key_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                return Err(StoreError::Exists(format!(
                    "key {} is already on record",
                    k.key_id
                )));
            }
            sqlx::query(
                "INSERT INTO keys (key_id, party, public_key, role, not_before, not_after, statement) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&k.key_id)
            .bind(k.party.as_str())
            .bind(&k.public_key)
            .bind(k.role.as_str())
            .bind(k.not_before.map(|t| t.to_string()))
            .bind(k.not_after.map(|t| t.to_string()))
            .bind(&st.id)
            .execute(&mut *tx)
            .await?;
        }
        KeyChange::Revoke { key_id, at } => {
            let done: Option<String> =
                sqlx::query_scalar("SELECT key_id FROM revocations WHERE key_id = ?")
                    .bind(key_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                return Err(StoreError::Exists(format!(
                    "key {key_id} is already revoked"
                )));
            }
            sqlx::query("INSERT INTO revocations (key_id, time, statement) VALUES (?, ?, ?)")
                .bind(key_id)
                .bind(at.to_string())
                .bind(&st.id)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(Appended::Stored(seq))
}

/// One append inside the writer's group transaction.
async fn append_batch_in(
    tx: &mut SqliteConnection,
    st: &NewStatement,
    batch: &BatchStatement,
) -> Result<Appended, StoreError> {
    let seq = match insert_statement(&mut *tx, st).await? {
        Ok(seq) => seq,
        Err(seq) => return Ok(Appended::Duplicate(seq)),
    };
    let clash: Option<String> =
        sqlx::query_scalar("SELECT id FROM batches WHERE gtin = ? AND lot = ?")
            .bind(batch.gtin.as_str())
            .bind(batch.lot.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(other) = clash {
        return Err(StoreError::Exists(format!(
            "lot {} of GTIN {} is already minted as batch {other}",
            batch.lot.as_str(),
            batch.gtin.as_str()
        )));
    }
    sqlx::query("INSERT INTO batches (id, party, gtin, lot, quantity) VALUES (?, ?, ?, ?, ?)")
        .bind(&st.id)
        .bind(st.party.as_str())
        .bind(batch.gtin.as_str())
        .bind(batch.lot.as_str())
        .bind(batch.quantity as i64)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO chain_heads (batch, head) VALUES (?, ?)")
        .bind(&st.id)
        .bind(&st.id)
        .execute(&mut *tx)
        .await?;
    // The whole batch is one range: minting N units writes one row.
    let id = parse_id(&st.id)?;
    let minted = Holding {
        range: crate::domain::statement::UnitRange {
            batch: id,
            first: 0,
            last: batch.quantity - 1,
        },
        holder: st.party.clone(),
        disposition: Disposition::Active,
        shipment: None,
        dest: None,
        recall: None,
    };
    let sql = values_sql(
        "INSERT INTO holdings (batch, first, last, holder, disposition, shipment, dest, recall) VALUES ",
        8,
        1,
    );
    bind_holding(sqlx::query(&sql), &minted)
        .execute(&mut *tx)
        .await?;
    Ok(Appended::Stored(seq))
}

/// One append inside the writer's group transaction.
async fn append_event_in(
    tx: &mut SqliteConnection,
    st: &NewStatement,
    ev: &EventStatement,
    signer_kind: PartyKind,
) -> Result<Appended, StoreError> {
    let seq = match insert_statement(&mut *tx, st).await? {
        Ok(seq) => seq,
        Err(seq) => return Ok(Appended::Duplicate(seq)),
    };
    let id = parse_id(&st.id)?;
    let mut heads = BTreeMap::new();
    let mut facts = HashMap::new();
    for batch in ev.prev.keys() {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT h.head, b.party, b.quantity FROM batches b JOIN chain_heads h ON h.batch = b.id WHERE b.id = ?",
        )
        .bind(batch.hex())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((head, party, quantity)) = row else {
            return Err(CustodyError::UnknownBatch(batch.hex()).into());
        };
        heads.insert(*batch, parse_id(&head)?);
        facts.insert(
            *batch,
            BatchFacts {
                party: parse_slug(&party)?,
                quantity: quantity as u64,
            },
        );
    }
    let stale = custody::stale_heads(ev, &heads);
    if !stale.is_empty() {
        return Err(StoreError::Conflict(stale));
    }
    let to_exists = match &ev.to {
        Some(to) => sqlx::query_scalar::<_, String>("SELECT slug FROM parties WHERE slug = ?")
            .bind(to.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some(),
        None => false,
    };
    let shipment: Option<EventStatement> = match ev.shipment {
        Some(s) => {
            let json: Option<String> =
                sqlx::query_scalar("SELECT json FROM statements WHERE id = ? AND kind = 'event'")
                    .bind(s.hex())
                    .fetch_optional(&mut *tx)
                    .await?;
            json.and_then(|j| {
                let mut v = serde_json::from_str::<serde_json::Value>(&j).ok()?;
                v.as_object_mut()?.remove("sig");
                serde_json::from_value(v).ok()
            })
        }
        None => None,
    };
    // Every holding row overlapping any range the event or its exceptions name, plus
    // the neighbours on each side so that ranges left in the same state merge back.
    let mut current: Vec<Holding> = Vec::new();
    // Rows fetched per range are contiguous in `first`, so one delete per span removes them.
    let mut spans: Vec<(BatchId, i64, i64)> = Vec::new();
    let ranges = ev
        .objects
        .iter()
        .chain(ev.exceptions.iter().flat_map(|e| e.objects.iter()));
    for r in ranges {
        let rows = sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = ?1 AND first <= ?3 AND first >= \
             COALESCE((SELECT MAX(first) FROM holdings WHERE batch = ?1 AND first <= ?2), 0) ORDER BY first"
        ))
        .bind(r.batch.hex())
        .bind(r.first.saturating_sub(1) as i64)
        .bind((r.last + 1) as i64)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let h = holding(row)?;
            if !current.iter().any(|c| c.range == h.range) {
                current.push(h);
            }
        }
        if let (Some(lo), Some(hi)) = (rows.first(), rows.last()) {
            spans.push((r.batch, lo.try_get("first")?, hi.try_get("first")?));
        }
    }
    let ctx = Context {
        id,
        signer_kind,
        batches: &facts,
        to_exists,
        shipment: shipment.as_ref(),
    };
    let next = custody::apply(ev, &ctx, &current)?;
    // All writes of the event in one round trip to the database worker.
    let mut sql = String::new();
    for _ in &spans {
        sql.push_str("DELETE FROM holdings WHERE batch = ? AND first BETWEEN ? AND ?;\n");
    }
    sql.push_str(&values_sql(
        "INSERT INTO holdings (batch, first, last, holder, disposition, shipment, dest, recall) VALUES ",
        8,
        next.len(),
    ));
    sql.push_str("INSERT INTO events (id, type, party, dest, shipment) VALUES (?, ?, ?, ?, ?);\n");
    sql.push_str(&values_sql(
        "INSERT INTO event_objects (event, batch, first, last) VALUES ",
        4,
        ev.objects.len(),
    ));
    for _ in ev.prev.keys() {
        sql.push_str("UPDATE chain_heads SET head = ? WHERE batch = ?;\n");
    }
    let mut q = sqlx::query(&sql);
    for (batch, lo, hi) in &spans {
        q = q.bind(batch.hex()).bind(lo).bind(hi);
    }
    for h in &next {
        q = bind_holding(q, h);
    }
    q = q
        .bind(&st.id)
        .bind(ev.event_type.as_str())
        .bind(st.party.as_str())
        .bind(ev.to.as_ref().map(|t| t.as_str()))
        .bind(ev.shipment.map(|s| s.hex()));
    for r in &ev.objects {
        q = q
            .bind(&st.id)
            .bind(r.batch.hex())
            .bind(r.first as i64)
            .bind(r.last as i64);
    }
    for batch in ev.prev.keys() {
        q = q.bind(&st.id).bind(batch.hex());
    }
    q.execute(&mut *tx).await?;
    Ok(Appended::Stored(seq))
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
