//! The transparency log's leaves and checkpoints: [`LogStore`] for any [`SqlBackend`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::{Db, SqlBackend, Work, STATEMENT};
use crate::store::*;

#[async_trait]
impl<B> LogStore for B
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
    async fn log_size(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT size FROM log_state WHERE id = 1")
                .fetch_one(self.pool(Work::Read))
                .await?,
        )
    }

    async fn leaf_hashes(&self, from: i64, to: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT leaf_hash FROM statements WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT size, root, note, verifier FROM checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(self.pool(Work::Read))
        .await?)
    }

    async fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (size, root, note, verifier, signed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(cp.root.as_str())
        .bind(cp.note.as_str())
        .bind(cp.verifier.as_str())
        .bind(Timestamp::now().to_string())
        .execute(self.pool(Work::Durable))
        .await?;
        Ok(())
    }

    async fn key_statements(&self, key_id: &str) -> Result<Vec<StoredStatement>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{STATEMENT} FROM statements s WHERE s.id IN \
             (SELECT statement FROM keys WHERE key_id = $1 \
             UNION SELECT statement FROM revocations WHERE key_id = $1) ORDER BY s.seq"
        ))
        .bind(key_id)
        .fetch_all(self.pool(Work::Read))
        .await?)
    }
}
