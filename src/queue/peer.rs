//! The apalis peer of `herald bench`: the dispatch a user without herald would write, one
//! apalis task per attempt and a handler that does nothing, on herald's own database.
//! It lives here because only `queue/` knows apalis; `bench::peer` times it.
//!
//! Its tasks go to their own queue, `herald.bench.peer`, in apalis's tables in herald's
//! database (`Jobs` and `Workers` on SQLite, schema `apalis` on PostgreSQL), through the
//! store's own pool. [`PeerQueue::clear`] removes them and the peer's workers, so a run
//! leaves nothing behind and the next starts clean.
//!
//! Settings are apalis's defaults (batches of 10, heartbeats every 30 s) except those
//! herald's own dispatch worker also sets: 4 tasks at once, and polling every 20 ms, so an
//! idle worker picks work up at once instead of on its next heartbeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};

use super::{QueueError, backend};
use crate::store::{AnyStore, QueuePool};

/// The peer's queue; its workers are named after it too.
pub const PEER_QUEUE: &str = "herald.bench.peer";

/// Tasks per bulk push.
const PUSH_CHUNK: u64 = 1_000;
/// Tasks one worker handles at once, as herald's dispatch worker.
const PEER_CONCURRENCY: usize = 4;
/// How often an idle worker looks for tasks.
const PEER_POLL: Duration = Duration::from_millis(20);

/// One attempt to dispatch: all a task of the peer carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerTask {
    pub attempt_id: i64,
}

/// How many tasks the handler has seen, and the signal that all have been.
struct Progress {
    handled: AtomicU64,
    target: u64,
    all_handled: tokio::sync::Notify,
}

/// The peer's handler: counts the task and does nothing else.
async fn count_peer_task(_task: PeerTask, progress: Data<Arc<Progress>>) {
    let handled = progress.handled.fetch_add(1, Ordering::AcqRel) + 1;
    if handled == progress.target {
        progress.all_handled.notify_one();
    }
}

/// What a drain did: tasks handled (all pushed, unless it timed out) and how long from the
/// worker's start to the last task handled.
#[derive(Clone, Copy, Debug)]
pub struct Drained {
    pub handled: u64,
    pub elapsed: Duration,
}

/// A monitor with the peer's one worker on `$storage` (a macro, as the two backends'
/// worker types differ while the setup is the same).
macro_rules! peer_monitor {
    ($storage:expr, $progress:expr, $name:expr) => {{
        let (storage, progress, name) = ($storage.clone(), $progress.clone(), $name);
        Monitor::new().register(move |_| {
            WorkerBuilder::new(name.as_str())
                .backend(storage.clone().poll_with_interval(PEER_POLL))
                .data(progress.clone())
                .concurrency(PEER_CONCURRENCY)
                .build(count_peer_task)
        })
    }};
}

/// The peer's queue on the store's database.
pub enum PeerQueue {
    Sqlite(SqliteStorage<PeerTask>),
    Postgres(PostgresStorage<PeerTask>),
}

impl PeerQueue {
    /// The peer's queue on the store's pool, apalis's tables created if missing. Both
    /// record their migrations in sqlx's default table, apart from herald's own
    /// (`herald_migrations`).
    pub async fn open(store: &AnyStore) -> Result<PeerQueue, QueueError> {
        match store.queue_pool() {
            QueuePool::Sqlite(pool) => {
                // apalis's migrations only, not `SqliteStorage::setup`: that also sets
                // `synchronous=OFF` (and a larger cache) on whichever pooled connection it
                // gets, and this pool is herald's, which the rest of the benchmark measures.
                // The peer runs with herald's settings instead (WAL, `synchronous=NORMAL`).
                SqliteStorage::<()>::migrations()
                    .run(&pool)
                    .await
                    .map_err(|e| QueueError::Setup(format!("creating apalis's tables: {e}")))?;
                Ok(PeerQueue::Sqlite(SqliteStorage::new(&pool).with_config(
                    apalis_sqlite::Config::default().queue(PEER_QUEUE),
                )))
            }
            QueuePool::Postgres(pool) => {
                PostgresStorage::<()>::setup(&pool).await.map_err(|e| {
                    QueueError::Setup(format!("creating apalis's tables (schema apalis): {e}"))
                })?;
                Ok(PeerQueue::Postgres(
                    PostgresStorage::new(&pool)
                        .with_config(apalis_postgres::Config::default().queue(PEER_QUEUE)),
                ))
            }
        }
    }

