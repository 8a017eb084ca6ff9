//! Writes whose caller goes away. A request's future is dropped wherever it waits when its
//! client closes the connection (wrk does it to dozens at once at the end of a run), so every
//! await point of a store write is a place it may stop for good. Whatever point that is, the
//! store must stay usable: the next write commits, and nothing the dropped write began holds
//! the database (issue #16.1: on SQLite one such drop, right after `BEGIN IMMEDIATE`, left the
//! single writer connection inside a transaction and every later write failed).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use sesame_core::store::Store;

use crate::{create_user, mins, new_session, new_user, t0, token};

/// Polls swept per kind of write: more than any write here needs (a registration takes up to
/// about ten on SQLite), so the last ones see each write run to its end.
const MAX_POLLS: usize = 16;
/// Sweeps: how many polls reach a given await point depends on how fast the database answers
/// (an answer that is already there costs no poll), so one sweep may step over one of them.
const SWEEPS: usize = 5;

/// Polls `fut` until it has been woken `polls` times (or is done), then drops it: each round of
/// the loop lets it move past exactly one await point, so sweeping `polls` stops it at every
/// one in turn, whatever the timing.
async fn drop_after<F: Future>(fut: F, polls: usize) {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let mut polled = false;
        let done = std::future::poll_fn(|cx| {
            if polled {
                // Woken: the future can go on, on the next round.
                return Poll::Ready(false);
            }
            polled = true;
            match fut.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(true),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if done {
            return;
        }
    }
}

/// A registration, a login's session and a refresh rotation, each dropped after 1, 2, ...
/// [`MAX_POLLS`] polls, [`SWEEPS`] times over; after each, a registration and a login must
/// still commit. (On SQLite before the fix, the first sweep already failed 18 runs in 20.)
pub async fn writes_dropped_at_any_await_leave_the_store_usable(store: Arc<dyn Store>) {
    let user = create_user(&*store, "storm").await;
    let mut refresh = token();
    let live = new_session(user, &refresh, t0(), t0() + mins(60));
    store.create_session(&live).await.unwrap();
    for (sweep, polls) in (0..SWEEPS).flat_map(|s| (1..=MAX_POLLS).map(move |p| (s, p))) {
        let stopped = new_user(&format!("dropped{sweep}x{polls}"));
        drop_after(store.create_user(&stopped, &[]), polls).await;
        let session = new_session(user, &token(), t0(), t0() + mins(60));
        drop_after(store.create_session(&session), polls).await;
        let next = token();
        drop_after(
            store.rotate_refresh(
                live.id,
                &refresh,
                &next,
                t0() + mins(1),
                t0() + mins(60),
                t0() + mins(16),
            ),
            polls,
        )
        .await;

        let after = new_user(&format!("after{sweep}x{polls}"));
        if let Err(e) = store.create_user(&after, &[]).await {
            panic!("a registration after writes dropped at poll {polls} failed: {e:?}");
        }
        let session = new_session(user, &token(), t0(), t0() + mins(60));
        if let Err(e) = store.create_session(&session).await {
            panic!("a login after writes dropped at poll {polls} failed: {e:?}");
        }
        // The dropped rotation either committed whole or not at all; go on from the live token.
        if store
            .refresh_state(live.id)
            .await
            .unwrap()
            .is_some_and(|s| s.live.as_ref() == Some(&next))
        {
            refresh = next;
        }
    }
}
