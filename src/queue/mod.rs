//! The daemon's queue: the only module that knows apalis.
//!
//! apalis tasks carry work, not truth (the attempts table is the ledger):
//! - `PlanRun { campaign, occurrence }` on queue `herald.plan`, pushed with the
//!   idempotency key `plan:CAMPAIGN:OCCURRENCE`, so an occurrence is queued once however
//!   many times the scheduler sees it;
//! - `Dispatch { attempt_ids, claimed_at }` on queue `herald.dispatch`: a batch of attempts
//!   the scheduler claimed (moved to `sending`) at `claimed_at`. The worker dispatches only
//!   those still held by that claim, so a batch that comes back after its claim lapsed
//!   does nothing.
//!
//! The scheduler loop (one per daemon) finds due occurrences, applies provider events,
//! claims due attempts in batches and pushes them, and sends back to the queue the attempts
//! whose claim lapsed (a crashed daemon's).
//!
//! Settings chosen against apalis 1.0's sharp edges: the queue lives in its own SQLite file
//! (`herald.queue.db` beside the database) so its migrations and `synchronous=OFF` stay
//! away from the ledger; worker names are unique per process; workers poll every 200 ms
//! so idle pickup is prompt; heartbeats every 5 s with 3 missed beats, so a task held by a
//! killed daemon is taken over within about 15 s of the restart; herald never relies on
//! apalis retries for backoff (retries and reschedules are its own not-before times).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use apalis::prelude::*;
use apalis_sqlite::{Config, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{BATCH, Engine, LEASE};
use crate::store::{AnyStore, Store};

/// Plan one occurrence of a campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanRun {
    pub campaign: String,
    pub occurrence: DateTime<Utc>,
}

/// Dispatch a batch of attempts claimed at `claimed_at`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dispatch {
    pub attempt_ids: Vec<i64>,
    pub claimed_at: DateTime<Utc>,
}

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The queue's own SQLite file.
    pub queue_path: std::path::PathBuf,
    /// How often the scheduler looks for due work.
    pub tick: StdDuration,
    /// Dispatch tasks worked on at once.
    pub concurrency: usize,
    pub shutdown_timeout: StdDuration,
}

impl DaemonOptions {
    /// Defaults for a database at `sqlite://PATH`: the queue in `PATH` with `.queue.db`.
    pub fn for_database(url: &str) -> Result<DaemonOptions, QueueError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                QueueError::Setup(format!(
                    "the daemon needs a SQLite database for now, not {}",
                    crate::config::redact_url(url)
                ))
            })?;
        let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
        let queue_path = path.with_extension("queue.db");
        Ok(DaemonOptions {
            queue_path,
            tick: StdDuration::from_secs(1),
            concurrency: 4,
            shutdown_timeout: StdDuration::from_secs(30),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("setting up the queue: {0}")]
    Setup(String),
    #[error("the queue: {0}")]
    Backend(String),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

/// A handler's failure, kept out of `std::error::Error` so it can become apalis's own error
/// type; the store errors it carries are worth a retry.
#[derive(Debug)]
pub struct TaskFailed(String);

impl From<TaskFailed> for BoxDynError {
    fn from(e: TaskFailed) -> BoxDynError {
        e.0.into()
    }
}

type SharedEngine = Arc<Engine<AnyStore>>;

async fn handle_plan(task: PlanRun, engine: Data<SharedEngine>) -> Result<(), TaskFailed> {
    let now = engine.now();
    match engine
        .plan_occurrence(&task.campaign, task.occurrence, now)
        .await
    {
        Ok(run) => {
            tracing::info!(campaign = %task.campaign, occurrence = %task.occurrence, run = ?run, "plan task done");
            Ok(())
        }
        Err(e) => {
            tracing::error!(campaign = %task.campaign, error = %e, "plan task failed");
            Err(TaskFailed(e.to_string()))
        }
    }
}

async fn handle_dispatch(task: Dispatch, engine: Data<SharedEngine>) -> Result<(), TaskFailed> {
    let now = engine.now();
    let held = engine
        .store
        .attempts_claimed(&task.attempt_ids, task.claimed_at)
        .await
        .map_err(|e| TaskFailed(e.to_string()))?;
    if held.len() < task.attempt_ids.len() {
        tracing::info!(
            claimed = task.attempt_ids.len(),
            still_held = held.len(),
            "some attempts of a dispatch batch were taken over"
        );
    }
    let work = engine
        .dispatch_claimed(&held, now)
        .await
        .map_err(|e| TaskFailed(e.to_string()))?;
    tracing::debug!(
        sent = work.sent,
        rescheduled = work.rescheduled,
        skipped = work.skipped,
        "dispatch task done"
    );
    Ok(())
}

fn worker_name(role: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    format!("herald-{host}-{}-{random:08x}-{role}", std::process::id())
}

fn config(queue: &str) -> Config {
    Config::default()
        .queue(queue)
        .heartbeat_interval(StdDuration::from_secs(5))
        .missed_heartbeats(3)
        .batch_size(10)
}

/// Opens (creating) the queue's SQLite file and runs apalis's migrations on it.
pub async fn open_queue(path: &std::path::Path) -> Result<SqlitePool, QueueError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(StdDuration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| QueueError::Setup(format!("opening {}: {e}", path.display())))?;
    SqliteStorage::<()>::setup(&pool)
        .await
        .map_err(|e| QueueError::Setup(e.to_string()))?;
    Ok(pool)
}

