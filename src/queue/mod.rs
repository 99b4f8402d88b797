//! The daemon's queue: the only module that knows apalis.
//!
//! apalis tasks carry work, not truth (the attempts table is the ledger):
//! - `PlanRun { campaign, occurrence }` on queue `herald.plan`, pushed with the
//!   idempotency key `plan:CAMPAIGN:OCCURRENCE`, so an occurrence is queued once however
//!   many times the scheduler sees it, and however many daemons see it;
//! - `Dispatch { attempt_ids, claimed_at }` on queue `herald.dispatch`: a batch of attempts
//!   a scheduler claimed (moved to `sending`) at `claimed_at`. The worker dispatches only
//!   those still held by that claim, so a batch that comes back after its claim lapsed
//!   does nothing.
//!
//! The scheduler loop (one per daemon) says the daemon is alive, finds due occurrences,
//! applies provider events, claims due attempts in batches and pushes them, and sends back
//! to the queue the attempts of a daemon that stopped saying it is alive.
//!
//! Where the queue lives follows the database: beside a SQLite database, in its own file
//! (`herald.queue.db`), so apalis's migrations and `synchronous=OFF` stay away from the
//! ledger; on PostgreSQL, in the same database (apalis's own schema, `apalis`), shared by
//! every daemon. Settings chosen against apalis 1.0's sharp edges: worker names are unique
//! per process; workers poll every 200 ms so idle pickup is prompt; heartbeats every 5 s
//! with 3 missed beats, so a task held by a killed daemon is handed to another within
//! about 20 s; a duplicate plan key (which PostgreSQL refuses) counts as queued; herald
//! never relies on apalis retries for backoff (retries and reschedules are its own
//! not-before times).

pub mod peer;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::{Config, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPool;

use crate::engine::{BATCH, DAEMON_SILENCE, Engine, LEASE, TaskOutcome};
use crate::store::{AnyStore, Daemon, Store};

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

/// Where the queue lives.
#[derive(Clone, Debug)]
pub enum QueueAt {
    /// Its own SQLite file beside the database.
    SqliteFile(std::path::PathBuf),
    /// The PostgreSQL database at this URL (apalis's schema `apalis`), shared by daemons.
    Postgres(String),
}

impl std::fmt::Display for QueueAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueAt::SqliteFile(path) => write!(f, "{}", path.display()),
            QueueAt::Postgres(url) => {
                write!(f, "{} (schema apalis)", crate::config::redact_url(url))
            }
        }
    }
}

/// Dispatch tasks a daemon works on at once, unless told otherwise.
pub const DISPATCH_CONCURRENCY: usize = 4;

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    pub queue: QueueAt,
    /// How often the scheduler looks for due work (and says the daemon is alive).
    pub tick: StdDuration,
    /// Dispatch tasks worked on at once.
    pub concurrency: usize,
    pub shutdown_timeout: StdDuration,
}

