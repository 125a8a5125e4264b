//! Scans read back, salts, secrets and feedback: [`ConsumerStore`] for any [`SqlBackend`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::{Db, SqlBackend, Work};
use crate::store::rows::*;
use crate::store::*;

#[async_trait]
impl<B> ConsumerStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> i32: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> bool: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<i64>: Encode<'q, Db<B>>,
    for<'q> Option<i32>: Encode<'q, Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> i32: Decode<'r, Db<B>>,
    for<'r> bool: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn scan_stats(&self, unit: &str, since: Option<i64>) -> Result<ScanStats, StoreError> {
        // One grouped read gives the count, the first scan and the per-day distinct scanners.
        let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT COUNT(*), MIN(time), COUNT(DISTINCT CASE WHEN time >= $1 THEN scanner END) \
             FROM scans WHERE unit = $2 GROUP BY day ORDER BY day",
        )
        .bind(since.unwrap_or(i64::MAX))
        .bind(unit)
        .fetch_all(self.pool(Work::Read))
        .await?;
        Ok(ScanStats {
            count: rows.iter().map(|r| r.0.max(0) as u64).sum(),
            first: rows.iter().filter_map(|r| r.1).min(),
            per_day_since: rows
                .iter()
                .filter(|r| r.2 > 0)
                .map(|r| u32::try_from(r.2).unwrap_or(u32::MAX))
                .collect(),
        })
    }

    async fn scans_with_prefix(&self, prefix: &str) -> Result<Vec<ScanRow>, StoreError> {
        // substr, not LIKE: lots and serials may hold `%` and `_` (percent-encoded or not).
        Ok(sqlx::query_as(
            "SELECT unit, time, day, scanner FROM scans \
             WHERE substr(unit, 1, CAST($1 AS INTEGER)) = $2 ORDER BY time, id",
        )
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn day_salt(&self, day: i64, candidate: &str) -> Result<String, StoreError> {
        sqlx::query("DELETE FROM scan_salts WHERE day < $1")
            .bind(day)
            .execute(self.pool(Work::Plain))
            .await?;
        sqlx::query(
            "INSERT INTO scan_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
        )
        .bind(day)
        .bind(candidate)
        .execute(self.pool(Work::Plain))
        .await?;
        Ok(
            sqlx::query_scalar("SELECT salt FROM scan_salts WHERE day = $1")
                .bind(day)
                .fetch_one(self.pool(Work::Plain))
                .await?,
        )
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(self.pool(Work::Plain))
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool(Work::Plain))
                .await?,
        )
    }

    async fn add_feedback(&self, fb: &NewFeedback, parties: &[Slug]) -> Result<i64, StoreError> {
        let mut tx = self.pool(Work::Plain).begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO feedback (unit, batch, unit_index, time, day, scanner, kind, rating, \
             category, comment, contact, signature_ok) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(fb.unit.as_str())
        .bind(fb.batch.as_deref())
        .bind(fb.unit_index.map(|i| i as i64))
        .bind(fb.time)
        .bind(fb.day)
        .bind(fb.scanner.as_str())
        .bind(fb.kind.as_str())
        .bind(fb.rating.map(i32::from))
        .bind(fb.category.map(|c| c.as_str()))
        .bind(fb.comment.as_str())
        .bind(fb.contact.as_deref())
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
    ) -> Result<Vec<Feedback>, StoreError> {
        let rows: Vec<FeedbackRow> = sqlx::query_as(
            "SELECT f.id, f.unit, f.batch, f.unit_index, f.time, f.kind, f.rating, f.category, \
             f.comment, f.contact, f.signature_ok FROM feedback_parties p \
             JOIN feedback f ON f.id = p.feedback WHERE p.party = $1 ORDER BY f.id DESC LIMIT $2",
        )
        .bind(party.as_str())
        .bind(limit)
        .fetch_all(self.pool(Work::Read))
        .await?;
        Ok(rows.into_iter().map(Feedback::from).collect())
    }

    async fn feedback_count(
        &self,
        unit: &str,
        day: i64,
        scanner: &str,
    ) -> Result<FeedbackToday, StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE scanner = $1) AS mine, COUNT(*) AS \"all\" \
             FROM feedback WHERE unit = $2 AND day = $3",
        )
        .bind(scanner)
        .bind(unit)
        .bind(day)
        .fetch_one(self.pool(Work::Plain))
        .await?)
    }

    async fn feedback_counts(&self, batch: &BatchId) -> Result<Vec<FeedbackTally>, StoreError> {
        let bytes = B::BYTE_ORDER;
        Ok(sqlx::query_as(&format!(
            "SELECT kind, category, COUNT(*) AS count FROM feedback WHERE batch = $1 \
             GROUP BY kind, category ORDER BY kind{bytes}, category{bytes} NULLS FIRST"
        ))
        .bind(batch.hex())
        .fetch_all(self.pool(Work::Read))
        .await?)
    }
}