/// Runs the daemon until `shutdown` resolves: the scheduler loop and the workers. On
/// shutdown the scheduler stops claiming, workers finish what they hold (up to the
/// shutdown timeout), and tasks fetched but not started go back to the queue.
pub async fn run_daemon(
    engine: SharedEngine,
    options: DaemonOptions,
    shutdown: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
) -> Result<(), QueueError> {
    let pool = open_queue(&options.queue_path).await?;
    let plans: SqliteStorage<PlanRun> =
        SqliteStorage::new(&pool).with_config(config("herald.plan"));
    let dispatches: SqliteStorage<Dispatch> =
        SqliteStorage::new(&pool).with_config(config("herald.dispatch"));

    // Attempts a crashed daemon claimed and never dispatched go back to the queue.
    let now = engine.now();
    let requeued = engine
        .store
        .requeue_stale(now - LEASE, now)
        .await
        .map_err(crate::engine::EngineError::from)?;
    if requeued > 0 {
        tracing::warn!(
            requeued,
            "attempts abandoned by a stopped daemon were re-queued"
        );
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(scheduler_loop(
        engine.clone(),
        plans.clone(),
        dispatches.clone(),
        options.tick,
        stop_rx,
    ));

    let (plan_name, dispatch_name) = (worker_name("plan"), worker_name("dispatch"));
    let (e1, e2) = (engine.clone(), engine.clone());
    let (p, d) = (plans.clone(), dispatches.clone());
    let concurrency = options.concurrency;
    let monitor = Monitor::new()
        .register(move |_| {
            WorkerBuilder::new(plan_name.as_str())
                .backend(p.clone().poll_with_interval(StdDuration::from_millis(200)))
                .data(e1.clone())
                .concurrency(1)
                .build(handle_plan)
        })
        .register(move |_| {
            WorkerBuilder::new(dispatch_name.as_str())
                .backend(d.clone().poll_with_interval(StdDuration::from_millis(200)))
                .data(e2.clone())
                .concurrency(concurrency)
                .build(handle_dispatch)
        })
        .on_event(|ctx, event| match event {
            Event::Error(e) => tracing::error!(worker = %ctx.name(), error = %e, "task failed"),
            Event::Start | Event::Stop | Event::Exit => {
                tracing::info!(worker = %ctx.name(), ?event, "worker")
            }
            _ => {}
        })
        .should_restart(|ctx, error| {
            tracing::error!(worker = %ctx.name(), %error, "worker stopped; restarting");
            true
        })
        .shutdown_timeout(options.shutdown_timeout);

    let signal = async move {
        let result = shutdown.await;
        tracing::info!("shutting down: no new claims, finishing tasks in hand");
        let _ = stop_tx.send(true);
        result
    };
    monitor
        .run_with_signal(signal)
        .await
        .map_err(|e| QueueError::Backend(e.to_string()))?;
    let _ = scheduler.await;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Finds due work every `tick` and puts it on the queue, until told to stop.
async fn scheduler_loop(
    engine: SharedEngine,
    mut plans: SqliteStorage<PlanRun>,
    mut dispatches: SqliteStorage<Dispatch>,
    tick: StdDuration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_requeue = engine.now();
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = schedule_once(
            &engine,
            &mut plans,
            &mut dispatches,
            &mut last_requeue,
            &stop,
        )
        .await
        {
            tracing::error!(error = %e, "scheduler step failed; trying again");
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn schedule_once(
    engine: &SharedEngine,
    plans: &mut SqliteStorage<PlanRun>,
    dispatches: &mut SqliteStorage<Dispatch>,
    last_requeue: &mut DateTime<Utc>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), QueueError> {
    let now = engine.now();
    for (campaign, occurrence) in engine.due_occurrences(now).await? {
        let key = format!("plan:{campaign}:{}", occurrence.to_rfc3339());
        let task = TaskBuilder::new(PlanRun {
            campaign,
            occurrence,
        })
        .idempotency_key(&key)
        .max_attempts(5)
        .build();
        plans
            .push_task(task)
            .await
            .map_err(|e| QueueError::Backend(e.to_string()))?;
    }
    while engine.apply_inbox(now, BATCH).await? > 0 {}
    // Claim and hand out due attempts until none is left or shutdown begins.
    while !*stop.borrow() {
        let claimed = engine
            .store
            .claim_due(now, BATCH)
            .await
            .map_err(crate::engine::EngineError::from)?;
        if claimed.is_empty() {
            break;
        }
        // One task per channel, so a slow provider holds up only its own channel's batch.
        let mut by_channel: std::collections::BTreeMap<crate::domain::values::Channel, Vec<i64>> =
            Default::default();
        for a in &claimed {
            by_channel.entry(a.channel).or_default().push(a.id);
        }
        for ids in by_channel.into_values() {
            let task = TaskBuilder::new(Dispatch {
                attempt_ids: ids,
                claimed_at: now,
            })
            .max_attempts(5)
            .build();
            dispatches
                .push_task(task)
                .await
                .map_err(|e| QueueError::Backend(e.to_string()))?;
        }
    }
    if now - *last_requeue > Duration::seconds(30) {
        engine
            .store
            .requeue_stale(now - LEASE, now)
            .await
            .map_err(crate::engine::EngineError::from)?;
        *last_requeue = now;
    }
    engine.finish_runs(now).await?;
    Ok(())
}

/// One task as `herald jobs list` shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub queue: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub last_result: Option<String>,
}

/// Inspection and repair of the queue file. apalis 1.0 has no retry or cancel API, so these
/// are plain SQL on its `Jobs` table (checked against apalis-sqlite 1.0.0's schema).
pub struct Jobs {
    pool: SqlitePool,
}

impl Jobs {
    pub async fn open(path: &std::path::Path) -> Result<Jobs, QueueError> {
        if !path.exists() {
            return Err(QueueError::Setup(format!(
                "there is no queue at {} yet (the daemon creates it)",
                path.display()
            )));
        }
        Ok(Jobs {
            pool: open_queue(path).await?,
        })
    }

    /// The queue at `path`, created if missing (the daemon's own).
    pub async fn open_or_create(path: &std::path::Path) -> Result<Jobs, QueueError> {
        Ok(Jobs {
            pool: open_queue(path).await?,
        })
    }

    /// (queue, status, tasks).
    pub async fn counts(&self) -> Result<Vec<(String, String, i64)>, QueueError> {
        sqlx::query_as("SELECT job_type, status, COUNT(*) FROM Jobs GROUP BY job_type, status ORDER BY job_type, status")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| QueueError::Backend(e.to_string()))
    }

    /// Tasks in a status (`Pending`, `Running`, `Done`, `Failed`, `Killed`), newest first.
    pub async fn list(&self, status: &str, limit: i64) -> Result<Vec<JobRow>, QueueError> {
        sqlx::query_as::<_, JobRow>(
            "SELECT id, job_type AS queue, status, attempts, max_attempts, run_at, last_result FROM Jobs \
             WHERE status = ?1 ORDER BY run_at DESC LIMIT ?2",
        )
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| QueueError::Backend(e.to_string()))
    }

    /// Puts failed or killed tasks (one, or all) back in the queue with fresh attempts.
    pub async fn retry(&self, id: Option<&str>, now: DateTime<Utc>) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE Jobs SET status = 'Pending', attempts = 0, run_at = ?2, lock_by = NULL, lock_at = NULL, done_at = NULL \
             WHERE status IN ('Failed', 'Killed') AND (?1 IS NULL OR id = ?1)",
        )
        .bind(id)
        .bind(now.timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| QueueError::Backend(e.to_string()))?;
        Ok(done.rows_affected())
    }

    /// Cancels a task that has not started.
    pub async fn cancel(&self, id: &str, now: DateTime<Utc>) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE Jobs SET status = 'Killed', done_at = ?2, last_result = '{\"Err\":\"cancelled by herald jobs cancel\"}' \
             WHERE id = ?1 AND status IN ('Pending', 'Queued')",
        )
        .bind(id)
        .bind(now.timestamp())
        .execute(&self.pool)
        .await
        .map_err(|e| QueueError::Backend(e.to_string()))?;
        Ok(done.rows_affected())
    }
}
