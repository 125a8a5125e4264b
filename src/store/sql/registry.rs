//! Parties, tokens and keys: [`RegistryStore`] for any [`SqlBackend`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::{unique_to_exists, Db, SqlBackend, Work};
use crate::store::rows::*;
use crate::store::*;

#[async_trait]
impl<B> RegistryStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> String: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>>,
    for<'r> i64: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn create_party(
        &self,
        party: &Party,
        root: &KeyRecord,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let party_taken = || format!("party \"{}\" is already registered", party.slug);
        let key_taken = || "that public key is already registered".to_string();
        let mut tx = self
            .pool(Work::Durable)
            .begin_with(B::BEGIN_DURABLE)
            .await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT slug FROM parties WHERE slug = $1")
            .bind(party.slug.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(party_taken()));
        }
        let key: Option<String> =
            sqlx::query_scalar("SELECT key_id FROM keys WHERE public_key = $1 OR key_id = $2")
                .bind(root.public_key.as_str())
                .bind(root.key_id.as_str())
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
        .bind(party.name.as_str())
        .bind(party.kind.as_str())
        .bind(party.gln.as_deref())
        .bind(now.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_to_exists(e, party_taken))?;
        sqlx::query(
            "INSERT INTO keys (key_id, party, public_key, role) VALUES ($1, $2, $3, 'root')",
        )
        .bind(root.key_id.as_str())
        .bind(party.slug.as_str())
        .bind(root.public_key.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_to_exists(e, key_taken))?;
        sqlx::query("INSERT INTO tokens (hash, party, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(party.slug.as_str())
            .bind(now.as_str())
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
            .execute(self.pool(Work::Durable))
            .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenOwner>, StoreError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT party FROM tokens WHERE hash = $1")
                .bind(hash)
                .fetch_optional(self.pool(Work::Read))
                .await?;
        match row {
            None => Ok(None),
            Some((None,)) => Ok(Some(TokenOwner::Admin)),
            Some((Some(p),)) => Ok(Some(TokenOwner::Party(parse_slug(&p)?))),
        }
    }

    async fn has_admin(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE party IS NULL")
            .fetch_one(self.pool(Work::Read))
            .await?;
        Ok(n > 0)
    }

    async fn party(&self, slug: &str) -> Result<Option<Party>, StoreError> {
        let row: Option<PartyRow> =
            sqlx::query_as("SELECT slug, name, kind, gln FROM parties WHERE slug = $1")
                .bind(slug)
                .fetch_optional(self.pool(Work::Read))
                .await?;
        row.map(Party::try_from).transpose()
    }

    async fn parties(&self) -> Result<Vec<Party>, StoreError> {
        let sql = format!(
            "SELECT slug, name, kind, gln FROM parties ORDER BY slug{}",
            B::BYTE_ORDER
        );
        let rows: Vec<PartyRow> = sqlx::query_as(&sql)
            .fetch_all(self.pool(Work::Read))
            .await?;
        convert(rows)
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.key_id = $1"))
            .bind(key_id)
            .fetch_optional(self.pool(Work::Read))
            .await?;
        row.map(KeyRecord::try_from).transpose()
    }

    async fn keys_of(&self, party: &Slug) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(&format!(
            "{KEY_SELECT} WHERE k.party = $1 ORDER BY k.key_id"
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Read))
        .await?;
        convert(rows)
    }
}
