//! Group commit for refresh-token rotation on PostgreSQL.
//!
//! One rotation alone is one statement and one commit, and on a small machine PostgreSQL spends
//! most of it outside the row's update: executor start-up for the statement, the protocol round
//! trip, the commit record (a profile of the refresh benchmark was flat, led by memory-context
//! and expression set-up). So rotations are queued ([`GroupCommit`]) and a batch is one
//! statement: the rotations go in as arrays, the UPDATE joins them to their sessions.
//!
//! Each rotation is the same conditional update as alone: only the session's live token, of a
//! live, unexpired session, is spent. Two presentations of one token in a batch join the same
//! session row twice; PostgreSQL updates a row once per statement, with one of them, and the
//! other finds nothing — a winner and a replay, as apart (both would store the same successor:
//! it is derived from the token). A concurrent presentation at another replica blocks on the
//! row lock and, once this commits, re-checks its WHERE clause against the new row version and
//! updates nothing. Rows are taken in session-id order, so two batches lock in the same order.

use chrono::{DateTime, Utc};
use sesame_core::store::group_commit::{BatchFailed, BatchRunner, GroupCommit};
use sesame_core::store::{Rotated, SessionRecord, StoreError, StoreResult, TokenSubject};
use sqlx::PgPool;
use uuid::Uuid;

use crate::map_err;
use crate::sessions::{SESSION_COLUMNS, SessionRow};

/// One rotation to run.
pub(crate) struct Rotation {
    pub session: Uuid,
    pub presented: Vec<u8>,
    pub next: Vec<u8>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session's `access_until` is raised to at least this (the access token issued next).
    pub access_until: DateTime<Utc>,
}

/// Runs batches of rotations, each as one statement on a pooled connection.
pub(crate) struct Rotator {
    pool: PgPool,
}

pub(crate) type Rotations = GroupCommit<Rotator>;

pub(crate) fn rotations(pool: PgPool) -> std::sync::Arc<Rotations> {
    GroupCommit::new(Rotator { pool })
}

/// $1 slots, $2 sessions, $3 presented hashes, $4 successor hashes, $5 times, $6 new expiries,
/// $7 the access tokens' expiry plus leeway (`access_until` only grows). Every assignment reads
/// the row as it was, so the spent hash is the one presented.
static BATCH_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH input AS ( \
             SELECT * FROM unnest($1::int[], $2::uuid[], $3::bytea[], $4::bytea[], \
                                  $5::timestamptz[], $6::timestamptz[], $7::timestamptz[]) \
                 AS i(in_slot, in_id, in_presented, in_next, in_now, in_expires, in_access) \
             ORDER BY in_id), \
         slid AS ( \
             UPDATE sessions SET spent_hash = refresh_hash, spent_at = in_now, refresh_hash = in_next, \
               last_used_at = in_now, expires_at = in_expires, \
               access_until = GREATEST(access_until, in_access) \
             FROM input \
             WHERE id = in_id AND refresh_hash = in_presented AND revoked_at IS NULL \
               AND expires_at > in_now \
             RETURNING in_slot, {SESSION_COLUMNS}) \
         SELECT slid.*, u.disabled AS u_disabled, u.email_verified AS u_email_verified, \
                ARRAY(SELECT role FROM user_roles r WHERE r.user_id = slid.user_id \
                      ORDER BY role COLLATE \"C\") AS u_roles \
         FROM slid LEFT JOIN users u ON u.id = slid.user_id"
    )
});

/// A rotation's row: its slot in the batch, the slid session and its user's token claims
/// (NULL: the user is gone).
#[derive(sqlx::FromRow)]
struct RotatedRow {
    in_slot: i32,
    #[sqlx(flatten)]
    session: SessionRow,
    u_disabled: Option<bool>,
    u_email_verified: Option<bool>,
    u_roles: Option<Vec<String>>,
}

impl BatchRunner for Rotator {
    type Job = Rotation;
    /// The session, when the token was spent by this rotation; `None` when it was not the
    /// session's live token or the session expired or ended (nothing was changed then).
    type Answer = Option<Rotated>;
    const MAX_BATCH: usize = 32;

    async fn run(
        &self,
        batch: &[Rotation],
    ) -> Result<Vec<StoreResult<Option<Rotated>>>, BatchFailed> {
        let slots: Vec<i32> = (0..batch.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let rows: Result<Vec<RotatedRow>, sqlx::Error> = sqlx::query_as(&BATCH_SQL)
            .bind(slots)
            .bind(batch.iter().map(|r| r.session).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|r| r.presented.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|r| r.next.clone()).collect::<Vec<_>>())
            .bind(batch.iter().map(|r| r.now).collect::<Vec<_>>())
            .bind(batch.iter().map(|r| r.expires_at).collect::<Vec<_>>())
            .bind(batch.iter().map(|r| r.access_until).collect::<Vec<_>>())
            .fetch_all(&self.pool)
            .await;
        let rows = rows.map_err(|e| failed(e, batch.len()))?;
        let mut answers: Vec<StoreResult<Option<Rotated>>> =
            (0..batch.len()).map(|_| Ok(None)).collect();
        for row in rows {
            if let Some(answer) = usize::try_from(row.in_slot)
                .ok()
                .and_then(|i| answers.get_mut(i))
            {
                *answer = Ok(Some(rotated(row)));
            }
        }
        Ok(answers)
    }
}

fn rotated(r: RotatedRow) -> Rotated {
    let session: SessionRecord = r.session.into();
    let user = r.u_disabled.map(|disabled| TokenSubject {
        id: session.user_id,
        roles: r.u_roles.unwrap_or_default(),
        email_verified: r.u_email_verified.unwrap_or(false),
        disabled,
    });
    Rotated { session, user }
}

/// A failed batch (nothing committed). A deadlock with another replica's batch or a
/// serialization failure is retried rotation by rotation, as is a constraint one rotation broke;
/// the server's own trouble reaches every caller.
fn failed(e: sqlx::Error, n: usize) -> BatchFailed {
    let one_jobs_fault = match &e {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "40P01" || c == "40001") || db.constraint().is_some()
        }
        _ => false,
    };
    let text = e.to_string();
    let unavailable = crate::is_unavailable(&e);
    let mut errors: Vec<StoreError> = (1..n)
        .map(|_| {
            if unavailable {
                StoreError::Unavailable(text.clone().into())
            } else {
                StoreError::Other(text.clone().into())
            }
        })
        .collect();
    errors.insert(0, map_err(e));
    BatchFailed {
        one_jobs_fault,
        errors,
    }
}
