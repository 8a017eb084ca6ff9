//! Group commit: writes that arrive while the database is busy with earlier ones wait in a queue
//! and are then committed together, in one transaction and one round trip. Used by both stores
//! for refresh-token rotation, the hottest write there is.
//!
//! What bounds small writes per second is rarely their SQL but what surrounds each transaction:
//! on SQLite the hand-offs to the writer connection's thread and the commit; on PostgreSQL the
//! statement's executor start-up, the protocol round trip and the commit record. Nobody waits for
//! a batch to fill: the first caller finds the queue idle and starts a drain at once, and the
//! batch is whatever queued up while the previous one ran; alone, a write is a batch of one.
//!
//! The runner executes a batch's jobs in arrival order, so a batch gives exactly the result of
//! running them one after another. Every caller is answered only after COMMIT, so an
//! acknowledged write survives a crash as before. If a batch fails because of one job (a
//! constraint), it was rolled back and its jobs are retried one by one, so an error reaches only
//! the job it belongs to; if it fails because of the database, every caller gets the error.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

/// A failed batch: nothing was committed.
#[derive(Debug)]
pub struct BatchFailed {
    /// One job broke a constraint and took the batch down with it: running each alone finds
    /// which. Otherwise the database is the problem, and retrying would only make every caller
    /// wait again.
    pub one_jobs_fault: bool,
    /// One error per job of the batch, in order.
    pub errors: Vec<StoreError>,
}

/// Runs a batch of jobs in one transaction.
pub trait BatchRunner: Send + Sync + 'static {
    type Job: Send + Sync + 'static;
    type Answer: Send + 'static;
    /// The largest batch run at once.
    const MAX_BATCH: usize;
    /// `Ok`: committed, one answer per job, in order.
    fn run(
        &self,
        batch: &[Self::Job],
    ) -> impl Future<Output = Result<Vec<StoreResult<Self::Answer>>, BatchFailed>> + Send;
}

type Reply<A> = oneshot::Sender<StoreResult<A>>;

struct Queue<J, A> {
    waiting: VecDeque<(J, Reply<A>)>,
    /// A drain task is running; it takes everything queued before it stops.
    draining: bool,
}

/// The most jobs waiting (about half a second of rotations on a small machine); past it a call
/// is answered `Unavailable` (503 with Retry-After) at once rather than queued without bound.
pub const MAX_WAITING: usize = 4096;

/// The queue of one kind of job, shared by the clones of one store.
pub struct GroupCommit<R: BatchRunner> {
    runner: R,
    queue: Mutex<Queue<R::Job, R::Answer>>,
    /// Batches run, for the tests that check jobs are grouped.
    batches: AtomicUsize,
}

impl<R: BatchRunner> std::fmt::Debug for GroupCommit<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<R: BatchRunner> GroupCommit<R> {
    pub fn new(runner: R) -> Arc<Self> {
        Arc::new(GroupCommit {
            runner,
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                draining: false,
            }),
            batches: AtomicUsize::new(0),
        })
    }

    /// Batches run so far.
    pub fn batches(&self) -> usize {
        self.batches.load(Ordering::Relaxed)
    }

    /// Queues a job and waits for its commit.
    pub async fn submit(self: &Arc<Self>, job: R::Job) -> StoreResult<R::Answer> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            if q.waiting.len() >= MAX_WAITING {
                return Err(StoreError::Unavailable(
                    "too many writes waiting for the database".into(),
                ));
            }
            q.waiting.push_back((job, reply));
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            // The guard exists before the task does: should the task never run (the runtime
            // shutting down drops it unpolled) or the spawn fail, dropping the guard still
            // frees the queue and answers what waits in it.
            let guard = Draining {
                queue: self.clone(),
                done: false,
            };
            // A task of its own, not this caller's future: a caller that goes away (client
            // disconnect) must not cut a batch between BEGIN and COMMIT, nor strand the queue.
            tokio::spawn(drain(guard));
        }
        answer.await.map_err(|_| {
            StoreError::Unavailable("the database writer stopped before answering".into())
        })?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<R::Job, R::Answer>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Test support: queues a job as a caller would, without starting a drain, and returns the
    /// receiving end (drop it to play a caller that went away).
    #[doc(hidden)]
    pub fn enqueue_for_test(&self, job: R::Job) -> oneshot::Receiver<StoreResult<R::Answer>> {
        let (reply, answer) = oneshot::channel();
        self.lock().waiting.push_back((job, reply));
        answer
    }

    /// Test support: marks a drain as running (as if one were far behind).
    #[doc(hidden)]
    pub fn set_draining_for_test(&self) {
        self.lock().draining = true;
    }

    /// Test support: jobs queued, and whether a drain is marked running.
    #[doc(hidden)]
    pub fn queued_for_test(&self) -> (usize, bool) {
        let q = self.lock();
        (q.waiting.len(), q.draining)
    }
}

