//! The SQLite dialect: one file in WAL mode, the embedded default.
//!
//! Only what differs from PostgreSQL lives here; every operation's body is in `../ops/`,
//! compiled inside this module. List parameters travel as JSON text read with `json_each`
//! (SQLite has no array type), and so do the rows of multi-row writes; a time that `MIN`
//! or `MAX` computed comes back as text. SQLite has one writer at a time: a transaction
//! that must not be interleaved starts with `BEGIN IMMEDIATE`, which takes the write lock
//! at once, and a busy database is waited for (`busy_timeout`) rather than retried.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Row, Sqlite, SqliteConnection, Transaction};

use super::{Closing, Doing, StoreError, json_page, rows};
use crate::domain::contact::Contact;
use crate::domain::exported::{Cell, Filter, SinkError, Table};
use crate::domain::ledger::{NewAttempt, Write};

// The operations' one source text, compiled once per dialect on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "../ops/mod.rs"]
mod ops;

named_queries!("sqlite", only: snapshot_into);

/// The store type the shared operations are written for.
type DialectStore = SqliteStore;
/// A row of this database.
type DbRow = SqliteRow;
/// A connection (or transaction) of this database.
type DbConnection = SqliteConnection;

/// Attempts inserted per statement: SQLite limits a JSON argument's size, not its rows,
/// and a thousand rows keep each statement short.
const INSERT_CHUNK: usize = 1000;
/// Whether an error is worth trying the transaction again for: never on SQLite, whose one
/// writer waits for the lock (`busy_timeout`) instead of deadlocking.
fn is_transient(_: &StoreError) -> bool {
    false
}

/// A list parameter: JSON text, read by the query with `json_each`.
fn list<T: serde::Serialize>(items: impl IntoIterator<Item = T>) -> String {
    serde_json::to_string(&items.into_iter().collect::<Vec<T>>()).expect("plain values serialise")
}

/// What `MIN` or `MAX` over a time column gives back: text.
type StoredTime = String;

/// A time computed by `MIN` or `MAX`, in the format sqlx stores times in.
fn stored_time(t: StoredTime) -> Result<DateTime<Utc>, StoreError> {
    json_page::parse_stored_time(&t)
}

/// A time as sqlx stores it in SQLite, for times carried inside JSON arguments.
fn json_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// A transaction that holds the database's write lock from its start (`BEGIN IMMEDIATE`),
/// so no other process writes between its reads and its writes.
async fn begin_locked(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// The start of the quarter hour a row of `report_sends_by_time` counts (its `day`,
/// `hour` and `quarter`: SQLite has no time type to truncate).
fn quarter_hour(r: &SqliteRow) -> Result<DateTime<Utc>, StoreError> {
    let day: String = r.get("day");
    let hour: i64 = r.get("hour");
    let quarter: i64 = r.get("quarter");
    Ok(chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(hour as u32, (quarter * 15) as u32, 0))
        .ok_or_else(|| StoreError::Corrupt(format!("sent_at `{day} {hour}:{quarter}`")))?
        .and_utc())
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite migrations, recorded in `herald_migrations`.
pub fn migrator() -> sqlx::migrate::Migrator {
    super::herald_migrator(&MIGRATOR)
}

/// herald's data in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(in crate::store) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (and with `create`, creates) the database at a `sqlite://PATH` URL.
    pub async fn open(url: &str, create: bool) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, create, SqliteSynchronous::Normal).await
    }

    /// Opens a throwaway database (a simulation's copy, the demo) without waiting for the
    /// disk on commit: a crash may lose it, which for such data does not matter.
    pub async fn open_scratch(url: &str) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, true, SqliteSynchronous::Off).await
    }

    /// Opens an existing database for long reads (exports), where a statement that
    /// streams for minutes is expected and not logged as slow.
    pub async fn open_reader(url: &str) -> Result<SqliteStore, StoreError> {
        let options =
            Self::options(url, false, SqliteSynchronous::Normal)?.disable_statement_logging();
        Self::open_options(options).await
    }

    async fn open_with(
        url: &str,
        create: bool,
        synchronous: SqliteSynchronous,
    ) -> Result<SqliteStore, StoreError> {
        Self::open_options(Self::options(url, create, synchronous)?).await
    }

    fn options(
        url: &str,
        create: bool,
        synchronous: SqliteSynchronous,
    ) -> Result<SqliteConnectOptions, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        Ok(SqliteConnectOptions::from_str(url)
            .doing("reading the database URL")?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10)))
    }

    async fn open_options(options: SqliteConnectOptions) -> Result<SqliteStore, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .doing("opening the SQLite database")?;
        Ok(SqliteStore { pool })
    }

    /// Writes a consistent copy of the database to a new SQLite file at `path`.
    pub(in crate::store) async fn snapshot_into(
        &self,
        path: &std::path::Path,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.snapshot_into)
            .bind(path.display().to_string())
            .execute(&self.pool)
            .await
            .doing("copying the database")?;
        Ok(())
    }

    /// The connections, for tests that judge the database with SQL of their own. herald's
    /// own code outside `store/` never calls this (a test keeps that so): it asks the store.
    #[doc(hidden)]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(in crate::store) async fn export_rows(
        &self,
        table: Table,
        filter: &Filter,
        sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
    ) -> Result<u64, StoreError> {
        // Pages are read and decoded by their own task while this one writes the rows
        // before them; at most two decoded pages wait, so memory stays flat.
        let (pages, mut received) = tokio::sync::mpsc::channel(2);
        let reader = tokio::spawn(read_export_pages(
            self.pool.clone(),
            table,
            filter.clone(),
            pages,
        ));
        let mut count = 0;
        // Returning early drops `received`: the reader stops before its next page.
        while let Some(page) = received.recv().await {
            for mut row in page? {
                sink(&mut row).map_err(StoreError::Sink)?;
                count += 1;
            }
        }
        if let Err(e) = reader.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
        Ok(count)
    }
}

