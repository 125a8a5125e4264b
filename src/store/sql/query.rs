//! Reads of the ledger: [`QueryStore`] for any [`SqlBackend`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use std::collections::{BTreeMap, HashMap};

use super::{Db, SqlBackend, Work, STATEMENT};
use crate::store::rows::*;
use crate::store::*;

/// A batch by a filter on `batches b`, its values bound in order.
async fn batch_where<B>(
    b: &B,
    filter: &str,
    values: &[&str],
) -> Result<Option<BatchRow>, StoreError>
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'r> String: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> i64: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
{
    let sql = format!("{BATCH_SELECT} WHERE {filter}");
    let mut q = sqlx::query_as::<_, BatchJoin>(&sql);
    for v in values {
        q = q.bind(*v);
    }
    q.fetch_optional(b.pool(Work::Read))
        .await?
        .map(BatchRow::try_from)
        .transpose()
}

#[async_trait]
impl<B> QueryStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn statement(&self, id: &str) -> Result<Option<StoredStatement>, StoreError> {
        Ok(
            sqlx::query_as(&format!("{STATEMENT} FROM statements s WHERE s.id = $1"))
                .bind(id)
                .fetch_optional(self.pool(Work::Read))
                .await?,
        )
    }

    async fn statements_from(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM statements s WHERE s.seq >= $1 ORDER BY s.seq LIMIT $2"
        ))
        .bind(from)
        .bind(limit)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn statement_page(&self, from: i64, limit: i64) -> Result<StatementPage, StoreError> {
        let (n, packed): (i64, String) = sqlx::query_as(B::STATEMENT_PAGE)
            .bind(from)
            .bind(limit)
            .fetch_one(self.pool(Work::Read))
            .await?;
        StatementPage::unpack(packed, n as usize)
    }

    async fn batch(&self, id: &BatchId) -> Result<Option<BatchRow>, StoreError> {
        batch_where(self, "b.id = $1", &[&id.hex()]).await
    }

    async fn batch_by_lot(&self, gtin: &str, lot: &str) -> Result<Option<BatchRow>, StoreError> {
        batch_where(self, "b.gtin = $1 AND b.lot = $2", &[gtin, lot]).await
    }

    async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, StoreError> {
        if batches.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list: Vec<String> = (1..=batches.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT batch, head FROM chain_heads WHERE batch IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for b in batches {
            q = q.bind(b.hex());
        }
        let rows = q.fetch_all(self.pool(Work::Read)).await?;
        rows.iter()
            .map(|(b, h)| Ok((parse_id(b)?, parse_id(h)?)))
            .collect()
    }

    async fn unit(&self, batch: &BatchId, index: u64) -> Result<Option<Holding>, StoreError> {
        let row: Option<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 AND first <= $2 \
             ORDER BY first DESC LIMIT 1"
        ))
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_optional(self.pool(Work::Read))
        .await?;
        Ok(row
            .map(Holding::try_from)
            .transpose()?
            .filter(|h| h.range.last >= index))
    }

    async fn unit_events(
        &self,
        batch: &BatchId,
        index: u64,
    ) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT s.seq, s.id, s.kind, s.party, s.json FROM event_objects o \
             JOIN statements s ON s.id = o.event \
             WHERE o.batch = $1 AND o.first <= $2 AND o.last >= $2 ORDER BY s.seq",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn holdings_of(&self, party: &Slug) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE holder = $1 OR dest = $1 ORDER BY batch, first"
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn holdings_of_batch(&self, batch: &BatchId) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE batch = $1 ORDER BY first"
        ))
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn all_holdings(&self) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings ORDER BY batch, first"
        ))
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn all_heads(&self) -> Result<BTreeMap<BatchId, StatementId>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT batch, head FROM chain_heads")
            .fetch_all(self.pool(Work::Read))
            .await?;
        rows.iter()
            .map(|(b, h)| Ok((parse_id(b)?, parse_id(h)?)))
            .collect()
    }

    async fn in_shipment(&self, shipment: &StatementId) -> Result<Vec<Holding>, StoreError> {
        let rows: Vec<HoldingRow> = sqlx::query_as(&format!(
            "SELECT {HOLDING_COLS} FROM holdings WHERE shipment = $1 AND disposition = 'in_transit' \
             ORDER BY batch, first"
        ))
        .bind(shipment.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }

    async fn event_unit_count(&self, event: &StatementId) -> Result<u64, StoreError> {
        let n: Option<i64> = sqlx::query_scalar(
            // PostgreSQL's SUM of bigints is numeric: cast back.
            "SELECT CAST(COALESCE(e.units, (SELECT SUM(o.last - o.first + 1) FROM event_objects o \
             WHERE o.event = e.id)) AS BIGINT) FROM events e WHERE e.id = $1",
        )
        .bind(event.hex())
        .fetch_optional(self.pool(Work::Read))
        .await?
        .flatten();
        Ok(n.unwrap_or(0) as u64)
    }

    async fn shipments_to(&self, party: &Slug) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.dest = $1 AND e.type IN ('shipping', 'returning') ORDER BY s.seq DESC"
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn receipts(&self, shipment: &StatementId) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.shipment = $1 ORDER BY s.seq"
        ))
        .bind(shipment.hex())
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn container(&self, sscc: &Sscc) -> Result<Option<ContainerView>, StoreError> {
        let head: Option<(String, String)> =
            sqlx::query_as("SELECT party, packed_by FROM containers WHERE sscc = $1")
                .bind(sscc.as_str())
                .fetch_optional(self.pool(Work::Read))
                .await?;
        let Some((party, packed_by)) = head else {
            return Ok(None);
        };
        let rows: Vec<ContainerRow> = sqlx::query_as(B::TREE_CONTAINERS)
            .bind(sscc.as_str())
            .fetch_all(self.pool(Work::Read))
            .await?;
        let units: Vec<ContainerUnitRow> = sqlx::query_as(B::TREE_UNITS)
            .bind(sscc.as_str())
            .fetch_all(self.pool(Work::Read))
            .await?;
        container_view(sscc, party, packed_by, &tree(rows, units)?)
    }

    async fn unit_containers(&self, batch: &BatchId, index: u64) -> Result<Vec<Sscc>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "WITH RECURSIVE up(sscc, parent, depth) AS (SELECT c.sscc, c.parent, 0 \
             FROM container_units u JOIN containers c ON c.sscc = u.sscc \
             WHERE u.batch = $1 AND u.first <= $2 AND u.last >= $2 \
             UNION ALL SELECT c.sscc, c.parent, up.depth + 1 FROM containers c JOIN up ON c.sscc = up.parent) \
             SELECT sscc FROM up ORDER BY depth",
        )
        .bind(batch.hex())
        .bind(index as i64)
        .fetch_all(self.pool(Work::Read))
        .await?;
        rows.iter()
            .map(|(s,)| Sscc::parse(s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn batches_by_supplier_lot(
        &self,
        supplier_lot: &str,
        supplier: Option<&str>,
    ) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(B::SUPPLIER_LOT)
            .bind(supplier_lot)
            .bind(supplier)
            .fetch_all(self.pool(Work::Read))
            .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }

    async fn batch_containers(&self, batch: &BatchId) -> Result<Vec<BatchContainer>, StoreError> {
        let rows: Vec<ContainerRange> = sqlx::query_as(
            "SELECT u.sscc, c.parent, u.first, u.last FROM container_units u \
             JOIN containers c ON c.sscc = u.sscc WHERE u.batch = $1 ORDER BY u.first",
        )
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        Ok(rows.into_iter().map(|r| r.of(*batch)).collect())
    }

    async fn recalls(&self) -> Result<Vec<EventUnits>, StoreError> {
        let events: Vec<StoredStatement> = sqlx::query_as(&format!(
            "{STATEMENT} FROM events e JOIN statements s ON s.id = e.id \
             WHERE e.type = 'recalling' ORDER BY s.seq"
        ))
        .fetch_all(self.pool(Work::Read))
        .await?;
        let objects: Vec<EventObject> = sqlx::query_as(
            "SELECT o.event, o.batch, o.first, o.last FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.type = 'recalling' ORDER BY o.batch, o.first",
        )
        .fetch_all(self.pool(Work::Read))
        .await?;
        let mut by: HashMap<String, Vec<UnitRange>> = HashMap::new();
        for o in objects {
            let r = o.range()?;
            by.entry(o.event).or_default().push(r);
        }
        Ok(events
            .into_iter()
            .map(|statement| {
                let units = by.remove(&statement.id).unwrap_or_default();
                EventUnits { statement, units }
            })
            .collect())
    }

    async fn batch_events(&self, batch: &BatchId) -> Result<Vec<EventUnits>, StoreError> {
        let rows: Vec<StatementRange> = sqlx::query_as(
            "SELECT s.seq, s.id, s.kind, s.party, s.json, o.first, o.last FROM event_objects o \
             JOIN statements s ON s.id = o.event WHERE o.batch = $1 ORDER BY s.seq, o.first",
        )
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?;
        // Rows come in log order: consecutive rows of one event are its ranges.
        let mut out: Vec<EventUnits> = Vec::new();
        for row in rows {
            let r = row.range.of(*batch);
            match out.last_mut() {
                Some(e) if e.statement.seq == row.statement.seq => e.units.push(r),
                _ => out.push(EventUnits {
                    statement: row.statement,
                    units: vec![r],
                }),
            }
        }
        Ok(out)
    }

    async fn batches_handled_by(&self, party: &Slug) -> Result<Vec<BatchId>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT b.id FROM batches b JOIN statements s ON s.id = b.id \
             WHERE b.party = $1 OR b.id IN (SELECT o.batch FROM event_objects o \
             JOIN events e ON e.id = o.event WHERE e.party = $1 OR e.dest = $1) ORDER BY s.seq",
        )
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?;
        ids.iter().map(|(id,)| parse_id(id)).collect()
    }
}