impl DaemonOptions {
    /// Defaults for a database: at `sqlite://PATH`, the queue in `PATH` with `.queue.db`;
    /// at `postgres://...`, the queue in the same database.
    pub fn for_database(url: &str) -> Result<DaemonOptions, QueueError> {
        let queue = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            QueueAt::Postgres(url.to_string())
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .ok_or_else(|| {
                    QueueError::Setup(format!(
                        "the database URL {} is neither sqlite:// nor postgres://",
                        crate::config::redact_url(url)
                    ))
                })?;
            let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
            QueueAt::SqliteFile(path.with_extension("queue.db"))
        };
        Ok(DaemonOptions {
            queue,
            tick: StdDuration::from_secs(1),
            concurrency: DISPATCH_CONCURRENCY,
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

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

/// A handler's failure, kept out of `std::error::Error` so it can become apalis's own error
/// type.
#[derive(Debug)]
pub struct TaskFailed(String);

impl From<TaskFailed> for BoxDynError {
    fn from(e: TaskFailed) -> BoxDynError {
        e.0.into()
    }
}

/// The longest a handler holds its worker before it lets apalis run a task again.
const LONGEST_HOLD: StdDuration = StdDuration::from_secs(30);

/// Maps the engine's closed set of task outcomes onto apalis 1.0, within its sharp edges:
/// its storages retry a failed task at once, without backoff, and its `RetryAfterError`
/// leaves a task locked (SQLite) or re-runs it at once (PostgreSQL), so a wait is taken
/// here, holding the worker, before the task is handed back.
/// - `Done`: the task is done.
/// - `RetryAfter`: after the wait, a failure apalis retries (up to the task's attempts).
/// - `GiveUp`: an abort: the task is killed and not retried.
/// - `Snooze`: after the wait, deferred: apalis runs it again, not as a failure.
async fn to_apalis(outcome: TaskOutcome) -> Result<(), BoxDynError> {
    let hold = |wait: Duration| wait.to_std().unwrap_or_default().min(LONGEST_HOLD);
    match outcome {
        TaskOutcome::Done => Ok(()),
        TaskOutcome::RetryAfter { wait, why } => {
            tokio::time::sleep(hold(wait)).await;
            Err(TaskFailed(why).into())
        }
        TaskOutcome::GiveUp(why) => Err(Box::new(AbortError::new(TaskFailed(why)))),
        TaskOutcome::Snooze(wait) => {
            tokio::time::sleep(hold(wait)).await;
            Err(Box::new(DeferredError::new(TaskFailed("snoozed".into()))))
        }
    }
}

type SharedEngine = Arc<Engine<AnyStore>>;

async fn handle_plan(task: PlanRun, engine: Data<SharedEngine>) -> Result<(), BoxDynError> {
    to_apalis(engine.plan_task(&task.campaign, task.occurrence).await).await
}

async fn handle_dispatch(task: Dispatch, engine: Data<SharedEngine>) -> Result<(), BoxDynError> {
    to_apalis(
        engine
            .dispatch_task(&task.attempt_ids, task.claimed_at)
            .await,
    )
    .await
}

/// The two queues of one backend.
#[derive(Clone)]
enum Queues {
    Sqlite {
        plans: SqliteStorage<PlanRun>,
        dispatches: SqliteStorage<Dispatch>,
    },
    Postgres {
        plans: PostgresStorage<PlanRun>,
        dispatches: PostgresStorage<Dispatch>,
    },
}

const PLAN_QUEUE: &str = "herald.plan";
const DISPATCH_QUEUE: &str = "herald.dispatch";
const HEARTBEAT: StdDuration = StdDuration::from_secs(5);
const MISSED_HEARTBEATS: usize = 3;
const POLL: StdDuration = StdDuration::from_millis(200);

fn sqlite_config(queue: &str) -> Config {
    Config::default()
        .queue(queue)
        .heartbeat_interval(HEARTBEAT)
        .missed_heartbeats(MISSED_HEARTBEATS)
        .batch_size(10)
}

fn postgres_config(queue: &str) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(queue)
        .heartbeat_interval(HEARTBEAT)
        .missed_heartbeats(MISSED_HEARTBEATS)
        .batch_size(10)
}

/// PostgreSQL's answer to a second task with the same idempotency key.
fn is_duplicate_key(e: &TaskSinkError<apalis_postgres::Error>) -> bool {
    matches!(
        e,
        TaskSinkError::PushError(apalis_postgres::Error::Database(sqlx::Error::Database(db)))
            if db.code().as_deref() == Some("23505")
    )
}

impl Queues {
    /// Queues the planning of one occurrence, once: a second push of the same occurrence
    /// (this daemon's or another's) is a no-op on both backends.
    async fn push_plan(&mut self, plan: PlanRun) -> Result<(), QueueError> {
        let key = format!("plan:{}:{}", plan.campaign, plan.occurrence.to_rfc3339());
        match self {
            Queues::Sqlite { plans, .. } => {
                let task = TaskBuilder::new(plan)
                    .idempotency_key(&key)
                    .max_attempts(5)
                    .build();
                plans.push_task(task).await.map_err(backend)
            }
            Queues::Postgres { plans, .. } => {
                let task = TaskBuilder::new(plan)
                    .idempotency_key(&key)
                    .max_attempts(5)
                    .build();
                match plans.push_task(task).await {
                    Err(e) if !is_duplicate_key(&e) => Err(backend(e)),
                    _ => Ok(()),
                }
            }
        }
    }

    async fn push_dispatch(&mut self, dispatch: Dispatch) -> Result<(), QueueError> {
        match self {
            Queues::Sqlite { dispatches, .. } => {
                let task = TaskBuilder::new(dispatch).max_attempts(5).build();
                dispatches.push_task(task).await.map_err(backend)
            }
            Queues::Postgres { dispatches, .. } => {
                let task = TaskBuilder::new(dispatch).max_attempts(5).build();
                dispatches.push_task(task).await.map_err(backend)
            }
        }
    }
}

/// Opens (creating) the queue's SQLite file and runs apalis's migrations on it.
async fn open_sqlite_queue(path: &std::path::Path) -> Result<SqlitePool, QueueError> {
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

/// Connects to the PostgreSQL queue and runs apalis's migrations (schema `apalis`, which
/// needs the `hstore` extension; several daemons starting at once take turns).
async fn open_postgres_queue(url: &str) -> Result<PgPool, QueueError> {
    let pool = crate::store::postgres::pool_options()
        .max_connections(8)
        .acquire_timeout(StdDuration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| {
            QueueError::Setup(format!(
                "connecting to {}: {e}",
                crate::config::redact_url(url)
            ))
        })?;
    PostgresStorage::<()>::setup(&pool).await.map_err(|e| {
        QueueError::Setup(format!("creating the queue tables (schema apalis): {e}"))
    })?;
    Ok(pool)
}

/// Registers the plan and dispatch workers of `$plans` and `$dispatches` (storages of one
/// backend) and runs them until `$signal` resolves. A macro, as the two backends' worker
/// types differ while the setup is the same.
macro_rules! run_workers {
    ($plans:expr, $dispatches:expr, $engine:expr, $options:expr, $instance:expr, $signal:expr) => {{
        let (plan_name, dispatch_name) = (
            format!("{}-plan", $instance),
            format!("{}-dispatch", $instance),
        );
        let (e1, e2) = ($engine.clone(), $engine.clone());
        let (p, d) = ($plans, $dispatches);
        let concurrency = $options.concurrency;
        Monitor::new()
            .register(move |_| {
                WorkerBuilder::new(plan_name.as_str())
                    .backend(p.clone().poll_with_interval(POLL))
                    .data(e1.clone())
                    .concurrency(1)
                    .build(handle_plan)
            })
            .register(move |_| {
                WorkerBuilder::new(dispatch_name.as_str())
                    .backend(d.clone().poll_with_interval(POLL))
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
            .shutdown_timeout($options.shutdown_timeout)
            .run_with_signal($signal)
            .await
            .map_err(backend)
    }};
}

/// Runs the daemon until `shutdown` resolves: the scheduler loop and the workers. On
/// shutdown the scheduler stops claiming, workers finish what they hold (up to the
/// shutdown timeout), tasks fetched but not started go back to the queue, and attempts
/// this daemon claimed and did not dispatch go back to the ledger's queue.
pub async fn run_daemon(
    engine: SharedEngine,
    options: DaemonOptions,
    shutdown: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
) -> Result<(), QueueError> {
    let instance = engine.instance.clone();
    let now = engine.now();
    let daemon = Daemon {
        id: instance.clone(),
        host: crate::engine::host_name(),
        pid: i64::from(std::process::id()),
        started_at: now,
        seen_at: now,
    };
    engine
        .store
        .daemon_beat(&daemon, now)
        .await
        .map_err(crate::engine::EngineError::from)?;
    tracing::info!(daemon = %instance, queue = %options.queue, "daemon registered");

    let (queues, closer): (Queues, Closer) = match &options.queue {
        QueueAt::SqliteFile(path) => {
            let pool = open_sqlite_queue(path).await?;
            (
                Queues::Sqlite {
                    plans: SqliteStorage::new(&pool).with_config(sqlite_config(PLAN_QUEUE)),
                    dispatches: SqliteStorage::new(&pool)
                        .with_config(sqlite_config(DISPATCH_QUEUE)),
                },
                Closer::Sqlite(pool),
            )
        }
        QueueAt::Postgres(url) => {
            let pool = open_postgres_queue(url).await?;
            (
                Queues::Postgres {
                    plans: PostgresStorage::new(&pool).with_config(postgres_config(PLAN_QUEUE)),
                    dispatches: PostgresStorage::new(&pool)
                        .with_config(postgres_config(DISPATCH_QUEUE)),
                },
                Closer::Postgres(pool),
            )
        }
    };

    // Attempts a crashed daemon claimed and never dispatched go back to the queue.
    requeue_abandoned(&engine, now).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(scheduler_loop(
        engine.clone(),
        daemon,
        queues.clone(),
        options.tick,
        stop_rx,
    ));
    let signal = async move {
        let result = shutdown.await;
        tracing::info!("shutting down: no new claims, finishing tasks in hand");
        let _ = stop_tx.send(true);
        result
    };
    match queues {
        Queues::Sqlite { plans, dispatches } => {
            run_workers!(plans, dispatches, engine, options, instance, signal)?
        }
        Queues::Postgres { plans, dispatches } => {
            run_workers!(plans, dispatches, engine, options, instance, signal)?
        }
    }
    let _ = scheduler.await;
    let now = engine.now();
    let released = engine
        .store
        .daemon_gone(&instance, now - Duration::days(1), now)
        .await
        .map_err(crate::engine::EngineError::from)?;
    if released > 0 {
        tracing::info!(
            released,
            "attempts claimed and not dispatched went back to the queue"
        );
    }
    match closer {
        Closer::Sqlite(pool) => pool.close().await,
        Closer::Postgres(pool) => pool.close().await,
    }
    tracing::info!("stopped");
    Ok(())
}

enum Closer {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Sends back to the queue the attempts of daemons that stopped saying they are alive
/// (and any claim older than the lease).
///
/// A daemon of this host whose process is gone (killed, crashed) is known dead at once:
/// its claims go back without waiting for its heartbeats to lapse, so a daemon restarted
/// after a crash carries on where the dead one stopped. A process id taken again by
/// another process only delays this to the heartbeat rule.
async fn requeue_abandoned(engine: &SharedEngine, now: DateTime<Utc>) -> Result<u64, QueueError> {
    let host = crate::engine::host_name();
    let dead_here = engine
        .store
        .daemons()
        .await
        .map_err(crate::engine::EngineError::from)?
        .into_iter()
        .filter(|d| d.id != engine.instance && d.host == host && !process_alive(d.pid));
    for d in dead_here {
        let released = engine
            .store
            .daemon_gone(&d.id, now - Duration::days(1), now)
            .await
            .map_err(crate::engine::EngineError::from)?;
        tracing::warn!(daemon = %d.id, pid = d.pid, released, "a daemon of this host is gone: its claims went back to the queue");
    }
    let requeued = engine
        .store
        .requeue_stale(now - LEASE, now - DAEMON_SILENCE, now)
        .await
        .map_err(crate::engine::EngineError::from)?;
    if requeued > 0 {
        tracing::warn!(
            requeued,
            "attempts abandoned by a stopped daemon were re-queued"
        );
    }
    Ok(requeued)
}

/// Finds due work every `tick` and puts it on the queue, until told to stop.
async fn scheduler_loop(
    engine: SharedEngine,
    daemon: Daemon,
    mut queues: Queues,
    tick: StdDuration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match schedule_once(&engine, &daemon, &mut queues, &stop).await {
            // More is due: go on at once (after saying again that this daemon is alive).
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "scheduler step failed; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn schedule_once(
    engine: &SharedEngine,
    daemon: &Daemon,
    queues: &mut Queues,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<bool, QueueError> {
    let now = engine.now();
    engine
        .store
        .daemon_beat(daemon, now)
        .await
        .map_err(crate::engine::EngineError::from)?;
    requeue_abandoned(engine, now).await?;
    for (campaign, occurrence) in engine.due_occurrences(now).await? {
        queues
            .push_plan(PlanRun {
                campaign,
                occurrence,
            })
            .await?;
    }
    while engine.apply_inbox(now, BATCH).await? > 0 {}
    // Claim and hand out due attempts until none is left, shutdown begins, or it is time
    // to say again that this daemon is alive.
    let started = std::time::Instant::now();
    let mut more = false;
    while !*stop.borrow() {
        if started.elapsed() > StdDuration::from_secs(2) {
            more = true;
            break;
        }
        let claimed = engine
            .store
            .claim_due(now, BATCH, &daemon.id)
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
            queues
                .push_dispatch(Dispatch {
                    attempt_ids: ids,
                    claimed_at: now,
                })
                .await?;
        }
    }
    engine.finish_runs(now).await?;
    Ok(more)
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

/// Inspection and repair of the queue. apalis 1.0 has no retry or cancel API, so these are
/// plain SQL on its jobs table (checked against apalis-sqlite's and apalis-postgres's 1.0.0
/// schemas: `Jobs` in the queue file, `apalis.jobs` on PostgreSQL).
pub enum Jobs {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Jobs {
    /// The queue, which must exist already (the daemon creates it).
    pub async fn open(at: &QueueAt) -> Result<Jobs, QueueError> {
        match at {
            QueueAt::SqliteFile(path) => {
                if !path.exists() {
                    return Err(QueueError::Setup(format!(
                        "there is no queue at {} yet (the daemon creates it)",
                        path.display()
                    )));
                }
                Ok(Jobs::Sqlite(open_sqlite_queue(path).await?))
            }
            QueueAt::Postgres(url) => {
                let pool = crate::store::postgres::pool_options()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .map_err(|e| {
                        QueueError::Setup(format!(
                            "connecting to {}: {e}",
                            crate::config::redact_url(url)
                        ))
                    })?;
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('apalis.jobs') IS NOT NULL")
                        .fetch_one(&pool)
                        .await
                        .map_err(backend)?;
                if !exists {
                    return Err(QueueError::Setup(
                        "there is no queue in this database yet (the daemon creates it)".into(),
                    ));
                }
                Ok(Jobs::Postgres(pool))
            }
        }
    }

    /// The queue, created if missing (the daemon's own).
    pub async fn open_or_create(at: &QueueAt) -> Result<Jobs, QueueError> {
        Ok(match at {
            QueueAt::SqliteFile(path) => Jobs::Sqlite(open_sqlite_queue(path).await?),
            QueueAt::Postgres(url) => Jobs::Postgres(open_postgres_queue(url).await?),
        })
    }

    /// (queue, status, tasks).
    pub async fn counts(&self) -> Result<Vec<(String, String, i64)>, QueueError> {
        match self {
            Jobs::Sqlite(pool) => sqlx::query_as(
                "SELECT job_type, status, COUNT(*) FROM Jobs GROUP BY job_type, status ORDER BY job_type, status",
            )
            .fetch_all(pool)
            .await,
            Jobs::Postgres(pool) => sqlx::query_as(
                "SELECT job_type, status, COUNT(*) FROM apalis.jobs GROUP BY job_type, status ORDER BY job_type, status",
            )
            .fetch_all(pool)
            .await,
        }
        .map_err(backend)
    }

    /// Tasks in a status (`Pending`, `Running`, `Done`, `Failed`, `Killed`), newest first.
    pub async fn list(&self, status: &str, limit: i64) -> Result<Vec<JobRow>, QueueError> {
        match self {
            Jobs::Sqlite(pool) => sqlx::query_as::<_, JobRow>(
                "SELECT id, job_type AS queue, status, attempts, max_attempts, run_at, last_result FROM Jobs \
                 WHERE status = ?1 ORDER BY run_at DESC LIMIT ?2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await,
            Jobs::Postgres(pool) => sqlx::query_as::<_, JobRow>(
                "SELECT id, job_type AS queue, status, attempts::bigint AS attempts, \
                 max_attempts::bigint AS max_attempts, EXTRACT(EPOCH FROM run_at)::bigint AS run_at, \
                 last_result::text AS last_result FROM apalis.jobs \
                 WHERE status = $1 ORDER BY run_at DESC LIMIT $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await,
        }
        .map_err(backend)
    }

    /// Puts failed or killed tasks (one, or all) back in the queue with fresh attempts.
    pub async fn retry(&self, id: Option<&str>, now: DateTime<Utc>) -> Result<u64, QueueError> {
        match self {
            Jobs::Sqlite(pool) => sqlx::query(
                "UPDATE Jobs SET status = 'Pending', attempts = 0, run_at = ?2, lock_by = NULL, lock_at = NULL, done_at = NULL \
                 WHERE status IN ('Failed', 'Killed') AND (?1 IS NULL OR id = ?1)",
            )
            .bind(id)
            .bind(now.timestamp())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
            Jobs::Postgres(pool) => sqlx::query(
                "UPDATE apalis.jobs SET status = 'Pending', attempts = 0, run_at = $2, lock_by = NULL, lock_at = NULL, done_at = NULL \
                 WHERE status IN ('Failed', 'Killed') AND ($1::text IS NULL OR id = $1)",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
        }
        .map_err(backend)
    }

    /// Cancels a task that has not started.
    pub async fn cancel(&self, id: &str, now: DateTime<Utc>) -> Result<u64, QueueError> {
        match self {
            Jobs::Sqlite(pool) => sqlx::query(
                "UPDATE Jobs SET status = 'Killed', done_at = ?2, last_result = '{\"Err\":\"cancelled by herald jobs cancel\"}' \
                 WHERE id = ?1 AND status IN ('Pending', 'Queued')",
            )
            .bind(id)
            .bind(now.timestamp())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
            Jobs::Postgres(pool) => sqlx::query(
                "UPDATE apalis.jobs SET status = 'Killed', done_at = $2, last_result = '{\"Err\":\"cancelled by herald jobs cancel\"}'::jsonb \
                 WHERE id = $1 AND status IN ('Pending', 'Queued')",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
        }
        .map_err(backend)
    }
}

/// Is process `pid` of this host still running? (`kill(pid, 0)`: no signal is sent.)
fn process_alive(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists and may be
    // signalled; it has no effect on it and touches no memory of ours.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod outcomes {
    use super::*;

    #[tokio::test]
    async fn each_task_outcome_becomes_the_apalis_result_that_means_it() {
        assert!(to_apalis(TaskOutcome::Done).await.is_ok());
        let retry = TaskOutcome::RetryAfter {
            wait: Duration::zero(),
            why: "database away".into(),
        };
        let failed = to_apalis(retry).await.unwrap_err();
        assert!(failed.downcast_ref::<AbortError>().is_none());
        assert!(failed.downcast_ref::<DeferredError>().is_none());
        assert_eq!(failed.to_string(), "database away");
        let given_up = to_apalis(TaskOutcome::GiveUp("not loaded".into()))
            .await
            .unwrap_err();
        assert!(given_up.downcast_ref::<AbortError>().is_some());
        let snoozed = to_apalis(TaskOutcome::Snooze(Duration::zero()))
            .await
            .unwrap_err();
        assert!(snoozed.downcast_ref::<DeferredError>().is_some());
    }
}
