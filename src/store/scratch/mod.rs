//! The raw limits: what herald's own database does at best with rows shaped like its
//! `attempts` table, written and drained with the fastest plain method and no herald logic.
//! They are the ceiling `herald bench` compares herald's figures with.
//!
//! Everything happens in a scratch table, `bench_raw_attempts`, beside herald's tables in
//! the same database and through the store's own connections (so with the store's
//! settings: on SQLite, WAL and `synchronous=NORMAL`). It has `attempts`'s columns and
//! types, no foreign keys, and two indexes: the unique idempotency key and the due order
//! (`(not_before, id) WHERE state = 'queued'`), so it is a ceiling above herald, which
//! keeps more indexes on the real table.
//!
//! - [`bulk_insert`] writes the rows: on SQLite in one transaction of reused, prepared
//!   multi-row inserts; on PostgreSQL with one `COPY ... FROM STDIN`, streamed in chunks.
//! - [`claim_and_complete`] drains them as a dispatcher would at best: claim a batch in due
//!   order (`SKIP LOCKED` on PostgreSQL, where several workers run at once), then mark it
//!   done, until nothing is queued.
//!
//! Only the measured work is timed: creating the table, resetting it and refreshing its
//! statistics are not.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, Postgres};
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, Connection as _, SqlSafeStr as _, SqlStr};

use super::AnyStore;

/// A raw measurement that could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// A statement failed; the text says what was being done and what the database said.
    #[error("database: {0}")]
    Database(String),
    /// Settings the measurement cannot honour on this database.
    #[error("{0}")]
    Settings(String),
}

/// Adds what was being done to a database error.
trait Doing<T> {
    fn doing(self, what: &str) -> Result<T, ScratchError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, what: &str) -> Result<T, ScratchError> {
        self.map_err(|e| ScratchError::Database(format!("{what}: {e}")))
    }
}

/// The SQL of one dialect, from `queries/<dialect>/NAME.sql`.
struct Queries {
    create_scratch: &'static str,
    reset_scratch: &'static str,
    analyze_scratch: &'static str,
    claim_batch: &'static str,
    complete_batch: &'static str,
    drop_scratch: &'static str,
}

macro_rules! bench_queries {
    ($dialect:literal) => {
        Queries {
            create_scratch: include_str!(concat!("queries/", $dialect, "/create_scratch.sql")),
            reset_scratch: include_str!(concat!("queries/", $dialect, "/reset_scratch.sql")),
            analyze_scratch: include_str!(concat!("queries/", $dialect, "/analyze_scratch.sql")),
            claim_batch: include_str!(concat!("queries/", $dialect, "/claim_batch.sql")),
            complete_batch: include_str!(concat!("queries/", $dialect, "/complete_batch.sql")),
            drop_scratch: include_str!(concat!("queries/", $dialect, "/drop_scratch.sql")),
        }
    };
}

const SQLITE: Queries = bench_queries!("sqlite");
const POSTGRES: Queries = bench_queries!("postgres");

/// The columns a new row is written with, in this order; the others take their defaults
/// (the id its identity, the nullable columns NULL).
const INSERT_COLUMNS: [&str; 11] = [
    "run_id",
    "contact_id",
    "step",
    "step_index",
    "channel",
    "attempt_no",
    "not_before",
    "state",
    "idempotency_key",
    "created_at",
    "updated_at",
];

/// Rows per SQLite insert statement: 5,500 parameters, well under SQLite's limit of
/// 32,766, and large enough that the statement overhead disappears.
const ROWS_PER_INSERT: usize = 500;

/// Bytes of `COPY` data sent to PostgreSQL at a time: the rows are streamed, never held
/// in memory all at once.
const COPY_CHUNK_BYTES: usize = 256 * 1024;

