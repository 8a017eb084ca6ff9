//! Group commit for refresh-token rotation on SQLite.
//!
//! SQLite has one writer, and what bounds rotations per second on it is not the SQL but what
//! surrounds each transaction: the hand-offs between the async callers and the writer
//! connection's thread (futex wake-ups, several per call), the WAL locks and the commit. So
//! rotations are queued and committed together ([`GroupCommit`]), in one transaction and one
//! call to the writer thread. Each rotation in a batch is the same conditional UPDATE of its
//! session's row as alone (see [`rotation_sql`]), run in arrival order, so a batch gives exactly
//! the result of running its rotations one after another: two presentations of one token in a
//! batch are a winner and a replay, as they would be apart.

use std::sync::LazyLock;

use chrono::DateTime;
use sesame_core::store::group_commit::{BatchFailed, BatchRunner, GroupCommit};
use sesame_core::store::{Rotated, StoreError, StoreResult, TokenSubject};
use sqlx::{FromRow, Row, SqlitePool};

use crate::map_err;
use crate::sessions::{SESSION_COLUMNS, SessionRow};
use crate::types::UnixMs;

/// Batch sizes used. A batch is padded up to the next of these with rotations of a session
/// that cannot exist (an empty id), so the writer connection prepares (and caches) ten
/// statement lists rather than one per size. Steps of about 1.5× rather than 2×: a padding
/// rotation still runs its statement, and with powers of two a batch of 17 ran 15 of them.
const SIZES: [usize; 10] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];

/// One rotation to run: the session, times in ms, hashes of the presented and the successor
/// token.
pub(crate) struct Rotation {
    pub session: String,
    pub presented: Vec<u8>,
    pub next: Vec<u8>,
    pub now: UnixMs,
    pub expires_at: UnixMs,
    /// The session's `access_until` is raised to at least this (the access token issued next).
    pub access_until: UnixMs,
}

impl Rotation {
    /// A rotation that matches nothing: no session has an empty id.
    fn padding() -> Self {
        Rotation {
            session: String::new(),
            presented: Vec::new(),
            next: Vec::new(),
            now: UnixMs(DateTime::UNIX_EPOCH),
            expires_at: UnixMs(DateTime::UNIX_EPOCH),
            access_until: UnixMs(DateTime::UNIX_EPOCH),
        }
    }
}

/// Runs batches of rotations on the writer connection.
pub(crate) struct Rotator {
    writer: SqlitePool,
}

/// The queue of rotations waiting for the writer, shared by the clones of one store.
pub(crate) type Rotations = GroupCommit<Rotator>;

pub(crate) fn rotations(writer: SqlitePool) -> std::sync::Arc<Rotations> {
    GroupCommit::new(Rotator { writer })
}

impl BatchRunner for Rotator {
    type Job = Rotation;
    /// The session, when the token was spent by this rotation; `None` when it was not the
    /// session's live token or the session expired or ended (nothing was changed then).
    type Answer = Option<Rotated>;
    const MAX_BATCH: usize = SIZES[SIZES.len() - 1];

    async fn run(
        &self,
        batch: &[Rotation],
    ) -> Result<Vec<StoreResult<Option<Rotated>>>, BatchFailed> {
        run(&self.writer, batch).await.map_err(|e| {
            let one_jobs_fault = one_rotations_fault(&e);
            let mut errors: Vec<StoreError> = (1..batch.len()).map(|_| shared(&e)).collect();
            errors.insert(0, map_err(e));
            BatchFailed {
                one_jobs_fault,
                errors,
            }
        })
    }
}

/// Whether a batch failed because of what one of its rotations wrote (a constraint), so that
/// running them one by one isolates it.
fn one_rotations_fault(e: &sqlx::Error) -> bool {
    use sqlx::error::ErrorKind;
    matches!(e, sqlx::Error::Database(db) if matches!(
        db.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
    ))
}

