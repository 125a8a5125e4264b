//! PostgreSQL store: the scale-out path. Several servers may share one database;
//! every append first locks the single `log_state` row (`SELECT … FOR UPDATE`),
//! which serialises appenders across processes, and commits with
//! `synchronous_commit = on` so an acknowledged statement is durable.

use async_trait::async_trait;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{Executor, PgConnection, PgPool, Row};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::domain::aggregation::Tree;
use crate::domain::custody::{
    self, BatchFacts, ContainerChange, Disposition, Reads, ShipmentFacts,
};
use crate::domain::party::Role;
use crate::domain::statement::UnitRange;
use crate::formats::gs1::Sscc;

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and migrates it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // An append is acknowledged only once its commit is on disk.
                    conn.execute("SET synchronous_commit = on").await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

fn holding(row: &PgRow) -> Result<Holding, StoreError> {
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

fn stored(row: &PgRow) -> Result<StoredStatement, StoreError> {
    Ok(StoredStatement {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        party: row.try_get("party")?,
        json: row.try_get("json")?,
    })
}

fn party_row(row: &PgRow) -> Result<Party, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Party {
        slug: parse_slug(&row.try_get::<String, _>("slug")?)?,
        name: row.try_get("name")?,
        kind: PartyKind::parse(&kind).map_err(StoreError::Corrupt)?,
        gln: row.try_get("gln")?,
    })
}

fn key_row(row: &PgRow) -> Result<KeyRecord, StoreError> {
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

/// Turns a unique violation (a concurrent writer won the race the pre-check lost) into `Exists`.
fn unique_to_exists(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            StoreError::Exists(message())
        }
        _ => e.into(),
    }
}

/// Locks the log state for this transaction and returns the next leaf index.
///
/// Must be the first statement of every append: it serialises appenders across
/// all servers sharing the database, so leaf indexes never gap or fork.
async fn lock_log(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            .fetch_one(conn)
            .await?,
    )
}

