//! Status-list indices (migration 0011): handing one out to a new session or client.

use chrono::{DateTime, Utc};
use sesame_core::store::StoreResult;
use sqlx::{Sqlite, Transaction};

use crate::map_err;
use crate::types::UnixMs;

/// The oldest freed index whose tokens all expired before `reuse_before`, else the next one
/// never handed out. Inside the writer's transaction (one writer at a time, so no other
/// transaction can take the same one); the insert triggers of 0011 take it off the free list
/// and move the counter past it.
pub(crate) async fn take_index(
    tx: &mut Transaction<'static, Sqlite>,
    reuse_before: DateTime<Utc>,
) -> StoreResult<i64> {
    let (idx,): (i64,) = sqlx::query_as(
        "SELECT COALESCE( \
             (SELECT idx FROM status_free WHERE free_at <= ? ORDER BY free_at LIMIT 1), \
             (SELECT next FROM status_counter))",
    )
    .bind(UnixMs(reuse_before))
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(idx)
}
