//! The apalis peer: what `herald bench` compares herald's dispatch with, the queue a user
//! would otherwise write. One apalis task per attempt, a handler that does nothing, one
//! worker handling 4 tasks at once, on the same database as herald (its apalis side is in
//! `queue::peer`).
//!
//! A run pushes the tasks in bulk (timed), drains them (timed), then deletes the peer's
//! tasks and workers, so runs repeat from a clean queue.
//!
//! The peer's rate depends on how many tasks a run pushes, so compare at the same count
//! and report it. In apalis 1.0 a task's cost grows with the tasks before it: on SQLite
//! each acknowledgement finds its rows through the index on the locking worker, which
//! covers every task that worker has held (seen on 2 cores, release build: about 950
//! tasks/s for 3,000 tasks, 310/s for 10,000, 150/s for 20,000); PostgreSQL slows less
//! (about 4,300/s for 3,000, 1,900/s for 20,000).

use std::time::{Duration, Instant};

use super::BenchError;
use crate::queue::QueueError;
use crate::queue::peer::PeerQueue;
use crate::store::AnyStore;

/// How long the peer took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerRun {
    /// Pushing every task, in bulk pushes of 1,000.
    pub push: Duration,
    /// From the worker's start until its handler has seen every task.
    pub process: Duration,
}

/// Pushes `tasks` tasks to the peer's queue (`herald.bench.peer`) and drains them with one
/// worker whose handler only counts, timing both; then deletes the peer's tasks. Fails
/// unless the handler saw each task exactly once. Tasks
/// left over from an interrupted run are deleted first. Gives up, with an error, when the
/// worker has not handled every task after a minute plus 10 ms a task.
pub async fn apalis_one_task_per_attempt(
    store: &AnyStore,
    tasks: u64,
) -> Result<PeerRun, BenchError> {
    let mut queue = PeerQueue::open(store).await.map_err(queue_error)?;
    queue.clear().await.map_err(queue_error)?;

    let started = Instant::now();
    queue.push(tasks).await.map_err(queue_error)?;
    let push = started.elapsed();

    let limit = Duration::from_secs(60) + Duration::from_millis(10u64.saturating_mul(tasks));
    let drained = queue.drain(tasks, limit).await;
    let cleared = queue.clear().await;
    let drained = drained.map_err(queue_error)?;
    cleared.map_err(queue_error)?;
    if drained.handled < tasks {
        return Err(BenchError::PeerTimeout {
            handled: drained.handled,
            tasks,
            waited: drained.elapsed,
        });
    }
    if drained.handled > tasks {
        return Err(BenchError::Queue(format!(
            "the handler saw {} tasks for {tasks} pushed: some ran twice",
            drained.handled
        )));
    }
    Ok(PeerRun {
        push,
        process: drained.elapsed,
    })
}

fn queue_error(e: QueueError) -> BenchError {
    BenchError::Queue(e.to_string())
}
