//! The PostgreSQL dialect: several daemons share one database.
//!
//! Only what differs from SQLite lives here; every operation's body is in `../ops/`,
//! compiled inside this module. The named queries (`queries/postgres/NAME.sql`) use
//! `$1` parameters, arrays as `= ANY($1)`, `jsonb`, `timestamptz`, and row locks
//! (`FOR UPDATE`, `FOR UPDATE SKIP LOCKED`) where several daemons claim work or take from a
//! shared bucket. List parameters and the columns of multi-row writes are bound as arrays.
//! Daemons writing at once may deadlock; the transaction then rolled back whole and a
//! batch of ledger writes is tried again.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{
    Column as _, ConnectOptions as _, PgConnection, Postgres, Row, Transaction, TypeInfo as _,
};

use super::{APPLIED_MIGRATIONS, Closing, Doing, StoreError, rows};
use crate::domain::contact::Contact;
use crate::domain::exported::{Cell, Column, ColumnType, Filter, SinkError, Table};
use crate::domain::ledger::{NewAttempt, Report, Write};

mod nodelay;
// The operations' one source text, compiled once per dialect on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "../ops/mod.rs"]
mod ops;

named_queries!("postgres", only: extension_status);

/// The store type the shared operations are written for.
type DialectStore = PgStore;
/// A row of this database.
type DbRow = PgRow;
/// A connection (or transaction) of this database.
type DbConnection = PgConnection;

/// Attempts inserted per statement: all of them, as arrays (one statement, so all or
/// none, whatever the size).
const INSERT_CHUNK: usize = usize::MAX;

/// A list parameter: an array, read by the query with `= ANY($n)` or `unnest`.
fn list<T>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    items.into_iter().collect()
}

/// What `MIN` or `MAX` over a time column gives back: a `timestamptz`.
type StoredTime = DateTime<Utc>;

/// A time computed by `MIN` or `MAX`.
fn stored_time(t: StoredTime) -> Result<DateTime<Utc>, StoreError> {
    Ok(t)
}

/// A transaction for a take under a lock: the queries lock the rows they read
/// (`FOR UPDATE`), so a plain transaction is enough.
async fn begin_locked(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
}

/// The start of the quarter hour a row of `report_sends_by_time` counts.
fn quarter_hour(r: &PgRow) -> Result<DateTime<Utc>, StoreError> {
    rows::Record::time(r, "at")
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL migrations, recorded in `herald_migrations`.
pub fn migrator() -> sqlx::migrate::Migrator {
    super::herald_migrator(&MIGRATOR)
}

/// Pool settings for every connection herald makes to PostgreSQL: each new connection
/// gets `TCP_NODELAY` (see [`nodelay`]).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().after_connect(|_, _| {
        Box::pin(async {
            nodelay::on_every_tcp_socket();
            Ok(())
        })
    })
}

/// herald's data in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(in crate::store) pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        Self::open_options(Self::options(url)?).await
    }

    /// Opens the database for long reads (exports), where a statement that streams for
    /// minutes is expected and not logged as slow.
    pub async fn open_reader(url: &str) -> Result<PgStore, StoreError> {
        Self::open_options(Self::options(url)?.disable_statement_logging()).await
    }

    fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        PgConnectOptions::from_str(url).doing("reading the database URL")
    }

    async fn open_options(options: PgConnectOptions) -> Result<PgStore, StoreError> {
        let pool = pool_options()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .doing("connecting to PostgreSQL")?;
        Ok(PgStore { pool })
    }

    /// Whether the server has extension `name`, and its version in this database.
    pub(in crate::store) async fn extension_status(
        &self,
        name: &str,
    ) -> Result<super::ExtensionStatus, StoreError> {
        let row = sqlx::query(QUERIES.extension_status)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .doing("reading the server's extensions")?;
        let available: bool = row.get("available");
        Ok(match row.get::<Option<String>, _>("installed") {
            Some(version) => super::ExtensionStatus::Installed(version),
            None if available => super::ExtensionStatus::Available,
            None => super::ExtensionStatus::Missing,
        })
    }

    /// The connections, for tests that judge the database with SQL of their own. herald's
    /// own code outside `store/` never calls this (a test keeps that so): it asks the store.
    #[doc(hidden)]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(in crate::store) async fn export_rows(
        &self,
        table: Table,
        filter: &Filter,
        sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
    ) -> Result<u64, StoreError> {
        export_rows_of(self, table, filter, sink).await
    }
}