/// The values every scratch row shares: one run's first SMS step.
const RUN_ID: i64 = 1;
const STEP: &str = "reminder";
const STEP_INDEX: i32 = 0;
const CHANNEL: &str = "sms";
const ATTEMPT_NO: i32 = 1;

/// When the scratch run was planned: its rows are created then, and fall due ten a second
/// from then on.
fn planned_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
}

/// When the workers claim: a year after planning, when any row up to 315 million is due.
fn claim_at() -> DateTime<Utc> {
    planned_at() + chrono::Duration::days(365)
}

/// Row `n` (from 0): contact `n + 1`'s attempt, due `n / 10` seconds after planning.
struct ScratchRow {
    contact_id: i64,
    not_before: DateTime<Utc>,
    idempotency_key: String,
}

impl ScratchRow {
    fn new(n: u64) -> ScratchRow {
        let contact_id = n as i64 + 1;
        ScratchRow {
            contact_id,
            not_before: planned_at() + chrono::Duration::seconds(n as i64 / 10),
            idempotency_key: crate::domain::ledger::idempotency_key(
                RUN_ID,
                contact_id,
                STEP,
                ATTEMPT_NO as u32,
            ),
        }
    }
}

/// (Re)creates the scratch table, then times writing `rows` queued rows into it with the
/// fastest plain method of the database: on SQLite, one transaction of prepared
/// multi-row inserts (500 rows each, the statement reused); on PostgreSQL, one
/// `COPY bench_raw_attempts (...) FROM STDIN` in text format, streamed in chunks. Returns
/// how long the writing took (not the table's creation).
pub async fn bulk_insert(store: &AnyStore, rows: u64) -> Result<Duration, ScratchError> {
    match store {
        AnyStore::Sqlite(s) => {
            sqlx::raw_sql(SQLITE.create_scratch)
                .execute(&s.pool)
                .await
                .doing("creating the scratch table bench_raw_attempts")?;
            insert_sqlite(&s.pool, rows).await
        }
        AnyStore::Postgres(s) => {
            sqlx::raw_sql(POSTGRES.create_scratch)
                .execute(&s.pool)
                .await
                .doing("creating the scratch table bench_raw_attempts")?;
            copy_postgres(&s.pool, rows).await
        }
    }
}

/// `INSERT INTO bench_raw_attempts (...) VALUES (?, ...), ...` for `rows` rows.
fn sqlite_insert(rows: usize) -> SqlStr {
    let one = format!("({})", vec!["?"; INSERT_COLUMNS.len()].join(", "));
    AssertSqlSafe(format!(
        "INSERT INTO bench_raw_attempts ({}) VALUES {}",
        INSERT_COLUMNS.join(", "),
        vec![one; rows].join(", ")
    ))
    .into_sql_str()
}

async fn insert_sqlite(pool: &SqlitePool, rows: u64) -> Result<Duration, ScratchError> {
    let mut conn = pool.acquire().await.doing("taking a database connection")?;
    let full = sqlite_insert(ROWS_PER_INSERT);
    let planned = planned_at();
    let started = Instant::now();
    let mut tx = conn.begin().await.doing("beginning the insert")?;
    let mut written = 0;
    while written < rows {
        let n = (rows - written).min(ROWS_PER_INSERT as u64);
        let sql = if n == ROWS_PER_INSERT as u64 {
            full.clone()
        } else {
            sqlite_insert(n as usize)
        };
        let mut insert = sqlx::query(sql);
        for row in (written..written + n).map(ScratchRow::new) {
            insert = insert
                .bind(RUN_ID)
                .bind(row.contact_id)
                .bind(STEP)
                .bind(STEP_INDEX)
                .bind(CHANNEL)
                .bind(ATTEMPT_NO)
                .bind(row.not_before)
                .bind("queued")
                .bind(row.idempotency_key)
                .bind(planned)
                .bind(planned);
        }
        insert
            .execute(&mut *tx)
            .await
            .doing("inserting scratch rows")?;
        written += n;
    }
    tx.commit().await.doing("committing the insert")?;
    Ok(started.elapsed())
}