    /// Pushes `tasks` tasks (attempt ids 1 to `tasks`) in bulk pushes of 1,000.
    pub async fn push(&mut self, tasks: u64) -> Result<(), QueueError> {
        let mut pushed = 0;
        while pushed < tasks {
            let n = (tasks - pushed).min(PUSH_CHUNK);
            let chunk: Vec<PeerTask> = (pushed..pushed + n)
                .map(|i| PeerTask {
                    attempt_id: i as i64 + 1,
                })
                .collect();
            match self {
                PeerQueue::Sqlite(storage) => storage.push_bulk(chunk).await.map_err(backend)?,
                PeerQueue::Postgres(storage) => storage.push_bulk(chunk).await.map_err(backend)?,
            }
            pushed += n;
        }
        Ok(())
    }

    /// Runs one worker until its handler has seen `tasks` tasks or `limit` has passed,
    /// then stops it (tasks fetched and not started go back to the queue).
    pub async fn drain(&self, tasks: u64, limit: Duration) -> Result<Drained, QueueError> {
        let progress = Arc::new(Progress {
            handled: AtomicU64::new(0),
            target: tasks,
            all_handled: tokio::sync::Notify::new(),
        });
        if tasks == 0 {
            return Ok(Drained {
                handled: 0,
                elapsed: Duration::ZERO,
            });
        }
        // Names must be unique per process (see the module docs of `queue`).
        let name = format!("{}-bench-peer", crate::engine::instance_name());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            let _ = stopped.await;
            Ok(())
        };
        let started = Instant::now();
        match self {
            PeerQueue::Sqlite(storage) => {
                let monitor = peer_monitor!(storage, progress, name);
                watch(
                    monitor.run_with_signal(signal),
                    &progress,
                    limit,
                    started,
                    stop,
                )
                .await
            }
            PeerQueue::Postgres(storage) => {
                let monitor = peer_monitor!(storage, progress, name);
                watch(
                    monitor.run_with_signal(signal),
                    &progress,
                    limit,
                    started,
                    stop,
                )
                .await
            }
        }
    }

    /// Deletes the peer's tasks and workers, whatever their state; returns the tasks
    /// deleted.
    pub async fn clear(&self) -> Result<u64, QueueError> {
        // Tasks first: a task names the worker that locked it.
        match self {
            PeerQueue::Sqlite(storage) => {
                let pool = storage.pool();
                let deleted = sqlx::query("DELETE FROM Jobs WHERE job_type = ?1")
                    .bind(PEER_QUEUE)
                    .execute(pool)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                sqlx::query("DELETE FROM Workers WHERE worker_type = ?1")
                    .bind(PEER_QUEUE)
                    .execute(pool)
                    .await
                    .map_err(backend)?;
                Ok(deleted)
            }
            PeerQueue::Postgres(storage) => {
                let pool = storage.pool();
                let deleted = sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
                    .bind(PEER_QUEUE)
                    .execute(pool)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                sqlx::query("DELETE FROM apalis.workers WHERE worker_type = $1")
                    .bind(PEER_QUEUE)
                    .execute(pool)
                    .await
                    .map_err(backend)?;
                Ok(deleted)
            }
        }
    }
}

/// Runs `monitor` until every task is handled, `limit` passes, or the monitor ends on its
/// own (its worker failed); then stops it and waits for it to end.
async fn watch(
    monitor: impl std::future::Future<Output = Result<(), MonitorError>>,
    progress: &Progress,
    limit: Duration,
    started: Instant,
    stop: tokio::sync::oneshot::Sender<()>,
) -> Result<Drained, QueueError> {
    tokio::pin!(monitor);
    let ended_early = tokio::select! {
        ended = &mut monitor => Some(ended),
        _ = tokio::time::timeout(limit, progress.all_handled.notified()) => None,
    };
    let drained = Drained {
        handled: progress.handled.load(Ordering::Acquire),
        elapsed: started.elapsed(),
    };
    match ended_early {
        Some(ended) => ended.map_err(backend)?,
        None => {
            let _ = stop.send(());
            monitor.await.map_err(backend)?;
        }
    }
    Ok(drained)
}