/// A deadlock or serialization failure: the transaction rolled back and may be retried.
fn is_transient(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Database { source: sqlx::Error::Database(db), .. }
            if matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
    )
}

pub(crate) async fn applied_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar(APPLIED_MIGRATIONS)
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// Writes contacts in one statement (each external id once); returns their ids by
/// external id.
async fn write_contacts(
    conn: &mut sqlx::PgConnection,
    contacts: &[Contact],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    if contacts.is_empty() {
        return Ok(BTreeMap::new());
    }
    fn column<'c, T>(contacts: &'c [Contact], f: impl Fn(&'c Contact) -> T) -> Vec<T> {
        contacts.iter().map(f).collect()
    }
    let rows = sqlx::query(QUERIES.upsert_contact)
        .bind(column(contacts, |c| c.external_id.as_str()))
        .bind(column(contacts, |c| c.first_name.as_deref()))
        .bind(column(contacts, |c| c.last_name.as_deref()))
        .bind(column(contacts, |c| c.phone.as_ref().map(|p| p.as_str())))
        .bind(column(contacts, |c| c.email.as_ref().map(|e| e.as_str())))
        .bind(column(contacts, |c| c.locale.as_deref()))
        .bind(column(contacts, |c| c.timezone.map(|t| t.name())))
        .bind(column(contacts, |c| {
            serde_json::to_string(&c.attributes).expect("attributes serialise")
        }))
        .bind(column(contacts, |c| c.consent.sms.as_str()))
        .bind(column(contacts, |c| c.consent.email.as_str()))
        .bind(column(contacts, |c| c.consent.call.as_str()))
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("writing contacts")?;
    Ok(rows
        .iter()
        .map(|r| (r.get("external_id"), r.get("id")))
        .collect())
}

/// Tags contacts (a tag a contact has already is left alone) in one statement.
async fn add_tags(
    conn: &mut PgConnection,
    tags: &[(i64, &str)],
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    sqlx::query(QUERIES.add_tag_if_absent)
        .bind(tags.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(tags.iter().map(|t| t.1).collect::<Vec<_>>())
        .bind(source)
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("tagging imported contacts")?;
    Ok(())
}

/// Inserts attempts in one multi-row statement (those whose key exists are left alone);
/// returns how many were new.
async fn insert_attempts(
    conn: &mut PgConnection,
    attempts: &[&NewAttempt],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if attempts.is_empty() {
        return Ok(0);
    }
    fn column<'a, T>(attempts: &[&'a NewAttempt], f: impl Fn(&'a NewAttempt) -> T) -> Vec<T> {
        attempts.iter().map(|a| f(a)).collect()
    }
    let done = sqlx::query(QUERIES.insert_attempt)
        .bind(column(attempts, |a| a.run_id))
        .bind(column(attempts, |a| a.contact_id))
        .bind(column(attempts, |a| a.step.as_str()))
        .bind(column(attempts, |a| a.step_index as i32))
        .bind(column(attempts, |a| a.channel.as_str()))
        .bind(column(attempts, |a| a.attempt_no as i32))
        .bind(column(attempts, |a| a.not_before))
        .bind(column(attempts, NewAttempt::idempotency_key))
        .bind(column(attempts, |a| a.obligation.as_deref()))
        .bind(column(attempts, |a| a.after_attempt))
        .bind(column(attempts, |a| a.condition.map(|c| c.as_str())))
        .bind(column(attempts, |a| a.variant.as_deref()))
        .bind(column(attempts, |a| a.prompt.as_deref()))
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("inserting attempts")?;
    Ok(done.rows_affected())
}