/// Rows an export reads per statement.
const EXPORT_PAGE: i64 = 2000;

/// Reads an export's rows a page at a time into `out`, in one read transaction so that
/// every page sees the same moment of the database; stops after the last page, at the
/// first error (which it sends) or when nobody receives any more.
async fn read_export_pages(
    pool: SqlitePool,
    table: Table,
    filter: Filter,
    out: tokio::sync::mpsc::Sender<Result<Vec<Vec<Cell>>, StoreError>>,
) {
    let pages = async {
        let mut tx = pool.begin().await.doing("starting the export's read")?;
        let mut after = json_page::PageKey::default();
        loop {
            let page: String = sqlx::query_scalar(sqlx::AssertSqlSafe(export_page_query(table)))
                .bind(filter.campaign.as_deref())
                .bind(filter.since)
                .bind(filter.until)
                .bind(filter.now)
                .bind(after.id)
                .bind(after.text.as_str())
                .bind(EXPORT_PAGE)
                .fetch_one(&mut *tx)
                .await
                .doing("reading rows to export")?;
            let rows = json_page::decode(&page, table.columns())?;
            let last_page = (rows.len() as i64) < EXPORT_PAGE;
            if let Some(last) = rows.last() {
                after = json_page::PageKey::of(table, last)?;
            }
            if rows.is_empty() || out.send(Ok(rows)).await.is_err() || last_page {
                return Ok(());
            }
        }
    };
    if let Err(e) = pages.await {
        let _ = out.send(Err(e)).await;
    }
}

/// The SQL of an export table, read a page at a time (see [`json_page`]).
fn export_page_query(table: Table) -> &'static str {
    static PAGES: std::sync::LazyLock<Vec<(Table, String)>> = std::sync::LazyLock::new(|| {
        Table::ALL
            .iter()
            .map(|&t| (t, json_page::page_query(t, export_query(t))))
            .collect()
    });
    PAGES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, sql)| sql.as_str())
        .expect("every table has a page query")
}

/// The SQL of an export table.
fn export_query(table: Table) -> &'static str {
    match table {
        Table::Attempts => QUERIES.export_attempts,
        Table::Events => QUERIES.export_events,
        Table::Responses => QUERIES.export_responses,
        Table::Contacts => QUERIES.export_contacts,
        Table::Tags => QUERIES.export_tags,
    }
}

/// Writes contacts in one statement; returns each one's id by external id.
async fn write_contacts(
    conn: &mut SqliteConnection,
    contacts: &[Contact],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    if contacts.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = list(contacts.iter().map(|c| {
        serde_json::json!({
            "external_id": c.external_id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "phone": c.phone.as_ref().map(|p| p.as_str()),
            "email": c.email.as_ref().map(|e| e.as_str()),
            "locale": c.locale,
            "timezone": c.timezone.map(|t| t.name()),
            "attributes": rows::attributes_json(&c.attributes),
            "consent_sms": c.consent.sms.as_str(),
            "consent_email": c.consent.email.as_str(),
            "consent_call": c.consent.call.as_str(),
        })
    }));
    let written = sqlx::query(QUERIES.upsert_contact)
        .bind(rows)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("writing contacts")?;
    Ok(written
        .iter()
        .map(|r| (r.get("external_id"), r.get("id")))
        .collect())
}

/// Tags contacts (a tag a contact has already is left alone) in one statement.
async fn add_tags(
    conn: &mut SqliteConnection,
    tags: &[(i64, &str)],
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    sqlx::query(QUERIES.add_tag_if_absent)
        .bind(list(tags))
        .bind(source)
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("tagging imported contacts")?;
    Ok(())
}

/// Runs one of the set-wise updates on JSON rows; returns the ids of the rows it moved.
async fn many(
    conn: &mut SqliteConnection,
    sql: &'static str,
    rows: Vec<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar::<_, i64>(sql)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("writing to the ledger")
}