async fn copy_postgres(pool: &PgPool, rows: u64) -> Result<Duration, ScratchError> {
    let mut conn = pool.acquire().await.doing("taking a database connection")?;
    let statement = format!(
        "COPY bench_raw_attempts ({}) FROM STDIN",
        INSERT_COLUMNS.join(", ")
    );
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(&statement)
        .await
        .doing("starting COPY into the scratch table")?;
    match send_copy_rows(&mut copy, rows).await {
        Ok(()) => {
            copy.finish()
                .await
                .doing("finishing COPY into the scratch table")?;
        }
        Err(e) => {
            // The connection must leave COPY mode before it goes back to the pool.
            let _ = copy.abort("the benchmark stopped the copy").await;
            return Err(e).doing("sending COPY data");
        }
    }
    Ok(started.elapsed())
}

/// Streams `rows` rows in `COPY` text format (tab-separated; no value needs escaping).
async fn send_copy_rows(
    copy: &mut sqlx::postgres::PgCopyIn<&mut PgConnection>,
    rows: u64,
) -> Result<(), sqlx::Error> {
    let planned = copy_time(planned_at());
    let mut chunk = String::with_capacity(COPY_CHUNK_BYTES + 512);
    for row in (0..rows).map(ScratchRow::new) {
        writeln!(
            chunk,
            "{RUN_ID}\t{}\t{STEP}\t{STEP_INDEX}\t{CHANNEL}\t{ATTEMPT_NO}\t{}\tqueued\t{}\t{planned}\t{planned}",
            row.contact_id,
            copy_time(row.not_before),
            row.idempotency_key,
        )
        .expect("writing to a String");
        if chunk.len() >= COPY_CHUNK_BYTES {
            copy.send(chunk.as_bytes()).await?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        copy.send(chunk.as_bytes()).await?;
    }
    Ok(())
}

/// A time as `COPY` reads a `timestamptz`.
fn copy_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Every row back to `queued`, with fresh statistics; returns how many rows there are.
/// (A macro, as the two dialects' pools and results differ while the steps are the same.)
macro_rules! reset_scratch {
    ($pool:expr, $queries:expr) => {{
        let mut conn = $pool
            .acquire()
            .await
            .doing("taking a database connection")?;
        let queued = sqlx::query($queries.reset_scratch)
            .execute(&mut *conn)
            .await
            .doing("resetting the scratch table (run bulk_insert first)")?
            .rows_affected();
        sqlx::query($queries.analyze_scratch)
            .execute(&mut *conn)
            .await
            .doing("refreshing the scratch table's statistics")?;
        queued
    }};
}

/// Resets every scratch row to `queued` (not timed), then times `workers` workers draining
/// the table as a dispatcher would at best: each claims up to `batch` due rows in due
/// order (moving them to `sending`) and then marks them `done`, two statements, until it
/// finds nothing to claim. On PostgreSQL the workers run at once, each on its own pooled
/// connection, skipping rows another is claiming; SQLite has one writer, so there
/// `workers` must be 1. Returns how long the drain took; the rows drained are the rows
/// [`bulk_insert`] wrote.
pub async fn claim_and_complete(
    store: &AnyStore,
    workers: usize,
    batch: i64,
) -> Result<Duration, ScratchError> {
    if batch < 1 {
        return Err(ScratchError::Settings(format!(
            "batch = {batch}: a claim takes at least 1 row"
        )));
    }
    match store {
        AnyStore::Sqlite(s) => {
            if workers != 1 {
                return Err(ScratchError::Settings(format!(
                    "workers = {workers}: SQLite has one writer, so the raw claim runs with 1 worker"
                )));
            }
            let queued = reset_scratch!(s.pool, SQLITE);
            let mut conn = s
                .pool
                .acquire()
                .await
                .doing("taking a database connection")?;
            let started = Instant::now();
            let drained = drain_sqlite(&mut conn, batch).await?;
            let elapsed = started.elapsed();
            all_drained(queued, drained)?;
            Ok(elapsed)
        }
        AnyStore::Postgres(s) => {
            let pool = &s.pool;
            let max = pool.options().get_max_connections() as usize;
            if workers == 0 || workers + 1 > max {
                return Err(ScratchError::Settings(format!(
                    "workers = {workers}: between 1 and {} on this database (each worker holds \
                     one of its {max} pooled connections and one stays free)",
                    max.saturating_sub(1)
                )));
            }
            let queued = reset_scratch!(pool, POSTGRES);
            // Every worker's connection is open before the clock starts.
            let mut conns = Vec::with_capacity(workers);
            for _ in 0..workers {
                conns.push(pool.acquire().await.doing("taking a database connection")?);
            }
            let started = Instant::now();
            let mut running = tokio::task::JoinSet::new();
            for (n, conn) in conns.into_iter().enumerate() {
                running.spawn(drain_postgres(conn, format!("bench-raw-{n}"), batch));
            }
            let mut drained = 0;
            while let Some(worker) = running.join_next().await {
                drained += worker.map_err(|e| {
                    ScratchError::Database(format!("a raw claim worker stopped: {e}"))
                })??;
            }
            let elapsed = started.elapsed();
            all_drained(queued, drained)?;
            Ok(elapsed)
        }
    }
}

fn all_drained(queued: u64, drained: u64) -> Result<(), ScratchError> {
    if drained == queued {
        Ok(())
    } else {
        Err(ScratchError::Database(format!(
            "the raw claim completed {drained} of {queued} scratch rows"
        )))
    }
}

/// One worker's loop on SQLite; returns the rows it completed.
async fn drain_sqlite(conn: &mut sqlx::SqliteConnection, batch: i64) -> Result<u64, ScratchError> {
    let at = claim_at();
    let mut completed = 0;
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(SQLITE.claim_batch)
            .bind(at)
            .bind(batch)
            .bind("bench-raw-0")
            .fetch_all(&mut *conn)
            .await
            .doing("claiming scratch rows")?;
        if ids.is_empty() {
            return Ok(completed);
        }
        let mut json = String::with_capacity(ids.len() * 8 + 2);
        json.push('[');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            write!(json, "{id}").expect("writing to a String");
        }
        json.push(']');
        completed += sqlx::query(SQLITE.complete_batch)
            .bind(json)
            .bind(at)
            .execute(&mut *conn)
            .await
            .doing("completing scratch rows")?
            .rows_affected();
    }
}

/// One worker's loop on PostgreSQL, on its own connection; returns the rows it completed.
async fn drain_postgres(
    mut conn: PoolConnection<Postgres>,
    name: String,
    batch: i64,
) -> Result<u64, ScratchError> {
    let at = claim_at();
    let mut completed = 0;
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(POSTGRES.claim_batch)
            .bind(at)
            .bind(batch)
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .doing("claiming scratch rows")?;
        if ids.is_empty() {
            return Ok(completed);
        }
        completed += sqlx::query(POSTGRES.complete_batch)
            .bind(&ids)
            .bind(at)
            .execute(&mut *conn)
            .await
            .doing("completing scratch rows")?
            .rows_affected();
    }
}

/// Drops the scratch table, if there is one.
pub async fn drop_scratch(store: &AnyStore) -> Result<(), ScratchError> {
    let dropped = match store {
        AnyStore::Sqlite(s) => sqlx::query(SQLITE.drop_scratch)
            .execute(&s.pool)
            .await
            .map(drop),
        AnyStore::Postgres(s) => sqlx::query(POSTGRES.drop_scratch)
            .execute(&s.pool)
            .await
            .map(drop),
    };
    dropped.doing("dropping the scratch table")
}