/// Adds provider events (the `Write::Inbox` among `writes`), one statement per provider;
/// returns how many were new (a repeat of provider and event key is ignored).
async fn insert_inbox(
    conn: &mut PgConnection,
    writes: &[&Write],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    /// (event key, idempotency key, report, due at)
    type Item<'a> = (&'a str, &'a str, &'a Report, DateTime<Utc>);
    let mut by_provider: BTreeMap<&str, Vec<Item<'_>>> = BTreeMap::new();
    for w in writes {
        if let Write::Inbox {
            provider,
            event_key,
            idempotency_key,
            report,
            due_at,
        } = w
        {
            by_provider.entry(provider).or_default().push((
                event_key,
                idempotency_key,
                report,
                *due_at,
            ));
        }
    }
    let mut added = 0;
    for (provider, items) in &by_provider {
        added += sqlx::query(QUERIES.inbox_push)
            .bind(*provider)
            .bind(items.iter().map(|i| i.0).collect::<Vec<_>>())
            .bind(items.iter().map(|i| i.1).collect::<Vec<_>>())
            .bind(items.iter().map(|i| i.2.kind()).collect::<Vec<_>>())
            .bind(
                items
                    .iter()
                    .map(|i| serde_json::to_string(i.2).expect("reports serialise"))
                    .collect::<Vec<_>>(),
            )
            .bind(items.iter().map(|i| i.3).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("writing provider events")?
            .rows_affected();
    }
    Ok(added)
}

/// Adds the events (the `Write::Event` among `writes`) in one statement.
async fn insert_events(
    conn: &mut PgConnection,
    writes: &[&Write],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let events: Vec<_> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Event {
                attempt_id,
                kind,
                detail,
                payload,
                occurred_at,
            } => Some((*attempt_id, kind, detail, payload.to_string(), *occurred_at)),
            _ => None,
        })
        .collect();
    if !events.is_empty() {
        sqlx::query(QUERIES.insert_events)
            .bind(events.iter().map(|e| e.0).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2.as_deref()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.3.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.4).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("writing events")?;
    }
    Ok(())
}