/// Records sends set-wise: (group, attempt, sent at, provider reference).
async fn mark_sent_many(
    conn: &mut SqliteConnection,
    sent: &[(usize, i64, DateTime<Utc>, &str)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let rows = sent
        .iter()
        .map(|(_, id, at, r)| serde_json::json!({ "id": id, "at": json_time(*at), "ref": r }));
    many(conn, QUERIES.mark_sent_many, rows.collect(), now).await
}

/// Reschedules attempts set-wise: (group, attempt, not before, reason).
async fn reschedule_many(
    conn: &mut SqliteConnection,
    rescheduled: &[(usize, i64, DateTime<Utc>, &str)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let rows = rescheduled.iter().map(|(_, id, at, reason)| {
        serde_json::json!({ "id": id, "not_before": json_time(*at), "reason": reason })
    });
    many(conn, QUERIES.reschedule_many, rows.collect(), now).await
}

/// Closes attempts set-wise; returns those that moved.
async fn close_many(
    conn: &mut SqliteConnection,
    closes: &[Closing<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let rows = closes
        .iter()
        .map(|(_, id, state, outcome, connected, reason)| {
            serde_json::json!({
                "id": id,
                "state": state.as_str(),
                "outcome": outcome.map(|o| o.as_str()),
                "connected": connected,
                "reason": reason,
            })
        })
        .collect();
    many(conn, QUERIES.close_many, rows, now).await
}

/// Adds the events (the `Write::Event` among `writes`) in one statement.
async fn insert_events(
    conn: &mut SqliteConnection,
    writes: &[&Write],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let events: Vec<serde_json::Value> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Event {
                attempt_id,
                kind,
                detail,
                payload,
                occurred_at,
            } => Some(serde_json::json!({
                "attempt_id": attempt_id,
                "kind": kind.as_str(),
                "detail": detail,
                "payload": payload.to_string(),
                "occurred_at": json_time(*occurred_at),
            })),
            _ => None,
        })
        .collect();
    if !events.is_empty() {
        sqlx::query(QUERIES.insert_events)
            .bind(serde_json::Value::Array(events).to_string())
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("writing events")?;
    }
    Ok(())
}

/// Adds provider events (the `Write::Inbox` among `writes`) in one statement; returns how
/// many were new (a repeat of provider and event key is ignored).
async fn insert_inbox(
    conn: &mut SqliteConnection,
    writes: &[&Write],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let rows: Vec<serde_json::Value> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Inbox {
                provider,
                event_key,
                idempotency_key,
                report,
                due_at,
            } => Some(serde_json::json!({
                "provider": provider,
                "event_key": event_key,
                "idempotency_key": idempotency_key,
                "kind": report.kind(),
                "payload": serde_json::to_string(report).expect("reports serialise"),
                "due_at": json_time(*due_at),
            })),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(QUERIES.inbox_push)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("writing provider events")?;
    Ok(done.rows_affected())
}

/// Inserts attempts in one statement (those whose key exists are left alone); returns
/// how many were new.
async fn insert_attempts(
    conn: &mut SqliteConnection,
    attempts: &[&NewAttempt],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if attempts.is_empty() {
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = attempts
        .iter()
        .map(|a| {
            serde_json::json!({
                "run_id": a.run_id,
                "contact_id": a.contact_id,
                "step": a.step,
                "step_index": a.step_index,
                "channel": a.channel.as_str(),
                "attempt_no": a.attempt_no,
                "not_before": json_time(a.not_before),
                "key": a.idempotency_key(),
                "obligation": a.obligation,
                "after_attempt": a.after_attempt,
                "condition": a.condition.map(|c| c.as_str()),
                "variant": a.variant,
                "prompt": a.prompt,
            })
        })
        .collect();
    let done = sqlx::query(QUERIES.insert_attempt)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("inserting attempts")?;
    Ok(done.rows_affected())
}

pub(crate) async fn applied_count(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar(super::APPLIED_MIGRATIONS)
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;

    #[tokio::test]
    async fn every_named_query_prepares_against_the_migrated_schema() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, true).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), MIGRATOR.iter().count());
        assert_eq!(
            store.migrate().await.unwrap(),
            0,
            "a second migrate applies nothing"
        );
        for (name, sql) in QUERIES.all() {
            store
                .pool
                .prepare(sqlx::SqlSafeStr::into_sql_str(sql))
                .await
                .unwrap_or_else(|e| panic!("query {name} does not prepare: {e}"));
        }
    }

    #[tokio::test]
    async fn each_export_query_selects_its_documented_columns_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, true).await.unwrap();
        store.migrate().await.unwrap();
        for table in Table::ALL {
            let statement = store
                .pool
                .prepare(sqlx::SqlSafeStr::into_sql_str(export_query(table)))
                .await
                .unwrap();
            let selected: Vec<&str> = sqlx::Statement::columns(&statement)
                .iter()
                .map(sqlx::Column::name)
                .collect();
            let documented: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
            assert_eq!(selected, documented, "export of {}", table.as_str());
        }
    }
}