/// Ends a drain that did not finish normally (its task was dropped unpolled or cancelled at
/// runtime shutdown, or panicked): the jobs still queued are dropped, so their callers get an
/// error instead of waiting for ever, and the next caller starts a new drain.
///
/// A drain that finishes normally clears `draining` itself, under the lock, together with
/// finding the queue empty, and marks the guard `done`: from that moment the queue may belong
/// to a new drain that a new caller started, which the guard must not touch.
struct Draining<R: BatchRunner> {
    queue: Arc<GroupCommit<R>>,
    done: bool,
}

impl<R: BatchRunner> Drop for Draining<R> {
    fn drop(&mut self) {
        if !self.done {
            let mut q = self.queue.lock();
            q.draining = false;
            q.waiting.clear();
        }
    }
}

async fn drain<R: BatchRunner>(mut guard: Draining<R>) {
    loop {
        let batch: Vec<(R::Job, Reply<R::Answer>)> = {
            let mut q = guard.queue.lock();
            // A caller that went away (client disconnect) before its job ran: skip it, so for
            // a rotation its token stays unspent and a retry is a first presentation.
            q.waiting.retain(|(_, reply)| !reply.is_closed());
            if q.waiting.is_empty() {
                q.draining = false;
                guard.done = true;
                return;
            }
            let n = q.waiting.len().min(R::MAX_BATCH);
            q.waiting.drain(..n).collect()
        };
        let (batch, replies): (Vec<R::Job>, Vec<Reply<R::Answer>>) = batch.into_iter().unzip();
        let commit = &guard.queue;
        commit.batches.fetch_add(1, Ordering::Relaxed);
        match commit.runner.run(&batch).await {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // The caller may have gone; its job is committed all the same.
                    let _ = reply.send(answer);
                }
            }
            Err(failed) if failed.one_jobs_fault && batch.len() > 1 => {
                for (job, reply) in batch.iter().zip(replies) {
                    let alone = match commit.runner.run(std::slice::from_ref(job)).await {
                        Ok(mut answers) => answers.pop().unwrap_or_else(|| {
                            Err(StoreError::Other("a batch of one had no answer".into()))
                        }),
                        Err(mut f) => Err(f
                            .errors
                            .pop()
                            .unwrap_or_else(|| StoreError::Other("the write failed".into()))),
                    };
                    let _ = reply.send(alone);
                }
            }
            Err(failed) => {
                let mut errors = failed.errors.into_iter();
                for reply in replies {
                    let e = errors
                        .next()
                        .unwrap_or_else(|| StoreError::Other("the batch failed".into()));
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// Doubles numbers; a batch with a 13 in it breaks "a constraint", one with a 99 finds the
    /// database down. Records the batches it ran.
    #[derive(Default)]
    struct Doubler {
        runs: Mutex<Vec<Vec<u32>>>,
    }

    impl BatchRunner for Arc<Doubler> {
        type Job = u32;
        type Answer = u32;
        const MAX_BATCH: usize = 4;

        async fn run(&self, batch: &[u32]) -> Result<Vec<StoreResult<u32>>, BatchFailed> {
            self.runs.lock().unwrap().push(batch.to_vec());
            let fail = |one_jobs_fault| BatchFailed {
                one_jobs_fault,
                errors: batch
                    .iter()
                    .map(|_| StoreError::Other("refused".into()))
                    .collect(),
            };
            if batch.contains(&99) {
                return Err(fail(false));
            }
            if batch.contains(&13) {
                return Err(fail(true));
            }
            Ok(batch.iter().map(|n| Ok(n * 2)).collect())
        }
    }

    fn queue() -> (Arc<GroupCommit<Arc<Doubler>>>, Arc<Doubler>) {
        let runner = Arc::new(Doubler::default());
        (GroupCommit::new(runner.clone()), runner)
    }

    /// On a current-thread runtime every task spawned here queues its job before the drain
    /// task the first one starts runs.
    async fn all_at_once(
        q: &Arc<GroupCommit<Arc<Doubler>>>,
        jobs: Vec<u32>,
    ) -> Vec<StoreResult<u32>> {
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|j| {
                let q = q.clone();
                tokio::spawn(async move { q.submit(j).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    }

    #[tokio::test(flavor = "current_thread")]
    async fn jobs_queued_together_run_in_batches_with_their_own_answers() {
        let (q, runner) = queue();
        let answers = all_at_once(&q, (1..=6).collect()).await;
        let answers: Vec<u32> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, [2, 4, 6, 8, 10, 12]);
        assert_eq!(*runner.runs.lock().unwrap(), [vec![1, 2, 3, 4], vec![5, 6]]);
        assert_eq!(q.batches(), 2);
        assert_eq!(q.queued_for_test(), (0, false), "the drain ended");
        // Alone, a job is a batch of one.
        assert_eq!(q.submit(7).await.unwrap(), 14);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_jobs_fault_fails_only_that_job() {
        let (q, runner) = queue();
        let answers = all_at_once(&q, vec![1, 13, 3]).await;
        assert_eq!(answers[0].as_ref().unwrap(), &2);
        assert!(answers[1].is_err());
        assert_eq!(answers[2].as_ref().unwrap(), &6);
        assert_eq!(
            *runner.runs.lock().unwrap(),
            [vec![1, 13, 3], vec![1], vec![13], vec![3]],
            "the batch, then each alone"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_databases_failure_reaches_every_caller_without_retries() {
        let (q, runner) = queue();
        let answers = all_at_once(&q, vec![1, 99, 3]).await;
        assert!(answers.iter().all(Result::is_err));
        assert_eq!(runner.runs.lock().unwrap().len(), 1, "not retried");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_job_whose_caller_has_gone_is_not_run() {
        let (q, runner) = queue();
        drop(q.enqueue_for_test(5));
        assert_eq!(q.submit(6).await.unwrap(), 12);
        assert_eq!(*runner.runs.lock().unwrap(), [vec![6]]);
    }

    // Past MAX_WAITING queued jobs a call is refused at once as unavailable (503), instead of
    // queueing without bound.
    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_refuses_at_once() {
        let (q, _) = queue();
        q.set_draining_for_test();
        let _waiting: Vec<_> = (0..MAX_WAITING).map(|_| q.enqueue_for_test(1)).collect();
        let refused = q.submit(2).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert_eq!(q.queued_for_test(), (MAX_WAITING, true), "not queued");
    }

    // The guard of a drain that ended normally must leave the queue alone: by the time it is
    // dropped, a new caller may have queued a job and started a new drain. (It once cleared the
    // queue whenever `draining` was set, which is also the case then.) A drain cut short does
    // drop what is queued, so nobody waits for ever.
    #[test]
    fn a_finished_drain_leaves_the_next_drains_queue_alone() {
        let (q, _) = queue();
        let mut answer = q.enqueue_for_test(1);
        q.set_draining_for_test();
        drop(Draining {
            queue: q.clone(),
            done: true,
        });
        assert_eq!(
            q.queued_for_test(),
            (1, true),
            "the new drain's job is still queued"
        );
        assert!(matches!(
            answer.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        ));
        drop(Draining {
            queue: q.clone(),
            done: false,
        });
        assert_eq!(q.queued_for_test(), (0, false));
        assert!(matches!(
            answer.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        ));
    }
}
