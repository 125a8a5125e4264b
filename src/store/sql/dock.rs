//! The dock pages' rows: [`DockStore`] for any [`SqlBackend`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::{Db, SqlBackend, Work};
use crate::store::rows::*;
use crate::store::*;

// Dock (issue 6): plain writes, not the statement writer: nothing here is a
// signed statement.
#[async_trait]
impl<B> DockStore for B
where
    B: SqlBackend,
    for<'c> &'c mut <Db<B> as Database>::Connection: Executor<'c, Database = Db<B>>,
    for<'q> <Db<B> as Database>::Arguments<'q>: IntoArguments<'q, Db<B>>,
    for<'q> &'q str: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'q> Option<&'q str>: Encode<'q, Db<B>>,
    for<'q> i64: Encode<'q, Db<B>> + Type<Db<B>>,
    for<'r> String: Decode<'r, Db<B>> + Type<Db<B>>,
    for<'r> i64: Decode<'r, Db<B>>,
    for<'r> &'r str: ColumnIndex<<Db<B> as Database>::Row>,
    usize: ColumnIndex<<Db<B> as Database>::Row>,
{
    async fn add_dock_user(&self, user: &dock::DockUser, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dock_users (party, name, password_hash, created) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.party.as_str())
        .bind(user.name.as_str())
        .bind(user.password_hash.as_str())
        .bind(now)
        .execute(self.pool(Work::Plain))
        .await
        .map_err(|e| dock::dock_unique(e, user))?;
        Ok(())
    }

    async fn dock_user(
        &self,
        party: &str,
        name: &str,
    ) -> Result<Option<dock::DockUser>, StoreError> {
        let row: Option<dock::UserRow> = sqlx::query_as(
            "SELECT party, name, password_hash FROM dock_users WHERE party = $1 AND name = $2",
        )
        .bind(party)
        .bind(name)
        .fetch_optional(self.pool(Work::Plain))
        .await?;
        row.map(dock::DockUser::try_from).transpose()
    }

    async fn add_dock_session(&self, s: &dock::DockSession, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE expires < $1")
            .bind(now)
            .execute(self.pool(Work::Plain))
            .await?;
        sqlx::query(
            "INSERT INTO dock_sessions (id_hash, party, name, csrf, expires) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.id_hash.as_str())
        .bind(s.party.as_str())
        .bind(s.name.as_str())
        .bind(s.csrf.as_str())
        .bind(s.expires)
        .execute(self.pool(Work::Plain))
        .await?;
        Ok(())
    }

    async fn dock_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<dock::DockSession>, StoreError> {
        let row: Option<dock::SessionRow> = sqlx::query_as(
            "SELECT id_hash, party, name, csrf, expires FROM dock_sessions \
             WHERE id_hash = $1 AND expires >= $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.pool(Work::Plain))
        .await?;
        row.map(dock::DockSession::try_from).transpose()
    }

    async fn delete_dock_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dock_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool(Work::Plain))
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
        .bind(st.public_key.as_str())
        .bind(st.key_id.as_str())
        .bind(st.label.as_str())
        .bind(st.requested_by.as_str())
        .bind(st.created)
        .execute(self.pool(Work::Plain))
        .await?;
        let row: dock::StationRow =
            sqlx::query_as(&format!("{} WHERE public_key = $1", dock::STATION_SELECT))
                .bind(st.public_key.as_str())
                .fetch_one(self.pool(Work::Plain))
                .await?;
        dock::PendingStation::try_from(row)
    }

    async fn pending_station(&self, id: i64) -> Result<Option<dock::PendingStation>, StoreError> {
        let row: Option<dock::StationRow> =
            sqlx::query_as(&format!("{} WHERE id = $1", dock::STATION_SELECT))
                .bind(id)
                .fetch_optional(self.pool(Work::Plain))
                .await?;
        row.map(dock::PendingStation::try_from).transpose()
    }

    async fn dock_stations(&self, party: &Slug) -> Result<Vec<dock::PendingStation>, StoreError> {
        let rows: Vec<dock::StationRow> = sqlx::query_as(&format!(
            "{} WHERE party = $1 ORDER BY id DESC",
            dock::STATION_SELECT
        ))
        .bind(party.as_str())
        .fetch_all(self.pool(Work::Plain))
        .await?;
        convert(rows)
    }

    async fn dock_user_names(&self, party: &Slug) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT name FROM dock_users WHERE party = $1 ORDER BY name{}",
            B::BYTE_ORDER
        );
        let rows: Vec<(String,)> = sqlx::query_as(&sql)
            .bind(party.as_str())
            .fetch_all(self.pool(Work::Plain))
            .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }
}