/// The error for every caller of a failed batch but the first (sqlx errors are not `Clone`):
/// the same class (unavailable or not) with the same description.
fn shared(e: &sqlx::Error) -> StoreError {
    let text = e.to_string();
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(text.into()),
        _ => StoreError::Other(text.into()),
    }
}

/// Runs one batch in one transaction. `Err` means nothing was committed; once the transaction
/// is committed each rotation gets its own answer, the session it slid or why not, and is
/// never run again.
async fn run(
    writer: &SqlitePool,
    batch: &[Rotation],
) -> Result<Vec<StoreResult<Option<Rotated>>>, sqlx::Error> {
    let (size, sql) = SIZES
        .iter()
        .zip(STATEMENTS.iter())
        .find(|(size, _)| **size >= batch.len())
        .ok_or_else(|| sqlx::Error::Protocol("a refresh batch larger than the largest".into()))?;
    let padding = Rotation::padding();
    let mut query = sqlx::query(sql);
    for r in batch
        .iter()
        .chain(std::iter::repeat_n(&padding, size - batch.len()))
    {
        query = bind_rotation(query, r);
    }
    let mut conn = writer.acquire().await?;
    let rows = match query.fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        Err(e) => {
            // Fails harmlessly when the error came before BEGIN or after COMMIT.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(e);
        }
    };
    // Committed. A rotation's statement returns a row, its session, only when it happened; the
    // others answer `None`.
    let mut answers: Vec<StoreResult<Option<Rotated>>> =
        (0..batch.len()).map(|_| Ok(None)).collect();
    for row in &rows {
        match row.try_get::<i64, _>("slot") {
            Ok(slot) => {
                if let Some(answer) = usize::try_from(slot).ok().and_then(|i| answers.get_mut(i)) {
                    *answer = rotated(row).map(Some).map_err(map_err);
                }
            }
            Err(e) => {
                // Cannot happen with the SQL above; should it, no answer can be trusted.
                for answer in &mut answers {
                    *answer = Err(shared(&e));
                }
                break;
            }
        }
    }
    Ok(answers)
}

/// A rotation's row: the session and its user's token claims.
fn rotated(row: &sqlx::sqlite::SqliteRow) -> Result<Rotated, sqlx::Error> {
    let session: sesame_core::store::SessionRecord = SessionRow::from_row(row)?.into();
    // NULL: the user is gone (cannot happen while the session row exists, which cascades).
    let disabled: Option<bool> = row.try_get("u_disabled")?;
    let user = match disabled {
        None => None,
        Some(disabled) => {
            let roles: Option<String> = row.try_get("u_roles")?;
            Some(TokenSubject {
                id: session.user_id,
                roles: roles
                    .map(|r| r.split(' ').map(str::to_string).collect())
                    .unwrap_or_default(),
                email_verified: row.try_get("u_email_verified")?,
                disabled,
            })
        }
    };
    Ok(Rotated { session, user })
}

/// The statement lists for each size in [`SIZES`], built once.
static STATEMENTS: LazyLock<Vec<String>> =
    LazyLock::new(|| SIZES.iter().map(|&n| batch_sql(n)).collect());

fn batch_sql(n: usize) -> String {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    for slot in 0..n {
        sql.push_str(&rotation_sql(slot));
    }
    sql.push_str("COMMIT");
    sql
}