/// Records sends set-wise: (group, attempt, sent at, provider reference); returns the
/// attempts that moved.
async fn mark_sent_many(
    conn: &mut PgConnection,
    sent: &[(usize, i64, DateTime<Utc>, &str)],
    _now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    if sent.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(QUERIES.mark_sent_many)
        .bind(sent.iter().map(|g| g.1).collect::<Vec<_>>())
        .bind(sent.iter().map(|g| g.2).collect::<Vec<_>>())
        .bind(sent.iter().map(|g| g.3).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .doing("recording sends")
}

/// Reschedules attempts set-wise: (group, attempt, not before, reason); returns the
/// attempts that moved.
async fn reschedule_many(
    conn: &mut PgConnection,
    rescheduled: &[(usize, i64, DateTime<Utc>, &str)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    if rescheduled.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(QUERIES.reschedule_many)
        .bind(rescheduled.iter().map(|g| g.1).collect::<Vec<_>>())
        .bind(rescheduled.iter().map(|g| g.2).collect::<Vec<_>>())
        .bind(rescheduled.iter().map(|g| g.3).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("rescheduling attempts")
}

/// Closes attempts set-wise; returns those that moved.
async fn close_many(
    conn: &mut PgConnection,
    c: &[Closing<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    if c.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(QUERIES.close_many)
        .bind(c.iter().map(|g| g.1).collect::<Vec<_>>())
        .bind(c.iter().map(|g| g.2.as_str()).collect::<Vec<_>>())
        .bind(
            c.iter()
                .map(|g| g.3.map(|o| o.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(c.iter().map(|g| g.4).collect::<Vec<_>>())
        .bind(c.iter().map(|g| g.5).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("closing attempts")
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

pub(in crate::store) async fn export_rows_of(
    store: &PgStore,
    table: Table,
    filter: &Filter,
    sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
) -> Result<u64, StoreError> {
    let columns = table.columns();
    let mut query = sqlx::query(export_query(table))
        .bind(filter.campaign.as_deref())
        .bind(filter.since)
        .bind(filter.until);
    // Only the contacts' query reads the moment that decides which tags are in force.
    if table == Table::Contacts {
        query = query.bind(filter.now);
    }
    let mut rows = query.fetch(&store.pool);
    let mut cells = Vec::with_capacity(columns.len());
    let mut count = 0;
    while let Some(row) = rows.try_next().await.doing("reading rows to export")? {
        cells.clear();
        for (i, column) in columns.iter().enumerate() {
            cells.push(read_cell(&row, i, column)?);
        }
        sink(&mut cells).map_err(StoreError::Sink)?;
        count += 1;
    }
    Ok(count)
}

/// Reads column `i` of an export row as its documented type; `jsonb` columns become
/// compact JSON text, as SQLite stores it.
fn read_cell(row: &PgRow, i: usize, column: &Column) -> Result<Cell, StoreError> {
    let bad = |e: sqlx::Error| rows::corrupt(&format!("column `{}`", column.name), e);
    let cell = match column.ty {
        ColumnType::Int64 | ColumnType::Int32 => row
            .try_get::<Option<i64>, _>(i)
            .map_err(bad)?
            .map(Cell::Int),
        ColumnType::Bool => row
            .try_get::<Option<bool>, _>(i)
            .map_err(bad)?
            .map(Cell::Bool),
        ColumnType::Text if row.column(i).type_info().name() == "JSONB" => row
            .try_get::<Option<Json<serde_json::Value>>, _>(i)
            .map_err(bad)?
            .map(|j| Cell::Text(j.0.to_string())),
        ColumnType::Text => row
            .try_get::<Option<String>, _>(i)
            .map_err(bad)?
            .map(Cell::Text),
        ColumnType::Time => row
            .try_get::<Option<DateTime<Utc>>, _>(i)
            .map_err(bad)?
            .map(Cell::Time),
    };
    match cell {
        Some(cell) => Ok(cell),
        None if column.nullable => Ok(Cell::Null),
        None => Err(StoreError::Corrupt(format!(
            "column `{}` is null, which its export does not allow",
            column.name
        ))),
    }
}

/// Creates database `name` (a plain identifier herald made, never input) on the server of
/// `url`, dropping an earlier one of that name first; returns its URL (`url` with the
/// database name replaced, its parameters kept). The role needs `CREATEDB`.
pub async fn create_database(url: &str, name: &str) -> Result<String, StoreError> {
    let admin = PgPool::connect(url)
        .await
        .doing("connecting to the PostgreSQL server")?;
    let done = async {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .doing("dropping an earlier database of the same name")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .doing("creating a database (the role needs CREATEDB)")
    }
    .await;
    admin.close().await;
    done?;
    let (prefix, query) = match url.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (url, String::new()),
    };
    let (server, _) = prefix.rsplit_once('/').ok_or(StoreError::Unsupported(
        "the PostgreSQL URL names no database to put a new one beside",
    ))?;
    Ok(format!("{server}/{name}{query}"))
}

/// Drops database `name` on the server of `url`, if it exists, whoever is connected to it.
pub async fn drop_database(url: &str, name: &str) -> Result<(), StoreError> {
    let admin = PgPool::connect(url)
        .await
        .doing("connecting to the PostgreSQL server")?;
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .doing("dropping a database");
    admin.close().await;
    dropped.map(drop)
}

/// The URL of a fresh, empty database on the PostgreSQL server at
/// `HERALD_TEST_POSTGRES_URL` (for tests), or `None` when the variable is not set.
pub async fn fresh_test_database() -> Option<String> {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "herald_test_{}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    Some(
        create_database(&base, &name)
            .await
            .unwrap_or_else(|e| panic!("HERALD_TEST_POSTGRES_URL: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use sqlx::Executor;

    #[tokio::test]
    async fn every_named_query_prepares_against_the_migrated_postgres_schema() {
        let Some(url) = fresh_test_database().await else {
            eprintln!("HERALD_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped");
            return;
        };
        let store = PgStore::open(&url).await.unwrap();
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
                .unwrap_or_else(|e| panic!("query `{name}` does not prepare: {e}"));
        }
    }

    #[test]
    fn both_dialects_have_the_same_named_queries() {
        let shared = |all: Vec<(&'static str, &'static str)>, only: Vec<&str>| {
            let all = all.into_iter().map(|(n, _)| n);
            all.filter(|n| !only.contains(n))
                .collect::<BTreeSet<&str>>()
        };
        let sqlite = shared(
            super::super::sqlite::QUERIES.all(),
            super::super::sqlite::Queries::only_here(),
        );
        let postgres = shared(QUERIES.all(), Queries::only_here());
        let missing: Vec<_> = sqlite.difference(&postgres).collect();
        let extra: Vec<_> = postgres.difference(&sqlite).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing in postgres: {missing:?}; only in postgres: {extra:?}"
        );
    }

    #[tokio::test]
    async fn each_export_query_selects_its_documented_columns_in_order() {
        let Some(url) = fresh_test_database().await else {
            eprintln!("HERALD_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped");
            return;
        };
        let store = PgStore::open(&url).await.unwrap();
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
