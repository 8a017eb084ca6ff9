//! Status-list indices (migration 0011): handing one out to a new session or client.

use chrono::{DateTime, Utc};
use sesame_core::store::StoreResult;
use sqlx::{Postgres, Transaction};

use crate::map_err;

/// The oldest freed index whose tokens all expired before `reuse_before`, else the next value
/// of the sequence. `SKIP LOCKED`: concurrent transactions each take a different free index (or
/// a new one) instead of waiting for or colliding with each other; COALESCE evaluates
/// `nextval` only when no free index was taken.
pub(crate) async fn take_index(
    tx: &mut Transaction<'static, Postgres>,
    reuse_before: DateTime<Utc>,
) -> StoreResult<i64> {
    let (idx,): (i64,) = sqlx::query_as(
        "WITH reused AS ( \
             DELETE FROM status_free WHERE idx = ( \
                 SELECT idx FROM status_free WHERE free_at <= $1 \
                 ORDER BY free_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING idx) \
         SELECT COALESCE((SELECT idx FROM reused), nextval('status_idx_seq'))",
    )
    .bind(reuse_before)
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(idx)
}