/// One rotation (the binds, in order, are those of [`bind_rotation`]): one conditional UPDATE of
/// the session's row decides the winner — a second presentation of the token finds another live
/// hash — and touches only a live, unexpired session. The spent token's hash moves to
/// `spent_hash` (SQLite evaluates every assignment against the row as it was), the successor's
/// becomes the live one, the session slides, and the row comes back with the rotation's slot in
/// the batch and what the access token needs of its user (roles, email_verified, disabled),
/// read in the same transaction.
///
/// The placeholders are anonymous `?`: sqlx binds them in order across the statements of one
/// query, whereas numbered `?N` in a later statement would leave gaps that its binder fills
/// with the wrong arguments.
fn rotation_sql(slot: usize) -> String {
    format!(
        "UPDATE sessions SET spent_hash = refresh_hash, spent_at = ?, refresh_hash = ?, \
           last_used_at = ?, expires_at = ?, access_until = MAX(COALESCE(access_until, 0), ?) \
         WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL AND expires_at > ? \
         RETURNING {slot} AS slot, {SESSION_COLUMNS}, \
           (SELECT u.disabled FROM users u WHERE u.id = sessions.user_id) AS u_disabled, \
           (SELECT u.email_verified FROM users u WHERE u.id = sessions.user_id) AS u_email_verified, \
           (SELECT group_concat(role, ' ') FROM \
              (SELECT role FROM user_roles r WHERE r.user_id = sessions.user_id ORDER BY role)) AS u_roles; "
    )
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_rotation<'q>(q: Query<'q>, r: &Rotation) -> Query<'q> {
    // SET: spent_at, refresh_hash, last_used_at, expires_at, access_until.
    q.bind(r.now)
        .bind(r.next.clone())
        .bind(r.now)
        .bind(r.expires_at)
        .bind(r.access_until)
        // WHERE: id, refresh_hash, expires_at >.
        .bind(r.session.clone())
        .bind(r.presented.clone())
        .bind(r.now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use chrono::Duration;
    use sesame_core::store::{SessionStore, Store};
    use sesame_store_conformance::{create_user, new_session, t0, token};
    use uuid::Uuid;

    use crate::SqliteStore;

    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    /// Opens `n` sessions and returns their ids and first refresh-token hashes.
    async fn sessions(store: &SqliteStore, n: usize) -> Vec<(Uuid, Vec<u8>)> {
        let user = create_user(store, "alice").await;
        let mut tokens = Vec::new();
        for _ in 0..n {
            let first = token();
            let session = new_session(user, &first, t0(), t0() + Duration::days(1));
            store.create_session(&session).await.unwrap();
            tokens.push((session.id, first));
        }
        tokens
    }

    /// The session's live and last spent token hashes.
    async fn hashes(store: &SqliteStore, session: Uuid) -> (Vec<u8>, Option<Vec<u8>>) {
        let state = store.refresh_state(session).await.unwrap().unwrap();
        (state.live.unwrap(), state.spent.map(|(h, _)| h))
    }

    /// Starts every rotation as a task, then waits for them in order. On a current-thread
    /// runtime the tasks run in the order spawned, each queueing its rotation, and the drain
    /// task the first one spawns runs after them all.
    async fn all_at_once(
        store: &SqliteStore,
        calls: Vec<(Uuid, Vec<u8>, Vec<u8>)>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<sesame_core::store::StoreResult<Option<sesame_core::store::Rotated>>> {
        let tasks: Vec<_> = calls
            .into_iter()
            .map(|(session, presented, next)| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .rotate_refresh(
                            session,
                            &presented,
                            &next,
                            now,
                            now + Duration::days(1),
                            now,
                        )
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    }

    // On a current-thread runtime, every rotation of a `join_all` is queued before the drain
    // task first runs, so they must be committed as one batch; each still gets its own answer.
    #[tokio::test(flavor = "current_thread")]
    async fn rotations_queued_together_commit_as_one_batch_with_their_own_answers() {
        let (store, _dir) = store().await;
        let firsts = sessions(&store, 20).await;
        let before = store.rotations.batches();
        let t1 = t0() + Duration::minutes(1);
        let nexts: Vec<Vec<u8>> = firsts.iter().map(|_| token()).collect();
        // Each token presented twice in the same batch, plus one unknown token.
        let mut calls = Vec::new();
        for ((session, first), next) in firsts.iter().zip(&nexts) {
            calls.push((*session, first.clone(), next.clone()));
            calls.push((*session, first.clone(), token()));
        }
        calls.push((firsts[0].0, token(), token()));
        let answers = all_at_once(&store, calls, t1).await;
        assert_eq!(
            store.rotations.batches() - before,
            2,
            "41 rotations queued at once: one batch of 32, one of 9"
        );
        for (i, answer) in answers.into_iter().enumerate() {
            let answer = answer.unwrap();
            match i {
                40 => assert!(answer.is_none(), "unknown token"),
                i if i % 2 == 0 => assert!(answer.is_some(), "first presentation {i} wins"),
                i => assert!(answer.is_none(), "second presentation {i} is a replay"),
            }
        }
        for ((session, first), next) in firsts.iter().zip(&nexts) {
            let state = store.refresh_state(*session).await.unwrap().unwrap();
            assert_eq!(
                state.spent,
                Some((first.clone(), t1)),
                "the winner spent it"
            );
            assert_eq!(
                state.live.as_ref(),
                Some(next),
                "the winner's successor is live"
            );
        }
    }

    // A rotation that fails (here a trigger breaks a unique constraint for one successor hash)
    // fails its batch; the batch is rolled back and each rotation retried alone, so only that
    // one fails and the rest commit.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_rotation_fails_alone_and_its_batch_commits_the_others() {
        let (store, _dir) = store().await;
        let firsts = sessions(&store, 6).await;
        let t1 = t0() + Duration::minutes(1);
        let nexts: Vec<Vec<u8>> = (0..6).map(|_| token()).collect();
        sqlx::raw_sql(&format!(
            "CREATE TABLE once (x INTEGER UNIQUE); INSERT INTO once VALUES (1); \
             CREATE TRIGGER refuse AFTER UPDATE OF refresh_hash ON sessions \
             WHEN NEW.refresh_hash = X'{}' BEGIN INSERT INTO once VALUES (1); END;",
            nexts[3]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ))
        .execute(store.writer())
        .await
        .unwrap();
        let before = store.rotations.batches();
        let calls = firsts
            .iter()
            .zip(&nexts)
            .map(|((session, first), next)| (*session, first.clone(), next.clone()))
            .collect();
        let answers = all_at_once(&store, calls, t1).await;
        assert_eq!(
            store.rotations.batches() - before,
            1,
            "the six were tried as one batch first"
        );
        for (i, answer) in answers.into_iter().enumerate() {
            let (live, _) = hashes(&store, firsts[i].0).await;
            if i == 3 {
                assert!(answer.is_err(), "the trigger refused it");
                assert_eq!(live, firsts[3].1, "the failed rotation changed nothing");
            } else {
                assert!(answer.unwrap().is_some(), "rotation {i} committed");
                assert_eq!(live, nexts[i]);
            }
        }
    }

    // A caller that went away before its rotation ran (client disconnect) has it skipped: the
    // token stays unspent, so the client's retry is a first presentation, not a replay.
    #[tokio::test(flavor = "current_thread")]
    async fn a_rotation_whose_caller_has_gone_is_not_run() {
        let (store, _dir) = store().await;
        let firsts = sessions(&store, 2).await;
        let t1 = t0() + Duration::minutes(1);
        drop(store.rotations.enqueue_for_test(super::Rotation {
            session: firsts[0].0.to_string(),
            presented: firsts[0].1.clone(),
            next: token(),
            now: crate::types::UnixMs(t1),
            expires_at: crate::types::UnixMs(t1 + Duration::days(1)),
            access_until: crate::types::UnixMs(t1),
        }));
        let next = token();
        let rotated = store
            .rotate_refresh(
                firsts[1].0,
                &firsts[1].1,
                &next,
                t1,
                t1 + Duration::days(1),
                t1,
            )
            .await
            .unwrap();
        assert!(rotated.is_some(), "the live caller's rotation ran");
        assert_eq!(
            hashes(&store, firsts[0].0).await,
            (firsts[0].1.clone(), None),
            "the abandoned one did not"
        );
    }
}