async fn existing_seq(conn: &mut PgConnection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM statements WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Stores the statement under the leaf index taken by [`lock_log`] and grows the log.
async fn insert_statement(
    conn: &mut PgConnection,
    seq: i64,
    st: &NewStatement,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO statements (seq, id, kind, party, key_id, time, json, leaf_hash, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(&st.id)
    .bind(st.kind.as_str())
    .bind(st.party.as_str())
    .bind(&st.key_id)
    .bind(st.time.to_string())
    .bind(&st.json)
    .bind(leaf_hash(&st.json))
    .bind(Timestamp::now().to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE log_state SET size = size + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_holding(conn: &mut PgConnection, h: &Holding) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO holdings (batch, first, last, holder, disposition, shipment, dest, recall) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(h.range.batch.hex())
    .bind(h.range.first as i64)
    .bind(h.range.last as i64)
    .bind(h.holder.as_str())
    .bind(h.disposition.as_str())
    .bind(h.shipment.map(|s| s.hex()))
    .bind(h.dest.as_ref().map(|d| d.as_str()))
    .bind(h.recall.map(|s| s.hex()))
    .execute(conn)
    .await?;
    Ok(())
}

async fn batch_row(
    pool: &PgPool,
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
impl Store for PgStore {
    async fn create_party(
        &self,
        party: &Party,
        root: &KeyRecord,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let party_taken = || format!("party \"{}\" is already registered", party.slug);
        let key_taken = || "that public key is already registered".to_string();
        let mut tx = self.pool.begin().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT slug FROM parties WHERE slug = $1")
            .bind(party.slug.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(party_taken()));
        }
        let key: Option<String> =
            sqlx::query_scalar("SELECT key_id FROM keys WHERE public_key = $1 OR key_id = $2")
                .bind(&root.public_key)
                .bind(&root.key_id)
                .fetch_optional(&mut *tx)
                .await?;
        if key.is_some() {
            return Err(StoreError::Exists(key_taken()));
        }
        // The checks above can race with another server; the unique indexes cannot.
        let now = Timestamp::now().to_string();
        sqlx::query(
            "INSERT INTO parties (slug, name, kind, gln, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(party.slug.as_str())
        .bind(&party.name)
        .bind(party.kind.as_str())
        .bind(&party.gln)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_to_exists(e, party_taken))?;
        sqlx::query(
            "INSERT INTO keys (key_id, party, public_key, role) VALUES ($1, $2, $3, 'root')",
        )
        .bind(&root.key_id)
        .bind(party.slug.as_str())
        .bind(&root.public_key)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_to_exists(e, key_taken))?;
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(party.slug.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_token(&self, hash: &str, party: Option<&Slug>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(party.map(|p| p.as_str()))
            .bind(Timestamp::now().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT party FROM tokens WHERE hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Ok(None),
            Some((None,)) => Ok(Some(TokenOwner::Admin)),
            Some((Some(p),)) => Ok(Some(TokenOwner::Party(parse_slug(&p)?))),
        }
    }

    async fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tokens WHERE party IS NULL)")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        sqlx::query("SELECT slug, name, kind, gln FROM parties WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| party_row(&r))
            .transpose()
    }

    async fn parties(&self) -> Result<Vec<Party>, StoreError> {
        // Byte order, as SQLite sorts: a locale collation would ignore the '-' in slugs.
        sqlx::query("SELECT slug, name, kind, gln FROM parties ORDER BY slug COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(party_row)
            .collect()
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        sqlx::query(&format!("{KEY_SELECT} WHERE k.key_id = $1"))
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| key_row(&r))
            .transpose()
    }

    async fn keys_of(&self, party: &Slug) -> Result<Vec<KeyRecord>, StoreError> {
        sqlx::query(&format!(
            "{KEY_SELECT} WHERE k.party = $1 ORDER BY k.key_id"
        ))
        .bind(party.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_row)
        .collect()
    }

    async fn statement(&self, id: &str) -> Result<Option<StoredStatement>, StoreError> {
        sqlx::query("SELECT seq, id, kind, party, json FROM statements WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
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
            "SELECT seq, id, kind, party, json FROM statements WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn statement_page(&self, from: i64, limit: i64) -> Result<StatementPage, StoreError> {
        // One row for the whole page: one value to decode instead of four per row.
        let row = sqlx::query(
            "SELECT count(*) AS n, coalesce(string_agg(
                 format('%s,%s,%s,%s,', seq, octet_length(id), octet_length(kind), octet_length(json))
                 || id || kind || json, '' ORDER BY seq), '') AS packed
             FROM (SELECT seq, id, kind, json FROM statements WHERE seq >= $1 ORDER BY seq LIMIT $2) AS page",
        )
        .bind(from)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        StatementPage::unpack(row.try_get("packed")?, n as usize)
    }

    async fn append_key(
        &self,
        st: &NewStatement,
        change: &KeyChange,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = lock_log(&mut tx).await?;
        if let Some(seq) = existing_seq(&mut tx, &st.id).await? {
            return Ok(Appended::Duplicate(seq));
        }
        match change {
            KeyChange::Certify(k) => {
                let on_record = || format!("key {} is already on record", k.key_id);
                let taken: Option<String> = sqlx::query_scalar(
                    "SELECT key_id FROM keys WHERE public_key = $1 OR key_id = $2",
                )
                .bind(&k.public_key)
                .bind(&k.key_id)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    return Err(StoreError::Exists(on_record()));
                }
                // create_party inserts root keys without the log lock: the index decides a race.
                sqlx::query(
                    "INSERT INTO keys (key_id, party, public_key, role, not_before, not_after, statement) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&k.key_id)
                .bind(k.party.as_str())
                .bind(&k.public_key)
                .bind(k.role.as_str())
                .bind(k.not_before.map(|t| t.to_string()))
                .bind(k.not_after.map(|t| t.to_string()))
                .bind(&st.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_to_exists(e, on_record))?;
            }
            KeyChange::Revoke { key_id, at } => {
                let done: Option<String> =
                    sqlx::query_scalar("SELECT key_id FROM revocations WHERE key_id = $1")
                        .bind(key_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if done.is_some() {
                    return Err(StoreError::Exists(format!(
                        "key {key_id} is already revoked"
                    )));
                }
                sqlx::query(
                    "INSERT INTO revocations (key_id, time, statement) VALUES ($1, $2, $3)",
                )
                .bind(key_id)
                .bind(at.to_string())
                .bind(&st.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_statement(&mut tx, seq, st).await?;
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }

    async fn append_batch(
        &self,
        st: &NewStatement,
        batch: &BatchStatement,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = lock_log(&mut tx).await?;
        if let Some(seq) = existing_seq(&mut tx, &st.id).await? {
            return Ok(Appended::Duplicate(seq));
        }
        let clash: Option<String> =
            sqlx::query_scalar("SELECT id FROM batches WHERE gtin = $1 AND lot = $2")
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
        insert_statement(&mut tx, seq, st).await?;
        sqlx::query(
            "INSERT INTO batches (id, party, gtin, lot, quantity) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&st.id)
        .bind(st.party.as_str())
        .bind(batch.gtin.as_str())
        .bind(batch.lot.as_str())
        .bind(batch.quantity as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO chain_heads (batch, head) VALUES ($1, $2)")
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
        insert_holding(&mut tx, &minted).await?;
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }

    async fn append_event(
        &self,
        st: &NewStatement,
        ev: &EventStatement,
        signer_kind: PartyKind,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = lock_log(&mut tx).await?;
        if let Some(seq) = existing_seq(&mut tx, &st.id).await? {
            return Ok(Appended::Duplicate(seq));
        }
        let id = parse_id(&st.id)?;
        let plan = custody::plan(id, ev, signer_kind, &mut TxReads(&mut tx)).await??;
        for (batch, lo, hi) in &plan.ended_spans {
            sqlx::query("DELETE FROM holdings WHERE batch = $1 AND first BETWEEN $2 AND $3")
                .bind(batch.hex())
                .bind(*lo as i64)
                .bind(*hi as i64)
                .execute(&mut *tx)
                .await?;
        }
        for h in &plan.started {
            insert_holding(&mut tx, h).await?;
        }
        insert_statement(&mut tx, seq, st).await?;
        sqlx::query(
            "INSERT INTO events (id, type, party, dest, shipment) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&st.id)
        .bind(ev.event_type.as_str())
        .bind(st.party.as_str())
        .bind(ev.to.as_ref().map(|t| t.as_str()))
        .bind(ev.shipment.map(|s| s.hex()))
        .execute(&mut *tx)
        .await?;
        // One round trip for all the ranges (a pallet names one per case).
        let batches: Vec<String> = plan.units.iter().map(|r| r.batch.hex()).collect();
        let firsts: Vec<i64> = plan.units.iter().map(|r| r.first as i64).collect();
        let lasts: Vec<i64> = plan.units.iter().map(|r| r.last as i64).collect();
        sqlx::query(
            "INSERT INTO event_objects (event, batch, first, last) \
             SELECT $1, b, f, l FROM UNNEST($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS o(b, f, l, n) \
             ORDER BY n",
        )
        .bind(&st.id)
        .bind(&batches)
        .bind(&firsts)
        .bind(&lasts)
        .execute(&mut *tx)
        .await?;
        for (batch, prev) in &plan.heads {
            // The chain-head trigger refuses the update unless `prev` is the head it replaces.
            sqlx::query("UPDATE chain_heads SET prev = $1, head = $2 WHERE batch = $3")
                .bind(prev.hex())
                .bind(&st.id)
                .bind(batch.hex())
                .execute(&mut *tx)
                .await?;
        }
        for change in &plan.containers {
            write_container_change(&mut tx, st, change).await?;
        }
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<BatchRow>, StoreError> {
        batch_row(&self.pool, "b.id = $1", &id.hex(), None).await
    }

    async fn batch_by_lot(&self, gtin: &str, lot: &str) -> Result<Option<BatchRow>, StoreError> {
        batch_row(&self.pool, "b.gtin = $1 AND b.lot = $2", gtin, Some(lot)).await
    }

    async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, StoreError> {
        let ids: Vec<String> = batches.iter().map(|b| b.hex()).collect();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT batch, head FROM chain_heads WHERE batch = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|(b, h)| Ok((parse_id(b)?, parse_id(h)?)))
            .collect()
    }

    async fn unit(&self, batch: &BatchId, index: u64) -> Result<Option<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 AND first <= $2 \
             ORDER BY first DESC LIMIT 1"
        ))
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_optional(&self.pool)
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
             JOIN statements s ON s.id = o.event \
             WHERE o.batch = $1 AND o.first <= $2 AND o.last >= $2 ORDER BY s.seq",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn holdings_of(&self, party: &Slug) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE holder = $1 OR dest = $1 ORDER BY batch, first"
        ))
        .bind(party.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn holdings_of_batch(&self, batch: &BatchId) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 ORDER BY first"
        ))
        .bind(batch.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn in_shipment(&self, shipment: &StatementId) -> Result<Vec<Holding>, StoreError> {
        sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE shipment = $1 AND disposition = 'in_transit' \
             ORDER BY batch, first"
        ))
        .bind(shipment.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(holding)
        .collect()
    }

    async fn shipments_to(&self, party: &Slug) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.dest = $1 AND e.type IN ('shipping', 'returning') ORDER BY s.seq DESC",
        )
        .bind(party.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn receipts(&self, shipment: &StatementId) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.shipment = $1 ORDER BY s.seq",
        )
        .bind(shipment.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn container(
        &self,
        sscc: &crate::formats::gs1::Sscc,
    ) -> Result<Option<ContainerView>, StoreError> {
        let head: Option<(String, String)> =
            sqlx::query_as("SELECT party, packed_by FROM containers WHERE sscc = $1")
                .bind(sscc.as_str())
                .fetch_optional(&self.pool)
                .await?;
        let Some((party, packed_by)) = head else {
            return Ok(None);
        };
        const CTE: &str = "WITH RECURSIVE t(sscc) AS (SELECT $1::text UNION SELECT c.sscc FROM containers c JOIN t ON c.parent = t.sscc)";
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(&format!(
            "{CTE} SELECT c.sscc, c.parent FROM containers c JOIN t ON c.sscc = t.sscc"
        ))
        .bind(sscc.as_str())
        .fetch_all(&self.pool)
        .await?;
        let units: Vec<(String, String, i64, i64)> = sqlx::query_as(&format!(
            "{CTE} SELECT u.sscc, u.batch, u.first, u.last FROM container_units u JOIN t ON u.sscc = t.sscc"
        ))
        .bind(sscc.as_str())
        .fetch_all(&self.pool)
        .await?;
        let tree = tree_from_rows(rows, units)?;
        container_view(sscc, party, packed_by, &tree)
    }

    async fn unit_containers(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<crate::formats::gs1::Sscc>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("WITH RECURSIVE up(sscc, parent, depth) AS (SELECT c.sscc, c.parent, 0 FROM container_units u JOIN containers c ON c.sscc = u.sscc WHERE u.batch = $1 AND u.first <= $2 AND u.last >= $2 UNION ALL SELECT c.sscc, c.parent, up.depth + 1 FROM containers c JOIN up ON c.sscc = up.parent) SELECT sscc FROM up ORDER BY depth")
            .bind(batch.hex())
            .bind(index as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|(s,)| {
                crate::formats::gs1::Sscc::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    // Transparency log (issue 7)
    async fn log_size(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn leaf_hashes(&self, from: i64, to: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT leaf_hash FROM statements WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<(i64, String, String, String)> = sqlx::query_as(
            "SELECT size, root, note, verifier FROM checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(size, root, note, verifier)| StoredCheckpoint {
            size,
            root,
            note,
            verifier,
        }))
    }

    async fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (size, root, note, verifier, signed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(&cp.root)
        .bind(&cp.note)
        .bind(&cp.verifier)
        .bind(Timestamp::now().to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn key_statements(&self, key_id: &str) -> Result<Vec<StoredStatement>, StoreError> {
        sqlx::query(
            "SELECT seq, id, kind, party, json FROM statements WHERE id IN \
             (SELECT statement FROM keys WHERE key_id = $1 UNION SELECT statement FROM revocations WHERE key_id = $1) \
             ORDER BY seq",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    // Scans and feedback (issue 5)
    async fn record_scan(
        &self,
        scan: &crate::domain::scanlog::ScanRecord,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO scans (unit, time, day, scanner) VALUES ($1, $2, $3, $4)")
            .bind(&scan.unit)
            .bind(scan.time)
            .bind(scan.day)
            .bind(&scan.scanner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn scan_stats(
        &self,
        unit: &str,
        since: Option<i64>,
    ) -> Result<crate::domain::scanlog::ScanStats, StoreError> {
        // One grouped read gives the count, the first scan and the per-day distinct scanners.
        let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT COUNT(*), MIN(time), COUNT(DISTINCT CASE WHEN time >= $1 THEN scanner END) \
             FROM scans WHERE unit = $2 GROUP BY day ORDER BY day",
        )
        .bind(since.unwrap_or(i64::MAX))
        .bind(unit)
        .fetch_all(&self.pool)
        .await?;
        Ok(crate::domain::scanlog::ScanStats {
            count: rows.iter().map(|r| r.0.max(0) as u64).sum(),
            first: rows.iter().filter_map(|r| r.1).min(),
            per_day_since: rows
                .iter()
                .filter(|r| r.2 > 0)
                .map(|r| u32::try_from(r.2).unwrap_or(u32::MAX))
                .collect(),
        })
    }

    async fn record_scans(
        &self,
        scans: &[(crate::domain::scanlog::ScanRecord, Option<i64>)],
    ) -> Result<Vec<crate::domain::scanlog::ScanStats>, StoreError> {
        use crate::domain::scanlog::{ScannerDay, UnitScans};
        // Two round trips for the whole group: one insert of every row (as
        // arrays), then one grouped read of every unit's log, which includes
        // this group's rows and whatever other servers logged meanwhile.
        let unit: Vec<&str> = scans.iter().map(|(s, _)| s.unit.as_str()).collect();
        let time: Vec<i64> = scans.iter().map(|(s, _)| s.time).collect();
        let day: Vec<i64> = scans.iter().map(|(s, _)| s.day).collect();
        let scanner: Vec<&str> = scans.iter().map(|(s, _)| s.scanner.as_str()).collect();
        sqlx::query(
            "INSERT INTO scans (unit, time, day, scanner) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[])",
        )
        .bind(&unit)
        .bind(&time)
        .bind(&day)
        .bind(&scanner)
        .execute(&self.pool)
        .await?;
        let mut units = unit;
        units.sort_unstable();
        units.dedup();
        let rows: Vec<(String, i64, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT unit, day, scanner, COUNT(*), MIN(time), MAX(time) FROM scans \
             WHERE unit = ANY($1) GROUP BY unit, day, scanner",
        )
        .bind(&units)
        .fetch_all(&self.pool)
        .await?;
        let mut groups: HashMap<String, Vec<ScannerDay>> = HashMap::new();
        for (unit, day, scanner, n, first, last) in rows {
            groups.entry(unit).or_default().push(ScannerDay {
                day,
                scanner,
                count: n.max(0) as u64,
                first,
                last,
            });
        }
        let logs: HashMap<String, UnitScans> = groups
            .into_iter()
            .map(|(u, g)| (u, UnitScans::from_groups(g)))
            .collect();
        Ok(scans
            .iter()
            .map(|(s, since)| {
                logs.get(&s.unit)
                    .map(|u| u.stats(*since))
                    .unwrap_or_default()
            })
            .collect())
    }

    async fn day_salt(&self, day: i64, candidate: &str) -> Result<String, StoreError> {
        sqlx::query("DELETE FROM scan_salts WHERE day < $1")
            .bind(day)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO scan_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
        )
        .bind(day)
        .bind(candidate)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT salt FROM scan_salts WHERE day = $1")
                .bind(day)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn add_feedback(
        &self,
        fb: &crate::domain::feedback::NewFeedback,
        parties: &[Slug],
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO feedback (unit, batch, unit_index, time, day, scanner, kind, rating, \
             category, comment, contact, signature_ok) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING id",
        )
        .bind(&fb.unit)
        .bind(&fb.batch)
        .bind(fb.unit_index.map(|i| i as i64))
        .bind(fb.time)
        .bind(fb.day)
        .bind(&fb.scanner)
        .bind(fb.kind.as_str())
        .bind(fb.rating.map(i32::from))
        .bind(fb.category.map(|c| c.as_str()))
        .bind(&fb.comment)
        .bind(&fb.contact)
        .bind(fb.signature_ok)
        .fetch_one(&mut *tx)
        .await?;
        for p in parties {
            sqlx::query("INSERT INTO feedback_parties (party, feedback) VALUES ($1, $2)")
                .bind(p.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn feedback_for_party(
        &self,
        party: &Slug,
        limit: i64,
    ) -> Result<Vec<crate::domain::feedback::Feedback>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.id, f.unit, f.batch, f.unit_index, f.time, f.kind, f.rating, f.category, \
             f.comment, f.contact, f.signature_ok FROM feedback_parties p \
             JOIN feedback f ON f.id = p.feedback WHERE p.party = $1 ORDER BY f.id DESC LIMIT $2",
        )
        .bind(party.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::domain::feedback::Feedback {
                    id: r.try_get("id")?,
                    unit: r.try_get("unit")?,
                    batch: r.try_get("batch")?,
                    unit_index: r.try_get::<Option<i64>, _>("unit_index")?.map(|i| i as u64),
                    time: Timestamp::from_unix(r.try_get("time")?).to_string(),
                    kind: r.try_get("kind")?,
                    rating: r
                        .try_get::<Option<i32>, _>("rating")?
                        .and_then(|n| u8::try_from(n).ok()),
                    category: r.try_get("category")?,
                    comment: r.try_get("comment")?,
                    contact: r.try_get("contact")?,
                    signature_ok: r.try_get("signature_ok")?,
                })
            })
            .collect()
    }

    async fn feedback_count(
        &self,
        unit: &str,
        day: i64,
        scanner: &str,
    ) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE scanner = $1), COUNT(*) \
             FROM feedback WHERE unit = $2 AND day = $3",
        )
        .bind(scanner)
        .bind(unit)
        .bind(day)
        .fetch_one(&self.pool)
        .await?)
    }

    // Dock (issue 6): plain pool writes; nothing here is a signed statement.
    async fn add_dock_user(&self, user: &dock::DockUser, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dock_users (party, name, password_hash, created) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.party.as_str())
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| dock::dock_unique(e, user))?;
        Ok(())
    }

    async fn dock_user(
        &self,
        party: &str,
        name: &str,
    ) -> Result<Option<dock::DockUser>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT party, name, password_hash FROM dock_users WHERE party = $1 AND name = $2",
        )
        .bind(party)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(p, name, password_hash)| {
            Ok(dock::DockUser {
                party: parse_slug(&p)?,
                name,
                password_hash,
            })
        })
        .transpose()
    }

    async fn add_dock_session(&self, s: &dock::DockSession, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE expires < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO dock_sessions (id_hash, party, name, csrf, expires) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.id_hash)
            .bind(s.party.as_str())
            .bind(&s.name)
            .bind(&s.csrf)
            .bind(s.expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dock_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<dock::DockSession>, StoreError> {
        let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id_hash, party, name, csrf, expires FROM dock_sessions WHERE id_hash = $1 AND expires >= $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(id_hash, p, name, csrf, expires)| {
            Ok(dock::DockSession {
                id_hash,
                party: parse_slug(&p)?,
                name,
                csrf,
                expires,
            })
        })
        .transpose()
    }

    async fn delete_dock_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_pending_station(
        &self,
        st: &dock::PendingStation,
    ) -> Result<dock::PendingStation, StoreError> {
        // A browser that retries its enrollment gets its first row back, not a second one.
        sqlx::query(
            "INSERT INTO dock_stations (party, public_key, key_id, label, requested_by, created) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (public_key) DO NOTHING",
        )
        .bind(st.party.as_str())
        .bind(&st.public_key)
        .bind(&st.key_id)
        .bind(&st.label)
        .bind(&st.requested_by)
        .bind(st.created)
        .execute(&self.pool)
        .await?;
        let row: dock::StationRow = sqlx::query_as(
            "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations WHERE public_key = $1",
        )
        .bind(&st.public_key)
        .fetch_one(&self.pool)
        .await?;
        dock::pending_row(row)
    }

    async fn pending_station(&self, id: i64) -> Result<Option<dock::PendingStation>, StoreError> {
        let row: Option<dock::StationRow> = sqlx::query_as(
            "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(dock::pending_row).transpose()
    }

    async fn dock_stations(&self, party: &Slug) -> Result<Vec<dock::PendingStation>, StoreError> {
        let rows: Vec<dock::StationRow> = sqlx::query_as(
            "SELECT id, party, public_key, key_id, label, requested_by, created FROM dock_stations \
             WHERE party = $1 ORDER BY id DESC",
        )
        .bind(party.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(dock::pending_row).collect()
    }

    async fn dock_user_names(&self, party: &Slug) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            // Byte order, as SQLite sorts (see `parties`).
            "SELECT name FROM dock_users WHERE party = $1 ORDER BY name COLLATE \"C\"",
        )
        .bind(party.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    // Trace (issue 7)

    async fn batches_by_supplier_lot(
        &self,
        supplier_lot: &str,
        supplier: Option<&str>,
    ) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
             WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(s.json::jsonb->'inputs', '[]'::jsonb)) i \
             WHERE i->>'supplier_lot' = $1 AND ($2::text IS NULL OR i->>'supplier' = $2)) ORDER BY s.seq",
        )
        .bind(supplier_lot)
        .bind(supplier)
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn batch_containers(
        &self,
        batch: &BatchId,
    ) -> Result<Vec<(String, Option<String>, crate::domain::statement::UnitRange)>, StoreError>
    {
        let rows: Vec<(String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT u.sscc, c.parent, u.first, u.last FROM container_units u \
             JOIN containers c ON c.sscc = u.sscc WHERE u.batch = $1 ORDER BY u.first",
        )
        .bind(batch.hex())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sscc, parent, f, l)| {
                let r = crate::domain::statement::UnitRange {
                    batch: *batch,
                    first: f as u64,
                    last: l as u64,
                };
                (sscc, parent, r)
            })
            .collect())
    }

    async fn recalls(
        &self,
    ) -> Result<Vec<(StoredStatement, Vec<crate::domain::statement::UnitRange>)>, StoreError> {
        let events: Vec<StoredStatement> = sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.type = 'recalling' ORDER BY s.seq",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect::<Result<_, _>>()?;
        let objects: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT o.event, o.batch, o.first, o.last FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.type = 'recalling' ORDER BY o.batch, o.first",
        )
        .fetch_all(&self.pool)
        .await?;
        recall_rows(events, objects)
    }

    async fn batch_events(
        &self,
        batch: &BatchId,
    ) -> Result<Vec<(StoredStatement, Vec<crate::domain::statement::UnitRange>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.seq, s.id, s.kind, s.party, s.json, o.first, o.last FROM event_objects o \
             JOIN statements s ON s.id = o.event WHERE o.batch = $1 ORDER BY s.seq, o.first",
        )
        .bind(batch.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((stored(r)?, r.try_get("first")?, r.try_get("last")?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(event_rows(batch, rows))
    }

    async fn batches_handled_by(&self, party: &Slug) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
             WHERE b.party = $1 OR b.id IN (SELECT o.batch FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.party = $1 OR e.dest = $1) ORDER BY s.seq",
        )
        .bind(party.as_str())
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn feedback_counts(
        &self,
        batch: &BatchId,
    ) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, category, COUNT(*) FROM feedback WHERE batch = $1 \
             GROUP BY kind, category ORDER BY kind COLLATE \"C\", category COLLATE \"C\" NULLS FIRST",
        )
        .bind(batch.hex())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn scans_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, i64, i64, String)>, StoreError> {
        // substr, not LIKE: lots and serials may hold `%` and `_` (percent-encoded or not).
        Ok(sqlx::query_as(
            "SELECT unit, time, day, scanner FROM scans WHERE substr(unit, 1, $1::int) = $2 \
             ORDER BY time, id",
        )
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Some containers and everything inside them.
///
/// Walked level by level, each level one lookup on the `containers_parent`
/// index. (A recursive CTE did the same walk, but PostgreSQL plans its
/// recursive step for a handful of rows and hash-joins the whole `containers`
/// table at every level: ~40 ms per query at 10,000 containers, measured with
/// EXPLAIN ANALYZE on the dock benchmark's database, against under 1 ms here.)
async fn load_tree(tx: &mut PgConnection, roots: &[Sscc]) -> Result<Tree, StoreError> {
    let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    let mut rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT sscc, parent FROM containers WHERE sscc = ANY($1)")
            .bind(&roots)
            .fetch_all(&mut *tx)
            .await?;
    let mut seen: std::collections::HashSet<String> = roots.iter().cloned().collect();
    let mut level: Vec<String> = rows.iter().map(|(s, _)| s.clone()).collect();
    while !level.is_empty() {
        let next: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT sscc, parent FROM containers WHERE parent = ANY($1)")
                .bind(&level)
                .fetch_all(&mut *tx)
                .await?;
        // `seen` stops a cycle (which the packing rules never make) from looping.
        level = next
            .iter()
            .filter(|(s, _)| seen.insert(s.clone()))
            .map(|(s, _)| s.clone())
            .collect();
        rows.extend(next.into_iter().filter(|(s, _)| level.contains(s)));
    }
    let all: Vec<String> = seen.into_iter().collect();
    let units: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT sscc, batch, first, last FROM container_units WHERE sscc = ANY($1)")
            .bind(&all)
            .fetch_all(&mut *tx)
            .await?;
    tree_from_rows(rows, units)
}

/// Writes one container change of a plan.
async fn write_container_change(
    tx: &mut PgConnection,
    st: &NewStatement,
    change: &ContainerChange,
) -> Result<(), StoreError> {
    let add = |sscc: &Sscc, r: &UnitRange| {
        sqlx::query(
            "INSERT INTO container_units (sscc, batch, first, last) VALUES ($1, $2, $3, $4)",
        )
        .bind(sscc.to_string())
        .bind(r.batch.hex())
        .bind(r.first as i64)
        .bind(r.last as i64)
    };
    match change {
        ContainerChange::Create(s) => {
            sqlx::query(
                "INSERT INTO containers (sscc, parent, party, packed_by) VALUES ($1, NULL, $2, $3)",
            )
            .bind(s.as_str())
            .bind(st.party.as_str())
            .bind(&st.id)
            .execute(&mut *tx)
            .await?;
        }
        ContainerChange::AddUnits(s, units) => {
            for r in units {
                add(s, r).execute(&mut *tx).await?;
            }
        }
        ContainerChange::SetParent { child, parent } => {
            sqlx::query("UPDATE containers SET parent = $1 WHERE sscc = $2")
                .bind(parent.as_ref().map(|p| p.as_str()))
                .bind(child.as_str())
                .execute(&mut *tx)
                .await?;
        }
        ContainerChange::CutUnits { sscc, row, keep } => {
            sqlx::query("DELETE FROM container_units WHERE batch = $1 AND first = $2")
                .bind(row.batch.hex())
                .bind(row.first as i64)
                .execute(&mut *tx)
                .await?;
            for r in keep {
                add(sscc, r).execute(&mut *tx).await?;
            }
        }
        ContainerChange::Remove(s) => {
            for sql in [
                "DELETE FROM container_units WHERE sscc = $1",
                "UPDATE containers SET parent = NULL WHERE parent = $1",
                "DELETE FROM containers WHERE sscc = $1",
            ] {
                sqlx::query(sql).bind(s.as_str()).execute(&mut *tx).await?;
            }
        }
    }
    Ok(())
}

/// The engine's reads inside an append's transaction.
struct TxReads<'a>(&'a mut PgConnection);

impl Reads for TxReads<'_> {
    type Error = StoreError;

    async fn tree(&mut self, roots: &[Sscc]) -> Result<Tree, StoreError> {
        load_tree(self.0, roots).await
    }

    async fn memberships(
        &mut self,
        ranges: &[UnitRange],
    ) -> Result<Vec<(UnitRange, Sscc)>, StoreError> {
        memberships(self.0, ranges).await
    }

    async fn batch(
        &mut self,
        batch: BatchId,
    ) -> Result<Option<(StatementId, BatchFacts)>, StoreError> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT h.head, b.party, b.quantity FROM batches b JOIN chain_heads h ON h.batch = b.id \
             WHERE b.id = $1",
        )
        .bind(batch.hex())
        .fetch_optional(&mut *self.0)
        .await?;
        row.map(|(head, party, quantity)| {
            let facts = BatchFacts {
                party: parse_slug(&party)?,
                quantity: quantity as u64,
            };
            Ok((parse_id(&head)?, facts))
        })
        .transpose()
    }

    async fn party_exists(&mut self, slug: &Slug) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT slug FROM parties WHERE slug = $1")
                .bind(slug.as_str())
                .fetch_optional(&mut *self.0)
                .await?
                .is_some(),
        )
    }

    async fn shipment(&mut self, id: StatementId) -> Result<Option<ShipmentFacts>, StoreError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT type, dest FROM events WHERE id = $1")
                .bind(id.hex())
                .fetch_optional(&mut *self.0)
                .await?;
        row.map(|(t, dest)| shipment_facts(&t, dest.as_deref()))
            .transpose()
    }

    async fn holdings(&mut self, span: UnitRange) -> Result<Vec<Holding>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 AND first <= $3 AND first >= \
             COALESCE((SELECT MAX(first) FROM holdings WHERE batch = $1 AND first <= $2), 0) \
             ORDER BY first"
        ))
        .bind(span.batch.hex())
        .bind(span.first.saturating_sub(1) as i64)
        .bind(span.last.saturating_add(1) as i64)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(holding).collect()
    }
}

/// Containers that already hold any of these units.
async fn memberships(
    tx: &mut PgConnection,
    objects: &[UnitRange],
) -> Result<Vec<(UnitRange, crate::formats::gs1::Sscc)>, StoreError> {
    let mut out = Vec::new();
    for r in objects {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT sscc, first, last FROM container_units WHERE batch = $1 AND first <= $2 AND last >= $3",
        )
        .bind(r.batch.hex())
        .bind(r.last as i64)
        .bind(r.first as i64)
        .fetch_all(&mut *tx)
        .await?;
        for (s, first, last) in rows {
            let sscc = crate::formats::gs1::Sscc::parse(&s)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push((
                UnitRange {
                    batch: r.batch,
                    first: first as u64,
                    last: last as u64,
                },
                sscc,
            ));
        }
    }
    Ok(out)
}
